"""ClientRunner on FakeRuntime: `labctl ARGS` in a short-lived container of the lab image on a hierarchy's network."""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl import specs
from labctl.clients import ClientRunner
from labctl.errors import NotReadyError
from labctl.images import IMAGE_UID
from labctl.runtime.base import HIERARCHY_LABEL, LAB_LABEL, ROLE_LABEL, ContainerSpec, FileContent, VolumeMount
from labctl.runtime.fake import FakeRuntime
from labctl.specs import CLIENT_DIR
from tests.helpers import FakeClock
from tests.unit.test_orchestrator import NETWORK, FakeImageBuilder, ecc_lab


class ClientRuntime(FakeRuntime):
    """A FakeRuntime whose client containers print a line and exit (or, with `exit_code=None`, never do)."""

    def __init__(self, exit_code: int | None = 0) -> None:
        super().__init__()
        self.exit_code = exit_code
        self.started: list[ContainerSpec] = []

    def start_container(self, name: str) -> None:
        super().start_container(name)
        self.started.append(self.container(name).spec)
        if self.exit_code is not None:
            self.write_log(name, "hello from the client")
            self.kill(name, exit_code=self.exit_code)


class Images:
    """The image-ensuring callable: counts how often it is asked."""

    def __init__(self, runtime: ClientRuntime) -> None:
        self.runtime = runtime
        self.asked = 0

    def __call__(self) -> str:
        self.asked += 1
        return FakeImageBuilder()(self.runtime, "base").reference


def _runner(tmp_path: Path, runtime: ClientRuntime) -> tuple[ClientRunner, Images]:
    lab = ecc_lab()
    runtime.create_network(specs.network_spec(lab, lab.hierarchy("ecc")))
    images = Images(runtime)
    return ClientRunner(lab, runtime, tmp_path / "state", ensure_image=images, clock=FakeClock()), images


def test_client_runs_labctl_on_the_hierarchy_network_as_the_image_user(tmp_path: Path) -> None:
    runtime = ClientRuntime()
    runner, _ = _runner(tmp_path, runtime)
    files = {"ca-chain.pem": FileContent(b"PEM")}
    result = runner.run(runner.lab.hierarchy("ecc"), ["est-call", "cacerts"], files)
    assert (result.exit_code, result.output) == (0, "hello from the client")
    [spec] = runtime.started
    assert spec.command == ("labctl", "est-call", "cacerts")
    assert spec.network == NETWORK
    assert spec.user == f"{IMAGE_UID}:{IMAGE_UID}"
    assert spec.files == {CLIENT_DIR: files}
    assert {k: spec.labels[k] for k in (LAB_LABEL, HIERARCHY_LABEL, ROLE_LABEL)} == {
        LAB_LABEL: "cert-lab",
        HIERARCHY_LABEL: "ecc",
        ROLE_LABEL: "client",
    }


def test_client_container_is_removed_after_it_exits(tmp_path: Path) -> None:
    runtime = ClientRuntime(exit_code=3)
    runner, _ = _runner(tmp_path, runtime)
    assert runner.run(runner.lab.hierarchy("ecc"), ["verify-endpoint"], {}).exit_code == 3
    assert runtime.containers == {}


def test_client_that_never_exits_is_removed_at_its_deadline(tmp_path: Path) -> None:
    runtime = ClientRuntime(exit_code=None)
    runner, _ = _runner(tmp_path, runtime)
    with pytest.raises(NotReadyError, match=r"^client cert-lab-ecc-client-[0-9a-f]{8} not ready after 5s \(running\)$"):
        runner.run(runner.lab.hierarchy("ecc"), ["iot-device"], {}, timeout=5)
    assert runtime.containers == {}


def test_client_image_is_ensured_once_per_runner(tmp_path: Path) -> None:
    runtime = ClientRuntime()
    runner, images = _runner(tmp_path, runtime)
    for _ in range(2):
        runner.run(runner.lab.hierarchy("ecc"), ["est-call", "cacerts"], {})
    assert images.asked == 1


def test_client_mount_volume_is_created_labelled_when_missing(tmp_path: Path) -> None:
    runtime = ClientRuntime()
    runner, _ = _runner(tmp_path, runtime)
    runner.run(runner.lab.hierarchy("ecc"), ["iot-device"], {}, mounts=[VolumeMount("device-data", "/data")])
    labels = runtime.volumes["device-data"].labels
    assert labels == {LAB_LABEL: "cert-lab", HIERARCHY_LABEL: "ecc", ROLE_LABEL: "client-data"}
