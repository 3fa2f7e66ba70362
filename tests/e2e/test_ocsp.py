"""OCSP on the running lab (issue 15): `openssl ocsp` says good, then revoked right after
scripts/pki-cli.py revokes the certificate: rsa and ecc from the host (OpenSSL 3.0), pqc from OpenSSL
3.5 inside its network (the pqc RA's container). And `labctl ocsp` from the host for every hierarchy,
with its exit codes (0 good, 3 revoked, 4 unknown)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from labctl.pki.issue import certificates_pem, load_pem_certificates
from labctl.runtime.podman import PodmanRuntime
from labctl.state import HierarchyState

from .conftest import LabCLI

pytestmark = pytest.mark.e2e
PKI_CLI = Path(__file__).resolve().parents[2] / "scripts" / "pki-cli.py"
# Where the RA container keeps its hierarchy's chain (the Intermediate CA first, then the root).
RA_CHAIN = "/etc/labctl/est/ca-chain.pem"


def _enroll(lab_cli: LabCLI, tmp_path: Path, pki_type: str, device: str) -> tuple[Path, str]:
    """A device certificate from the hierarchy's RA (`labctl est-enroll`): its file and 0x serial."""
    out_dir = tmp_path / pki_type
    result = lab_cli.run("est-enroll", "--cn", f"{device}-{pki_type}.cert-lab.local", "--pki-type", pki_type,
                         "--out-dir", str(out_dir))  # fmt: skip
    serial = next(line.split(":", 1)[1].strip() for line in result.stdout.splitlines() if line.startswith("serial"))
    return out_dir / "device.crt", serial


def _revoke(lab_cli: LabCLI, pki_type: str, serial: str) -> None:
    command = [sys.executable, str(PKI_CLI), "revoke", serial, "--ca", "intermediate", "--reason", "key_compromise",
               "--pki-type", pki_type, "--state-dir", str(lab_cli.state_dir)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


def _openssl_from_host(lab_cli: LabCLI, pki_type: str, leaf: Path, tmp_path: Path) -> str:
    hierarchy = lab_cli.lab.hierarchy(pki_type)
    chain = HierarchyState.of(lab_cli.state_dir, hierarchy).chain
    issuer = tmp_path / f"{pki_type}-ca.pem"
    issuer.write_bytes(certificates_pem(load_pem_certificates(chain.read_bytes())[:1]))
    command = ["openssl", "ocsp", "-issuer", str(issuer), "-cert", str(leaf),
               "-url", f"https://127.0.0.1:{hierarchy.ca.port}/ca/ocsp", "-CAfile", str(chain)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def _openssl_in_network(lab_cli: LabCLI, runtime: PodmanRuntime, pki_type: str, serial: str) -> str:
    hierarchy = lab_cli.lab.hierarchy(pki_type)
    command = (
        f"openssl version; openssl ocsp -issuer {RA_CHAIN} -serial {serial}"
        f" -url https://{hierarchy.ca.container}:{hierarchy.ca.port}/ca/ocsp -CAfile {RA_CHAIN} 2>&1"
    )
    return runtime.exec(hierarchy.ra.container, ("sh", "-c", command)).output


@pytest.mark.parametrize("pki_type", ["rsa", "ecc"])
def test_openssl_ocsp_from_host_says_good_then_revoked(lab_cli, tmp_path, pki_type):
    leaf, serial = _enroll(lab_cli, tmp_path, pki_type, "ocsp-openssl")
    good = _openssl_from_host(lab_cli, pki_type, leaf, tmp_path)
    assert "Response verify OK" in good and f"{leaf}: good" in good, good
    _revoke(lab_cli, pki_type, serial)
    revoked = _openssl_from_host(lab_cli, pki_type, leaf, tmp_path)
    assert "Response verify OK" in revoked and f"{leaf}: revoked" in revoked, revoked
    assert "Reason: keyCompromise" in revoked


def test_openssl_35_ocsp_in_pqc_network_says_good_then_revoked(lab_cli, runtime, tmp_path):
    _leaf, serial = _enroll(lab_cli, tmp_path, "pqc", "ocsp-openssl")
    good = _openssl_in_network(lab_cli, runtime, "pqc", serial)
    assert "OpenSSL 3.5" in good or "OpenSSL 3.6" in good, good
    assert "Response verify OK" in good and f"{serial}: good" in good, good
    _revoke(lab_cli, "pqc", serial)
    revoked = _openssl_in_network(lab_cli, runtime, "pqc", serial)
    assert "Response verify OK" in revoked and f"{serial}: revoked" in revoked, revoked


@pytest.mark.parametrize("pki_type", ["rsa", "ecc", "pqc"])
def test_labctl_ocsp_exit_codes(lab_cli, tmp_path, pki_type):
    _leaf, serial = _enroll(lab_cli, tmp_path, pki_type, "ocsp-labctl")
    good = lab_cli.run("ocsp", serial, "--pki-type", pki_type, check=False)
    assert (good.returncode, good.stdout) == (0, f"{serial}: good\n"), good.stderr
    _revoke(lab_cli, pki_type, serial)
    revoked = lab_cli.run("ocsp", serial, "--pki-type", pki_type, check=False)
    assert revoked.returncode == 3, revoked.stderr
    assert revoked.stdout.startswith(f"{serial}: revoked (keyCompromise, ")
    unknown = lab_cli.run("ocsp", "0x5eed", "--pki-type", pki_type, check=False)
    assert (unknown.returncode, unknown.stdout) == (4, "0x5eed: unknown\n"), unknown.stderr
