"""PodmanRuntime finds a container by the lab's name when another tool named it (podman kube play)."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest
from podman.errors import NotFound

from labctl.errors import RuntimeBackendError
from labctl.runtime.base import CONTAINER_LABEL
from labctl.runtime.podman import PodmanRuntime


@dataclass
class _Container:
    id: str
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    pid: int = 0  # podman's State.Pid: 0 when not running

    @property
    def attrs(self) -> dict[str, Any]:
        return {
            "Name": self.name,
            "Labels": self.labels,
            "State": {"Status": "running", "Pid": self.pid},
            "Config": {"Labels": self.labels},
        }


class _Containers:
    def __init__(self, *containers: _Container) -> None:
        self._containers = containers

    def get(self, key: str) -> _Container:
        for container in self._containers:
            if key in (container.id, container.name):
                return container
        raise NotFound(f"no container {key}")

    def list(self, *, all: bool) -> list[_Container]:
        return list(self._containers)


def _runtime(*containers: _Container) -> PodmanRuntime:
    runtime = PodmanRuntime.__new__(PodmanRuntime)  # no service: the client is replaced below
    runtime.base_url = "unix:///nonexistent"
    runtime._local = threading.local()
    client = type("Client", (), {"containers": _Containers(*containers)})()
    runtime._client = lambda: client  # type: ignore[method-assign]
    return runtime


def test_a_container_is_found_by_its_name_first() -> None:
    runtime = _runtime(_Container("1", "ca"), _Container("2", "ca-pod-0-ca", {CONTAINER_LABEL: "ca"}))
    info = runtime.inspect_container("ca")
    assert info is not None and info.name == "ca"


def test_a_container_podman_kube_play_named_is_found_by_its_label() -> None:
    runtime = _runtime(_Container("2", "ca-pod-0-ca", {CONTAINER_LABEL: "ca"}))
    info = runtime.inspect_container("ca")
    assert info is not None and info.name == "ca-pod-0-ca"


def test_no_container_by_name_or_label_is_none() -> None:
    assert _runtime(_Container("2", "other", {CONTAINER_LABEL: "ra"})).inspect_container("ca") is None


def test_two_containers_with_the_label_are_refused() -> None:
    runtime = _runtime(_Container("1", "a", {CONTAINER_LABEL: "ca"}), _Container("2", "b", {CONTAINER_LABEL: "ca"}))
    with pytest.raises(RuntimeBackendError, match=re.escape("2 containers are labelled io.labctl.container=ca")):
        runtime.inspect_container("ca")


def test_main_pid_is_podmans_state_pid() -> None:
    # What benchmarks/cpu.py reads the container's CPU from (labctl.cputime: its process tree in /proc).
    runtime = _runtime(_Container("1", "ca", pid=4242), _Container("2", "ra"))
    assert runtime.main_pid("ca") == 4242
    assert runtime.main_pid("ra") is None  # Pid 0: not running
    assert runtime.main_pid("missing") is None
