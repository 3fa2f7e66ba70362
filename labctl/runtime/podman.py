"""ContainerRuntime on podman's API through podman-py: the only module that imports podman.

podman's errors become RuntimeBackendError here, once, with the cause kept: podman refusing a call
names the call and podman's reason; the service going away mid-command (socket gone, connection
refused, reset or cut off mid-answer) names the service and what the connection did. When no
podman service answers, labctl starts `podman system service` for as long as it needs it.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import json
import logging
import os
import shutil
import socket
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import urllib3
from podman import PodmanClient
from podman.domain.containers import Container
from podman.errors import APIError, NotFound, PodmanError

from labctl.cputime import process_tree
from labctl.errors import RuntimeBackendError
from labctl.runtime.base import (
    CONTAINER_LABEL,
    ContainerInfo,
    ContainerSpec,
    ExecResult,
    FileContent,
    Health,
    MemoryUsage,
    NetworkSpec,
    VolumeSpec,
)

log = logging.getLogger(__name__)

ROOTFUL_SOCKET = "/run/podman/podman.sock"
SERVICE_START_TIMEOUT_S = 10.0
# Per API call; long because builds, imports and stops with a grace period are single calls.
CLIENT_TIMEOUT_S = 120
# The service we start exits on its own after this idle time, should labctl die without stopping it.
SERVICE_IDLE_S = 60


def default_socket_url() -> str:
    """$CONTAINER_HOST, else the rootful socket for root, else the rootless one."""
    if os.environ.get("CONTAINER_HOST"):
        return os.environ["CONTAINER_HOST"]
    if os.geteuid() == 0:
        return f"unix://{ROOTFUL_SOCKET}"
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR", f"/run/user/{os.getuid()}")
    return f"unix://{runtime_dir}/podman/podman.sock"


def _ns(seconds: float) -> int:
    return int(seconds * 1_000_000_000)


# What the connection did, by the first of these found among a failure's causes (most telling first).
_CONNECTION_FAILURES: tuple[tuple[type[BaseException], str], ...] = (
    (FileNotFoundError, "its socket is gone"),
    (ConnectionRefusedError, "connection refused"),
    (http.client.RemoteDisconnected, "it closed the connection without answering"),
    (http.client.BadStatusLine, "it answered something that is not HTTP"),
    (ConnectionResetError, "connection reset"),
    (BrokenPipeError, "connection reset"),
    (http.client.IncompleteRead, "its answer was cut off"),
    (requests.exceptions.ChunkedEncodingError, "its answer was cut off"),
    (urllib3.exceptions.ProtocolError, "its answer was cut off"),
    (requests.exceptions.Timeout, f"no answer within {CLIENT_TIMEOUT_S}s"),
    (TimeoutError, f"no answer within {CLIENT_TIMEOUT_S}s"),
)


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and everything it wraps: requests and urllib3 keep causes in args and `reason` too."""
    found: list[BaseException] = []
    todo = [exc]
    while todo and len(found) < 20:
        current = todo.pop(0)
        if any(current is seen for seen in found):
            continue
        found.append(current)
        wrapped = (current.__cause__, current.__context__, getattr(current, "reason", None), *current.args)
        todo.extend(item for item in wrapped if isinstance(item, BaseException))
    return found


def _connection_failure(exc: BaseException) -> str:
    """What happened to the connection, in a few words, e.g. "connection refused"."""
    causes = _causes(exc)
    for kind, text in _CONNECTION_FAILURES:
        if any(isinstance(cause, kind) for cause in causes):
            return text
    innermost = causes[-1]
    return str(innermost) or type(innermost).__name__


