"""Revocation on the running lab: a device enrolled through the ecc RA is VALID, revoked with
scripts/pki-cli.py, REVOKED with Key_Compromise; the mistakes people make get one-line answers. Then
`labctl revoke` / `labctl cert-status` once each, and `labctl hosts`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from labctl.est_client import ESTClient, est_ssl_context
from labctl.pki.issue import build_csr, common_name_subject
from labctl.pki.keys import KeyAlgorithm, generate_private_key
from labctl.state import HierarchyState

from .conftest import LabCLI

pytestmark = pytest.mark.e2e
PKI_CLI = Path(__file__).resolve().parents[2] / "scripts" / "pki-cli.py"


def _enroll_ecc_device(lab_cli: LabCLI, name: str) -> str:
    """Enroll through the ecc RA from the host with the EST credentials; the serial as 0x hex."""
    hierarchy = lab_cli.lab.hierarchy("ecc")
    state = HierarchyState.of(lab_cli.state_dir, hierarchy)
    key = generate_private_key(KeyAlgorithm.EC_P384)
    csr = build_csr(key, common_name_subject(name), [name])
    context = est_ssl_context(state.chain)
    with ESTClient(f"https://127.0.0.1:{hierarchy.ra.port}", ssl_context=context, auth=state.est_credentials()) as est:
        certificate = est.simpleenroll(csr)
    return f"0x{certificate.serial_number:x}"


def _pki_cli(lab_cli: LabCLI, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(PKI_CLI), *args, "--state-dir", str(lab_cli.state_dir)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_pki_cli_revokes_an_est_issued_certificate(lab_cli):
    serial = _enroll_ecc_device(lab_cli, "device01.cert-lab.local")

    status = _pki_cli(lab_cli, "status", serial, "--ca", "intermediate", "--pki-type", "ecc")
    assert status.returncode == 0, status.stderr
    assert "status:            VALID" in status.stdout
    assert "CN=device01.cert-lab.local" in status.stdout

    revoked = _pki_cli(
        lab_cli, "revoke", serial, "--ca", "intermediate", "--reason", "key_compromise", "--pki-type", "ecc"
    )
    assert revoked.returncode == 0, revoked.stderr
    assert "status:            REVOKED" in revoked.stdout

    record = json.loads(_pki_cli(lab_cli, "status", serial, "--pki-type", "ecc", "--json").stdout)
    assert (record["serial"], record["status"], record["revocation_reason"]) == (serial, "REVOKED", "Key_Compromise")

    again = _one_line_error(_pki_cli(lab_cli, "revoke", serial, "--reason", "superseded", "--pki-type", "ecc"))
    assert f"certificate {serial} is already revoked on the ecc Intermediate CA" in again
    assert "Key_Compromise" in again

    no_prefix = _one_line_error(_pki_cli(lab_cli, "status", serial[2:], "--pki-type", "ecc"))
    assert f"serial '{serial[2:]}' needs the 0x prefix" in no_prefix

    elsewhere = _one_line_error(_pki_cli(lab_cli, "status", serial, "--ca", "intermediate", "--pki-type", "rsa"))
    assert f"certificate {serial} not found on the rsa Intermediate CA (dogtag-intermediate-ca)" in elsewhere
    assert "EST-issued certificates live on the Intermediate CA of the hierarchy that issued them" in elsewhere

    root = _one_line_error(_pki_cli(lab_cli, "status", serial, "--ca", "root", "--pki-type", "ecc"))
    assert "offline" in root


def test_labctl_revoke_and_cert_status(lab_cli):
    serial = _enroll_ecc_device(lab_cli, "device02.cert-lab.local")
    revoked = lab_cli.run("revoke", serial, "--pki-type", "ecc", "--reason", "Superseded", "--json")
    assert json.loads(revoked.stdout)["status"] == "REVOKED"
    status = lab_cli.run("cert-status", serial, "--pki-type", "ecc").stdout
    assert "status:            REVOKED" in status
    assert "revocation reason: Superseded" in status
    missing = lab_cli.run("cert-status", serial, "--pki-type", "pqc", check=False)
    assert missing.returncode == 1
    assert "Traceback" not in missing.stderr
    assert "not found on the pqc Intermediate CA" in missing.stderr


def test_labctl_hosts_prints_the_ra_hostnames(lab_cli):
    lines = lab_cli.run("hosts").stdout.splitlines()
    for hostname in ("est-ca.cert-lab.local", "ecc-est-ca.cert-lab.local", "pq-est-ca.cert-lab.local"):
        assert f"127.0.0.1 {hostname}" in lines
