"""A no-op `up` and `status` ask the services from the host (labctl.probe) before they exec health checks.

The orchestrator on FakeRuntime with a fake probe: a healthy answer spares the exec, anything else falls
back to the container's check as before, and a check the host cannot run (the pqc RA's) is never asked.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path

import pytest

from labctl import probe as probe_module
from labctl.events import StepStatus
from labctl.orchestrator import EXEC_POLL_S, HOST_POLL_S, Orchestrator
from labctl.pki.keys import KeyAlgorithm
from labctl.plan import build_plan
from labctl.probe import Probe, ProbeTarget, probe_target
from labctl.runtime.base import Health
from labctl.runtime.fake import FakeRuntime
from labctl.topology import load_lab
from tests.unit.test_orchestrator import (
    CA,
    RA,
    FakeImageBuilder,
    LabRig,
    _compose_like,
    make_rig,
    ra_healthcheck,
)


class FakeProbe:
    """Answers the same for every service, and remembers whom it was asked about."""

    def __init__(self, *, healthy: bool) -> None:
        self.healthy = healthy
        self.asked: list[ProbeTarget] = []

    def __call__(self, target: ProbeTarget) -> bool:
        self.asked.append(target)
        return self.healthy


def with_probe(rig: LabRig, probe: Probe) -> None:
    """The rig's orchestrator again, asking `probe` first."""
    rig.orchestrator = Orchestrator(
        rig.lab,
        rig.runtime,
        rig.state_dir,
        build_image=FakeImageBuilder(),
        clock=rig.clock,
        on_event=rig.events.append,
        ca_clients=rig.ca_clients,
        probe=probe,
    )


def counting_healthchecks(rig: LabRig) -> list[str]:
    """The names of the containers whose health check runs from now on (each would be a podman exec)."""
    checked: list[str] = []
    original = rig.runtime.run_healthcheck

    def run_healthcheck(name: str) -> Health:
        checked.append(name)
        return original(name)

    rig.runtime.run_healthcheck = run_healthcheck  # type: ignore[method-assign]
    return checked


@pytest.fixture
def no_ml_dsa_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    """The host's OpenSSL cannot do ML-DSA in TLS (before 3.5), whatever this host has."""
    monkeypatch.setattr(probe_module, "host_supports_tls", lambda algorithm: algorithm is not KeyAlgorithm.ML_DSA_87)


# --- the orchestrator ------------------------------------------------------------------------------


def test_a_no_op_up_answered_healthy_from_the_host_runs_no_container_health_check(up_rig: LabRig) -> None:
    probe = FakeProbe(healthy=True)
    with_probe(up_rig, probe)
    checked = counting_healthchecks(up_rig)
    up_rig.up()
    assert checked == []
    assert sorted(target.role for target in probe.asked) == ["ca", "ra"]
    steps = {step.step_id for step in build_plan(up_rig.lab.hierarchies).steps}
    assert up_rig.statuses(StepStatus.SKIPPED) == steps  # still a no-op: kept, and healthy without asking again


def test_status_answered_healthy_from_the_host_runs_no_container_health_check(up_rig: LabRig) -> None:
    with_probe(up_rig, FakeProbe(healthy=True))
    checked = counting_healthchecks(up_rig)
    assert {s.health for s in up_rig.orchestrator.status()} == {"healthy"}
    assert checked == []


def test_status_reports_the_container_check_when_the_host_gets_no_healthy_answer(up_rig: LabRig) -> None:
    with_probe(up_rig, FakeProbe(healthy=False))
    up_rig.runtime.on_healthcheck[RA] = lambda runtime, name: Health.UNHEALTHY
    checked = counting_healthchecks(up_rig)
    by_role = {s.role: s.health for s in up_rig.orchestrator.status()}
    assert by_role == {"ca": "healthy", "ra": "unhealthy"}  # the container's verdict, not the host's silence
    assert sorted(checked) == sorted([CA, RA])


def test_a_no_op_up_falls_back_to_the_container_check_when_the_host_gets_no_healthy_answer(up_rig: LabRig) -> None:
    with_probe(up_rig, FakeProbe(healthy=False))
    checked = counting_healthchecks(up_rig)
    up_rig.up()
    assert sorted(checked) == sorted([CA, RA])  # once each: the health steps do not ask again
    assert not up_rig.runtime.calls_of("create_container")


def test_a_service_unhealthy_from_the_host_and_in_its_container_is_recreated(up_rig: LabRig) -> None:
    with_probe(up_rig, FakeProbe(healthy=False))
    broken = up_rig.runtime.container(RA).id

    def ra_health(runtime: FakeRuntime, name: str) -> Health:
        return Health.UNHEALTHY if runtime.container(name).id == broken else ra_healthcheck(runtime, name)

    up_rig.runtime.on_healthcheck[RA] = ra_health
    up_rig.up()
    assert up_rig.runtime.calls_of("create_container") == [("create_container", RA)]
    assert "ecc/ra/container" in up_rig.statuses(StepStatus.DONE)


