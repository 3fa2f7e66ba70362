"""The README's and the lab docs' commands, exactly as written, against the lab the README's first command
brought up (the `lab_cli` fixture runs `./scripts/lab` for a user with a fresh XDG_STATE_HOME).

Each command runs in bash, from a scratch directory (the CLI must work from anywhere) or from the
repository for `./scripts/...`, with the user's environment and no extra flag. The only substitution
is the documented one: a real serial for the docs' 0x1a2b3c. README.md must show each of them
verbatim (tests/unit/test_readme_commands.py checks that).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography import x509

from .conftest import REPO, VERIFY_CHECKS, LabCLI

pytestmark = pytest.mark.e2e

DOCS_SERIAL = "0x1a2b3c"
# The README's "Using the lab" commands (run from anywhere; `down` is the fixture's teardown).
README_COMMANDS = (
    "labctl status",
    "labctl verify",
    "labctl credentials --pki-type ecc",
    "labctl logs ecc/ra",
    "labctl up",
)
# The lab docs' client commands, `lab` being the docs' name for the CLI.
CACERTS_COMMANDS = ("lab est-cacerts", "lab est-cacerts --pki-type ecc", "lab est-cacerts --pki-type pqc")
ENROLL = "lab est-enroll --cn device01.cert-lab.local --pki-type rsa"
REENROLL = "lab est-reenroll --cn device01.cert-lab.local --pki-type rsa"
REVOKE = "./scripts/pki-cli.py revoke 0x1a2b3c --ca intermediate --reason key_compromise"
STATUS = "./scripts/pki-cli.py status 0x1a2b3c --ca intermediate"
# The curl recipes against the RA's hostname (after `labctl hosts --apply`, which the README says first).
HOSTS_APPLY = "labctl hosts --apply"
CURL_CACERTS = (
    "curl -sk https://est-ca.cert-lab.local:8447/.well-known/est/cacerts -o cacerts.p7",
    "base64 -d cacerts.p7 | openssl pkcs7 -inform DER -print_certs -out ca-chain.pem",
)
CURL_CSR = (
    'openssl req -new -newkey rsa:4096 -nodes -keyout device.key -subj "/CN=device02.cert-lab.local" -out device.csr'
)
CURL_ENROLL_NO_CREDENTIALS = (
    'curl -sk --data-binary @device.csr -H "Content-Type: application/pkcs10"'
    " https://est-ca.cert-lab.local:8447/.well-known/est/simpleenroll -o cert.p7b"
)
CURL_ENROLL = (
    'curl -sk -u "$(lab credentials --pki-type rsa)" --data-binary @device.csr -H "Content-Type: application/pkcs10"'
    " https://est-ca.cert-lab.local:8447/.well-known/est/simpleenroll -o cert.p7b",
    "base64 -d cert.p7b | openssl pkcs7 -inform DER -print_certs -out cert.pem",
    "openssl verify -CAfile ca-chain.pem cert.pem",
)
HOSTS_REMOVE = "labctl hosts --remove"


def _ok(lab_cli: LabCLI, command: str, cwd: Path) -> str:
    result = lab_cli.shell(command, cwd=cwd)
    assert result.returncode == 0, f"`{command}` exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout


def test_readme_first_command_verified_the_whole_lab(lab_cli: LabCLI) -> None:
    assert len(re.findall(r"^\s+PASS\s", lab_cli.brought_up, re.M)) == VERIFY_CHECKS, lab_cli.brought_up
    assert "FAIL" not in lab_cli.brought_up


def test_readme_commands_as_written(lab_cli: LabCLI, tmp_path: Path) -> None:
    outputs = {command: _ok(lab_cli, command, tmp_path) for command in README_COMMANDS}
    assert outputs["labctl credentials --pki-type ecc"].strip().count(":") == 1
    assert outputs["labctl logs ecc/ra"].strip()
    assert len(re.findall(r"^\s+PASS\s", outputs["labctl verify"], re.M)) == VERIFY_CHECKS


@pytest.mark.parametrize("command", CACERTS_COMMANDS, ids=["rsa", "ecc", "pqc"])
def test_lab_docs_cacerts(lab_cli: LabCLI, tmp_path: Path, command: str) -> None:
    chain = x509.load_pem_x509_certificates(_ok(lab_cli, command, tmp_path).encode())
    assert len(chain) == 2
    assert sum(c.subject == c.issuer for c in chain) == 1  # the Intermediate CA and its root


def test_lab_docs_enroll_reenroll_revoke_status(lab_cli: LabCLI, tmp_path: Path) -> None:
    enrolled = _ok(lab_cli, ENROLL, tmp_path)
    assert "CN=device01.cert-lab.local" in enrolled
    renewed = _ok(lab_cli, REENROLL, tmp_path)
    serial = re.search(r"^serial:\s+(0x[0-9a-f]+)$", renewed, re.M)
    assert serial is not None, renewed
    assert serial.group(1) not in enrolled  # a new certificate
    revoked = _ok(lab_cli, REVOKE.replace(DOCS_SERIAL, serial.group(1)), REPO)
    assert "REVOKED" in revoked
    status = _ok(lab_cli, STATUS.replace(DOCS_SERIAL, serial.group(1)), REPO)
    assert "REVOKED" in status and "Key_Compromise" in status


def test_lab_docs_curl_recipes(lab_cli: LabCLI, tmp_path: Path) -> None:
    _ok(lab_cli, HOSTS_APPLY, tmp_path)
    try:
        for command in CURL_CACERTS:
            _ok(lab_cli, command, tmp_path)
        assert len(x509.load_pem_x509_certificates((tmp_path / "ca-chain.pem").read_bytes())) == 2
        _ok(lab_cli, CURL_CSR, tmp_path)
        # As the docs write it, without credentials: curl exits 0, and what it saved says what to add.
        _ok(lab_cli, CURL_ENROLL_NO_CREDENTIALS, tmp_path)
        answer = (tmp_path / "cert.p7b").read_text()
        assert answer.startswith("401 ") and "-u" in answer and "labctl credentials --pki-type rsa" in answer, answer
        for command in CURL_ENROLL:
            _ok(lab_cli, command, tmp_path)
        [certificate] = x509.load_pem_x509_certificates((tmp_path / "cert.pem").read_bytes())
        assert certificate.subject.rfc4514_string() == "CN=device02.cert-lab.local"
    finally:
        _ok(lab_cli, HOSTS_REMOVE, tmp_path)


def test_lab_docs_cacerts_on_a_fresh_machine_shows_the_fingerprint_to_check(lab_cli: LabCLI, tmp_path: Path) -> None:
    """RFC 7030 section 4.1.1: without a trust anchor the chain is fetched, its root's fingerprint shown with
    how to check it, and stored only when the user says so; `labctl status` shows the same fingerprint."""
    fresh = LabCLI(tmp_path / "state" / "labctl" / lab_cli.lab.name, lab_cli.lab)
    fresh.env = {**(lab_cli.env or {}), "XDG_STATE_HOME": str(tmp_path / "state")}
    first = fresh.shell("lab est-cacerts", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    fingerprint = re.search(r"SHA-256 fingerprint:?\s+([0-9A-F:]{95})", first.stderr)
    assert fingerprint is not None, first.stderr
    assert "--trust-on-first-use" in first.stderr
    assert fingerprint.group(1) in _ok(lab_cli, "labctl status", tmp_path)
    stored = fresh.shell("lab est-cacerts --trust-on-first-use", cwd=tmp_path)
    assert stored.returncode == 0, stored.stderr
    again = fresh.shell("lab est-cacerts", cwd=tmp_path)
    assert again.returncode == 0 and "fingerprint" not in again.stderr, again.stderr
