"""The orchestrator on FakeRuntime: up (create, skip, repair), foreign objects, readiness failures, down, status.

The CA container's process is simulated by a real IntermediateCA on a host dir whose files are mirrored
into the fake container's volume, so the real bootstrap (root signs the CSR, admin credential, RA
credentials) runs unchanged. Only the admin's HTTPS client is replaced: it issues through the same
IntermediateCA object, authenticated by the admin certificate the orchestrator collected.
Runs on the ECC hierarchy alone: P-384 keys are cheap, RSA-4096 ones are not.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from labctl import specs
from labctl.ca_client import CAStatus
from labctl.errors import NotReadyError, TopologyError
from labctl.events import StepEvent, StepStatus
from labctl.images import IMAGE_UID, ImageResult, image_reference
from labctl.orchestrator import CAClients, Orchestrator
from labctl.pki.issue import csr_pem, load_pem_certificates, verify_chain
from labctl.plan import build_plan
from labctl.runtime.base import (
    CONTENT_HASH_LABEL,
    HIERARCHY_LABEL,
    LAB_LABEL,
    MANAGED_BY_LABEL,
    ROLE_LABEL,
    SPEC_HASH_LABEL,
    ContainerRuntime,
    ContainerSpec,
    Health,
    NetworkSpec,
    VolumeSpec,
)
from labctl.runtime.fake import FakeRuntime
from labctl.services.ca.authority import CAConfig, IntermediateCA
from labctl.services.ca.store import RequestStatus
from labctl.services.est_ra.config import READY_MARKER
from labctl.specs import CA_DATA_DIR, RA_CONF_DIR
from labctl.state import HierarchyState
from labctl.topology import DEFAULT_LAB_FILE, Hierarchy, Lab, network_name, parse_lab, volume_name
from tests.helpers import FakeClock, key_for

LAB = "cert-lab"
CA = "dogtag-ecc-intermediate-ca"
RA = "dogtag-ecc-est-ca"
NETWORK = "cert-lab-ecc"
VOLUME = "cert-lab-ecc-ca-data"
CA_KEY_INDEX = 40  # key_for index of the simulated CA's signing key


def ecc_lab() -> Lab:
    """The shipped lab file without the rsa and pqc hierarchies."""
    return single_hierarchy_lab("ecc")


def single_hierarchy_lab(name: str) -> Lab:
    """The shipped lab file with only hierarchy `name`."""
    kept: list[str] = []
    skipping = False
    for line in DEFAULT_LAB_FILE.read_text(encoding="utf-8").splitlines():
        header = re.match(r"^\[hierarchy\.([a-z0-9-]+)", line)
        if header:
            skipping = header.group(1) != name
        if not skipping:
            kept.append(line)
    lab = parse_lab("\n".join(kept), source=f"{name}-only lab")
    assert [h.name for h in lab.hierarchies] == [name]
    return lab


class GuardedClock(FakeClock):
    """A FakeClock that fails loudly when read again and again without anyone sleeping on it:
    the caller waits on something else, and on this clock its deadline never comes."""

    def __init__(self, max_reads_without_sleep: int = 3) -> None:
        super().__init__()
        self._reads = 0
        self._max = max_reads_without_sleep

    def monotonic(self) -> float:
        self._reads += 1
        if self._reads > self._max:
            raise AssertionError(f"clock read {self._reads} times but never slept on: the wait ignores the clock")
        return super().monotonic()

    def sleep(self, seconds: float) -> None:
        self._reads = 0
        super().sleep(seconds)


class FakeImageBuilder:
    """ensure_image's contract: build into the runtime unless an image with the same content hash exists."""

    def __init__(self, content_hash: str = "content-1") -> None:
        self.content_hash = content_hash

    def __call__(self, runtime: ContainerRuntime, base: str) -> ImageResult:
        reference = image_reference(self.content_hash)
        labels = runtime.image_labels(reference)
        if labels is not None and labels.get(CONTENT_HASH_LABEL) == self.content_hash:
            return ImageResult(reference, False, self.content_hash)
        runtime.build_image(
            Path("/nonexistent"),
            "Containerfile",
            reference,
            labels={CONTENT_HASH_LABEL: self.content_hash},
            build_args={},
        )
        return ImageResult(reference, True, self.content_hash)