def test_a_no_op_up_of_containers_compose_runs_asks_the_host_instead_of_exec(rig: LabRig) -> None:
    _compose_like(rig)
    rig.up()  # bootstraps them (they are never kept or recreated, so no probe is asked before their health steps)
    probe = FakeProbe(healthy=True)
    with_probe(rig, probe)
    checked = counting_healthchecks(rig)
    rig.up()
    assert checked == []
    assert sorted(target.role for target in probe.asked) == ["ca", "ra"]
    assert {"ecc/ca/healthy", "ecc/ra/healthy"} <= rig.statuses(StepStatus.SKIPPED)


def test_a_no_op_up_never_asks_the_host_about_the_pqc_ra(tmp_path: Path, no_ml_dsa_tls: None) -> None:
    rig = make_rig(tmp_path, hierarchy_name="pqc")
    probe = FakeProbe(healthy=True)  # as the host sees a lab that is up
    try:
        rig.up()
        with_probe(rig, probe)
        checked = counting_healthchecks(rig)
        rig.up()
    finally:
        rig.ca.close()
    assert [target.role for target in probe.asked] == ["ca"]
    assert checked == [rig.hierarchy.ra.container]
    assert not rig.runtime.calls_of("create_container")


class HealthyAfter:
    """A service starting, as the host sees it: healthy once asked about it more than `asks` times."""

    def __init__(self, asks: int) -> None:
        self.asks = asks
        self.asked: dict[str, int] = {}

    def __call__(self, target: ProbeTarget) -> bool:
        self.asked[target.role] = self.asked.get(target.role, 0) + 1
        return self.asked[target.role] > self.asks


def test_a_first_up_waits_on_the_host_and_runs_each_container_check_once(rig: LabRig) -> None:
    """Execs that can only fail (the service still starting) are not made: the host asks every HOST_POLL_S, and
    the container's own check runs once the host gets a healthy answer, so podman records the health."""
    probe = HealthyAfter(asks=5)  # answers at the 6th ask: within EXEC_POLL_S of the first
    assert probe.asks * HOST_POLL_S < EXEC_POLL_S
    with_probe(rig, probe)
    checked = counting_healthchecks(rig)
    rig.up()
    assert sorted(checked) == sorted([CA, RA])
    assert probe.asked == {"ca": 6, "ra": 6}
    assert {"ecc/ca/healthy", "ecc/ra/healthy"} <= rig.statuses(StepStatus.DONE)  # they waited


def test_a_host_that_never_gets_an_answer_still_brings_the_lab_up(rig: LabRig) -> None:
    """The host's answer only hurries the wait: where the published ports are out of its reach, the
    container's check decides, every EXEC_POLL_S."""
    with_probe(rig, FakeProbe(healthy=False))
    checked = counting_healthchecks(rig)
    rig.up()
    assert sorted(checked) == sorted([CA, RA])  # each healthy at its first check, EXEC_POLL_S in
    assert not rig.statuses(StepStatus.FAILED)


# --- what the host asks ----------------------------------------------------------------------------


def test_the_host_asks_each_service_on_its_published_port(tmp_path: Path) -> None:
    lab = load_lab()
    ecc = lab.hierarchy("ecc")
    assert probe_target(lab, tmp_path, ecc, "ca") == ProbeTarget("ca", "127.0.0.1", ecc.ca.port)
    ra_chain = tmp_path / "ecc" / "ra" / "ca-chain.pem"  # the chain copied into the RA's container
    assert probe_target(lab, tmp_path, ecc, "ra") == ProbeTarget("ra", "127.0.0.1", ecc.ra.port, ra_chain)


@pytest.mark.parametrize(("bind", "host"), [("10.1.2.3", "10.1.2.3"), ("0.0.0.0", "127.0.0.1")], ids=["set", "any"])
def test_the_host_asks_on_the_labs_bind_address(tmp_path: Path, bind: str, host: str) -> None:
    lab = dataclasses.replace(load_lab(), bind_address=ipaddress.IPv4Address(bind))
    target = probe_target(lab, tmp_path, lab.hierarchy("rsa"), "ra")
    assert target is not None and target.host == host


def test_the_host_cannot_run_the_pqc_ras_check_without_ml_dsa_tls(tmp_path: Path, no_ml_dsa_tls: None) -> None:
    lab = load_lab()
    assert probe_target(lab, tmp_path, lab.hierarchy("pqc"), "ra") is None


def test_the_host_asks_the_pqc_ca_which_serves_it_an_rsa_certificate(tmp_path: Path, no_ml_dsa_tls: None) -> None:
    lab = load_lab()
    pqc = lab.hierarchy("pqc")
    assert probe_target(lab, tmp_path, pqc, "ca") == ProbeTarget("ca", "127.0.0.1", pqc.ca.port)


def test_asking_for_a_target_creates_no_state(tmp_path: Path) -> None:
    lab = load_lab()
    probe_target(lab, tmp_path, lab.hierarchy("rsa"), "ra")
    assert list(tmp_path.iterdir()) == []
