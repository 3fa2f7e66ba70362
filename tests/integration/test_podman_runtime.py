"""PodmanRuntime against the real podman service: networks, volumes, containers, files, exec,
health checks, logs and errors, in labctl's own types; plus starting a service when none answers,
and testcontainers-python on the same socket."""

from __future__ import annotations

import json
import socket
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from labctl.errors import RuntimeBackendError
from labctl.runtime.base import (
    LAB_LABEL,
    ContainerSpec,
    Health,
    HealthCheck,
    NetworkSpec,
    VolumeSpec,
)
from labctl.runtime.podman import PodmanRuntime
from tests.integration.podman_fixtures import (
    FUNCTION_LABELS,
    IMAGE,
    LABELS,
    PREFIX,
    READY_LINE,
    SECRET,
    SLEEPER,
    SUBNET_C,
    WEB_ALIAS,
    WEB_IP,
    WEB_PORT,
    WEB_UID,
    SharedLab,
    can_connect,
    name,
    podman_runtime,
    runtime,
    shared_lab,
    wait_until,
)

pytestmark = pytest.mark.integration

__all__ = ["podman_runtime", "runtime", "shared_lab"]  # fixtures, imported for pytest


def _podman_json(*args: str) -> object:
    result = subprocess.run(["podman", *args], capture_output=True, text=True, check=True, timeout=30)
    return json.loads(result.stdout)


