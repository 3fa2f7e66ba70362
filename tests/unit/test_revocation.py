"""labctl.revocation, `labctl revoke` / `cert-status` and scripts/pki-cli.py against a stub CA client: reason
names, the serial's 0x prefix, and the messages for a certificate on another CA or already revoked."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from labctl import dogtag, revocation
from labctl.ca_client import CAClient
from labctl.cli import main
from labctl.dogtag import CertInfo, RequestInfo
from labctl.errors import CAError, LabctlError, PKIError
from labctl.services.ca.app import create_app as create_ca_app
from labctl.services.ca.authority import RevocationReason
from labctl.topology import load_lab
from tests.conftest import Hierarchy
from tests.unit.test_approvals_cli import PKI_TYPE, AppThread

PKI_CLI = Path(__file__).resolve().parents[2] / "scripts" / "pki-cli.py"
SERIAL = 0x1A2B3C


class StubCA:
    """The CAClient calls revocation makes, on a dict of serial -> CertInfo."""

    def __init__(self, certs: dict[int, CertInfo], *, unreachable: bool = False) -> None:
        self.certs = certs
        self.unreachable = unreachable
        self.revoked: list[tuple[int, str]] = []
        self.refuse: str | None = None  # a 400 of another kind for a valid certificate
        self.url = ""

    def __enter__(self) -> StubCA:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def _get(self, serial: int) -> CertInfo:
        if self.unreachable:
            raise CAError(f"CA at {self.url} unreachable: [Errno 111] Connection refused")
        if serial not in self.certs:
            raise CAError(f"CA at {self.url}: GET /ca/v2/certs/0x{serial:x}: 404 not found", status_code=404)
        return self.certs[serial]

    def certificate(self, serial: int) -> CertInfo:
        return self._get(serial)

    def revoke(self, serial: int, reason: str) -> CertInfo:
        info = self._get(serial)
        if info.status.startswith("REVOKED"):
            # As the CA (and Dogtag) answer it: RevocationProcessor.validateCertificateToRevoke.
            message = f"certificate #{serial:x} has already been revoked"
            raise CAError(f"CA at {self.url}: POST /ca/v2/agent/certs/0x{serial:x}/revoke: {message}", status_code=400)
        if self.refuse is not None:
            raise CAError(
                f"CA at {self.url}: POST /ca/v2/agent/certs/0x{serial:x}/revoke: {self.refuse}", status_code=400
            )
        code = next(r.code for r in RevocationReason if r.name == reason)
        self.revoked.append((serial, reason))
        self.certs[serial] = CertInfo(serial, "REVOKED", info.pem, info.subject_dn, info.issuer_dn, code)
        return self.certs[serial]

    def unrevoke(self, serial: int) -> RequestInfo:
        info = self._get(serial)
        if info.revocation_reason != 6:
            return RequestInfo(
                0x99, "unrevocation", "complete", None, "One or more certificates could not be unrevoked"
            )
        self.certs[serial] = CertInfo(serial, "VALID", info.pem, info.subject_dn, info.issuer_dn, None)
        return RequestInfo(0x99, "unrevocation", "complete", None, None)


def _cert(serial: int = SERIAL, status: str = "VALID", reason: int | None = None) -> CertInfo:
    return CertInfo(serial, status, b"", "CN=device01.cert-lab.local", "CN=Cert-Lab ECC Intermediate CA", reason)


@pytest.fixture
def lab():
    return load_lab()


@pytest.fixture
def state_dir(tmp_path, lab):
    for hierarchy in lab.hierarchies:
        (tmp_path / hierarchy.name).mkdir()
        (tmp_path / hierarchy.name / "admin.crt").write_text("stub")
    return tmp_path


@pytest.fixture
def stub(monkeypatch):
    ca = StubCA({SERIAL: _cert()})
    calls = []

    def admin_client(hierarchy, state, url):
        calls.append((hierarchy.name, url))
        ca.url = url
        return ca

    monkeypatch.setattr(revocation, "admin_client", admin_client)
    ca.calls = calls
    return ca


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key_compromise", "Key_Compromise"),
        ("Key_Compromise", "Key_Compromise"),
        ("KEY-COMPROMISE", "Key_Compromise"),
        ("ca_compromise", "CA_Compromise"),
        ("affiliation_changed", "Affiliation_Changed"),
        ("superseded", "Superseded"),
        ("cessation_of_operation", "Cessation_of_Operation"),
        ("certificate_hold", "Certificate_Hold"),
        ("privilege_withdrawn", "Privilege_Withdrawn"),
        ("unspecified", "Unspecified"),
    ],
)
def test_reasons_accept_snake_case_and_dogtag_names(text, expected):
    assert revocation.parse_reason(text) == expected


def test_unknown_reason_lists_the_choices():
    with pytest.raises(LabctlError, match="unknown revocation reason 'stolen'") as info:
        revocation.parse_reason("stolen")
    assert "key_compromise" in str(info.value)
    assert "cessation_of_operation" in str(info.value)


def test_reasons_are_the_ca_services_reasons():
    revocations = {r.code: r.name for r in RevocationReason if r is not RevocationReason.Remove_from_CRL}
    assert revocations == dict(revocation.DOGTAG_REASONS)


def test_serial_without_prefix_explains_the_prefix(lab, state_dir, stub):
    with pytest.raises(PKIError, match=r"needs the 0x prefix .*0x1a2b3c"):
        revocation.certificate_status(lab, state_dir, "ecc", "1a2b3c")
    assert stub.calls == []


def test_status_asks_the_hierarchys_intermediate_ca(lab, state_dir, stub):
    info = revocation.certificate_status(lab, state_dir, "ecc", "0x1a2b3c")
    assert info.status == "VALID"
    assert stub.calls == [("ecc", "https://127.0.0.1:8464")]


def test_revoke_sends_dogtags_reason_name(lab, state_dir, stub):
    info = revocation.revoke(lab, state_dir, "ecc", "0x1A2B3C", "key_compromise")
    assert stub.revoked == [(SERIAL, "Key_Compromise")]
    assert info.status == "REVOKED"
    assert revocation.status_record("ecc", info)["revocation_reason"] == "Key_Compromise"
    assert "revocation reason: Key_Compromise" in revocation.status_lines(info)


def test_certificate_on_another_ca_names_this_ca_and_the_other_hierarchies(lab, state_dir, stub):
    with pytest.raises(LabctlError) as info:
        revocation.certificate_status(lab, state_dir, "ecc", "0xdead")
    assert str(info.value) == (
        "certificate 0xdead not found on the ecc Intermediate CA (dogtag-ecc-intermediate-ca); EST-issued"
        " certificates live on the Intermediate CA of the hierarchy that issued them: try --pki-type rsa|pqc"
    )
    with pytest.raises(LabctlError, match=r"not found on the rsa Intermediate CA .*try --pki-type ecc\|pqc"):
        revocation.revoke(lab, state_dir, "rsa", "0xdead", "superseded")


def test_revoking_twice_says_already_revoked(lab, state_dir, stub):
    revocation.revoke(lab, state_dir, "ecc", "0x1a2b3c", "key_compromise")
    with pytest.raises(LabctlError) as info:
        revocation.revoke(lab, state_dir, "ecc", "0x1a2b3c", "superseded")
    assert "certificate 0x1a2b3c is already revoked on the ecc Intermediate CA" in str(info.value)
    assert "Key_Compromise" in str(info.value)
    assert stub.revoked == [(SERIAL, "Key_Compromise")]


def test_another_bad_request_keeps_the_cas_message(lab, state_dir, stub):
    stub.refuse = "Nonce does not match the last review of certificate 0x1a2b3c"
    with pytest.raises(LabctlError, match=r"Nonce does not match") as info:
        revocation.revoke(lab, state_dir, "ecc", "0x1a2b3c", "key_compromise")
    assert "already revoked" not in str(info.value)
    assert stub.certs[SERIAL].status == "VALID"


def test_unrevoke_releases_a_held_certificate(lab, state_dir, stub):
    revocation.revoke(lab, state_dir, "ecc", "0x1a2b3c", "certificate_hold")
    info = revocation.unrevoke(lab, state_dir, "ecc", "0x1a2b3c")
    assert (info.status, info.revocation_reason) == ("VALID", None)


def test_unrevoke_of_a_certificate_not_on_hold_says_so(lab, state_dir, stub):
    revocation.revoke(lab, state_dir, "ecc", "0x1a2b3c", "key_compromise")
    with pytest.raises(LabctlError) as info:
        revocation.unrevoke(lab, state_dir, "ecc", "0x1a2b3c")
    assert "certificate 0x1a2b3c is not on hold on the ecc Intermediate CA" in str(info.value)
    assert "(status REVOKED, reason Key_Compromise)" in str(info.value)
    assert "--reason certificate_hold" in str(info.value.hint)
    assert stub.certs[SERIAL].status == "REVOKED"


def test_revoking_a_held_certificate_hints_to_release_it_first(lab, state_dir, stub):
    revocation.revoke(lab, state_dir, "ecc", "0x1a2b3c", "certificate_hold")
    with pytest.raises(LabctlError, match=r"already revoked .*reason Certificate_Hold") as info:
        revocation.revoke(lab, state_dir, "ecc", "0x1a2b3c", "key_compromise")
    assert f"labctl --state-dir {state_dir} unrevoke 0x1a2b3c --pki-type ecc" in str(info.value.hint)


def test_cli_unrevoke_prints_the_status(state_dir, stub):
    stub.certs[SERIAL] = _cert(status="REVOKED", reason=6)
    args = ["--state-dir", str(state_dir), "unrevoke", "0x1a2b3c", "--pki-type", "ecc", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert (record["status"], record["revocation_reason"]) == ("VALID", None)


def test_unreachable_ca_asks_whether_the_lab_is_up(lab, state_dir, stub):
    stub.unreachable = True
    with pytest.raises(LabctlError, match=r"unreachable.*is lab 'cert-lab' up\? `labctl --state-dir \S+ status`"):
        revocation.certificate_status(lab, state_dir, "ecc", "0x1a2b3c")


def test_missing_admin_credential_names_the_state_dir(lab, tmp_path, stub):
    with pytest.raises(LabctlError, match=r"lab 'cert-lab' is not up: no lab admin credential for ecc in ") as info:
        revocation.certificate_status(lab, tmp_path, "ecc", "0x1a2b3c")
    assert info.value.hint == f"bring it up with `labctl --state-dir {tmp_path} up`"
    assert stub.calls == []


def test_cli_revoke_and_cert_status(state_dir, stub):
    runner = CliRunner()
    result = runner.invoke(main, ["--state-dir", str(state_dir), "cert-status", "0x1a2b3c", "--pki-type", "ecc"])
    assert result.exit_code == 0, result.output
    assert "status:            VALID" in result.output
    result = runner.invoke(
        main,
        [
            "--state-dir",
            str(state_dir),
            "revoke",
            "0x1a2b3c",
            "--pki-type",
            "ecc",
            "--reason",
            "key_compromise",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "hierarchy": "ecc",
        "serial": "0x1a2b3c",
        "subject": "CN=device01.cert-lab.local",
        "issuer": "CN=Cert-Lab ECC Intermediate CA",
        "status": "REVOKED",
        "revocation_reason": "Key_Compromise",
    }


def test_cli_error_is_one_line(state_dir, stub):
    result = CliRunner().invoke(main, ["--state-dir", str(state_dir), "cert-status", "0xdead", "--pki-type", "ecc"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: certificate 0xdead not found on the ecc Intermediate CA (dogtag-ecc-intermediate-ca); EST-issued"
        " certificates live on the Intermediate CA of the hierarchy that issued them: try --pki-type rsa|pqc"
    ]


def _pki_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(PKI_CLI), *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("status", "1a2b3c"), "serial '1a2b3c' needs the 0x prefix"),
        (("revoke", "0x1a2b3c", "--reason", "stolen"), "unknown revocation reason 'stolen'"),
        (("status", "0x1a2b3c", "--ca", "root", "--pki-type", "ecc"), "the ecc Root CA is offline"),
        (("status", "0x1a2b3c", "--pki-type", "dsa"), "has no hierarchy 'dsa'"),
    ],
)
def test_pki_cli_errors_are_one_line_without_traceback(tmp_path, args, message):
    result = _pki_cli(*args, "--state-dir", str(tmp_path))
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_pki_cli_root_points_to_the_intermediate_ca(tmp_path):
    stderr = _pki_cli("revoke", "0x1a", "--ca", "root", "--reason", "superseded", "--state-dir", str(tmp_path)).stderr
    assert "no REST API" in stderr
    assert "EST-issued certificates live on the Intermediate CA" in stderr


# --- against the CA's REST API (in-process, on a loopback port) ----------------------------------------


@pytest.fixture
def ca_url(hierarchy: Hierarchy, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The hierarchy's CA on a loopback port; the lab admin's client reaches it, presenting the agent credential."""
    agent_der = hierarchy.agent_der
    thread = AppThread(lambda: create_ca_app(hierarchy.ca, peer_certificate=lambda request: agent_der))
    thread.start()
    assert thread.started.wait(30)
    monkeypatch.setattr(
        revocation, "admin_client", lambda *args: CAClient(thread.url, ssl_context=ssl.create_default_context())
    )
    yield thread.url
    thread.stop()


def test_cli_revoke_twice_says_already_revoked_in_one_line(state_dir: Path, hierarchy: Hierarchy, ca_url: str) -> None:
    """The CA answers Dogtag's 400 "certificate #<hex> has already been revoked"; labctl says it for people."""
    serial = dogtag.format_id(hierarchy.issue("revoke-twice-cli.cert-lab.local").serial_number)
    pki_type = PKI_TYPE[hierarchy.algorithm]
    revoke = ["--state-dir", str(state_dir), "revoke", serial, "--pki-type", pki_type]
    first = CliRunner().invoke(main, [*revoke, "--reason", "key_compromise"])
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(main, [*revoke, "--reason", "superseded"])
    assert again.exit_code == 1
    container = load_lab().hierarchy(pki_type).ca.container
    assert again.output.splitlines() == [
        f"Error: certificate {serial} is already revoked on the {pki_type} Intermediate CA ({container})"
        " (status REVOKED, reason Key_Compromise)"
    ]
    assert hierarchy.ca.get_certificate(int(serial, 16)).revocation_reason == "Key_Compromise"
