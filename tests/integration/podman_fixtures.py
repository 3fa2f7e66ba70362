"""Fixtures for PodmanRuntime against the real podman service: everything they create is named
`labctl-rt-test-*` and labelled io.labctl.lab=labctl-rt-test, and is removed by that label before the
session (a previous run may have died) and at teardown. Nothing labelled for another lab is touched,
and the subnets (172.31.250-251.0/24) and host ports (free ones) avoid the developer's cert-lab.

Import the fixtures into a test module: `from tests.integration.podman_fixtures import podman_runtime, ...`.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import pytest

from labctl.images import DEFAULT_BASE, ensure_base
from labctl.runtime.base import (
    LAB_LABEL,
    ContainerSpec,
    FileContent,
    NetworkSpec,
    PortSpec,
    VolumeMount,
    VolumeSpec,
)
from labctl.runtime.podman import PodmanRuntime

PREFIX = "labctl-rt-test"
LABELS: Mapping[str, str] = {LAB_LABEL: PREFIX}
# Which fixture owns an object: per-test cleanup removes only "function" ones, not the module's shared set.
SCOPE_LABEL = "io.labctl.rt-test.scope"
FUNCTION_LABELS: Mapping[str, str] = {**LABELS, SCOPE_LABEL: "function"}
SHARED_LABELS: Mapping[str, str] = {**LABELS, SCOPE_LABEL: "shared"}

IMAGE = DEFAULT_BASE
SUBNET_A = ipaddress.IPv4Network("172.31.250.0/24")
SUBNET_B = ipaddress.IPv4Network("172.31.251.0/24")
SUBNET_C = ipaddress.IPv4Network("172.31.252.0/24")  # for networks of single tests, beside the shared A and B
WEB_IP = ipaddress.IPv4Address("172.31.250.10")
WEB_PORT = 8000
WEB_ALIAS = f"{PREFIX}-web-alias"
WEB_UID = 10001
READY_LINE = f"{PREFIX}: ready"
SECRET = b"not for other users\n"

# PID 1 handles SIGTERM (a PID 1 without a handler ignores it, and every stop then costs 10 s).
_ON_SIGTERM = "import signal, sys\nsignal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
# The ready line comes after the handler is installed: a SIGTERM before it would be ignored.
SLEEPER: tuple[str, ...] = (
    "python3",
    "-c",
    _ON_SIGTERM + f"print({READY_LINE!r}, flush=True)\n" + "import time\nwhile True: time.sleep(60)\n",
)
WEB_SERVER: tuple[str, ...] = (
    "python3",
    "-c",
    _ON_SIGTERM
    + "import functools, http.server\n"
    + "handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory='/srv')\n"
    + f"server = http.server.ThreadingHTTPServer(('', {WEB_PORT}), handler)\n"
    + f"print({READY_LINE!r}, flush=True)\n"
    + "server.serve_forever()\n",
)


def name(suffix: str) -> str:
    return f"{PREFIX}-{suffix}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def require_podman(tests: str = "the podman integration tests") -> None:
    """Skip without podman, except under CI, where a missing podman fails the run."""
    if shutil.which("podman") is None:
        if os.environ.get("CI"):
            pytest.fail(f"podman is not installed: {tests} must run in CI (scripts/setup-host installs it)")
        pytest.skip("podman is not installed")


def remove_labelled(runtime: PodmanRuntime, labels: Mapping[str, str]) -> None:
    """Containers first (they hold networks and volumes), then networks and volumes, by label only."""
    assert labels.get(LAB_LABEL) == PREFIX  # never anything of another lab
    for info in runtime.list_containers(labels):
        runtime.remove_container(info.name)
    for network in runtime.list_networks(labels):
        runtime.remove_network(network)
    for volume in runtime.list_volumes(labels):
        runtime.remove_volume(volume)


def wait_until(condition: Callable[[], bool], *, timeout_s: float = 15, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g}s waiting for {what}")
        time.sleep(0.1)


def can_connect(runtime: PodmanRuntime, container: str, host: str, port: int, *, timeout_s: float = 2) -> bool:
    """Whether `container` opens a TCP connection to host:port (python3 inside it, with a timeout)."""
    code = "import socket, sys\nsocket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))"
    result = runtime.exec(container, ("python3", "-c", code, host, str(port), str(timeout_s)))
    return result.exit_code == 0


@pytest.fixture(scope="session")
def podman_runtime() -> Iterator[PodmanRuntime]:
    """A PodmanRuntime on the default socket (started if none answers), the base image present, and
    nothing left of a previous run."""
    require_podman()
    runtime = PodmanRuntime()
    try:
        ensure_base(runtime, DEFAULT_BASE)  # a no-op when the image exists; mmdebstrap in CI
        remove_labelled(runtime, LABELS)
        yield runtime
        remove_labelled(runtime, LABELS)
    finally:
        runtime.close()


@pytest.fixture
def runtime(podman_runtime: PodmanRuntime) -> Iterator[PodmanRuntime]:
    """The session's runtime; what the test creates with FUNCTION_LABELS is removed after it."""
    yield podman_runtime
    remove_labelled(podman_runtime, FUNCTION_LABELS)


@dataclass(frozen=True)
class SharedLab:
    """Two isolated networks; on A a web server (static IP, alias, published port, volume, user
    10001, no capabilities, files copied before start) and a peer; on B an outsider."""

    runtime: PodmanRuntime
    network_a: str
    network_b: str
    volume: str
    web: str
    peer: str
    outsider: str
    host_port: int


@pytest.fixture(scope="module")
def shared_lab(podman_runtime: PodmanRuntime) -> Iterator[SharedLab]:
    runtime = podman_runtime
    lab = SharedLab(
        runtime=runtime,
        network_a=name("net-a"),
        network_b=name("net-b"),
        volume=name("data"),
        web=name("web"),
        peer=name("peer"),
        outsider=name("outsider"),
        host_port=free_port(),
    )
    try:
        runtime.create_network(NetworkSpec(lab.network_a, SUBNET_A, SHARED_LABELS, isolate=True))
        runtime.create_network(NetworkSpec(lab.network_b, SUBNET_B, SHARED_LABELS, isolate=True))
        runtime.create_volume(VolumeSpec(lab.volume, SHARED_LABELS))
        runtime.create_container(
            ContainerSpec(
                name=lab.web,
                image=IMAGE,
                command=WEB_SERVER,
                network=lab.network_a,
                labels=SHARED_LABELS,
                aliases=(WEB_ALIAS,),
                ip=WEB_IP,
                ports=(PortSpec(WEB_PORT, lab.host_port, "127.0.0.1"),),
                mounts=(VolumeMount(lab.volume, "/data"),),
                user=f"{WEB_UID}:{WEB_UID}",
                cap_drop=("ALL",),
                files={"/srv": {"secret.txt": FileContent(SECRET, mode=0o600)}},
                files_owner=(WEB_UID, WEB_UID),
            )
        )
        for container, network in ((lab.peer, lab.network_a), (lab.outsider, lab.network_b)):
            runtime.create_container(ContainerSpec(container, IMAGE, SLEEPER, network, SHARED_LABELS))
        for container in (lab.web, lab.peer, lab.outsider):
            runtime.start_container(container)
        wait_until(lambda: can_connect(runtime, lab.peer, str(WEB_IP), WEB_PORT), what="the web server on network A")
        yield lab
    finally:
        remove_labelled(runtime, SHARED_LABELS)