def _answers(socket_path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        try:
            probe.connect(str(socket_path))
        except OSError:
            return False
    return True


def _sleeper(container: str, **overrides: object) -> ContainerSpec:
    spec: dict[str, object] = {
        "name": container,
        "image": IMAGE,
        "command": SLEEPER,
        "network": "podman",
        "labels": FUNCTION_LABELS,
    }
    spec.update(overrides)
    return ContainerSpec(**spec)  # type: ignore[arg-type]


# --- networks and volumes -------------------------------------------------------------------------


def test_create_network_isolated_exists_and_is_listed_by_label(runtime: PodmanRuntime) -> None:
    network = name("isolated")
    runtime.create_network(NetworkSpec(network, SUBNET_C, FUNCTION_LABELS, isolate=True))

    assert runtime.network_exists(network)
    assert network in runtime.list_networks(LABELS)
    assert network not in runtime.list_networks({LAB_LABEL: "cert-lab"})
    (inspected,) = _podman_json("network", "inspect", network)  # type: ignore[misc]
    assert inspected["options"]["isolate"] == "true"
    assert inspected["subnets"][0]["subnet"] == str(SUBNET_C)


def test_isolated_network_blocks_a_container_on_another_network(shared_lab: SharedLab) -> None:
    runtime = shared_lab.runtime

    assert can_connect(runtime, shared_lab.peer, str(WEB_IP), WEB_PORT)  # the server answers on its network
    assert not can_connect(runtime, shared_lab.outsider, str(WEB_IP), WEB_PORT)


def test_same_network_reaches_a_container_by_name(shared_lab: SharedLab) -> None:
    assert can_connect(shared_lab.runtime, shared_lab.peer, shared_lab.web, WEB_PORT)


def test_same_network_reaches_a_container_by_alias(shared_lab: SharedLab) -> None:
    assert can_connect(shared_lab.runtime, shared_lab.peer, WEB_ALIAS, WEB_PORT)


def test_volume_create_list_remove(runtime: PodmanRuntime) -> None:
    volume = name("volume")
    runtime.create_volume(VolumeSpec(volume, FUNCTION_LABELS))
    assert runtime.volume_exists(volume)
    assert volume in runtime.list_volumes(LABELS)
    assert volume not in runtime.list_volumes({LAB_LABEL: "cert-lab"})

    runtime.remove_volume(volume)

    assert not runtime.volume_exists(volume)
    assert volume not in runtime.list_volumes(LABELS)


# --- a container created from a full spec -----------------------------------------------------------


def test_container_gets_its_static_ip(shared_lab: SharedLab) -> None:
    info = shared_lab.runtime.inspect_container(shared_lab.web)

    assert info is not None
    assert info.is_running
    assert info.ip == str(WEB_IP)
    assert info.labels[LAB_LABEL] == PREFIX


def test_published_port_is_reachable_from_the_host(shared_lab: SharedLab) -> None:
    url = f"http://127.0.0.1:{shared_lab.host_port}/secret.txt"
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
        assert response.read() == SECRET


def test_published_port_listens_on_loopback_only(shared_lab: SharedLab) -> None:
    (inspected,) = _podman_json("container", "inspect", shared_lab.web)  # type: ignore[misc]
    bindings = inspected["HostConfig"]["PortBindings"][f"{WEB_PORT}/tcp"]

    assert bindings == [{"HostIp": "127.0.0.1", "HostPort": str(shared_lab.host_port)}]


def test_volume_is_mounted(shared_lab: SharedLab) -> None:
    runtime = shared_lab.runtime
    (volume,) = _podman_json("volume", "inspect", shared_lab.volume)  # type: ignore[misc]
    (Path(volume["Mountpoint"]) / "from-host.txt").write_bytes(b"through the volume\n")

    assert runtime.read_file(shared_lab.web, "/data/from-host.txt") == b"through the volume\n"


def test_container_runs_as_the_given_user(shared_lab: SharedLab) -> None:
    result = shared_lab.runtime.exec(shared_lab.web, ("stat", "-c", "%u %g", "/proc/1"))

    assert result.exit_code == 0, result.output
    assert result.output.split() == [str(WEB_UID), str(WEB_UID)]


def test_container_drops_all_capabilities(shared_lab: SharedLab) -> None:
    result = shared_lab.runtime.exec(shared_lab.web, ("grep", "^CapBnd:", "/proc/1/status"))

    assert result.exit_code == 0, result.output
    assert int(result.output.split()[1], 16) == 0


def test_files_copied_before_start_have_owner_and_mode(shared_lab: SharedLab) -> None:
    result = shared_lab.runtime.exec(shared_lab.web, ("stat", "-c", "%u %a", "/srv/secret.txt"))

    assert result.exit_code == 0, result.output
    assert result.output.split() == [str(WEB_UID), "600"]


def test_read_file_returns_the_bytes(shared_lab: SharedLab) -> None:
    assert shared_lab.runtime.read_file(shared_lab.web, "/srv/secret.txt") == SECRET


def test_read_file_returns_none_for_a_missing_file(shared_lab: SharedLab) -> None:
    assert shared_lab.runtime.read_file(shared_lab.web, "/srv/no-such-file") is None


def test_logs_return_the_container_output(shared_lab: SharedLab) -> None:
    assert READY_LINE in shared_lab.runtime.logs(shared_lab.web)


def test_logs_keep_lines_written_in_two_pieces(runtime: PodmanRuntime) -> None:
    """A line whose text and newline arrive apart (Python with PYTHONUNBUFFERED, as in the lab image) is
    logged by conmon as a partial entry and a final one; podman 4.3's tail counts those as two lines, so
    labctl tails the whole log itself: every line whole, in order, none lost at the start."""
    container = name("partial-lines")
    script = 'for i in 1 2 3 4 5 6; do printf "{\\"line\\": $i}"; sleep 0.05; printf "\\n"; done; sleep 300'
    runtime.create_container(_sleeper(container, command=("sh", "-c", script)))
    runtime.start_container(container)

    wait_until(lambda: runtime.logs(container, tail=100).count("\n") >= 6, what="six log lines", timeout_s=30)
    assert runtime.logs(container, tail=100) == "".join(f'{{"line": {i}}}\n' for i in range(1, 7))
    assert runtime.logs(container, tail=2) == '{"line": 5}\n{"line": 6}\n'


# --- lifecycle, health, listing ---------------------------------------------------------------------


@pytest.fixture
def healthchecked(runtime: PodmanRuntime) -> str:
    container = name("health")
    check = HealthCheck(("test", "-f", "/tmp/ready"), timeout_s=5, interval_s=30, retries=1)
    runtime.create_container(_sleeper(container, health=check))
    runtime.start_container(container)
    return container


def test_healthcheck_turns_healthy_when_its_condition_holds(runtime: PodmanRuntime, healthchecked: str) -> None:
    assert runtime.run_healthcheck(healthchecked) is Health.UNHEALTHY

    assert runtime.exec(healthchecked, ("touch", "/tmp/ready")).exit_code == 0

    assert runtime.run_healthcheck(healthchecked) is Health.HEALTHY


def test_healthcheck_of_a_stopped_container_is_unhealthy(runtime: PodmanRuntime, healthchecked: str) -> None:
    runtime.exec(healthchecked, ("touch", "/tmp/ready"))
    runtime.stop_container(healthchecked)

    assert runtime.run_healthcheck(healthchecked) is Health.UNHEALTHY


def test_pid1_handling_sigterm_stops(runtime: PodmanRuntime) -> None:
    container = name("sigterm")
    runtime.create_container(_sleeper(container))
    runtime.start_container(container)
    wait_until(lambda: READY_LINE in runtime.logs(container), what="the SIGTERM handler")  # installed by then

    runtime.stop_container(container, timeout_s=10)

    info = runtime.inspect_container(container)
    assert info is not None
    assert not info.is_running
    assert info.state == "exited"


def test_inspect_container_returns_none_when_missing(runtime: PodmanRuntime) -> None:
    assert runtime.inspect_container(name("no-such-container")) is None


def test_list_containers_filters_by_labels(runtime: PodmanRuntime) -> None:
    first, second = name("list-first"), name("list-second")
    runtime.create_container(_sleeper(first, labels={**FUNCTION_LABELS, "io.labctl.role": "first"}))
    runtime.create_container(_sleeper(second, labels={**FUNCTION_LABELS, "io.labctl.role": "second"}))

    only_first = runtime.list_containers({**LABELS, "io.labctl.role": "first"})
    both = runtime.list_containers(FUNCTION_LABELS)

    assert [info.name for info in only_first] == [first]
    assert {first, second} <= {info.name for info in both}
    assert all(info.labels[LAB_LABEL] == PREFIX for info in both)


@pytest.mark.parametrize("kind", ["container", "network", "volume"])
def test_remove_is_idempotent(runtime: PodmanRuntime, kind: str) -> None:
    target = name(f"removed-{kind}")
    create: dict[str, Callable[[], None]] = {
        "container": lambda: runtime.create_container(_sleeper(target)),
        "network": lambda: runtime.create_network(NetworkSpec(target, SUBNET_C, FUNCTION_LABELS)),
        "volume": lambda: runtime.create_volume(VolumeSpec(target, FUNCTION_LABELS)),
    }
    remove: dict[str, Callable[[str], None]] = {
        "container": runtime.remove_container,
        "network": runtime.remove_network,
        "volume": runtime.remove_volume,
    }
    create[kind]()

    remove[kind](target)
    remove[kind](target)  # already gone: no error

    assert runtime.inspect_container(target) is None
    assert not runtime.network_exists(target)
    assert not runtime.volume_exists(target)


def test_missing_image_raises_runtime_backend_error(runtime: PodmanRuntime) -> None:
    with pytest.raises(RuntimeBackendError) as raised:
        runtime.create_container(_sleeper(name("no-image"), image=f"localhost/{PREFIX}-missing:none"))

    assert type(raised.value) is RuntimeBackendError
    assert raised.value.__cause__ is not None  # podman's error is kept as the cause, never raised itself


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda rt: rt.start_container(name("absent")), id="start"),
        pytest.param(lambda rt: rt.exec(name("absent"), ("true",)), id="exec"),
        pytest.param(lambda rt: rt.write_files(name("absent"), "/tmp", {}, owner=(0, 0)), id="write_files"),
    ],
)
def test_missing_container_raises_runtime_backend_error(
    runtime: PodmanRuntime, call: Callable[[PodmanRuntime], object]
) -> None:
    with pytest.raises(RuntimeBackendError) as raised:
        call(runtime)

    assert raised.value.__cause__ is not None


