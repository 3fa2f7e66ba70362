"""The ContainerRuntime protocol: only the calls labctl makes (networks, volumes, images,
containers, files, exec, health, logs), in labctl's own types, so the orchestrator never sees
podman's API and other targets can reuse the same plan.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

# Labels on everything labctl creates: `down` and `status` select by them, never by name.
LAB_LABEL = "io.labctl.lab"
HIERARCHY_LABEL = "io.labctl.hierarchy"
ROLE_LABEL = "io.labctl.role"
SPEC_HASH_LABEL = "io.labctl.spec-hash"
# On containers another tool runs (compose, kube): labctl bootstraps them but never recreates them.
MANAGED_BY_LABEL = "io.labctl.managed-by"
CONTENT_HASH_LABEL = "io.labctl.content-hash"
# The lab's name for a container another tool named otherwise (`podman kube play` names it
# <pod>-<container>): the runtime finds a container by this label when none has the name itself.
CONTAINER_LABEL = "io.labctl.container"


class Health(enum.StrEnum):
    NONE = "none"  # no health check defined
    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True, slots=True)
class NetworkSpec:
    name: str
    subnet: ipaddress.IPv4Network
    labels: Mapping[str, str]
    # podman routes between bridges unless a network is isolated.
    isolate: bool = True


@dataclass(frozen=True, slots=True)
class VolumeSpec:
    name: str
    labels: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class PortSpec:
    container_port: int
    host_port: int
    host_ip: str = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class VolumeMount:
    volume: str
    target: str


@dataclass(frozen=True, slots=True)
class HealthCheck:
    command: tuple[str, ...]
    timeout_s: float = 5.0
    interval_s: float = 30.0
    retries: int = 3


@dataclass(frozen=True, slots=True)
class FileContent:
    """A file copied into a container before it starts."""

    data: bytes
    mode: int = 0o644


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    name: str
    image: str
    command: tuple[str, ...]
    network: str
    labels: Mapping[str, str]
    aliases: tuple[str, ...] = ()
    ip: ipaddress.IPv4Address | None = None
    ports: tuple[PortSpec, ...] = ()
    mounts: tuple[VolumeMount, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    health: HealthCheck | None = None
    user: str | None = None
    read_only: bool = False
    cap_drop: tuple[str, ...] = ("ALL",)
    # Copied in after create and before start: {container directory: {file name: content}}.
    files: Mapping[str, Mapping[str, FileContent]] = field(default_factory=dict)
    # Owner (uid, gid) of the copied files.
    files_owner: tuple[int, int] = (0, 0)
    # /etc/hosts entries {name: address}: names resolved without DNS.
    extra_hosts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    name: str
    state: str  # created, running, exited, ...
    labels: Mapping[str, str]
    image: str
    ip: str | None = None
    exit_code: int | None = None  # once exited
    id: str = ""  # the runtime's id: a recreated container (same name) has a new one

    @property
    def is_running(self) -> bool:
        return self.state == "running"


@dataclass(frozen=True, slots=True)
class MemoryUsage:
    """A running container's memory, three ways (see PodmanRuntime.memory_usage)."""

    rss_bytes: int  # resident set of the container's processes, shared library pages included
    pss_bytes: int | None  # the same with each shared page divided among its sharers (None: kernel too old)
    cgroup_bytes: int | None  # what its cgroup is charged, page cache included (None: rootless on cgroups v1)


@dataclass(frozen=True, slots=True)
class ExecResult:
    exit_code: int
    output: str


class ContainerRuntime(Protocol):
    # False: each container has its own network namespace, and services reach each other by container
    # name on the lab's networks. True (processes on the host): they share the host's, and loopback.
    shares_host_network: bool

    # networks
    def network_exists(self, name: str) -> bool: ...
    def create_network(self, spec: NetworkSpec) -> None: ...
    def remove_network(self, name: str) -> None: ...
    def list_networks(self, labels: Mapping[str, str]) -> list[str]: ...
    def network_subnets(self) -> list[ipaddress.IPv4Network]: ...  # every network's, any owner

    # volumes
    def volume_exists(self, name: str) -> bool: ...
    def create_volume(self, spec: VolumeSpec) -> None: ...
    def remove_volume(self, name: str) -> None: ...
    def list_volumes(self, labels: Mapping[str, str]) -> list[str]: ...

    # images
    def image_labels(self, reference: str) -> Mapping[str, str] | None: ...
    def image_tags(self, repository: str) -> list[str]: ...
    def image_id(self, reference: str) -> str | None: ...  # None when absent
    def remove_image(self, reference: str) -> bool: ...  # False when a container still uses it
    def import_rootfs(self, tarball: Path, reference: str) -> None: ...
    def build_image(
        self,
        context: Path,
        containerfile: str,
        reference: str,
        *,
        labels: Mapping[str, str],
        build_args: Mapping[str, str],
        no_cache: bool = False,
    ) -> None: ...

    # containers
    def create_container(self, spec: ContainerSpec) -> None: ...
    def start_container(self, name: str) -> None: ...
    def stop_container(self, name: str, *, timeout_s: int = 10) -> None: ...
    def remove_container(self, name: str) -> None: ...
    def inspect_container(self, name: str) -> ContainerInfo | None: ...
    def list_containers(self, labels: Mapping[str, str]) -> list[ContainerInfo]: ...
    def read_file(self, name: str, path: str) -> bytes | None: ...
    def write_files(
        self, name: str, directory: str, files: Mapping[str, FileContent], *, owner: tuple[int, int]
    ) -> None: ...
    def exec(self, name: str, command: tuple[str, ...]) -> ExecResult: ...
    def run_healthcheck(self, name: str) -> Health: ...
    def logs(self, name: str, *, tail: int = 30) -> str: ...
