"""`labctl up` stopped at any point leaves a lab the next `up` finishes and `down --volumes` removes.

Ctrl-C reaches `up` as KeyboardInterrupt (SIGTERM and SIGHUP too: the CLI turns them into one). It
is raised here at every point an interruption can fall: as each plan step starts (from inside the
step, and as a real SIGINT to the main thread, as Ctrl-C arrives), before each runtime call that
changes the lab, and before each write into the host state dir. Each time the interrupt must
propagate, the state dir must hold only whole files (no temporary or half-written one), the next
`up` must bring every container up healthy, and `down --volumes` must leave nothing behind. The
same holds when the podman service goes away before a runtime call (RuntimeBackendError).

Runs on the ECC hierarchy alone (as test_orchestrator.py): its plan has every kind of step.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

import labctl.files as files_module
from labctl.errors import RuntimeBackendError
from labctl.events import EventSink, StepEvent, StepStatus
from labctl.files import TEMP_SUFFIX
from labctl.orchestrator import Orchestrator
from labctl.pki.issue import load_pem_certificates
from labctl.pki.keys import KeyAlgorithm, load_private_key_pem, write_private_key
from labctl.plan import build_plan
from labctl.runtime.base import Health
from labctl.specs import RA_CONF_DIR
from labctl.state import HierarchyState, read_credentials
from tests.helpers import key_for
from tests.unit.test_orchestrator import CA, RA, FakeImageBuilder, LabRig, ecc_lab, make_rig

STEPS = [step.step_id for step in build_plan(ecc_lab().hierarchies).steps]
# Interrupting later than this many writes or calls means the run had fewer: the loops end there.
MAX_POINTS = 100


# --- what every interrupted run must leave --------------------------------------------------------


def _same_key(certificate_pem: bytes, key_pem: bytes) -> bool:
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    certificate = load_pem_certificates(certificate_pem)[0]
    return certificate.public_key().public_bytes(*spki) == load_private_key_pem(key_pem).public_key().public_bytes(
        *spki
    )


def assert_state_whole(state_dir: Path) -> None:
    """No temporary file is left, and every state file parses: none was left half-written."""
    for path in sorted(p for p in state_dir.rglob("*") if p.is_file()):
        assert not path.name.endswith(TEMP_SUFFIX), f"temporary file left behind: {path}"
        data = path.read_bytes()
        assert data, f"empty state file: {path}"
        if path.suffix == ".key":
            load_private_key_pem(data)
        elif path.suffix in (".crt", ".pem"):
            load_pem_certificates(data)
        elif path.name == "est-credentials":
            read_credentials(path)


def assert_keys_match_certificates(state_dir: Path) -> None:
    """Each X.key in the state dir belongs to the X.crt next to it (root, admin, RA TLS, RA agent)."""
    pairs = [(key, key.with_suffix(".crt")) for key in sorted(state_dir.rglob("*.key"))]
    assert pairs, "no keys in the state dir"
    for key, certificate in pairs:
        assert certificate.exists(), f"{key} has no certificate"
        assert _same_key(certificate.read_bytes(), key.read_bytes()), f"{key} does not match {certificate}"


def assert_up_completes_and_down_removes_everything(rig: LabRig) -> None:
    rig.up()
    for name in (CA, RA):
        info = rig.runtime.inspect_container(name)
        assert info is not None and info.is_running, f"{name}: {info}"
        assert rig.runtime.run_healthcheck(name) is Health.HEALTHY, name
    ra_files = rig.runtime.files(RA)
    assert _same_key(ra_files[f"{RA_CONF_DIR}/tls.crt"], ra_files[f"{RA_CONF_DIR}/tls.key"])
    assert_state_whole(rig.state_dir)
    assert_keys_match_certificates(rig.state_dir)
    rig.orchestrator.down(volumes=True)
    assert (rig.runtime.containers, rig.runtime.networks, rig.runtime.volumes) == ({}, {}, {})


def _orchestrator(rig: LabRig, on_event: EventSink) -> Orchestrator:
    """Another orchestrator on the rig's runtime and state dir, with its own event sink."""
    return Orchestrator(
        rig.lab,
        rig.runtime,
        rig.state_dir,
        build_image=FakeImageBuilder(),
        clock=rig.clock,
        on_event=on_event,
        ca_clients=rig.ca_clients,
    )


def _on_start(step: str, action: EventSink) -> EventSink:
    def sink(event: StepEvent) -> None:
        if event.step == step and event.status is StepStatus.STARTED:
            action(event)

    return sink


def _raise_interrupt(_: object) -> None:
    raise KeyboardInterrupt


# --- at each step ---------------------------------------------------------------------------------


@pytest.mark.parametrize("step", STEPS)
def test_up_interrupted_as_a_step_starts_is_finished_by_the_next_up(rig: LabRig, step: str) -> None:
    with pytest.raises(KeyboardInterrupt):
        _orchestrator(rig, _on_start(step, _raise_interrupt)).up()
    assert_state_whole(rig.state_dir)
    assert_up_completes_and_down_removes_everything(rig)


@pytest.mark.parametrize("step", STEPS)
def test_down_removes_what_an_interrupted_up_left(rig: LabRig, step: str) -> None:
    with pytest.raises(KeyboardInterrupt):
        _orchestrator(rig, _on_start(step, _raise_interrupt)).up()
    rig.orchestrator.down(volumes=True)
    assert (rig.runtime.containers, rig.runtime.networks, rig.runtime.volumes) == ({}, {}, {})