class SimulatedCA:
    """The CA container's process: a real IntermediateCA on a host dir, mirrored to and from the container's data dir.

    Like the service: at start it makes its key and CSR (key seeded from key_for), and each health check
    polls for ca.crt; once installed it is healthy and has issued admin.crt.
    """

    def __init__(self, hierarchy: Hierarchy, workdir: Path) -> None:
        self.hierarchy = hierarchy
        self.workdir = workdir
        self.authority: IntermediateCA | None = None
        self.starts = 0

    def start(self, runtime: FakeRuntime, name: str) -> None:
        self.close()
        self.starts += 1
        data_dir = self.workdir / f"start-{self.starts}"
        data_dir.mkdir(parents=True)
        self._pull(runtime, name, data_dir, include_db=True)
        if not (data_dir / "ca.key").exists():
            (data_dir / "ca.key").write_bytes(
                key_for(self.hierarchy.algorithm, CA_KEY_INDEX).private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
        config = CAConfig(data_dir, self.hierarchy.algorithm, self.hierarchy.ca.common_name)
        self.authority = IntermediateCA(config)
        self.authority.try_install()
        self._push(runtime, name)
        runtime.write_log(name, f"CA {self.hierarchy.ca.common_name}: {self.authority.state.value}")

    def healthcheck(self, runtime: FakeRuntime, name: str) -> Health:
        assert self.authority is not None
        self._pull(runtime, name, self.authority.dir, include_db=False)
        running = self.authority.try_install()
        self._push(runtime, name)
        return Health.HEALTHY if running else Health.STARTING

    def close(self) -> None:
        if self.authority is not None:
            self.authority.store.close()
            self.authority = None

    def _pull(self, runtime: FakeRuntime, name: str, data_dir: Path, *, include_db: bool) -> None:
        for path, data in runtime.files(name).items():
            if not path.startswith(f"{CA_DATA_DIR}/") or (path.endswith("/ca.db") and not include_db):
                continue
            target = data_dir / path.removeprefix(f"{CA_DATA_DIR}/")
            if not target.exists() or target.read_bytes() != data:
                target.write_bytes(data)

    def _push(self, runtime: FakeRuntime, name: str) -> None:
        assert self.authority is not None
        for path in sorted(self.authority.dir.iterdir()):
            if path.is_file() and not path.name.startswith("."):
                runtime.put_file(
                    name, f"{CA_DATA_DIR}/{path.name}", path.read_bytes(), mode=path.stat().st_mode & 0o777
                )


class StubAdmin:
    """The admin's CA client, issuing through the IntermediateCA object as the admin certificate's holder."""

    def __init__(self, ca: SimulatedCA, admin_cert: Path) -> None:
        self._ca = ca
        self._admin_der = load_pem_certificates(admin_cert.read_bytes())[0].public_bytes(serialization.Encoding.DER)

    def enroll(self, csr: x509.CertificateSigningRequest, profile_id: str) -> x509.Certificate:
        authority = self._ca.authority
        assert authority is not None, "CA not running"
        caller = authority.authenticate(self._admin_der)
        assert caller.is_agent, "the collected admin credential is not an agent of the CA"
        request = authority.submit(csr_pem(csr), profile_id, caller)
        if request.status is RequestStatus.PENDING:  # a manual profile (caServerCert): the agent approves it
            request = authority.approve(request.request_id, caller)
        return authority.certificate_of(request)


def ra_healthcheck(runtime: FakeRuntime, name: str) -> Health:
    """The RA is healthy once its configuration and TLS credential are in place."""
    files = runtime.files(name)
    needed = [f"{RA_CONF_DIR}/{file}" for file in ("server.conf", "realm.conf", "tls.crt", "tls.key", "ca-chain.pem")]
    return Health.HEALTHY if all(path in files for path in needed) else Health.UNHEALTHY


@dataclass
class LabRig:
    lab: Lab
    hierarchy: Hierarchy
    runtime: FakeRuntime
    orchestrator: Orchestrator
    events: list[StepEvent]
    clock: FakeClock
    ca: SimulatedCA
    state_dir: Path
    ca_clients: CAClients  # the admin client issues through the simulated CA

    def statuses(self, status: StepStatus) -> set[str]:
        return {event.step for event in self.events if event.status is status}

    def up(self, *, timeout: float = 60.0) -> None:
        self.events.clear()
        self.runtime.calls.clear()
        self.orchestrator.up(timeout=timeout)


def make_rig(workdir: Path, *, hierarchy_name: str = "ecc") -> LabRig:
    """A fresh lab of one hierarchy (ECC unless told) on FakeRuntime under `workdir`; the caller closes `rig.ca`."""
    lab = single_hierarchy_lab(hierarchy_name)
    hierarchy = lab.hierarchy(hierarchy_name)
    ca = SimulatedCA(hierarchy, workdir / "ca-process")
    ca_name, ra_name = hierarchy.ca.container, hierarchy.ra.container
    runtime = FakeRuntime(
        on_start={ca_name: ca.start}, on_healthcheck={ca_name: ca.healthcheck, ra_name: ra_healthcheck}
    )
    state_dir = workdir / "state"

    @contextmanager
    def admin_client(hier: Hierarchy, state: HierarchyState, url: str, **_: object) -> Iterator[StubAdmin]:
        assert hier == hierarchy
        assert url == f"https://127.0.0.1:{hierarchy.ca.port}"
        yield StubAdmin(ca, state.admin_cert)

    ca_clients = CAClients(admin=admin_client)
    events: list[StepEvent] = []
    clock = FakeClock()
    orchestrator = Orchestrator(
        lab,
        runtime,
        state_dir,
        build_image=FakeImageBuilder(),
        clock=clock,
        on_event=events.append,
        ca_clients=ca_clients,
    )
    return LabRig(lab, hierarchy, runtime, orchestrator, events, clock, ca, state_dir, ca_clients)


def spec_of(runtime: FakeRuntime, name: str) -> ContainerSpec:
    return runtime.container(name).spec


# --- first up ------------------------------------------------------------------------------------


def test_first_up_creates_an_isolated_network_on_the_lab_subnet(up_rig: LabRig) -> None:
    network = up_rig.runtime.networks[NETWORK]
    assert network.isolate is True
    assert str(network.subnet) == "172.28.0.0/24"
    assert network.labels == {LAB_LABEL: LAB, HIERARCHY_LABEL: "ecc", ROLE_LABEL: "network"}


def test_first_up_creates_the_ca_data_volume_with_lab_labels(up_rig: LabRig) -> None:
    assert up_rig.runtime.volumes[VOLUME].labels == {LAB_LABEL: LAB, HIERARCHY_LABEL: "ecc", ROLE_LABEL: "ca-data"}
    mounts = spec_of(up_rig.runtime, CA).mounts
    assert [(m.volume, m.target) for m in mounts] == [(VOLUME, CA_DATA_DIR)]


def test_first_up_creates_and_starts_the_ca_then_the_ra(up_rig: LabRig) -> None:
    created = [call for call in up_rig.runtime.calls if call[0] in {"create_container", "start_container"}]
    assert created == [
        ("create_container", CA),
        ("start_container", CA),
        ("create_container", RA),
        ("start_container", RA),
    ]
    assert {info.name: info.state for info in up_rig.runtime.list_containers({})} == {CA: "running", RA: "running"}


@pytest.mark.parametrize(("name", "role"), [(CA, "ca"), (RA, "ra")], ids=["ca", "ra"])
def test_first_up_labels_containers_with_lab_hierarchy_and_role(up_rig: LabRig, name: str, role: str) -> None:
    labels = spec_of(up_rig.runtime, name).labels
    assert {key: labels[key] for key in (LAB_LABEL, HIERARCHY_LABEL, ROLE_LABEL)} == {
        LAB_LABEL: LAB,
        HIERARCHY_LABEL: "ecc",
        ROLE_LABEL: role,
    }
    assert re.fullmatch(r"[0-9a-f]{32}", labels[SPEC_HASH_LABEL])


@pytest.mark.parametrize(
    ("name", "address", "ports"),
    [(CA, "172.28.0.11", (8464, 8064)), (RA, "172.28.0.18", (8466,))],
    ids=["ca", "ra"],
)
def test_first_up_publishes_ports_on_loopback_with_static_ips(
    up_rig: LabRig, name: str, address: str, ports: tuple[int, ...]
) -> None:
    spec = spec_of(up_rig.runtime, name)
    assert [(p.host_ip, p.host_port, p.container_port) for p in spec.ports] == [("127.0.0.1", p, p) for p in ports]
    assert str(spec.ip) == address
    assert spec.network == NETWORK
    assert up_rig.runtime.inspect_container(name).ip == address  # type: ignore[union-attr]


def test_first_up_gives_the_ra_its_hostname_as_network_alias(up_rig: LabRig) -> None:
    assert spec_of(up_rig.runtime, RA).aliases == ("ecc-est-ca.cert-lab.local",)


@pytest.mark.parametrize("name", [CA, RA], ids=["ca", "ra"])
def test_first_up_runs_containers_as_non_root(up_rig: LabRig, name: str) -> None:
    spec = spec_of(up_rig.runtime, name)
    assert spec.user == f"{IMAGE_UID}:{IMAGE_UID}"
    assert spec.user.split(":")[0] not in {"0", "root"}
    assert spec.cap_drop == ("ALL",)


# ca/healthy also installs the IoT bootstrap credential's hash on a first up, so it does work even
# when the CA is healthy at once; ra/healthy only waits.
HEALTH_WAITS = {"ecc/ra/healthy"}


def test_first_up_emits_done_for_every_step(up_rig: LabRig) -> None:
    steps = {step.step_id for step in build_plan(up_rig.lab.hierarchies).steps}
    assert up_rig.statuses(StepStatus.STARTED) == steps
    assert up_rig.statuses(StepStatus.DONE) == steps - HEALTH_WAITS
    # The simulated services are healthy at the first check: a wait that did not wait says so.
    skipped = [(e.step, e.detail) for e in up_rig.events if e.status is StepStatus.SKIPPED]
    assert sorted(skipped) == [("ecc/ra/healthy", "healthy")]
    assert not up_rig.statuses(StepStatus.FAILED)


def test_first_up_reports_done_for_a_health_wait_that_waited(rig: LabRig) -> None:
    checks = 0

    def slow_ra(runtime: FakeRuntime, name: str) -> Health:
        nonlocal checks
        checks += 1
        return Health.HEALTHY if checks > 1 else Health.STARTING

    rig.runtime.on_healthcheck[RA] = slow_ra
    rig.up()
    assert "ecc/ra/healthy" in rig.statuses(StepStatus.DONE)
    assert checks == 2


def test_first_up_installs_a_root_signed_intermediate(up_rig: LabRig) -> None:
    state = HierarchyState.of(up_rig.state_dir, up_rig.hierarchy)
    files = up_rig.runtime.files(CA)
    intermediate = load_pem_certificates(files[f"{CA_DATA_DIR}/ca.crt"])[0]
    root = load_pem_certificates(state.root_cert.read_bytes())[0]
    verify_chain(intermediate, [root])
    assert f"{CA_DATA_DIR}/root.crt" in files
    assert state.admin_cert.read_bytes() == files[f"{CA_DATA_DIR}/admin.crt"]
    assert up_rig.runtime.container(CA).health is Health.HEALTHY


def test_first_up_copies_the_ra_configuration_in_owner_only(up_rig: LabRig) -> None:
    files = up_rig.runtime.files(RA)
    expected = {"server.conf", "realm.conf", "backend.conf", "authorizer.conf", "tls.crt", "tls.key", "ca-chain.pem"}
    assert expected <= {path.removeprefix(f"{RA_CONF_DIR}/") for path in files}
    assert up_rig.runtime.file_mode(RA, f"{RA_CONF_DIR}/tls.key") == 0o600
    state = HierarchyState.of(up_rig.state_dir, up_rig.hierarchy)
    tls = load_pem_certificates(files[f"{RA_CONF_DIR}/tls.crt"])
    verify_chain(tls[0], [*tls[1:], *load_pem_certificates(state.root_cert.read_bytes())])


# --- up again ------------------------------------------------------------------------------------


def test_second_up_creates_nothing(up_rig: LabRig) -> None:
    up_rig.up()
    calls = up_rig.runtime.calls
    assert not [call for call in calls if call[0].startswith(("create_", "build_", "remove_", "start_"))], calls
    assert {"image", "ecc/network", "ecc/volume", "ecc/ca/container", "ecc/ra/container"} <= up_rig.statuses(
        StepStatus.SKIPPED
    )
    assert not up_rig.statuses(StepStatus.FAILED)


def test_second_up_skips_every_step(up_rig: LabRig) -> None:
    up_rig.up()
    steps = {step.step_id for step in build_plan(up_rig.lab.hierarchies).steps}
    assert up_rig.statuses(StepStatus.SKIPPED) == steps


def test_second_up_reinstalls_nothing(up_rig: LabRig) -> None:
    ca_crt = up_rig.runtime.files(CA)[f"{CA_DATA_DIR}/ca.crt"]
    up_rig.up()
    assert "ecc/ca/installed" in up_rig.statuses(StepStatus.SKIPPED)
    assert up_rig.runtime.files(CA)[f"{CA_DATA_DIR}/ca.crt"] == ca_crt
    assert not up_rig.runtime.calls_of("write_files")


def test_up_after_the_ra_died_recreates_only_the_ra(up_rig: LabRig) -> None:
    up_rig.runtime.kill(RA)
    up_rig.up()
    changed = [call for call in up_rig.runtime.calls if call[0].startswith(("create_", "remove_", "start_"))]
    assert changed == [("remove_container", RA), ("create_container", RA), ("start_container", RA)]
    assert up_rig.runtime.inspect_container(RA).is_running  # type: ignore[union-attr]
    assert "ecc/ca/container" in up_rig.statuses(StepStatus.SKIPPED)
    assert "ecc/ra/container" in up_rig.statuses(StepStatus.DONE)


def test_up_recreates_the_ra_when_its_configuration_changed(up_rig: LabRig) -> None:
    old_hash = spec_of(up_rig.runtime, RA).labels[SPEC_HASH_LABEL]
    state = HierarchyState.of(up_rig.state_dir, up_rig.hierarchy)
    state.credentials_file.write_text("est-client:a-new-password\n")
    up_rig.up()
    changed = [call for call in up_rig.runtime.calls if call[0].startswith(("create_", "remove_"))]
    assert changed == [("remove_container", RA), ("create_container", RA)]
    assert spec_of(up_rig.runtime, RA).labels[SPEC_HASH_LABEL] != old_hash
    assert b"password=a-new-password" in up_rig.runtime.files(RA)[f"{RA_CONF_DIR}/realm.conf"]


def test_up_recreates_containers_when_the_image_changed(up_rig: LabRig) -> None:
    up_rig.orchestrator._build_image = FakeImageBuilder("content-2")
    up_rig.up()
    assert up_rig.runtime.calls_of("create_container") == [("create_container", CA), ("create_container", RA)]
    assert "ecc/ca/installed" in up_rig.statuses(StepStatus.SKIPPED)  # the volume kept the installed CA


# --- foreign objects -----------------------------------------------------------------------------


def test_up_refuses_a_foreign_network_with_the_lab_network_name(rig: LabRig) -> None:
    rig.runtime.create_network(NetworkSpec(NETWORK, ipaddress.IPv4Network("10.99.0.0/24"), {}))
    with pytest.raises(TopologyError, match=f"network {NETWORK} exists but does not belong to lab {LAB}"):
        rig.up()
    assert rig.runtime.networks[NETWORK].labels == {}
    assert not rig.runtime.calls_of("remove_network")
    assert not rig.runtime.calls_of("create_container")


def test_up_refuses_a_foreign_container_with_a_lab_container_name(rig: LabRig) -> None:
    rig.runtime.images["docker.io/library/nginx:latest"] = {}
    rig.runtime.create_network(NetworkSpec("other", ipaddress.IPv4Network("10.99.0.0/24"), {}))
    rig.runtime.create_container(ContainerSpec(CA, "docker.io/library/nginx:latest", ("nginx",), "other", {}))
    rig.runtime.on_start.pop(CA)  # someone else's nginx, not our CA process
    rig.runtime.start_container(CA)
    with pytest.raises(TopologyError, match=f"container {CA} exists but does not belong to lab {LAB}"):
        rig.up()
    assert rig.runtime.inspect_container(CA).image == "docker.io/library/nginx:latest"  # type: ignore[union-attr]
    assert not rig.runtime.calls_of("remove_container")
    assert "ecc/ca/container" in rig.statuses(StepStatus.FAILED)


# --- readiness failures --------------------------------------------------------------------------


def _silent_ca(runtime: FakeRuntime, name: str) -> None:
    runtime.write_log(name, "generating signing key")
    runtime.write_log(name, "stuck: /var/lib/labctl/ca is read-only")


def test_up_names_a_ca_that_never_writes_its_csr(rig: LabRig) -> None:
    # timeout=0: one probe, then the deadline has passed (a real timeout: the next test).
    rig.runtime.on_start[CA] = _silent_ca
    with pytest.raises(NotReadyError) as caught:
        rig.up(timeout=0)
    assert str(caught.value) == f"{CA} CSR not ready after 0s (no CSR yet)"
    assert caught.value.hint == f"last log lines:\ngenerating signing key\nstuck: {CA_DATA_DIR} is read-only"
    assert "ecc/ca/installed" in rig.statuses(StepStatus.FAILED)
    assert not rig.runtime.calls_of("create_container")[1:]  # the RA was never created


def test_up_gives_up_on_a_silent_ca_after_the_timeout_on_the_injected_clock(rig: LabRig) -> None:
    clock = GuardedClock()
    rig.orchestrator = Orchestrator(
        rig.lab,
        rig.runtime,
        rig.state_dir,
        build_image=FakeImageBuilder(),
        clock=clock,
        on_event=rig.events.append,
        ca_clients=rig.ca_clients,
    )
    rig.runtime.on_start[CA] = _silent_ca
    with pytest.raises(NotReadyError, match=rf"^{CA} CSR not ready after 60s \(no CSR yet\)$") as caught:
        rig.up(timeout=60)
    assert caught.value.hint is not None and "stuck:" in caught.value.hint
    assert clock.now >= 60


def test_up_fails_fast_when_the_ca_exits(rig: LabRig) -> None:
    def crash(runtime: FakeRuntime, name: str) -> None:
        runtime.write_log(name, "Traceback: bad key")
        runtime.kill(name, exit_code=1)

    rig.runtime.on_start[CA] = crash
    with pytest.raises(NotReadyError, match=f"^{CA} is exited$") as caught:
        rig.up()
    assert caught.value.hint is not None and "Traceback: bad key" in caught.value.hint
    assert rig.clock.sleeps == []


# --- down ----------------------------------------------------------------------------------------


def _add_foreign(runtime: FakeRuntime) -> None:
    runtime.images["docker.io/library/nginx:latest"] = {}
    runtime.create_network(NetworkSpec("other", ipaddress.IPv4Network("10.99.0.0/24"), {LAB_LABEL: "another-lab"}))
    runtime.create_volume(VolumeSpec("other-data", {}))
    runtime.create_container(ContainerSpec("web", "docker.io/library/nginx:latest", ("nginx",), "other", {}))
    runtime.start_container("web")


def test_down_removes_only_labelled_containers_and_networks(up_rig: LabRig) -> None:
    _add_foreign(up_rig.runtime)
    report = up_rig.orchestrator.down()
    assert sorted(report.containers) == sorted([CA, RA])
    assert report.networks == [NETWORK]
    assert report.volumes == []
    assert set(up_rig.runtime.containers) == {"web"}
    assert set(up_rig.runtime.networks) == {"other"}
    assert {f"{CA}/removed", f"{RA}/removed"} <= up_rig.statuses(StepStatus.DONE)


def test_down_removes_the_ra_before_the_ca_it_depends_on(up_rig: LabRig) -> None:
    """compose and kube play make an RA require its CA: podman refuses to remove the CA first."""
    up_rig.orchestrator.down()
    removed = [call[1] for call in up_rig.runtime.calls_of("remove_container")]
    assert removed.index(RA) < removed.index(CA)


def test_down_keeps_volumes_unless_asked(up_rig: LabRig) -> None:
    up_rig.orchestrator.down()
    assert set(up_rig.runtime.volumes) == {VOLUME}
    assert not up_rig.runtime.calls_of("remove_volume")


def test_down_with_volumes_removes_only_the_labs(up_rig: LabRig) -> None:
    _add_foreign(up_rig.runtime)
    report = up_rig.orchestrator.down(volumes=True)
    assert report.volumes == [VOLUME]
    assert set(up_rig.runtime.volumes) == {"other-data"}


def test_up_after_down_reuses_the_installed_ca_from_its_volume(up_rig: LabRig) -> None:
    up_rig.orchestrator.down()
    up_rig.up()
    assert "ecc/ca/installed" in up_rig.statuses(StepStatus.SKIPPED)
    assert up_rig.runtime.calls_of("create_container") == [("create_container", CA), ("create_container", RA)]


# --- status --------------------------------------------------------------------------------------


def test_status_reports_missing_containers(rig: LabRig) -> None:
    statuses = rig.orchestrator.status()
    assert [(s.hierarchy, s.role, s.container, s.state, s.health) for s in statuses] == [
        ("ecc", "ca", CA, "missing", "-"),
        ("ecc", "ra", RA, "missing", "-"),
    ]


def test_status_reports_a_removed_ra_as_missing_and_a_dead_ca_as_exited(up_rig: LabRig) -> None:
    up_rig.runtime.kill(CA)  # not running: status does not ask its REST API
    up_rig.runtime.remove_container(RA)
    by_role = {s.role: s for s in up_rig.orchestrator.status()}
    assert (by_role["ca"].state, by_role["ca"].health, by_role["ca"].address) == ("exited", "-", "172.28.0.11")
    assert (by_role["ra"].state, by_role["ra"].health, by_role["ra"].address) == ("missing", "-", None)


def test_status_reports_a_running_ra_with_its_health(up_rig: LabRig) -> None:
    up_rig.runtime.remove_container(CA)
    by_role = {s.role: s for s in up_rig.orchestrator.status()}
    assert by_role["ca"].state == "missing"
    assert (by_role["ra"].state, by_role["ra"].health, by_role["ra"].port) == ("running", "healthy", 8466)


def test_status_asks_a_running_ca_through_the_status_client(up_rig: LabRig) -> None:
    asked: list[str] = []

    class StatusClient:
        def __enter__(self) -> StatusClient:
            return self

        def __exit__(self, *_: object) -> None:
            return None

        def status(self) -> CAStatus:
            return CAStatus("running", {"VALID": 2})

    def status_client(url: str) -> StatusClient:
        asked.append(url)
        return StatusClient()

    clients = dataclasses.replace(up_rig.ca_clients, status=status_client)
    orchestrator = Orchestrator(up_rig.lab, up_rig.runtime, up_rig.state_dir, ca_clients=clients)
    by_role = {s.role: s for s in orchestrator.status()}
    assert asked == ["https://127.0.0.1:8464"]
    assert (by_role["ca"].ca_status, dict(by_role["ca"].counts)) == ("running", {"VALID": 2})
    assert by_role["ra"].ca_status is None


def test_status_reports_a_foreign_container_as_missing(rig: LabRig) -> None:
    _add_foreign(rig.runtime)
    rig.runtime.create_container(ContainerSpec(RA, "docker.io/library/nginx:latest", ("nginx",), "other", {}))
    by_role = {s.role: s for s in rig.orchestrator.status()}
    assert by_role["ra"].state == "missing"


def test_endpoints_name_the_ra_and_ca_on_loopback(rig: LabRig) -> None:
    (endpoint,) = rig.orchestrator.up()
    assert endpoint.ra_url == "https://127.0.0.1:8466"
    assert endpoint.ca_url == "https://127.0.0.1:8464"
    assert network_name(rig.lab, rig.hierarchy) == NETWORK
    assert volume_name(rig.lab, rig.hierarchy) == VOLUME


# --- containers run by compose or kube (adopted) ----------------------------------------------


def _compose_like(rig: LabRig) -> None:
    """What `podman-compose up -d` leaves: the lab's networks, volumes and containers, labelled managed-by."""
    image = FakeImageBuilder()(rig.runtime, "base").reference
    lab_specs = specs.lab_specs(rig.lab, image)
    for network in lab_specs.networks:
        rig.runtime.create_network(network)
    for volume in lab_specs.volumes:
        rig.runtime.create_volume(volume)
    for spec in lab_specs.containers:
        labelled = dataclasses.replace(spec, labels={**spec.labels, MANAGED_BY_LABEL: "compose"})
        rig.runtime.create_container(labelled)
        rig.runtime.start_container(spec.name)


def test_up_bootstraps_containers_compose_runs_without_recreating_them(rig: LabRig) -> None:
    _compose_like(rig)
    rig.up()
    created = [call for call in rig.runtime.calls if call[0] in ("create_container", "remove_container")]
    assert created == []  # compose's containers are kept, never replaced
    files = rig.runtime.files(RA)
    assert f"{RA_CONF_DIR}/tls.crt" in files and f"{RA_CONF_DIR}/{READY_MARKER}" in files
    assert rig.runtime.run_healthcheck(RA) is Health.HEALTHY
    assert {"ecc/ca/container", "ecc/ra/container"} <= rig.statuses(StepStatus.SKIPPED)


def test_up_writes_an_adopted_ras_configuration_once(rig: LabRig) -> None:
    _compose_like(rig)
    rig.up()
    rig.up()
    assert not [call for call in rig.runtime.calls if call[0] == "write_files"]


def test_up_refuses_to_recreate_a_stopped_compose_container(rig: LabRig) -> None:
    _compose_like(rig)
    rig.runtime.stop_container(RA)
    with pytest.raises(NotReadyError, match=f"{RA} is exited; compose runs it") as caught:
        rig.orchestrator.up(timeout=5)
    assert "podman-compose up -d" in (caught.value.hint or "")
    assert rig.runtime.inspect_container(RA).state == "exited"  # type: ignore[union-attr]


def _counting_reads(rig: LabRig) -> list[str]:
    reads: list[str] = []
    original = rig.runtime.read_file

    def read_file(name: str, path: str) -> bytes | None:
        reads.append(path)
        return original(name, path)

    rig.runtime.read_file = read_file  # type: ignore[method-assign]
    return reads


def test_a_no_op_up_reads_no_ca_file_out_of_the_container(up_rig: LabRig) -> None:
    reads = _counting_reads(up_rig)
    up_rig.up()
    assert reads == []  # each read is a tar copy: the memo keyed by the container's id answers


def test_a_recreated_ca_container_is_read_afresh(up_rig: LabRig) -> None:
    up_rig.runtime.remove_container(CA)  # its volume (and so the installed CA) stays
    reads = _counting_reads(up_rig)
    up_rig.up()
    assert f"{CA_DATA_DIR}/ca.crt" in reads
    assert up_rig.runtime.run_healthcheck(CA) is Health.HEALTHY
