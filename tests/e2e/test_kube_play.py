"""The Kubernetes manifests, run for real by `podman kube play` (the kube-play rendering): podman
starts the pods, `labctl up` bootstraps their certificates (the root key stays on the host),
`labctl verify` passes, `podman kube down` and `labctl down --volumes` remove everything.

It runs as a lab of its own (free subnets and ports) beside the default one, and needs none: unlike
test_compose it does not take the `lab_cli` fixture, whose `down --volumes` + `up` of the default
lab would replace a default lab another user on this host is running.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from labctl.placement import place
from labctl.runtime.base import CONTAINER_LABEL, LAB_LABEL, MANAGED_BY_LABEL
from labctl.runtime.podman import PodmanRuntime
from labctl.targets.kube import PODMAN_MANAGER
from labctl.targets.kube_play import PLAY_SCRIPT
from labctl.topology import dump_lab, load_lab, renamed
from tests.e2e.conftest import LabCLI, bootstrap_and_verify

pytestmark = pytest.mark.e2e
NAME = "e2e-kube"


# podman-py has no `kube play` / `kube down` (nor pods in labctl's runtime): the podman CLI it is.
def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), capture_output=True, text=True, timeout=600, check=False)


def test_podman_kube_play_runs_the_rendered_manifests_and_labctl_verifies_them(
    runtime: PodmanRuntime, tmp_path: Path
) -> None:
    lab = place(renamed(load_lab(), NAME), previous=None, auto_subnets=True, auto_ports=True,
                used_subnets=runtime.network_subnets())  # fmt: skip
    lab_file = tmp_path / "lab.toml"
    lab_file.write_text(dump_lab(lab))
    cli = LabCLI(tmp_path / "state", lab)
    out = tmp_path / "kube-play"
    config = ("--config", str(lab_file))
    cli.run(*config, "down", "--volumes")
    cli.run(*config, "render", "--target", "kube-play", "--out", str(out))
    manifests = sorted(out.glob("*.yaml"))
    assert len(manifests) == len(lab.hierarchies)
    try:
        played = _run("sh", str(out / PLAY_SCRIPT))
        assert played.returncode == 0, played.stdout[-2000:] + played.stderr[-2000:]
        containers = runtime.list_containers({LAB_LABEL: NAME})
        assert {c.labels.get(MANAGED_BY_LABEL) for c in containers} == {PODMAN_MANAGER}
        # podman names them <deployment>-pod-0-<container>; the label carries the lab's name.
        lab_names = {n for h in lab.hierarchies for n in (h.ca.container, h.ra.container)}
        assert {c.labels[CONTAINER_LABEL] for c in containers} == lab_names
        assert {c.name for c in containers}.isdisjoint(lab_names)
        bootstrap_and_verify(cli, config, lab, runtime)
    finally:
        stopped = [_run("podman", "kube", "down", str(manifest)) for manifest in manifests]
        # podman kube down keeps the claims' volumes and the networks play.sh created.
        cli.run(*config, "down", "--volumes", check=False)
    assert [s.returncode for s in stopped] == [0] * len(manifests), [s.stderr[-2000:] for s in stopped]
    selector = {LAB_LABEL: NAME}
    pods = _run("podman", "pod", "ls", "--quiet", "--filter", f"label={LAB_LABEL}={NAME}")
    assert pods.returncode == 0 and pods.stdout.split() == []
    assert (runtime.list_containers(selector), runtime.list_networks(selector), runtime.list_volumes(selector)) == (
        [],
        [],
        [],
    )