@pytest.fixture
def sigint_raises() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt in the main thread, as in the CLI (whatever a plugin installed)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.usefixtures("sigint_raises")
def test_up_stopped_by_sigint_as_a_step_starts_is_finished_by_the_next_up(rig: LabRig, step: str) -> None:
    """Ctrl-C lands in the main thread while a worker runs the step: the step ends, nothing new starts."""
    main = threading.main_thread().ident
    assert main is not None

    def ctrl_c(_: StepEvent) -> None:
        signal.pthread_kill(main, signal.SIGINT)

    interrupted = _orchestrator(rig, _on_start(step, ctrl_c))
    with pytest.raises(KeyboardInterrupt):
        interrupted.up()
    assert_state_whole(rig.state_dir)
    assert_up_completes_and_down_removes_everything(rig)


# --- before each runtime call and each state write ------------------------------------------------


class Tripwire:
    """Raises `error()` the time it is hit with `hits == point` (0-based); counts every hit."""

    def __init__(self, point: int, error: Callable[[], BaseException]) -> None:
        self.point = point
        self.hits = 0
        self._error = error
        self._lock = threading.Lock()  # hit from the orchestrator's worker threads

    def hit(self) -> None:
        with self._lock:
            self.hits += 1
            if self.hits == self.point + 1:
                raise self._error()


# Installs a tripwire on a rig; returns what removes it again.
Arm = Callable[[Tripwire, LabRig], Callable[[], None]]


def _interrupt_at_every_point(
    tmp_path: Path,
    arm: Arm,
    error: Callable[[], BaseException] = KeyboardInterrupt,
) -> int:
    """Run `up` on a fresh rig stopped by `error()` at point 0, 1, 2, ... until one runs through; each must recover.

    Returns:
        The number of points (interrupted runs).
    """
    for point in range(MAX_POINTS):
        rig = make_rig(tmp_path / f"point-{point}")
        tripwire = Tripwire(point, error)
        disarm = arm(tripwire, rig)
        try:
            try:
                rig.orchestrator.up()
            except type(error()):
                disarm()
                assert_state_whole(rig.state_dir)
                assert_up_completes_and_down_removes_everything(rig)
                continue
            return point
        finally:
            rig.ca.close()
    raise AssertionError(f"up still interrupted after {MAX_POINTS} points")


def test_up_interrupted_before_any_runtime_call_is_finished_by_the_next_up(tmp_path: Path) -> None:
    """Between any two calls that change the lab: e.g. a container created but not started."""
    assert _interrupt_at_every_point(tmp_path, _arm_runtime_calls) > 5


def test_up_failing_as_the_podman_service_goes_away_is_finished_by_the_next_up(tmp_path: Path) -> None:
    """The service dies before a call (PodmanRuntime's error); once it is back, `up` finishes the lab."""

    def gone() -> RuntimeBackendError:
        return RuntimeBackendError(
            "podman service at unix:///test.sock stopped answering during test: connection refused"
        )

    assert _interrupt_at_every_point(tmp_path, _arm_runtime_calls, gone) > 5


def _arm_runtime_calls(tripwire: Tripwire, rig: LabRig) -> Callable[[], None]:
    rig.runtime.on_call = lambda _call: tripwire.hit()
    return lambda: setattr(rig.runtime, "on_call", None)


def test_up_interrupted_before_any_state_write_is_finished_by_the_next_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between any two writes into the state dir: e.g. the root key written but not its certificate."""
    replace = files_module._replace

    def arm(tripwire: Tripwire, rig: LabRig) -> Callable[[], None]:
        def write(path: Path, data: bytes, *, mode: int, exact_mode: bool) -> None:
            if path.is_relative_to(rig.state_dir):  # not the simulated CA's own files
                tripwire.hit()
            replace(path, data, mode=mode, exact_mode=exact_mode)

        monkeypatch.setattr(files_module, "_replace", write)
        return lambda: monkeypatch.setattr(files_module, "_replace", replace)

    assert _interrupt_at_every_point(tmp_path, arm) > 10


# --- what a killed labctl leaves --------------------------------------------------------------------


def test_a_temporary_file_left_by_a_killed_write_is_not_copied_into_the_ra(up_rig: LabRig) -> None:
    """SIGKILL between writing a temporary file and renaming it leaves the temporary file behind."""
    state = HierarchyState.of(up_rig.state_dir, up_rig.hierarchy)
    (state.ra_dir / f".tls.key.0123abcd{TEMP_SUFFIX}").write_bytes(b"half a key")
    up_rig.up()
    assert not [path for path in up_rig.runtime.files(RA) if path.endswith(TEMP_SUFFIX)]
    assert "ecc/ra/container" in up_rig.statuses(StepStatus.SKIPPED)  # the RA's spec did not change


def test_up_reissues_an_ra_credential_whose_key_does_not_match_its_certificate(up_rig: LabRig) -> None:
    """What a run stopped between writing the RA's new key and its new certificate leaves behind."""
    state = HierarchyState.of(up_rig.state_dir, up_rig.hierarchy)
    tls_key, tls_crt = state.ra_dir / "tls.key", state.ra_dir / "tls.crt"
    old_certificate = tls_crt.read_bytes()
    write_private_key(tls_key, key_for(KeyAlgorithm.EC_P384, 41))
    up_rig.up()
    assert tls_crt.read_bytes() != old_certificate
    assert _same_key(tls_crt.read_bytes(), tls_key.read_bytes())
    ra_files = up_rig.runtime.files(RA)
    assert ra_files[f"{RA_CONF_DIR}/tls.key"] == tls_key.read_bytes()
    assert "ecc/ra/container" in up_rig.statuses(StepStatus.DONE)  # the RA was recreated with the new pair