def test_overlapping_subnet_raises_runtime_backend_error(runtime: PodmanRuntime) -> None:
    runtime.create_network(NetworkSpec(name("taken"), SUBNET_C, FUNCTION_LABELS))

    with pytest.raises(RuntimeBackendError, match=name("overlapping")):
        runtime.create_network(NetworkSpec(name("overlapping"), SUBNET_C, FUNCTION_LABELS))


# --- the service ------------------------------------------------------------------------------------


def test_runtime_starts_a_service_and_close_stops_it(
    podman_runtime: PodmanRuntime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"unix://{tmp_path / 'podman.sock'}"
    monkeypatch.setenv("CONTAINER_HOST", url)

    started = PodmanRuntime()
    try:
        assert started.base_url == url
        assert _answers(tmp_path / "podman.sock")
        assert started.inspect_container(name("no-such-container")) is None  # it answers API calls
    finally:
        started.close()

    assert not _answers(tmp_path / "podman.sock")
    with pytest.raises(RuntimeBackendError, match="no podman service answers"):
        PodmanRuntime(url, start_service=False)


def test_runtime_starts_its_service_again_after_an_idle_exit(
    podman_runtime: PodmanRuntime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service labctl starts exits when idle (SERVICE_IDLE_S); a runtime that outlives it (a test
    session, `labctl events --follow`) starts it again instead of failing with "socket gone"."""
    url = f"unix://{tmp_path / 'podman.sock'}"
    started = PodmanRuntime(url)
    try:
        first = started._service
        assert first is not None
        first.terminate()  # what --time=SERVICE_IDLE_S does after a minute without requests
        first.wait(timeout=10)
        assert not _answers(tmp_path / "podman.sock")
        assert started.inspect_container(name("no-such-container")) is None
        assert started._service is not None and started._service is not first
        assert _answers(tmp_path / "podman.sock")
    finally:
        started.close()
    assert not _answers(tmp_path / "podman.sock")


# --- testcontainers-python on the podman socket ------------------------------------------------------


@pytest.fixture
def docker_host(podman_runtime: PodmanRuntime, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point testcontainers at podman's socket (unix:///run/podman/podman.sock as root; podman_runtime
    started a service there if none answered): no Ryuk, since no image can be
    pulled, and the host reaches published ports on 127.0.0.1 (not the gateway testcontainers assumes
    when it finds /.dockerenv)."""
    from testcontainers.core.config import ConnectionMode, testcontainers_config

    monkeypatch.setenv("DOCKER_HOST", podman_runtime.base_url)
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
    monkeypatch.setattr(testcontainers_config, "_ryuk_disabled", True)
    monkeypatch.setattr(testcontainers_config, "tc_host_override", "127.0.0.1")
    monkeypatch.setattr(testcontainers_config, "connection_mode_override", ConnectionMode.docker_host)
    yield podman_runtime.base_url


def test_testcontainers_serves_http_through_a_mapped_port(docker_host: str, runtime: PodmanRuntime) -> None:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    server = (
        DockerContainer(IMAGE)
        .with_name(name("testcontainers"))
        .with_command(["python3", "-c", _WEB_ON_SIGTERM])
        .with_kwargs(labels=dict(FUNCTION_LABELS))
        .waiting_for(LogMessageWaitStrategy(READY_LINE).with_startup_timeout(15))
    )
    server.ports = {f"{WEB_PORT}/tcp": ("127.0.0.1", None)}  # type: ignore[dict-item]  # loopback, random port
    with server:
        host, port = server.get_container_host_ip(), server.get_exposed_port(WEB_PORT)
        with urllib.request.urlopen(f"http://{host}:{port}/", timeout=5) as response:
            assert response.status == 200
    assert runtime.inspect_container(name("testcontainers")) is None  # testcontainers removed it


_WEB_ON_SIGTERM = (
    "import http.server, signal, sys\n"
    "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
    f"server = http.server.ThreadingHTTPServer(('', {WEB_PORT}), http.server.SimpleHTTPRequestHandler)\n"
    f"print({READY_LINE!r}, flush=True)\n"
    "server.serve_forever()\n"
)
