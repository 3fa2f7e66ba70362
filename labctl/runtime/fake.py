"""An in-memory ContainerRuntime for tests: state in dicts, behaviour through small per-container hooks.

It knows nothing about the lab. Tests give containers behaviour by name: `on_start` (the process
starting, e.g. a CA writing its CSR), `on_healthcheck` (each run of the health check, e.g. a CA
polling for its certificate) and `on_exec`. Files under a volume mount live in the volume and
outlive the container, as with podman. Every mutating call is appended to `calls`, e.g.
("create_container", "dogtag-ecc-est-ca"), so tests can assert on what happened; `on_call` sees
each one just before it takes effect (e.g. to interrupt labctl there).
"""

from __future__ import annotations

import ipaddress
import posixpath
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from labctl.errors import RuntimeBackendError
from labctl.runtime.base import (
    ContainerInfo,
    ContainerRuntime,
    ContainerSpec,
    ExecResult,
    FileContent,
    Health,
    NetworkSpec,
    VolumeSpec,
)

# (runtime, container name): what the container's process does when it starts.
StartHook = Callable[["FakeRuntime", str], None]
# (runtime, container name) -> the health check's result, or None to keep the current health.
HealthHook = Callable[["FakeRuntime", str], Health | None]
# (runtime, container name, command) -> what `exec` answers.
ExecHook = Callable[["FakeRuntime", str, tuple[str, ...]], ExecResult]
# A mutating call, e.g. ("start_container", name), before it takes effect; may raise to make it fail.
CallHook = Callable[[tuple[str, ...]], None]


@dataclass
class FakeContainer:
    spec: ContainerSpec
    state: str = "created"
    health: Health = Health.NONE
    exit_code: int | None = None
    # The container's own layer, by absolute path (files under a volume mount live in the volume).
    files: dict[str, FileContent] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    id: str = field(default_factory=lambda: secrets.token_hex(32))


