"""PodmanRuntime on rootless podman: what it must ask for, and what it must do without."""

from __future__ import annotations

import ipaddress
import os
import threading
from typing import Any

import pytest
from podman.domain.containers_create import CreateMixin
from podman.errors import APIError

from labctl.errors import RuntimeBackendError
from labctl.runtime.base import ContainerSpec, PortSpec
from labctl.runtime.podman import PodmanRuntime


class _Container:
    def __init__(self, stats_error: str | None) -> None:
        self.attrs = {"State": {"Pid": os.getpid()}}  # this process stands in for the container's
        self._stats_error = stats_error

    def stats(self, **_: Any) -> dict[str, Any]:
        if self._stats_error:
            raise APIError(self._stats_error, explanation=self._stats_error)
        return {"Stats": [{"MemUsage": 4096}]}


class _Containers:
    def __init__(self, container: _Container | None = None) -> None:
        self.created: list[dict[str, Any]] = []
        self._container = container

    def create(self, image: str, **kwargs: Any) -> None:
        self.created.append({"image": image, **kwargs})

    def get(self, name: str) -> _Container:
        assert self._container is not None
        return self._container


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


def test_memory_without_cgroup_stats_still_has_rss_and_pss() -> None:
    # Rootless podman on cgroups v1 has no cgroup figures to give; /proc still has the processes'.
    container = _Container("container stats resource only available for cgroup v2")
    usage = _runtime(_Containers(container)).memory_usage("bench-dogtag-intermediate-ca")
    assert usage is not None and usage.cgroup_bytes is None and usage.rss_bytes > 0


def test_memory_with_cgroup_stats_reports_them() -> None:
    usage = _runtime(_Containers(_Container(None))).memory_usage("bench-dogtag-intermediate-ca")
    assert usage is not None and usage.cgroup_bytes == 4096


def test_other_stats_failures_are_still_errors() -> None:
    with pytest.raises(RuntimeBackendError, match="no such container"):
        _runtime(_Containers(_Container("no such container"))).memory_usage("x")