class PodmanRuntime:
    """One podman service; a client per thread (podman-py clients hold a requests session)."""

    shares_host_network = False
    _service: subprocess.Popen[bytes] | None = None  # the podman service this runtime started, if any
    _started_service = False  # this runtime started one: it may start one again (_revive_service)

    def __init__(self, base_url: str | None = None, *, start_service: bool = True) -> None:
        self.base_url = base_url or default_socket_url()
        self._local = threading.local()
        self._service = None
        self._service_lock = threading.Lock()  # threads share the service: one of them restarts it
        if not self._ping():
            if not start_service:
                raise RuntimeBackendError(f"no podman service answers at {self.base_url}", hint=self._restart_hint())
            self._start_service()

    # --- service -------------------------------------------------------------------------------

    def _client(self) -> PodmanClient:
        client: PodmanClient | None = getattr(self._local, "client", None)
        if client is None:
            client = PodmanClient(base_url=self.base_url, timeout=CLIENT_TIMEOUT_S)
            self._local.client = client
        return client

    def _restart_hint(self) -> str:
        return (
            "is the podman service running? Run the command again (labctl starts a service when nothing"
            f" listens), or start one: `podman system service --time=0 {self.base_url}`"
        )

    @contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        """podman-py's and requests' failures inside the block -> RuntimeBackendError naming `action`."""
        self._revive_service()
        try:
            yield
        except NotFound as exc:
            raise RuntimeBackendError(f"podman: {action}: not found ({exc.explanation or exc})") from exc
        except APIError as exc:
            if exc.response is None:  # podman-py's wrapper for an exchange that failed (an OSError), no HTTP answer
                raise self._gone(action, exc) from exc
            raise RuntimeBackendError(f"podman: {action}: {exc.explanation or exc}") from exc
        except json.JSONDecodeError as exc:  # before OSError: requests' JSONDecodeError is both
            raise RuntimeBackendError(
                f"podman service at {self.base_url} sent an unreadable answer to {action} ({exc})",
                hint=self._restart_hint(),
            ) from exc
        except (requests.RequestException, OSError) as exc:
            raise self._gone(action, exc) from exc
        except PodmanError as exc:
            raise RuntimeBackendError(f"podman: {action}: {exc}", hint=self._restart_hint()) from exc

    def _revive_service(self) -> None:
        """Start a service again where this runtime started one and none answers any more.

        The service labctl starts exits after SERVICE_IDLE_S without a request, so that a killed labctl
        leaves none behind; a runtime that lives longer than that (`labctl events --follow`, a test
        session) starts one again instead of failing its next call (meanwhile another labctl may have
        started one there: that one is used). Where this runtime found a service running, it never
        starts one: that service going away is an error the caller hears about (RELIABILITY.md).
        """
        if not self._started_service or (self._service is not None and self._service.poll() is None):
            return  # not ours to start, or ours still running: the common case, no lock
        with self._service_lock:
            if self._service is not None and self._service.poll() is None:
                return
            self._service = None
            if not _accepts(self.base_url.removeprefix("unix://")):
                log.info("the podman service labctl started at %s exited when idle; starting it again", self.base_url)
                self._start_service()

    def _gone(self, action: str, exc: BaseException) -> RuntimeBackendError:
        return RuntimeBackendError(
            f"podman service at {self.base_url} stopped answering during {action}: {_connection_failure(exc)}",
            hint=self._restart_hint(),
        )

    def _ping(self) -> bool:
        # podman-py leaves its socket open when the connect fails (a ResourceWarning): probe first.
        if self.base_url.startswith("unix://") and not _accepts(self.base_url.removeprefix("unix://")):
            return False
        try:
            return bool(self._client().ping())
        except (PodmanError, requests.RequestException, OSError):
            return False

    def _start_service(self) -> None:
        # podman-py only talks to a running service; starting one takes the podman CLI.
        podman = shutil.which("podman")
        if podman is None or not self.base_url.startswith("unix://"):
            raise RuntimeBackendError(
                f"no podman service answers at {self.base_url}, and labctl cannot start one there",
                hint="install podman (scripts/setup-host), or point CONTAINER_HOST at a running service",
            )
        socket_path = Path(self.base_url.removeprefix("unix://"))
        if _accepts(str(socket_path)):
            # Something listens but does not answer the API (a hung service, or systemd's socket whose
            # service fails): a second service on the same path would take the socket away from it.
            raise RuntimeBackendError(
                f"podman service at {self.base_url} accepts connections but does not answer",
                hint="restart it (`systemctl restart podman.socket podman.service`), or stop what listens there",
            )
        socket_path.parent.mkdir(parents=True, exist_ok=True)
        log.info("starting podman system service at %s", self.base_url)
        # CONTAINER_HOST (or CONTAINER_CONNECTION) would make this podman a remote client, which
        # rejects the URL argument ("accepts at most 1 arg(s)"): the service must run locally.
        env = {k: v for k, v in os.environ.items() if k not in ("CONTAINER_HOST", "CONTAINER_CONNECTION")}
        self._started_service = True
        self._service = subprocess.Popen(
            [podman, "system", "service", f"--time={SERVICE_IDLE_S}", self.base_url],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + SERVICE_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._service.poll() is not None:
                raise RuntimeBackendError(f"podman system service exited with code {self._service.returncode}")
            if socket_path.exists() and self._ping():
                return
            time.sleep(0.1)
        raise RuntimeBackendError(f"podman system service did not answer within {SERVICE_START_TIMEOUT_S:g}s")

    def close(self) -> None:
        client: PodmanClient | None = getattr(self._local, "client", None)
        if client is not None:
            client.close()  # type: ignore[no-untyped-call]
        if self._service is not None and self._service.poll() is None:
            self._service.terminate()
            try:
                self._service.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._service.kill()
        self._service = None

    def __enter__(self) -> PodmanRuntime:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- networks ------------------------------------------------------------------------------

    def network_exists(self, name: str) -> bool:
        with self._translated(f"network {name}"):
            return bool(self._client().networks.exists(name))

    def create_network(self, spec: NetworkSpec) -> None:
        gateway = str(spec.subnet.network_address + 1)
        with self._translated(f"create network {spec.name}"):
            self._client().networks.create(
                spec.name,
                driver="bridge",
                dns_enabled=True,
                subnets=[{"subnet": str(spec.subnet), "gateway": gateway}],
                labels=dict(spec.labels),
                options={"isolate": "true"} if spec.isolate else {},
            )

    def remove_network(self, name: str) -> None:
        with self._translated(f"remove network {name}"):
            try:
                self._client().networks.remove(name, force=True)
            except NotFound:
                return

    def list_networks(self, labels: Mapping[str, str]) -> list[str]:
        with self._translated("list networks"):
            networks = self._client().networks.list()
            return sorted(str(n.name) for n in networks if _has_labels(n.attrs.get("labels"), labels))

    def network_subnets(self) -> list[ipaddress.IPv4Network]:
        with self._translated("list networks"):
            subnets = []
            for network in self._client().networks.list():
                for entry in network.attrs.get("subnets") or ():
                    subnet = ipaddress.ip_network(str(entry.get("subnet")), strict=False)
                    if isinstance(subnet, ipaddress.IPv4Network):
                        subnets.append(subnet)
            return subnets

    # --- volumes -------------------------------------------------------------------------------

    def volume_exists(self, name: str) -> bool:
        with self._translated(f"volume {name}"):
            return bool(self._client().volumes.exists(name))

    def create_volume(self, spec: VolumeSpec) -> None:
        with self._translated(f"create volume {spec.name}"):
            self._client().volumes.create(spec.name, labels=dict(spec.labels))

    def remove_volume(self, name: str) -> None:
        with self._translated(f"remove volume {name}"):
            try:
                self._client().volumes.remove(name, force=True)
            except NotFound:
                return

    def list_volumes(self, labels: Mapping[str, str]) -> list[str]:
        with self._translated("list volumes"):
            volumes = self._client().volumes.list()
            return sorted(str(v.name) for v in volumes if _has_labels(v.attrs.get("Labels"), labels))

    # --- images --------------------------------------------------------------------------------

    def image_labels(self, reference: str) -> Mapping[str, str] | None:
        with self._translated(f"image {reference}"):
            # images.get() reports a missing image as a plain APIError: ask first.
            if not self._client().images.exists(reference):
                return None
            return dict(self._client().images.get(reference).labels or {})

    def image_tags(self, repository: str) -> list[str]:
        with self._translated(f"list images {repository}"):
            tags = (tag for image in self._client().images.list() for tag in image.tags or ())
            return sorted(tag for tag in tags if tag.rpartition(":")[0] == repository)

    def image_id(self, reference: str) -> str | None:
        with self._translated(f"image {reference}"):
            if not self._client().images.exists(reference):
                return None
            image_id: str = self._client().images.get(reference).id
            return image_id

    def remove_image(self, reference: str) -> bool:
        with self._translated(f"remove image {reference}"):
            try:
                self._client().images.remove(reference)
            except NotFound:
                return True
            except APIError as exc:
                if exc.status_code == 409:  # a container (of this or another lab) still uses it
                    return False
                raise
            return True

    def image_size(self, reference: str) -> int | None:
        """The image's size in bytes as podman reports it (its layers and its base's), None when absent."""
        with self._translated(f"image {reference}"):
            if not self._client().images.exists(reference):
                return None
            return int(self._client().images.get(reference).attrs.get("Size") or 0)

    def import_rootfs(self, tarball: Path, reference: str) -> None:
        # podman-py has no image import; its raw API client reaches libpod's /images/import.
        # The tarball is opened first: a missing local file is not the service going away.
        with tarball.open("rb") as handle, self._translated(f"import {tarball} as {reference}"):
            response = self._client().api.post(
                "/images/import",
                params={"reference": reference},
                data=handle,
                headers={"Content-Type": "application/x-tar"},
            )
            response.raise_for_status()

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
        with self._translated(f"build {reference}"):
            _, stream = self._client().images.build(
                path=str(context),
                dockerfile=containerfile,
                tag=reference,
                labels=dict(labels),
                buildargs=dict(build_args),
                rm=True,
                pull=False,
                nocache=no_cache,
            )
            for chunk in stream:
                log.debug("build: %s", chunk)

    # --- containers ----------------------------------------------------------------------------

    def create_container(self, spec: ContainerSpec) -> None:
        network: dict[str, Any] = {"aliases": list(spec.aliases)}
        if spec.ip is not None:
            network["static_ips"] = [str(spec.ip)]
        kwargs: dict[str, Any] = {
            "name": spec.name,
            "command": list(spec.command),
            "labels": dict(spec.labels),
            "networks": {spec.network: network},
            # Rootless podman's default network mode is slirp4netns, not bridge, and it refuses a named
            # network with a static IP there ("networks and static ip/mac address can only be used with
            # Bridge mode networking"); `podman run --network NAME` sets bridge itself, the API does not.
            "network_mode": "bridge",
            "ports": {f"{p.container_port}/tcp": (p.host_ip, p.host_port) for p in spec.ports},
            "volumes": {m.volume: {"bind": m.target, "mode": "rw"} for m in spec.mounts},
            "environment": dict(spec.environment),
            "read_only": spec.read_only,
            "cap_drop": list(spec.cap_drop),
            "extra_hosts": dict(spec.extra_hosts),
            "detach": True,
        }
        if spec.user:
            kwargs["user"] = spec.user
        if spec.health is not None:
            kwargs["healthcheck"] = {
                "Test": ["CMD", *spec.health.command],
                "Interval": _ns(spec.health.interval_s),
                "Timeout": _ns(spec.health.timeout_s),
                "Retries": spec.health.retries,
            }
        with self._translated(f"create container {spec.name}"):
            self._client().containers.create(spec.image, **kwargs)
        for directory, files in spec.files.items():
            self.write_files(spec.name, directory, files, owner=spec.files_owner)

    def _container(self, name: str) -> Container:
        """The container of that name, else the one labelled with it (CONTAINER_LABEL).

        `podman kube play` names a Deployment's container <deployment>-pod-0-<container>, never the
        lab's name; labctl's kube-play manifests label it with the lab's name instead, and every
        lookup by name comes here, so the orchestrator, verify and the CLI keep the lab's names.

        Raises:
            NotFound: no container has the name or the label.
            RuntimeBackendError: several containers have the label.
        """
        client = self._client()
        try:
            return client.containers.get(name)
        except NotFound:
            labelled = [
                str(c.id)
                for c in client.containers.list(all=True)
                if _has_labels(c.attrs.get("Labels"), {CONTAINER_LABEL: name})
            ]
            if len(labelled) > 1:
                raise RuntimeBackendError(
                    f"{len(labelled)} containers are labelled {CONTAINER_LABEL}={name}", hint="remove all but one"
                ) from None
            if not labelled:
                raise
            return client.containers.get(labelled[0])

    def start_container(self, name: str) -> None:
        with self._translated(f"start {name}"):
            self._container(name).start()

    def stop_container(self, name: str, *, timeout_s: int = 10) -> None:
        with self._translated(f"stop {name}"):
            try:
                # ignore=True: podman answers 304 with an empty body for a container already stopped,
                # which podman-py otherwise reads as JSON (a `down` after an interrupted one failed on it).
                self._container(name).stop(timeout=timeout_s, ignore=True)
            except NotFound:
                return

    def remove_container(self, name: str) -> None:
        with self._translated(f"remove {name}"):
            try:
                self._container(name).remove(force=True, v=False)
            except NotFound:
                return

    def inspect_container(self, name: str) -> ContainerInfo | None:
        with self._translated(f"inspect {name}"):
            try:
                container = self._container(name)
            except NotFound:
                return None
            return _info(container.attrs)

    def main_pid(self, name: str) -> int | None:
        """The host PID of a running container's main process (inspect's `State.Pid`: rootless podman too
        reports the host's PID, not the container's), whose tree labctl.cputime reads; None when not running."""
        with self._translated(f"inspect {name}"):
            try:
                return _main_pid(self._container(name).attrs)
            except NotFound:
                return None

    def list_containers(self, labels: Mapping[str, str]) -> list[ContainerInfo]:
        with self._translated("list containers"):
            # The list endpoint's attrs have top-level "Labels" and "Names" but no "Config" or "Name",
            # which _info reads: select by those labels, then inspect the matches.
            infos: list[ContainerInfo] = []
            for container in self._client().containers.list(all=True):
                if not _has_labels(container.attrs.get("Labels"), labels):
                    continue
                try:
                    container.reload()
                except NotFound:  # removed meanwhile
                    continue
                infos.append(_info(container.attrs))
            return sorted(infos, key=lambda info: info.name)

    def read_file(self, name: str, path: str) -> bytes | None:
        with self._translated(f"read {name}:{path}"):
            try:
                stream, _ = self._container(name).get_archive(path)
            except NotFound:
                return None
            data = b"".join(stream)
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:  # podman sends plain tar
                member = archive.next()
                handle = archive.extractfile(member) if member is not None else None
                return handle.read() if handle is not None else None
        except (tarfile.TarError, EOFError) as exc:  # an archive cut off by a service that went away
            if not data:
                # podman answers an empty archive for a container it half-made: seen after its service
                # was killed while creating or starting it.
                raise RuntimeBackendError(
                    f"podman: read {name}:{path}: podman sent no archive (the container is not in a state it can read)",
                    hint="`labctl down` then `labctl up` recreates the containers (the CA data volumes are kept)",
                ) from exc
            raise RuntimeBackendError(
                f"podman: read {name}:{path}: the archive podman sent is cut off or invalid ({exc})",
                hint=self._restart_hint(),
            ) from exc

    def write_files(
        self, name: str, directory: str, files: Mapping[str, FileContent], *, owner: tuple[int, int]
    ) -> None:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            for file_name, content in files.items():
                info = tarfile.TarInfo(file_name)
                info.size = len(content.data)
                info.mode = content.mode
                info.uid, info.gid = owner
                info.mtime = int(time.time())
                archive.addfile(info, io.BytesIO(content.data))
        with self._translated(f"copy {len(files)} files into {name}:{directory}"):
            # The raw call, not Container.put_archive: that one answers a bare False and drops podman's reason.
            response = self._client().api.put(
                f"/containers/{self._container(name).id}/archive", params={"path": directory}, data=buffer.getvalue()
            )
        if not response.ok:
            reason = response.text.strip()[:300] or f"HTTP {response.status_code}"
            raise RuntimeBackendError(f"podman refused to copy files into {name}:{directory}: {reason}")

    def exec(self, name: str, command: tuple[str, ...]) -> ExecResult:
        podman = self._local_cli()
        if podman is not None:
            with self._translated(f"exec in {name}"):
                container_id = str(self._container(name).id)  # kube play's containers carry the lab's name as a label
            return self._exec_with_cli(podman, name, container_id, command)
        with self._translated(f"exec in {name}"):
            code, (stdout, stderr) = self._container(name).exec_run(list(command), demux=True)
        text = b"".join(part for part in (stdout, stderr) if isinstance(part, bytes)).decode("utf-8", "replace")
        return ExecResult(int(code or 0), text)

    def _local_cli(self) -> str | None:
        """The podman CLI when it manages the same containers as our service (the user's default socket)."""
        if os.environ.get("CONTAINER_HOST") or os.environ.get("CONTAINER_CONNECTION"):
            return None
        if self.base_url != default_socket_url():
            return None
        return shutil.which("podman")

    def _exec_with_cli(self, podman: str, name: str, container_id: str, command: tuple[str, ...]) -> ExecResult:
        # podman-py could exec through the API, but podman (4.3) keeps an API exec session's two conmon
        # processes alive for containers.conf's exit_command_delay (300 s) after the command ended, so
        # that a remote client may still inspect it; rootless, they outlive even the removed container
        # (seen after `labctl down`). The local CLI runs the session's cleanup as soon as it ends.
        try:
            result = subprocess.run(
                [podman, "exec", container_id, *command], capture_output=True, timeout=CLIENT_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise RuntimeBackendError(f"podman: exec in {name}: no answer within {CLIENT_TIMEOUT_S}s") from exc
        text = (result.stdout + result.stderr).decode("utf-8", "replace")
        # 125: podman itself failed (no such container, not running); 126/127 are the command's.
        if result.returncode == 125:
            reason = result.stderr.decode("utf-8", "replace").strip().removeprefix("Error: ")[:300]
            failure = subprocess.CalledProcessError(
                result.returncode, ["podman", "exec", name], result.stdout, result.stderr
            )
            raise RuntimeBackendError(f"podman: exec in {name}: {reason or 'podman exec failed'}") from failure
        return ExecResult(result.returncode, text)

    def run_healthcheck(self, name: str) -> Health:
        # podman-py has no "healthcheck run", and without systemd no timer runs the checks: run it once here.
        with self._translated(f"healthcheck {name}"):
            try:
                target = str(self._container(name).name)
            except NotFound:
                target = name  # answered 404 below, as before
            response = self._client().api.get(f"/containers/{target}/healthcheck")
            if response.status_code == 409:  # not running, or no health check defined
                return Health.UNHEALTHY
            response.raise_for_status()
            status = str(response.json().get("Status", "")).lower()
        return Health(status) if status in Health._value2member_map_ else Health.STARTING

    def memory_usage(self, name: str) -> MemoryUsage | None:
        """A running container's resident memory and its cgroup's charge; None when it is not running.

        RSS and PSS come from /proc (the service runs on this host), summed over the container's
        main process and its descendants. RSS counts the pages of shared libraries in full, in
        every container of the same image (they share the image's files, so the page cache);
        PSS divides each shared page among its sharers, so it sums across containers. podman's
        stats "MemUsage" is the cgroup's usage: its anonymous memory plus the page cache charged
        to it (files it read or wrote first: the CA's SQLite database), which the kernel reclaims
        under pressure; a page first touched by another container is charged there.
        """
        with self._translated(f"stats of {name}"):
            try:
                container = self._container(name)
            except NotFound:
                return None
            pid = _main_pid(container.attrs)
            if pid is None:
                return None
            # libpod's /containers/stats; stream=False answers one sample.
            try:
                stats = container.stats(stream=False, decode=True)
            except APIError as exc:
                # Rootless podman on cgroups v1 has no cgroup of its own to read: "container stats
                # resource only available for cgroup v2". /proc still gives RSS and PSS.
                if "cgroup v2" not in str(exc.explanation or exc):
                    raise
                stats = None
        samples = stats.get("Stats") if isinstance(stats, dict) else None
        cgroup = int(samples[0].get("MemUsage") or 0) if samples else None
        rss, pss = _tree_memory(pid)
        return MemoryUsage(rss_bytes=rss, pss_bytes=pss, cgroup_bytes=cgroup)

    def logs(self, name: str, *, tail: int = 30) -> str:
        """The container's last `tail` lines (stdout and stderr).

        The whole log is read and tailed here: podman 4.3 counts a line written in two pieces (conmon's
        partial "P" entry, then "F"; e.g. Python with PYTHONUNBUFFERED writes a print's text and its newline
        apart) as two lines for `tail`, in the API and the CLI alike, so a tailed read loses lines and joins
        others; the whole read joins them right.
        """
        with self._translated(f"logs of {name}"):
            try:
                output = self._container(name).logs(stdout=True, stderr=True, stream=False)
            except NotFound:
                return "(no such container)"
        data = output if isinstance(output, bytes) else b"".join(c for c in output if isinstance(c, bytes))
        return _last_lines(data.decode("utf-8", "replace"), tail)


def _last_lines(text: str, count: int) -> str:
    """The last `count` lines of `text`, each with its newline as written."""
    if count <= 0:
        return ""
    lines = text.splitlines(keepends=True)
    return "".join(lines[-count:])


def _accepts(socket_path: str) -> bool:
    """Whether something listens on the unix socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        try:
            probe.connect(socket_path)
        except OSError:
            return False
    return True


def _main_pid(attrs: Mapping[str, Any]) -> int | None:
    """`State.Pid` of a container's inspect data; None (podman says 0) when it is not running."""
    state = attrs.get("State") or {}
    pid = int(state.get("Pid") or 0) if isinstance(state, dict) else 0
    return pid if pid > 0 else None


def _tree_memory(pid: int) -> tuple[int, int | None]:
    """RSS and PSS in bytes of a process and its descendants (processes gone meanwhile count 0).

    PSS is None where the kernel has no /proc/PID/smaps_rollup (before 4.14).
    """
    rss, pss = 0, 0
    has_pss = True
    for member in process_tree(pid):
        proc = Path(f"/proc/{member}")
        try:
            status = (proc / "status").read_text(encoding="utf-8")
            try:
                rollup: str | None = (proc / "smaps_rollup").read_text(encoding="utf-8")
            except FileNotFoundError:
                rollup = None
        except OSError:  # the process ended meanwhile
            continue
        rss += _kilobytes(status, "VmRSS:")
        if rollup is None:
            has_pss = False
        else:
            pss += _kilobytes(rollup, "Pss:")
    return rss * 1024, pss * 1024 if has_pss else None


def _kilobytes(text: str, field: str) -> int:
    """A "Field:   123 kB" line's number (0 when absent)."""
    return sum(int(line.split()[1]) for line in text.splitlines() if line.startswith(field))


def _has_labels(actual: Mapping[str, str] | None, wanted: Mapping[str, str]) -> bool:
    # Matched here rather than with podman-py's `filters`: it mutates the dict it is given, and its
    # list form of "label" matches nothing against podman 4.3.
    present = actual or {}
    return all(present.get(key) == value for key, value in wanted.items())


def _info(attrs: Mapping[str, Any]) -> ContainerInfo:
    state = attrs.get("State", {})
    networks = attrs.get("NetworkSettings", {}).get("Networks", {}) or {}
    ip = next((n.get("IPAddress") for n in networks.values() if n.get("IPAddress")), None)
    config = attrs.get("Config", {})
    return ContainerInfo(
        name=str(attrs.get("Name", "")).lstrip("/"),
        state=str(state.get("Status", "unknown")) if isinstance(state, dict) else str(state),
        labels=dict(config.get("Labels") or {}),
        image=str(config.get("Image", attrs.get("ImageName", ""))),
        ip=ip,
        exit_code=state.get("ExitCode") if isinstance(state, dict) and state.get("Status") == "exited" else None,
        id=str(attrs.get("Id", "")),
    )
