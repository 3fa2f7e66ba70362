"""Runs a Plan on a ContainerRuntime: up (idempotent, repairing), down, status. Emits events, never prints.

Every step first looks at what is there and does nothing when it is already right, so `up` on a
healthy lab is a no-op, `up` on a broken one recreates only what is missing or unhealthy, and an
interrupted `up` leaves nothing that a following `up` or `down` cannot finish.
"""

from __future__ import annotations

import graphlib
import hashlib
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, fields
from pathlib import Path

from labctl import specs
from labctl.bootstrap import (
    admin_client,
    collect_admin_credential,
    install_agent_passwords,
    install_bootstrap_credential,
    install_intermediate,
    issue_ra_credentials,
    write_ra_config,
)
from labctl.ca_client import CAClient, ca_ssl_context
from labctl.ca_files import CA_FILES_MEMO, ContainerCAFiles
from labctl.endpoint import Endpoint, endpoint_for
from labctl.errors import CAError, NotReadyError, PKIError, TopologyError
from labctl.events import Cancelled, EventSink, ignore_events, timed_step
from labctl.images import DEFAULT_BASE, ImageResult, ensure_image
from labctl.pki.issue import load_pem_certificates, sha256_fingerprint
from labctl.plan import Plan, Step, StepKind, build_plan
from labctl.probe import Probe, ProbeTarget, probe_target
from labctl.readiness import Clock, SystemClock, wait_until
from labctl.runtime.base import (
    LAB_LABEL,
    MANAGED_BY_LABEL,
    ROLE_LABEL,
    SPEC_HASH_LABEL,
    ContainerInfo,
    ContainerRuntime,
    ContainerSpec,
    FileContent,
    Health,
)
from labctl.services.est_ra.config import READY_MARKER
from labctl.services.health import Role
from labctl.specs import CA_DATA_DIR
from labctl.state import HierarchyState
from labctl.tls import needs_compat_tls
from labctl.topology import Hierarchy, Lab, network_name, reserved_names, volume_name

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 5
# A starting service's health wait (Orchestrator._wait_healthy): the host asks this often (a refused connect
# or one TLS request: milliseconds); the container's own check (podman exec: runc, conmon and a Python
# start, ~0.3-0.5 s of CPU) runs at once when the host gets a healthy answer, else this often; where the
# host cannot ask (the pqc RA without ML-DSA TLS on the host), every EXEC_INTERVAL_S as before.
HOST_POLL_S = 0.1
EXEC_POLL_S = 1.0
EXEC_INTERVAL_S = 0.25
MAX_PARALLEL_STEPS = 4


class _CancellableClock:
    """The system clock, whose sleep ends early when the run is cancelled (Ctrl-C, or another step failed)."""

    def __init__(self, base: Clock, cancelled: threading.Event) -> None:
        self._base = base
        self._cancelled = cancelled

    def monotonic(self) -> float:
        return self._base.monotonic()

    def sleep(self, seconds: float) -> None:
        if self._cancelled.is_set():
            raise Cancelled
        if isinstance(self._base, SystemClock):
            # Real time: wait on the event, so a cancellation ends the sleep at once.
            if self._cancelled.wait(seconds):
                raise Cancelled
        else:
            self._base.sleep(seconds)


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    hierarchy: str
    role: str
    container: str
    state: str
    health: str
    address: str | None
    port: int
    ca_status: str | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    root_sha256: str | None = None  # CA rows: the hierarchy's root, what a trust bootstrap is checked against


def _status_client(url: str) -> CAClient:
    return CAClient(url, ssl_context=ca_ssl_context(None), timeout_s=3)


@dataclass(frozen=True, slots=True)
class CAClients:
    """How the orchestrator reaches a hierarchy's CA (tests pass stubs, as they pass FakeRuntime).

    `admin`: the lab admin's client (it issues the RA's credentials); `status`: an anonymous one.
    """

    admin: Callable[[Hierarchy, HierarchyState, str], CAClient] = admin_client
    status: Callable[[str], CAClient] = _status_client


