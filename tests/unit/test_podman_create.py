"""PodmanRuntime.create_container asks for what rootless podman needs as well as rootful podman."""

from __future__ import annotations

import ipaddress
import threading
from typing import Any

from podman.domain.containers_create import CreateMixin

from labctl.runtime.base import ContainerSpec, PortSpec
from labctl.runtime.podman import PodmanRuntime


class _Containers:
    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []

    def create(self, image: str, **kwargs: Any) -> None:
        self.created.append({"image": image, **kwargs})


def _runtime(containers: _Containers) -> PodmanRuntime:
    runtime = PodmanRuntime.__new__(PodmanRuntime)  # no service: the client is replaced below
    runtime.base_url = "unix:///nonexistent"
    runtime._local = threading.local()
    client = type("Client", (), {"containers": containers})()
    runtime._client = lambda: client  # type: ignore[method-assign]
    return runtime


def test_a_static_address_on_a_named_network_asks_for_bridge_mode() -> None:
    # Rootless podman's default network mode is slirp4netns, where it refuses static addresses on a
    # named network ("can only be used with Bridge mode networking"): the request must say bridge.
    containers = _Containers()
    spec = ContainerSpec(
        name="rl-dogtag-est-ca",
        image="localhost/labctl:0123456789ab",
        command=("python", "-m", "labctl.services.est_ra"),
        network="rl-rsa",
        labels={"io.labctl.lab": "rl"},
        ip=ipaddress.IPv4Address("10.210.0.3"),
        ports=(PortSpec(container_port=8447, host_port=18447, host_ip="127.0.0.1"),),
    )
    _runtime(containers).create_container(spec)
    payload = CreateMixin._render_payload(containers.created[0])
    assert payload["netns"] == {"nsmode": "bridge"}
    assert payload["networks"]["rl-rsa"]["static_ips"] == ["10.210.0.3"]
    assert payload["portmappings"] == [
        {"container_port": 8447, "host_port": 18447, "host_ip": "127.0.0.1", "protocol": "tcp"}
    ]
