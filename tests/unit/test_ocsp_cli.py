"""`labctl ocsp` and revocation.ocsp_status against the in-process CA (its /ca/ocsp answers, no network):
good, revoked, unknown with their exit codes, and an answer from another CA refused."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from labctl import revocation
from labctl.cli import main
from labctl.errors import CAError, LabctlError
from labctl.pki import ocsp
from labctl.pki.issue import certificates_pem
from labctl.services.ca.ocsp import certificate_status
from labctl.topology import load_lab

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Hierarchy

PKI_TYPE = "ecc"  # the lab file's hierarchy the state dir stands for; the CA's algorithm varies


class InProcessCA:
    """The one CAClient call `labctl ocsp` makes, answered by a CA's responder in-process."""

    def __init__(self, hierarchy: Hierarchy, *, status: int | None = None) -> None:
        self.hierarchy = hierarchy
        self.status = status

    def __enter__(self) -> InProcessCA:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def ocsp(self, request_der: bytes) -> bytes:
        if self.status is not None:
            raise CAError(f"CA: POST /ca/ocsp: {self.status}", status_code=self.status)
        ca = self.hierarchy.ca
        return ocsp.respond(request_der, ca.issuer, lambda serial: certificate_status(ca, serial))


@pytest.fixture
def state_dir(tmp_path: Path, hierarchy: Hierarchy) -> Path:
    (tmp_path / PKI_TYPE).mkdir()
    (tmp_path / PKI_TYPE / "admin.crt").write_text("stub")
    (tmp_path / PKI_TYPE / "ca-chain.pem").write_bytes(certificates_pem(hierarchy.ca.chain))
    return tmp_path


def _answered_by(monkeypatch: pytest.MonkeyPatch, ca: InProcessCA) -> None:
    monkeypatch.setattr(revocation, "admin_client", lambda hierarchy, state, url: ca)


def _ocsp(state_dir: Path, serial: int, *extra: str) -> tuple[int, str]:
    args = ["--state-dir", str(state_dir), "ocsp", f"0x{serial:x}", "--pki-type", PKI_TYPE, *extra]
    result = CliRunner().invoke(main, args)
    return result.exit_code, result.output


def test_cli_says_good_then_revoked(state_dir: Path, hierarchy: Hierarchy, monkeypatch: pytest.MonkeyPatch) -> None:
    _answered_by(monkeypatch, InProcessCA(hierarchy))
    leaf = hierarchy.issue("ocsp-cli.cert-lab.local")
    assert _ocsp(state_dir, leaf.serial_number) == (0, f"0x{leaf.serial_number:x}: good\n")
    hierarchy.revoke(leaf)
    code, output = _ocsp(state_dir, leaf.serial_number)
    assert code == 3
    assert output.startswith(f"0x{leaf.serial_number:x}: revoked (keyCompromise, ")


def test_cli_json_for_revoked(state_dir: Path, hierarchy: Hierarchy, monkeypatch: pytest.MonkeyPatch) -> None:
    _answered_by(monkeypatch, InProcessCA(hierarchy))
    leaf = hierarchy.issue("ocsp-cli-json.cert-lab.local")
    hierarchy.revoke(leaf)
    code, output = _ocsp(state_dir, leaf.serial_number, "--json")
    record = json.loads(output)
    assert code == 3
    assert record["status"] == "revoked"
    assert record["revocation_reason"] == "keyCompromise"
    assert record["serial"] == f"0x{leaf.serial_number:x}"


def test_cli_says_unknown_with_exit_4(state_dir: Path, hierarchy: Hierarchy, monkeypatch: pytest.MonkeyPatch) -> None:
    _answered_by(monkeypatch, InProcessCA(hierarchy))
    assert _ocsp(state_dir, 0xC0FFEE) == (4, "0xc0ffee: unknown\n")


def test_answer_from_another_ca_is_an_error(
    state_dir: Path, hierarchy: Hierarchy, other_hierarchy: Hierarchy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The other CA's CertID hashes differ: it answers unauthorized, which is no status.
    _answered_by(monkeypatch, InProcessCA(other_hierarchy))
    with pytest.raises(LabctlError, match="unauthorized"):
        revocation.ocsp_status(load_lab(), state_dir, PKI_TYPE, "0x1")


def test_ca_without_ocsp_says_so_with_a_hint(
    state_dir: Path, hierarchy: Hierarchy, monkeypatch: pytest.MonkeyPatch
) -> None:
    _answered_by(monkeypatch, InProcessCA(hierarchy, status=404))
    with pytest.raises(LabctlError, match="serves no OCSP") as info:
        revocation.ocsp_status(load_lab(), state_dir, PKI_TYPE, "0x1")
    assert info.value.hint is not None
    assert "build" in info.value.hint


def test_serial_out_of_range_is_refused(state_dir: Path, hierarchy: Hierarchy) -> None:
    code, output = _ocsp(state_dir, 0)  # "0x0": out of range
    assert code == 1
    assert output.startswith("Error: serial '0x0' is out of range")