@dataclass(frozen=True, slots=True)
class DownReport:
    containers: list[str]
    networks: list[str]
    volumes: list[str]


class Orchestrator:
    def __init__(
        self,
        lab: Lab,
        runtime: ContainerRuntime,
        state_dir: Path,
        *,
        on_event: EventSink = ignore_events,
        clock: Clock | None = None,
        base_image: str = DEFAULT_BASE,
        build_image: Callable[[ContainerRuntime, str], ImageResult] | None = None,
        ca_clients: CAClients = CAClients(),
        probe: Probe | None = None,
    ) -> None:
        """`probe`: asks a service from the host before its container's health check runs (labctl.probe);
        None: the host asks nothing, every check execs (tests, runtimes whose ports are not the host's)."""
        self.lab = lab
        self.runtime = runtime
        self.state_dir = state_dir
        self._emit = on_event
        self._cancelled = threading.Event()
        self._clock = _CancellableClock(clock or SystemClock(), self._cancelled)
        self._base_image = base_image
        self._build_image = build_image or (lambda runtime, base: ensure_image(runtime, base=base))
        self._ca_clients = ca_clients
        self._probe = probe
        self._image_hash = ""
        self._image = ""  # the lab image's reference, known once the image step ran
        self._timeout = 60.0
        # Containers found healthy (and kept) during the current up: their health step need not ask again.
        self._found_healthy: set[str] = set()

    # --- up ------------------------------------------------------------------------------------

    def up(self, hierarchies: Sequence[str] = (), *, timeout: float = 60.0) -> list[Endpoint]:
        """Bring the chosen hierarchies (default: all) up and healthy; idempotent and repairing."""
        chosen = [self.lab.hierarchy(name) for name in hierarchies] if hierarchies else list(self.lab.hierarchies)
        self._timeout = timeout
        self._found_healthy = set()
        self._run(build_plan(chosen))
        return [self.endpoint(hierarchy) for hierarchy in chosen]

    def endpoint(self, hierarchy: Hierarchy) -> Endpoint:
        return endpoint_for(self.lab, self.state_dir, hierarchy)

    def _run(self, plan: Plan) -> None:
        """Run ready steps side by side; on the first failure let running steps stop, then raise it."""
        sorter = graphlib.TopologicalSorter(plan.graph())
        sorter.prepare()
        self._cancelled.clear()
        failure: BaseException | None = None
        pool = ThreadPoolExecutor(max_workers=MAX_PARALLEL_STEPS, thread_name_prefix="labctl-step")
        running: dict[Future[None], str] = {}
        try:
            while sorter.is_active() and failure is None:
                for ready in sorter.get_ready():
                    running[pool.submit(self._execute, plan.step(ready))] = ready
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    step_name = running.pop(future)
                    error = future.exception()
                    if error is None:
                        sorter.done(step_name)
                    elif failure is None:
                        failure = error
                        self._cancelled.set()
            wait(running)
        except BaseException:
            self._cancelled.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if failure is not None:
            raise failure

    def _execute(self, step: Step) -> None:
        if self._cancelled.is_set():
            raise Cancelled
        if step.kind is StepKind.IMAGE:
            with timed_step(self._emit, step.step_id) as outcome:
                if not self._ensure_image().built:
                    outcome.skip("up to date")
            return
        assert step.hierarchy is not None
        hierarchy = self.lab.hierarchy(step.hierarchy)
        action = {
            StepKind.NETWORK: self._network,
            StepKind.VOLUME: self._volume,
            StepKind.CA_CONTAINER: self._ca_container,
            StepKind.CA_INSTALLED: self._ca_installed,
            StepKind.CA_HEALTHY: self._ca_healthy,
            StepKind.RA_CREDENTIALS: self._ra_credentials,
            StepKind.RA_CONTAINER: self._ra_container,
            StepKind.RA_HEALTHY: self._ra_healthy,
        }[step.kind]
        with timed_step(self._emit, step.step_id) as outcome:
            detail = action(hierarchy)
            if detail:
                outcome.skip(detail)

    def _ensure_image(self) -> ImageResult:
        """Build the lab image if its content changed; remember its reference and hash for the specs."""
        image = self._build_image(self.runtime, self._base_image)
        self._image, self._image_hash = image.reference, image.content_hash
        return image

    # --- steps (each returns a reason when it had nothing to do) --------------------------------

    def _network(self, hierarchy: Hierarchy) -> str | None:
        name = network_name(self.lab, hierarchy)
        if name in self.runtime.list_networks({LAB_LABEL: self.lab.name}):
            return "exists"
        if self.runtime.network_exists(name):
            raise TopologyError(f"network {name} exists but does not belong to lab {self.lab.name}")
        self.runtime.create_network(specs.network_spec(self.lab, hierarchy))
        return None

    def _volume(self, hierarchy: Hierarchy) -> str | None:
        name = volume_name(self.lab, hierarchy)
        if name in self.runtime.list_volumes({LAB_LABEL: self.lab.name}):
            return "exists"
        if self.runtime.volume_exists(name):
            raise TopologyError(f"volume {name} exists but does not belong to lab {self.lab.name}")
        self.runtime.create_volume(specs.volume_spec(self.lab, hierarchy))
        return None

    @property
    def addressing(self) -> specs.Addressing:
        return specs.addressing_for(self.lab, host_network=self.runtime.shares_host_network)

    def ca_spec(self, hierarchy: Hierarchy) -> ContainerSpec:
        return specs.ca_spec(self.lab, hierarchy, self._image, self.addressing)

    def ra_spec(self, hierarchy: Hierarchy) -> ContainerSpec:
        state = HierarchyState.of(self.state_dir, hierarchy)
        # Hidden files are not configuration: a write killed mid-way (labctl.files) leaves one.
        config = {
            path.name: FileContent(path.read_bytes(), 0o600)
            for path in sorted(state.ra_dir.iterdir())
            if path.is_file() and not path.name.startswith(".")
        }
        return specs.ra_spec(self.lab, hierarchy, self._image, config)

    def _ensure_container(self, spec: ContainerSpec, *, keep: Callable[[], bool]) -> str | None:
        """Create and start the container unless one with the same spec runs and `keep()` says it is fine."""
        digest = self._spec_hash(spec)
        info = self.runtime.inspect_container(spec.name)
        if info is not None and info.labels.get(MANAGED_BY_LABEL):
            return self._adopt(spec, info)
        if info is not None and info.is_running and info.labels.get(SPEC_HASH_LABEL) == digest and keep():
            return "running"
        if info is not None:
            if info.labels.get(LAB_LABEL) != self.lab.name:
                raise TopologyError(f"container {spec.name} exists but does not belong to lab {self.lab.name}")
            log.info("recreating %s (%s)", spec.name, info.state)
            self.runtime.remove_container(spec.name)
        labelled = ContainerSpec(**{f.name: getattr(spec, f.name) for f in fields(spec)} | {
            "labels": {**spec.labels, SPEC_HASH_LABEL: digest}
        })  # fmt: skip
        self.runtime.create_container(labelled)
        self.runtime.start_container(spec.name)
        return None

    def _adopt(self, spec: ContainerSpec, info: ContainerInfo) -> str:
        """A container compose or kube runs: check it is this lab's and running, and give it its files.

        Its files (the RA's configuration) are written while it runs, the ready marker last; the RA
        started with --wait-for-config then reads them. The marker holds the files' digest, so
        rotated credentials are written again.
        """
        manager = info.labels[MANAGED_BY_LABEL]
        if info.labels.get(LAB_LABEL) != self.lab.name:
            raise TopologyError(f"container {spec.name} ({manager}) does not belong to lab {self.lab.name}")
        if not info.is_running:
            raise NotReadyError(
                f"{spec.name} is {info.state}; {manager} runs it, so labctl does not recreate it",
                hint=f"start it with {manager} (e.g. `podman-compose up -d`), then run `labctl up` again",
            )
        for directory, files in spec.files.items():
            digest = hashlib.sha256(b"".join(f"{n}:{c.mode}".encode() + c.data for n, c in sorted(files.items())))
            marker = digest.hexdigest().encode()
            if self.runtime.read_file(spec.name, f"{directory}/{READY_MARKER}") == marker:
                continue
            self.runtime.write_files(spec.name, directory, files, owner=spec.files_owner)
            ready = {READY_MARKER: FileContent(marker, 0o600)}
            self.runtime.write_files(spec.name, directory, ready, owner=spec.files_owner)
        return f"run by {manager}"

    def _spec_hash(self, spec: ContainerSpec) -> str:
        digest = hashlib.sha256(self._image_hash.encode())
        for item in fields(spec):
            value = getattr(spec, item.name)
            if item.name == "files":
                for directory, files in sorted(value.items()):
                    for name, content in sorted(files.items()):
                        digest.update(f"{directory}/{name}:{content.mode}".encode() + content.data)
            else:
                digest.update(f"{item.name}={value!r}".encode())
        return digest.hexdigest()[:32]

    def _ca_container(self, hierarchy: Hierarchy) -> str | None:
        name = hierarchy.ca.container
        target = self._probe_target(hierarchy, "ca")

        def keep() -> bool:
            # A running CA is fine when healthy, or when it still waits for its certificate.
            if self._healthy_now(name, target):
                return True
            return self.runtime.read_file(name, f"{CA_DATA_DIR}/ca.crt") is None

        return self._ensure_container(self.ca_spec(hierarchy), keep=keep)

    def _ca_files(self, hierarchy: Hierarchy) -> ContainerCAFiles:
        info = self.runtime.inspect_container(hierarchy.ca.container)
        memo = HierarchyState.of(self.state_dir, hierarchy).root / CA_FILES_MEMO
        return ContainerCAFiles(
            self.runtime, hierarchy.ca.container, CA_DATA_DIR, memo=memo, instance=info.id if info else ""
        )

    def _ca_installed(self, hierarchy: Hierarchy) -> str | None:
        name = hierarchy.ca.container
        files = self._ca_files(hierarchy)
        if files.read("ca.crt") is None:

            def probe() -> tuple[bool | None, str]:
                self._require_running(name)
                return (True, "CSR written") if files.read("ca.csr") is not None else (None, "no CSR yet")

            wait_until(probe, what=f"{name} CSR", timeout=self._timeout, clock=self._clock, diagnose=self._tail(name))
        state = HierarchyState.of(self.state_dir, hierarchy)
        return None if install_intermediate(hierarchy, state, files) else "installed"

    def _ca_healthy(self, hierarchy: Hierarchy) -> str | None:
        waited = self._wait_healthy(hierarchy.ca.container, self._probe_target(hierarchy, "ca"))
        state = HierarchyState.of(self.state_dir, hierarchy)
        files = self._ca_files(hierarchy)
        if waited or not state.admin_cert.exists():
            collect_admin_credential(hierarchy, state, files)
        changed = install_bootstrap_credential(state, files)
        changed |= install_agent_passwords(state, files)
        return None if waited or changed else "healthy"

    def _ra_credentials(self, hierarchy: Hierarchy) -> str | None:
        state = HierarchyState.of(self.state_dir, hierarchy)
        ca_url = f"https://127.0.0.1:{hierarchy.ca.port}"
        compat = needs_compat_tls(hierarchy)
        ra = hierarchy.ra
        names = (ra.container, ra.hostname, "localhost", "127.0.0.1")
        with self._ca_clients.admin(hierarchy, state, ca_url) as admin:
            issued = issue_ra_credentials(hierarchy, state, admin, tls_names=names, compat_tls=compat)
        rendered = write_ra_config(
            hierarchy,
            state,
            ca_url=specs.ra_ca_url(hierarchy, self.addressing),
            compat_tls=compat,
            listen_host=self.addressing.listen_host,
            reserved=reserved_names(self.lab, hierarchy),
        )
        return None if issued or rendered else "up to date"

    def _ra_container(self, hierarchy: Hierarchy) -> str | None:
        name = hierarchy.ra.container
        target = self._probe_target(hierarchy, "ra")
        return self._ensure_container(self.ra_spec(hierarchy), keep=lambda: self._healthy_now(name, target))

    def _ra_healthy(self, hierarchy: Hierarchy) -> str | None:
        return None if self._wait_healthy(hierarchy.ra.container, self._probe_target(hierarchy, "ra")) else "healthy"

    # --- waiting -------------------------------------------------------------------------------

    def _require_running(self, name: str) -> None:
        info = self.runtime.inspect_container(name)
        if info is None or not info.is_running:
            state = info.state if info else "missing"
            raise NotReadyError(f"{name} is {state}", hint=f"last log lines:\n{self.runtime.logs(name)}")

    def _tail(self, name: str) -> Callable[[], str]:
        return lambda: f"last log lines:\n{self.runtime.logs(name)}"

    def _probe_target(self, hierarchy: Hierarchy, role: Role) -> ProbeTarget | None:
        """Where the host asks the service; None where it cannot, or asks nothing (no probe: every check execs)."""
        if self._probe is None:
            return None
        return probe_target(self.lab, self.state_dir, hierarchy, role)

    def _healthy_from_host(self, target: ProbeTarget | None) -> bool:
        """The container's health check, run from the host (no exec) where it can be; only a healthy answer counts."""
        return target is not None and self._probe is not None and self._probe(target)

    def _healthy_now(self, name: str, target: ProbeTarget | None) -> bool:
        """Healthy now: from the host, else by one run of the container's health check. A healthy answer counts
        for this run's health step too."""
        if self._health(name, target) != Health.HEALTHY.value:
            return False
        self._found_healthy.add(name)
        return True

    def _wait_healthy(self, name: str, target: ProbeTarget | None) -> bool:
        """Drive the container's health check (no systemd timer runs it here) until healthy or the deadline.

        A container this run kept because it was healthy is not checked again, nor one healthy from the
        host at once (a container compose runs is never kept: its no-op `up` gets here). While it starts,
        the host asks every HOST_POLL_S (milliseconds each) and the container's own check, an exec with
        a Python start, runs only every EXEC_POLL_S: execs that can only fail compete with the starting
        services for the CPU. Once the host gets a healthy answer the container's check runs at once, so
        podman records the health it reports; it alone decides, as before (a host that cannot reach
        the published port only slows the wait to EXEC_POLL_S).

        Returns:
            False when it was healthy at the first check, True when it had to wait.
        """
        if name in self._found_healthy or self._healthy_from_host(target):
            return False
        probes = 0
        exec_due = self._clock.monotonic() + EXEC_POLL_S

        def probe() -> tuple[bool | None, str]:
            nonlocal probes, exec_due
            probes += 1
            now = self._clock.monotonic()
            # The first round follows the host's ask above at once: it waits HOST_POLL_S before asking again.
            if target is not None and now < exec_due and (probes == 1 or not self._healthy_from_host(target)):
                return None, "not answering on its published port yet"
            exec_due = now + EXEC_POLL_S
            self._require_running(name)
            health = self.runtime.run_healthcheck(name)
            return (True if health is Health.HEALTHY else None), f"running, health={health.value}"

        interval = HOST_POLL_S if target is not None else EXEC_INTERVAL_S
        wait_until(
            probe, what=name, timeout=self._timeout, interval=interval, clock=self._clock, diagnose=self._tail(name)
        )
        return probes > 1

    # --- down ----------------------------------------------------------------------------------

    def down(self, *, volumes: bool = False) -> DownReport:
        """Remove everything labelled as this lab's (containers, networks; volumes when asked)."""
        selector = {LAB_LABEL: self.lab.name}
        found = self.runtime.list_containers(selector)
        containers = [info.name for info in found]
        # Dependents first: compose and kube play make an RA require its CA (podman refuses to remove a
        # container others depend on), so clients and RAs go before CAs; each group side by side.
        for group in _removal_order(found):
            with ThreadPoolExecutor(max_workers=max(1, len(group))) as pool:
                list(pool.map(self._stop_and_remove, group))
        networks = self.runtime.list_networks(selector)
        for network in networks:
            self.runtime.remove_network(network)
        removed_volumes = self.runtime.list_volumes(selector) if volumes else []
        for volume in removed_volumes:
            self.runtime.remove_volume(volume)
        return DownReport(containers, networks, removed_volumes)

    def _stop_and_remove(self, name: str) -> None:
        with timed_step(self._emit, f"{name}/removed"):
            self.runtime.stop_container(name, timeout_s=STOP_TIMEOUT_S)
            self.runtime.remove_container(name)

    # --- status --------------------------------------------------------------------------------

    def status(self) -> list[ServiceStatus]:
        result = []
        for hierarchy in self.lab.hierarchies:
            services: tuple[tuple[Role, str, int], ...] = (
                ("ca", hierarchy.ca.container, hierarchy.ca.port),
                ("ra", hierarchy.ra.container, hierarchy.ra.port),
            )
            for role, name, port in services:
                info = self.runtime.inspect_container(name)
                if info is None or info.labels.get(LAB_LABEL) != self.lab.name:
                    result.append(ServiceStatus(hierarchy.name, role, name, "missing", "-", None, port))
                    continue
                health = self._health(name, self._probe_target(hierarchy, role)) if info.is_running else "-"
                ca_status, counts = self._ca_status(port) if role == "ca" and info.is_running else (None, {})
                root = self._root_fingerprint(hierarchy) if role == "ca" else None
                result.append(
                    ServiceStatus(
                        hierarchy.name, role, name, info.state, health, info.ip, port, ca_status, counts, root
                    )
                )
        return result

    def _health(self, name: str, target: ProbeTarget | None) -> str:
        """The health check's verdict: asked from the host where it can run there (as a no-op `up` asks,
        no exec), else, and whenever the host gets no healthy answer, by the container's own check."""
        if self._healthy_from_host(target):
            return Health.HEALTHY.value
        return self.runtime.run_healthcheck(name).value

    def _root_fingerprint(self, hierarchy: Hierarchy) -> str | None:
        root_cert = HierarchyState(self.state_dir / hierarchy.name).root_cert  # no mkdir: status changes nothing
        try:
            return sha256_fingerprint(load_pem_certificates(root_cert.read_bytes())[0])
        except (OSError, PKIError):
            return None

    def _ca_status(self, port: int) -> tuple[str | None, Mapping[str, int]]:
        try:
            with self._ca_clients.status(f"https://127.0.0.1:{port}") as client:
                status = client.status()
        except CAError:
            return "unreachable", {}
        return status.status, dict(status.counts)


def _removal_order(containers: Sequence[ContainerInfo]) -> list[list[str]]:
    """Container names in groups to remove one after another: what depends on others first (clients and
    RAs, then CAs, then anything else of the lab)."""
    rank = {"client": 0, "ra": 1, "ca": 2}
    groups: dict[int, list[str]] = {}
    for info in containers:
        groups.setdefault(rank.get(info.labels.get(ROLE_LABEL, ""), 3), []).append(info.name)
    return [groups[key] for key in sorted(groups)]
