"""Manual approval with the CA and RA as real processes on 127.0.0.1 with TLS (free ports): the lab
file's approval = "manual" reaches the RA through backend.conf; curl gets 202 with Retry-After, the lab
admin approves with what `labctl approve` runs, and the same curl gets the certificate."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from labctl import approvals
from labctl.clients import host_admin
from labctl.endpoint import Endpoint
from labctl.local import LocalLab
from labctl.pki.issue import build_csr, common_name_subject
from labctl.pki.keys import generate_private_key
from labctl.ports import with_free_ports
from labctl.topology import parse_lab
from labctl.verify import verify_endpoint

pytestmark = pytest.mark.integration
LAB_FILE = Path(__file__).resolve().parents[2] / "labctl" / "lab.toml"
ManualLab = tuple[LocalLab, dict[str, Endpoint], Path]


@pytest.fixture(scope="module")
def manual_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManualLab]:
    text = LAB_FILE.read_text().replace(
        'enroll_profile = "estServiceCert"\n', 'enroll_profile = "estServiceCert"\napproval = "manual"\n'
    )
    state = tmp_path_factory.mktemp("manual-state")
    runner = LocalLab(with_free_ports(parse_lab(text)), state, hierarchies=("ecc",))
    endpoints = runner.up(timeout=60)
    try:
        yield runner, {e.hierarchy.name: e for e in endpoints}, state
    finally:
        runner.stop()


def test_verify_runs_the_approval_checks(manual_lab: ManualLab) -> None:
    _runner, endpoints, state = manual_lab
    endpoint = endpoints["ecc"]
    results = verify_endpoint(endpoint, admin=host_admin(state, endpoint))
    assert [(r.check, r.reason) for r in results if not r.passed] == []
    assert {r.check for r in results} >= {"enroll-pending", "agent-approve", "pending-issued", "simplereenroll"}


def test_curl_gets_202_then_the_certificate_after_approve(manual_lab: ManualLab, tmp_path: Path) -> None:
    runner, endpoints, state = manual_lab
    endpoint = endpoints["ecc"]
    csr = build_csr(generate_private_key(endpoint.hierarchy.algorithm), common_name_subject("curl-held.cert-lab.local"))
    (tmp_path / "csr.b64").write_bytes(base64.encodebytes(csr.public_bytes(serialization.Encoding.DER)))
    curl = [
        "curl", "-sS", "--cacert", str(endpoint.trust_file), "-u", f"{endpoint.username}:{endpoint.password}",
        "-H", "Content-Type: application/pkcs10", "--data-binary", "@csr.b64",
        "-o", "answer", "-D", "headers", "-w", "%{http_code}", f"{endpoint.ra_url}/.well-known/est/simpleenroll",
    ]  # fmt: skip
    first = subprocess.run(curl, cwd=tmp_path, capture_output=True, text=True, check=True)
    assert first.stdout == "202"
    assert "retry-after: 5" in (tmp_path / "headers").read_text().lower()
    request_id = (tmp_path / "answer").read_text().rsplit("request ", 1)[1].rstrip(")\n")
    pending = approvals.list_requests(runner.lab, state, ["ecc"], pending_only=True)
    assert request_id in [f"0x{s.request_id:x}" for s in pending]
    decided = approvals.decide(runner.lab, state, "ecc", request_id, "approve")
    assert decided.status == "complete"
    second = subprocess.run(curl, cwd=tmp_path, capture_output=True, text=True, check=True)
    assert second.stdout == "200"
    shell = "base64 -d answer | openssl pkcs7 -inform DER -print_certs | openssl x509 -noout -serial"
    serial = subprocess.run(["sh", "-c", shell], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert int(serial.strip().split("=")[1], 16) == decided.cert_id
