"""A ContainerRuntime whose containers are processes on this host: `labctl serve-local` runs the
same Plan as `labctl up`, through the same Orchestrator, with this runtime behind the seam.

What a container is, here:
- its command, run by this host's Python ("python" is sys.executable), in a new session;
- its filesystem: a directory under the runtime's root; every absolute path in its command, health
  check or exec is that directory's (or a mounted volume's) path on the host;
- its network: the host's. Processes share the host's ports, so a container port must equal its
  published port, and services reach each other on loopback (`shares_host_network`);
- no image, user, read-only root or capability set: the host's Python and the user running labctl.

Volumes are directories that outlive the processes (the CA's data, as a podman volume does); labels
of volumes are kept beside them. Networks are only recorded. Nothing survives the runtime's close()
but the volumes: every process it started is stopped there.
"""

from __future__ import annotations

import ipaddress
import json
import os
import posixpath
import secrets
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from labctl.errors import RuntimeBackendError
from labctl.files import write_atomic
from labctl.images import ImageResult
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

HOST_IMAGE = "host-python"  # what a process "image" is: this host's Python with labctl installed
VOLUME_LABELS = ".labctl-volume.json"


def host_image(_runtime: ContainerRuntime, _base: str) -> ImageResult:
    """The image step of a lab on processes: nothing to build (the orchestrator's `build_image`)."""
    return ImageResult(reference=HOST_IMAGE, built=False, content_hash="")


@dataclass
class _Process:
    spec: ContainerSpec
    root: Path  # the container's filesystem
    id: str = field(default_factory=lambda: secrets.token_hex(32))
    popen: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        # Beside the container's directory; not with_suffix(): a container name may hold a dot.
        return self.root.parent / f"{self.root.name}.log"

    def state(self) -> tuple[str, int | None]:
        if self.popen is None:
            return "created", None
        code = self.popen.poll()
        return ("running", None) if code is None else ("exited", code)


