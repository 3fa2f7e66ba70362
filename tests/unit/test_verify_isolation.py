"""verify's network-isolated check covers the CAs' plain-HTTP ports: the RA reaches its own CA's, and
no other hierarchy's (probed from inside the RA container; here the fake runtime answers the probe)."""

from __future__ import annotations

import ast

from labctl.pki.issue import create_root_ca
from labctl.pki.keys import KeyAlgorithm, generate_private_key
from labctl.runtime.base import ExecResult
from labctl.runtime.fake import FakeRuntime
from labctl.topology import load_lab
from labctl.verify import verify_containment
from tests.unit.test_orchestrator import LabRig

LAB = load_lab()
ECC = LAB.hierarchy("ecc")


def _answer_probes(rig: LabRig, open_targets: set[tuple[str, int]]) -> list[tuple[str, int]]:
    """The RA answers reachability probes: open for `open_targets`; returns every target probed."""
    probed: list[tuple[str, int]] = []

    def answer(_runtime: FakeRuntime, _name: str, command: tuple[str, ...]) -> ExecResult:
        script = command[-1]
        if "targets = " not in script:
            return ExecResult(0, "")  # the key scan: no keys found
        targets = [tuple(t) for t in ast.literal_eval(script.split("targets = ", 1)[1].splitlines()[0])]
        probed.extend(targets)  # type: ignore[arg-type]
        return ExecResult(0, " ".join("open" if t in open_targets else "closed" for t in targets))

    rig.runtime.on_exec[ECC.ra.container] = answer
    return probed


def _isolated(rig: LabRig) -> tuple[bool, str]:
    certificate = create_root_ca(generate_private_key(KeyAlgorithm.EC_P384), "any CA", days=1).certificate
    [result] = [r for r in verify_containment(LAB, ECC, rig.runtime, certificate) if r.check == "network-isolated"]
    return result.passed, result.reason


def test_probes_the_own_cas_plain_http_port_and_every_other_hierarchys(up_rig: LabRig) -> None:
    probed = _answer_probes(up_rig, {(ECC.ca.container, ECC.ca.port), (ECC.ca.container, 8064)})
    assert _isolated(up_rig) == (True, "")
    assert (ECC.ca.container, 8064) in probed
    assert {("172.26.0.11", 8044), ("172.27.0.11", 8054)} <= set(probed)


def test_fails_when_the_own_plain_http_port_is_unreachable(up_rig: LabRig) -> None:
    _answer_probes(up_rig, {(ECC.ca.container, ECC.ca.port)})
    passed, reason = _isolated(up_rig)
    assert not passed
    assert "cannot reach its own CA" in reason


def test_fails_when_another_hierarchys_plain_http_port_answers(up_rig: LabRig) -> None:
    _answer_probes(up_rig, {(ECC.ca.container, ECC.ca.port), (ECC.ca.container, 8064), ("172.26.0.11", 8044)})
    passed, reason = _isolated(up_rig)
    assert not passed
    assert "('172.26.0.11', 8044)" in reason
