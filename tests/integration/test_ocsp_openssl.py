"""The CA's OCSP responder as a real process, asked by `openssl ocsp` (the host's OpenSSL: rsa and ecc)
over HTTPS: good for a fresh certificate, revoked right after its revocation; and `labctl ocsp`'s
code path (revocation.ocsp_status) against the same CA."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from labctl import revocation
from labctl.clients import host_admin
from labctl.endpoint import Endpoint
from labctl.local import LocalLab
from labctl.pki import ocsp
from labctl.pki.issue import build_csr, certificates_pem, common_name_subject, load_pem_certificates
from labctl.pki.keys import generate_private_key

pytestmark = pytest.mark.integration
HIERARCHIES = pytest.mark.parametrize("name", ["rsa", "ecc"])
LocalLabFixture = tuple[LocalLab, dict[str, Endpoint], Path]


def _issue(local_lab: LocalLabFixture, name: str, common_name: str, work: Path) -> int:
    """A certificate from the hierarchy's CA (as the lab admin), written to work/leaf.pem; its serial."""
    endpoint = local_lab[1][name]
    csr = build_csr(generate_private_key(endpoint.hierarchy.algorithm), common_name_subject(common_name))
    with host_admin(local_lab[2], endpoint)() as client:
        certificate = client.enroll(csr, endpoint.hierarchy.ra.enroll_profile)
    (work / "leaf.pem").write_bytes(certificates_pem([certificate]))
    intermediate = load_pem_certificates(endpoint.trust_file.read_bytes())[0]
    (work / "ca.pem").write_bytes(certificates_pem([intermediate]))
    return certificate.serial_number


def _revoke(local_lab: LocalLabFixture, name: str, serial: int) -> None:
    with host_admin(local_lab[2], local_lab[1][name])() as client:
        client.revoke(serial, "Key_Compromise")


def _openssl_ocsp(endpoint: Endpoint, work: Path) -> subprocess.CompletedProcess[str]:
    command = [
        "openssl", "ocsp",
        "-issuer", str(work / "ca.pem"),
        "-cert", str(work / "leaf.pem"),
        "-url", f"{endpoint.ca_url}/ca/ocsp",
        "-CAfile", str(endpoint.trust_file),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@HIERARCHIES
def test_openssl_ocsp_says_good_then_revoked(local_lab, name, tmp_path):
    endpoint = local_lab[1][name]
    serial = _issue(local_lab, name, f"ocsp-openssl-{name}.cert-lab.local", tmp_path)
    first = _openssl_ocsp(endpoint, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Response verify OK" in first.stderr
    assert f"{tmp_path / 'leaf.pem'}: good" in first.stdout
    _revoke(local_lab, name, serial)
    second = _openssl_ocsp(endpoint, tmp_path)
    assert second.returncode == 0, second.stderr
    assert "Response verify OK" in second.stderr
    assert f"{tmp_path / 'leaf.pem'}: revoked" in second.stdout
    assert "Reason: keyCompromise" in second.stdout


@HIERARCHIES
def test_openssl_ocsp_by_serial_with_the_chain_as_issuer(local_lab, name, tmp_path):
    # The recipe the pqc e2e test runs in its network: -issuer the chain file (its first certificate,
    # the Intermediate CA), -serial instead of -cert.
    endpoint = local_lab[1][name]
    serial = _issue(local_lab, name, f"ocsp-serial-{name}.cert-lab.local", tmp_path)
    command = [
        "openssl", "ocsp",
        "-issuer", str(endpoint.trust_file),
        "-serial", f"0x{serial:x}",
        "-url", f"{endpoint.ca_url}/ca/ocsp",
        "-CAfile", str(endpoint.trust_file),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "Response verify OK" in result.stderr
    assert f"0x{serial:x}: good" in result.stdout


@HIERARCHIES
def test_labctl_ocsp_status_good_then_revoked(local_lab, name, tmp_path):
    runner, _, state = local_lab
    serial = _issue(local_lab, name, f"ocsp-labctl-{name}.cert-lab.local", tmp_path)
    assert revocation.ocsp_status(runner.lab, state, name, f"0x{serial:x}") == ocsp.GOOD
    _revoke(local_lab, name, serial)
    status = revocation.ocsp_status(runner.lab, state, name, f"0x{serial:x}")
    assert status.status is ocsp.Status.REVOKED
    assert status.reason is not None and status.reason.value == "keyCompromise"