class ProcessRuntime:
    """Containers as host processes, volumes as directories under `root` (see the module's docstring)."""

    shares_host_network = True

    def __init__(self, root: Path, *, stop_timeout_s: float = 5.0) -> None:
        self.root = root
        self._stop_timeout_s = stop_timeout_s
        self._networks: dict[str, NetworkSpec] = {}
        self._processes: dict[str, _Process] = {}
        self._lock = threading.RLock()  # the orchestrator runs steps on worker threads

    def __enter__(self) -> ProcessRuntime:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every process this runtime started (SIGTERM, SIGKILL after the grace period)."""
        for name in reversed(list(self._processes)):
            self.stop_container(name)

    # --- networks: the host's; only recorded ----------------------------------------------------

    def network_exists(self, name: str) -> bool:
        return name in self._networks

    def create_network(self, spec: NetworkSpec) -> None:
        self._networks[spec.name] = spec

    def remove_network(self, name: str) -> None:
        self._networks.pop(name, None)

    def list_networks(self, labels: Mapping[str, str]) -> list[str]:
        return [name for name, spec in self._networks.items() if _has_labels(spec.labels, labels)]

    def network_subnets(self) -> list[ipaddress.IPv4Network]:
        return [spec.subnet for spec in self._networks.values()]

    # --- volumes: directories that outlive the processes ----------------------------------------

    def _volume_dir(self, name: str) -> Path:
        return self.root / "volumes" / name

    def volume_exists(self, name: str) -> bool:
        return self._volume_dir(name).is_dir()

    def create_volume(self, spec: VolumeSpec) -> None:
        directory = self._volume_dir(spec.name)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(directory / VOLUME_LABELS, json.dumps(dict(spec.labels)).encode())

    def remove_volume(self, name: str) -> None:
        shutil.rmtree(self._volume_dir(name), ignore_errors=True)

    def list_volumes(self, labels: Mapping[str, str]) -> list[str]:
        found = []
        for directory in sorted((self.root / "volumes").glob("*/")):
            try:
                volume_labels = json.loads((directory / VOLUME_LABELS).read_bytes())
            except (OSError, ValueError):
                continue  # not made by this runtime
            if isinstance(volume_labels, dict) and _has_labels(volume_labels, labels):
                found.append(directory.name)
        return found

    # --- images: none ------------------------------------------------------------------------------

    def image_labels(self, reference: str) -> Mapping[str, str] | None:
        return {} if reference == HOST_IMAGE else None

    def image_tags(self, repository: str) -> list[str]:
        return []

    def image_id(self, reference: str) -> str | None:
        return HOST_IMAGE if reference == HOST_IMAGE else None

    def remove_image(self, reference: str) -> bool:
        return True

    def import_rootfs(self, tarball: Path, reference: str) -> None:
        raise RuntimeBackendError("processes on the host run no images", hint="labctl up runs the lab in podman")

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
        raise RuntimeBackendError("processes on the host run no images", hint="labctl up runs the lab in podman")

    # --- containers: processes ----------------------------------------------------------------------

    def create_container(self, spec: ContainerSpec) -> None:
        for port in spec.ports:
            if port.container_port != port.host_port:
                raise RuntimeBackendError(
                    f"{spec.name}: port {port.container_port} published as {port.host_port}: a process on the host"
                    " listens on the port it is given"
                )
        with self._lock:
            if spec.name in self._processes:
                raise RuntimeBackendError(f"container {spec.name} already exists")
            root = self.root / "containers" / spec.name
            shutil.rmtree(root, ignore_errors=True)  # a previous run's, killed before it cleaned up
            root.mkdir(parents=True, mode=0o700)
            process = _Process(spec, root)
            self._processes[spec.name] = process
        for directory, files in spec.files.items():
            self.write_files(spec.name, directory, files, owner=spec.files_owner)

    def start_container(self, name: str) -> None:
        process = self._get(name)
        if process.state()[0] == "running":
            return
        with process.log.open("ab") as log:
            process.popen = subprocess.Popen(
                self._argv(process, process.spec.command),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._environment(process),
                cwd=process.root,
                start_new_session=True,  # Ctrl-C reaches labctl only; labctl stops its children in order
            )

    def stop_container(self, name: str, *, timeout_s: int | float | None = None) -> None:
        process = self._processes.get(name)
        if process is None or process.popen is None or process.popen.poll() is not None:
            return
        process.popen.send_signal(signal.SIGTERM)
        try:
            process.popen.wait(timeout=self._stop_timeout_s if timeout_s is None else timeout_s)
        except subprocess.TimeoutExpired:
            process.popen.kill()
            process.popen.wait()

    def remove_container(self, name: str) -> None:
        """Stop it and remove its filesystem (the RA's configuration holds secrets); volumes stay."""
        self.stop_container(name)
        with self._lock:
            process = self._processes.pop(name, None)
        if process is not None:
            shutil.rmtree(process.root, ignore_errors=True)
            process.log.unlink(missing_ok=True)

    def inspect_container(self, name: str) -> ContainerInfo | None:
        process = self._processes.get(name)
        return None if process is None else _info(process)

    def main_pid(self, name: str) -> int | None:
        """The host PID of a running container's process (labctl.cputime reads its CPU); None when not running."""
        process = self._processes.get(name)
        if process is None or process.popen is None or process.state()[0] != "running":
            return None
        return process.popen.pid

    def list_containers(self, labels: Mapping[str, str]) -> list[ContainerInfo]:
        with self._lock:
            processes = list(self._processes.values())
        return [_info(p) for p in processes if _has_labels(p.spec.labels, labels)]

    def read_file(self, name: str, path: str) -> bytes | None:
        target = self._host_path(self._get(name), path)
        try:
            return target.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise RuntimeBackendError(f"cannot read {path} of {name} ({target}): {exc.strerror}") from exc

    def write_files(
        self, name: str, directory: str, files: Mapping[str, FileContent], *, owner: tuple[int, int]
    ) -> None:
        """Write files into the container's directory; `owner` is ignored (the processes run as this user)."""
        target = self._host_path(self._get(name), directory)
        for file_name, content in files.items():
            path = target / file_name
            write_atomic(path, content.data)
            path.chmod(content.mode)

    def exec(self, name: str, command: tuple[str, ...]) -> ExecResult:
        process = self._get(name)
        return self._run(process, command, timeout_s=120.0)

    def run_healthcheck(self, name: str) -> Health:
        process = self._get(name)
        check = process.spec.health
        if check is None:
            return Health.NONE
        if process.state()[0] != "running":
            return Health.UNHEALTHY
        result = self._run(process, check.command, timeout_s=check.timeout_s)
        return Health.HEALTHY if result.exit_code == 0 else Health.STARTING

    def logs(self, name: str, *, tail: int = 30) -> str:
        process = self._processes.get(name)
        if process is None:
            return ""
        try:
            lines = process.log.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        return "".join(f"{line}\n" for line in lines[-tail:])

    # --- helpers ------------------------------------------------------------------------------

    def _get(self, name: str) -> _Process:
        process = self._processes.get(name)
        if process is None:
            raise RuntimeBackendError(f"no container {name} (processes on the host)")
        return process

    def _host_path(self, process: _Process, path: str) -> Path:
        """Where a container path is on the host: in a mounted volume, or in the container's own directory."""
        path = posixpath.normpath(path)
        for mount in process.spec.mounts:
            if path == mount.target or path.startswith(mount.target.rstrip("/") + "/"):
                return self._volume_dir(mount.volume) / posixpath.relpath(path, mount.target)
        return process.root / path.lstrip("/")

    def _argv(self, process: _Process, command: tuple[str, ...]) -> list[str]:
        """The command with this host's Python and every absolute path mapped onto the host."""
        if not command:
            raise RuntimeBackendError(f"{process.spec.name} has no command")
        executable = sys.executable if command[0] in ("python", "python3") else command[0]
        if command[0] == "labctl":  # the in-network clients: this labctl, run by this Python
            return [sys.executable, "-m", "labctl.cli", *self._paths(process, command[1:])]
        return [executable, *self._paths(process, command[1:])]

    def _paths(self, process: _Process, args: tuple[str, ...]) -> list[str]:
        return [str(self._host_path(process, arg)) if arg.startswith("/") else arg for arg in args]

    def _environment(self, process: _Process) -> dict[str, str]:
        return {**os.environ, **process.spec.environment, "PYTHONUNBUFFERED": "1"}

    def _run(self, process: _Process, command: tuple[str, ...], *, timeout_s: float) -> ExecResult:
        try:
            done = subprocess.run(
                self._argv(process, command),
                capture_output=True,
                stdin=subprocess.DEVNULL,
                env=self._environment(process),
                cwd=process.root,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return ExecResult(124, f"timed out after {timeout_s:g}s")
        output = (done.stdout + done.stderr).decode("utf-8", errors="replace")
        return ExecResult(done.returncode, output)


def _has_labels(actual: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(actual.get(key) == value for key, value in wanted.items())


def _info(process: _Process) -> ContainerInfo:
    state, exit_code = process.state()
    return ContainerInfo(
        name=process.spec.name,
        state=state,
        labels=process.spec.labels,
        image=process.spec.image,
        ip="127.0.0.1",
        exit_code=exit_code,
        id=process.id,
    )