class FakeRuntime:
    """A ContainerRuntime without podman; refuses what podman refuses (duplicate names, missing images)."""

    shares_host_network = False

    def __init__(
        self,
        *,
        on_start: Mapping[str, StartHook] | None = None,
        on_healthcheck: Mapping[str, HealthHook] | None = None,
        on_exec: Mapping[str, ExecHook] | None = None,
    ) -> None:
        self.networks: dict[str, NetworkSpec] = {}
        self.volumes: dict[str, VolumeSpec] = {}
        # Volume name -> {path relative to the volume's root: content}.
        self.volume_files: dict[str, dict[str, FileContent]] = {}
        self.images: dict[str, dict[str, str]] = {}
        self.image_ids: dict[str, str] = {}  # reference -> id, once asked for
        self.dangling: set[str] = set()  # ids of images a rebuild took the tag from
        self.containers: dict[str, FakeContainer] = {}
        self.calls: list[tuple[str, ...]] = []
        self.on_start: dict[str, StartHook] = dict(on_start or {})
        self.on_healthcheck: dict[str, HealthHook] = dict(on_healthcheck or {})
        self.on_exec: dict[str, ExecHook] = dict(on_exec or {})
        self.on_call: CallHook | None = None
        # The orchestrator runs steps on worker threads.
        self._lock = threading.RLock()

    # --- test helpers --------------------------------------------------------------------------

    def container(self, name: str) -> FakeContainer:
        """The container's record; RuntimeBackendError when there is none."""
        with self._lock:
            try:
                return self.containers[name]
            except KeyError:
                raise RuntimeBackendError(f"fake: no such container {name}") from None

    def set_health(self, name: str, health: Health) -> None:
        with self._lock:
            self.container(name).health = health

    def kill(self, name: str, *, exit_code: int = 137) -> None:
        """The container's process dies: state -> exited."""
        with self._lock:
            container = self.container(name)
            container.state = "exited"
            container.exit_code = exit_code

    def put_file(self, name: str, path: str, data: bytes, *, mode: int = 0o644) -> None:
        """Write a file as the container's process would (not recorded in `calls`)."""
        with self._lock:
            files, key = self._locate(self.container(name), path)
            files[key] = FileContent(data, mode)

    def files(self, name: str) -> dict[str, bytes]:
        """Every file the container sees, by absolute path (its own and its volumes')."""
        with self._lock:
            container = self.container(name)
            seen = {path: content.data for path, content in container.files.items()}
            for mount in container.spec.mounts:
                for relative, content in self.volume_files.get(mount.volume, {}).items():
                    seen[posixpath.join(mount.target, relative)] = content.data
            return seen

    def file_mode(self, name: str, path: str) -> int | None:
        with self._lock:
            files, key = self._locate(self.container(name), path)
            content = files.get(key)
            return content.mode if content is not None else None

    def write_log(self, name: str, line: str) -> None:
        with self._lock:
            self.container(name).log.append(line)

    def calls_of(self, method: str) -> list[tuple[str, ...]]:
        """The recorded calls of one method, e.g. calls_of("create_container")."""
        with self._lock:
            return [call for call in self.calls if call[0] == method]

    # --- networks ------------------------------------------------------------------------------

    def network_exists(self, name: str) -> bool:
        with self._lock:
            return name in self.networks

    def create_network(self, spec: NetworkSpec) -> None:
        with self._lock:
            if spec.name in self.networks:
                raise RuntimeBackendError(f"fake: network {spec.name} already exists")
            for other in self.networks.values():
                if other.subnet.overlaps(spec.subnet):
                    raise RuntimeBackendError(f"fake: subnet {spec.subnet} overlaps network {other.name}")
            self._record(("create_network", spec.name))
            self.networks[spec.name] = spec

    def remove_network(self, name: str) -> None:
        with self._lock:
            self._record(("remove_network", name))
            if self.networks.pop(name, None) is None:
                return
            # podman's forced removal takes the containers on the network with it.
            for container in [c for c in self.containers.values() if c.spec.network == name]:
                del self.containers[container.spec.name]

    def list_networks(self, labels: Mapping[str, str]) -> list[str]:
        with self._lock:
            return sorted(name for name, spec in self.networks.items() if _has_labels(spec.labels, labels))

    def network_subnets(self) -> list[ipaddress.IPv4Network]:
        with self._lock:
            return [spec.subnet for spec in self.networks.values()]

    # --- volumes -------------------------------------------------------------------------------

    def volume_exists(self, name: str) -> bool:
        with self._lock:
            return name in self.volumes

    def create_volume(self, spec: VolumeSpec) -> None:
        with self._lock:
            if spec.name in self.volumes:
                raise RuntimeBackendError(f"fake: volume {spec.name} already exists")
            self._record(("create_volume", spec.name))
            self.volumes[spec.name] = spec
            self.volume_files.setdefault(spec.name, {})

    def remove_volume(self, name: str) -> None:
        with self._lock:
            self._record(("remove_volume", name))
            if self.volumes.pop(name, None) is None:
                return
            self.volume_files.pop(name, None)
            # podman's forced removal takes the containers using the volume with it.
            for container in list(self.containers.values()):
                if any(mount.volume == name for mount in container.spec.mounts):
                    del self.containers[container.spec.name]

    def list_volumes(self, labels: Mapping[str, str]) -> list[str]:
        with self._lock:
            return sorted(name for name, spec in self.volumes.items() if _has_labels(spec.labels, labels))

    # --- images --------------------------------------------------------------------------------

    def image_labels(self, reference: str) -> Mapping[str, str] | None:
        with self._lock:
            labels = self.images.get(reference)
            return dict(labels) if labels is not None else None

    def image_tags(self, repository: str) -> list[str]:
        with self._lock:
            return sorted(ref for ref in self.images if ref.rpartition(":")[0] == repository)

    def image_id(self, reference: str) -> str | None:
        with self._lock:
            if reference not in self.images:
                return None
            return self.image_ids.setdefault(reference, secrets.token_hex(32))

    def remove_image(self, reference: str) -> bool:
        with self._lock:
            if any(c.spec.image == reference for c in self.containers.values()):
                return False
            self.calls.append(("remove_image", reference))
            if reference in self.dangling:  # by id: an image a rebuild took the tag from
                self.dangling.discard(reference)
                return True
            self.images.pop(reference, None)
            self.image_ids.pop(reference, None)
            return True

    def import_rootfs(self, tarball: Path, reference: str) -> None:
        with self._lock:
            self._record(("import_rootfs", reference))
            self.images[reference] = {}

    def build_image(
        self,
        context: Path,
        containerfile: str,
        reference: str,
        *,
        labels: Mapping[str, str],
        build_args: Mapping[str, str],
        no_cache: bool = False,
    ) -> None:
        with self._lock:
            self._record(("build_image", reference))
            if reference in self.image_ids:  # as podman does: the old image keeps no tag, only its id
                self.dangling.add(self.image_ids.pop(reference))
            self.images[reference] = dict(labels)

    # --- containers ----------------------------------------------------------------------------

    def create_container(self, spec: ContainerSpec) -> None:
        with self._lock:
            if spec.name in self.containers:
                raise RuntimeBackendError(f"fake: create container {spec.name}: the name is already in use")
            if spec.image not in self.images:
                raise RuntimeBackendError(f"fake: create container {spec.name}: no image {spec.image}")
            network = self.networks.get(spec.network)
            if network is None:
                raise RuntimeBackendError(f"fake: create container {spec.name}: no network {spec.network}")
            if spec.ip is not None:
                if spec.ip not in network.subnet:
                    raise RuntimeBackendError(f"fake: {spec.ip} is outside {network.name} ({network.subnet})")
                for other in self.containers.values():
                    if other.spec.network == spec.network and other.spec.ip == spec.ip:
                        raise RuntimeBackendError(f"fake: {spec.ip} on {network.name} is taken by {other.spec.name}")
            for mount in spec.mounts:
                # podman creates a missing named volume, unlabelled.
                if mount.volume not in self.volumes:
                    self.volumes[mount.volume] = VolumeSpec(mount.volume, {})
                    self.volume_files.setdefault(mount.volume, {})
            self._record(("create_container", spec.name))
            container = FakeContainer(spec)
            self.containers[spec.name] = container
            for directory, files in spec.files.items():
                for file_name, content in files.items():
                    target, key = self._locate(container, posixpath.join(directory, file_name))
                    target[key] = content

    def start_container(self, name: str) -> None:
        with self._lock:
            container = self.container(name)
            self._record(("start_container", name))
            if container.state == "running":
                return
            container.state = "running"
            container.exit_code = None
            container.health = Health.STARTING if container.spec.health is not None else Health.NONE
            hook = self.on_start.get(name)
        if hook is not None:
            hook(self, name)

    def stop_container(self, name: str, *, timeout_s: int = 10) -> None:
        with self._lock:
            self._record(("stop_container", name))
            container = self.containers.get(name)
            if container is not None and container.state == "running":
                container.state = "exited"
                container.exit_code = 0

    def remove_container(self, name: str) -> None:
        with self._lock:
            self._record(("remove_container", name))
            self.containers.pop(name, None)

    def inspect_container(self, name: str) -> ContainerInfo | None:
        with self._lock:
            container = self.containers.get(name)
            return _info(container) if container is not None else None

    def list_containers(self, labels: Mapping[str, str]) -> list[ContainerInfo]:
        with self._lock:
            return [
                _info(container)
                for name, container in sorted(self.containers.items())
                if _has_labels(container.spec.labels, labels)
            ]

    def read_file(self, name: str, path: str) -> bytes | None:
        with self._lock:
            container = self.containers.get(name)
            if container is None:
                return None
            files, key = self._locate(container, path)
            content = files.get(key)
            return content.data if content is not None else None

    def write_files(
        self, name: str, directory: str, files: Mapping[str, FileContent], *, owner: tuple[int, int]
    ) -> None:
        with self._lock:
            container = self.container(name)
            self._record(("write_files", name, directory, *sorted(files)))
            for file_name, content in files.items():
                target, key = self._locate(container, posixpath.join(directory, file_name))
                target[key] = content

    def exec(self, name: str, command: tuple[str, ...]) -> ExecResult:
        with self._lock:
            if self.container(name).state != "running":
                raise RuntimeBackendError(f"fake: exec in {name}: container is not running")
            self._record(("exec", name, *command))
            hook = self.on_exec.get(name)
        return hook(self, name, command) if hook is not None else ExecResult(0, "")

    def run_healthcheck(self, name: str) -> Health:
        with self._lock:
            container = self.container(name)
            # As podman answers 409: not running, or no health check defined.
            if container.state != "running" or container.spec.health is None:
                return Health.UNHEALTHY
            hook = self.on_healthcheck.get(name)
        result = hook(self, name) if hook is not None else None
        with self._lock:
            if result is not None:
                container.health = result
            return container.health

    def logs(self, name: str, *, tail: int = 30) -> str:
        with self._lock:
            container = self.containers.get(name)
            if container is None:
                return "(no such container)"
            return "\n".join(container.log[-tail:]) if tail > 0 else ""

    # --- internals -----------------------------------------------------------------------------

    def _record(self, call: tuple[str, ...]) -> None:
        self.calls.append(call)
        if self.on_call is not None:
            self.on_call(call)

    def _locate(self, container: FakeContainer, path: str) -> tuple[dict[str, FileContent], str]:
        """The dict that holds `path` for this container (a volume's, or its own layer) and the key in it."""
        if not path.startswith("/"):
            raise RuntimeBackendError(f"fake: {container.spec.name}: path {path!r} is not absolute")
        path = posixpath.normpath(path)
        for mount in container.spec.mounts:
            target = posixpath.normpath(mount.target)
            if path.startswith(target + "/"):
                return self.volume_files.setdefault(mount.volume, {}), posixpath.relpath(path, target)
        return container.files, path


def _has_labels(actual: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(actual.get(key) == value for key, value in wanted.items())


def _info(container: FakeContainer) -> ContainerInfo:
    spec = container.spec
    return ContainerInfo(
        name=spec.name,
        state=container.state,
        labels=dict(spec.labels),
        image=spec.image,
        ip=str(spec.ip) if spec.ip is not None else None,
        exit_code=container.exit_code if container.state == "exited" else None,
        id=container.id,
    )


if TYPE_CHECKING:
    # mypy checks here that FakeRuntime implements the whole protocol.
    _conforms: ContainerRuntime = FakeRuntime()
