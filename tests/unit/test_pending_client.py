"""The client side of manual approval: est_client turns a 202 into PendingApproval, until_issued repeats
the same request within its bound (a fake clock: no real waiting), and enroll_device keeps a request
still pending so the next est-enroll resends it.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from labctl.cli import Context
from labctl.cli.est import _approval_wait
from labctl.devices import DeviceFiles, Enrolled, enroll_device
from labctl.endpoint import Endpoint
from labctl.errors import ESTError
from labctl.est_client import ESTClient
from labctl.pending import DEFAULT_RETRY_AFTER_S, ApprovalWait, PendingApproval, StillPending, until_issued
from labctl.pki.issue import load_csr
from labctl.services.ca.app import create_app as create_ca_app
from labctl.services.est_ra.app import create_app as create_ra_app
from labctl.services.est_ra.approval import ManualApproval
from labctl.services.est_ra.authz import Authorizer
from labctl.services.est_ra.backend import DogtagRABackend
from labctl.services.est_ra.config import AuthorizerConfig, RealmUser
from labctl.topology import load_lab
from tests.conftest import DEFAULT_LAB_RESERVED, EST_PASSWORD, EST_ROLE, EST_USER, INSTALLER, Hierarchy
from tests.unit.test_approvals_cli import AppThread
from tests.unit.test_manual_approval import _csr, _name


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _pending(request_id: str = "0x2a", retry_after: str | None = "5") -> PendingApproval:
    return PendingApproval.from_answer(
        f"simpleenroll at https://ra: 202 pending approval at the CA (request {request_id})", retry_after
    )


def _wait(clock: FakeClock, wait_s: float, notices: list[tuple[str | None, float, float]]) -> ApprovalWait:
    return ApprovalWait(
        wait_s,
        lambda pending, delay, left: notices.append((pending.request_id, delay, left)),
        lambda request_id: f"labctl approve {request_id} --pki-type ecc",
        clock,
    )


# --- PendingApproval ---------------------------------------------------------------------------------


def test_pending_reads_retry_after_and_the_request_id() -> None:
    pending = _pending("0x1f", "7")
    assert (pending.status_code, pending.retry_after_s, pending.request_id) == (202, 7, "0x1f")


@pytest.mark.parametrize("header", [None, "", "Wed, 21 Oct 2026 07:28:00 GMT", "-3"])
def test_pending_without_usable_retry_after_waits_the_default(header: str | None) -> None:
    assert _pending(retry_after=header).retry_after_s == DEFAULT_RETRY_AFTER_S


def test_pending_without_a_request_id_says_so() -> None:
    assert PendingApproval.from_answer("simpleenroll at https://ra: Accepted", "5").request_id is None


# --- until_issued ------------------------------------------------------------------------------------


def test_until_issued_repeats_after_retry_after_until_issued() -> None:
    clock, notices = FakeClock(), list[tuple[str | None, float, float]]()
    answers: list[object] = [_pending(), _pending(), "certificate"]

    def attempt() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return str(answer)

    assert until_issued(attempt, _wait(clock, 60, notices)) == "certificate"
    assert clock.slept == [5, 5]
    assert notices == [("0x2a", 5, 60), ("0x2a", 5, 55)]


def test_until_issued_stops_at_the_bound_and_names_the_approve_command() -> None:
    clock, notices = FakeClock(), list[tuple[str | None, float, float]]()

    def attempt() -> str:
        raise _pending(retry_after="4")

    with pytest.raises(StillPending) as caught:
        until_issued(attempt, _wait(clock, 10, notices))
    assert str(caught.value) == "0x2a still pending approval at the CA after waiting 10 s"
    assert caught.value.hint is not None
    assert "`labctl approve 0x2a --pki-type ecc`" in caught.value.hint
    assert clock.slept == [4, 4, 2]  # never past the bound
    assert clock.now == 1010


def test_until_issued_passes_a_refusal_through() -> None:
    def attempt() -> str:
        raise ESTError("simpleenroll at https://ra: 403 request 0x2a was rejected at the CA", status_code=403)

    with pytest.raises(ESTError, match="rejected at the CA") as caught:
        until_issued(attempt, _wait(FakeClock(), 60, []))
    assert caught.value.status_code == 403


# --- enroll_device keeps a pending request for the next run -------------------------------------------


class HeldTransport:
    """simpleenroll held until `approved`; records every CSR it was sent."""

    def __init__(self, hierarchy: Hierarchy) -> None:
        self.hierarchy = hierarchy
        self.sent: list[bytes] = []
        self.approved = False

    def cacerts(self) -> list[x509.Certificate]:
        return self.hierarchy.ca.chain

    def simpleenroll(self, csr: x509.CertificateSigningRequest) -> x509.Certificate:
        der = csr.public_bytes(serialization.Encoding.DER)
        self.sent.append(der)
        if not self.approved:
            raise _pending()
        return self.hierarchy.ca.certificate_of(self.hierarchy.ca.submit(der, "estServiceCert", INSTALLER))

    def simplereenroll(self, csr: x509.CertificateSigningRequest, cert: Path, key: Path) -> x509.Certificate:
        raise NotImplementedError


def _endpoint(hierarchy: Hierarchy, tmp_path: Path) -> Endpoint:
    lab = load_lab()
    name = {"rsa-4096": "rsa", "ec-p384": "ecc", "ml-dsa-87": "pqc"}[hierarchy.algorithm.value]
    return Endpoint(lab.hierarchy(name), "https://ra", "https://ca", tmp_path / "chain.pem", "user", "password")


def test_a_request_still_pending_is_kept_and_resent_by_the_next_enroll(hierarchy: Hierarchy, tmp_path: Path) -> None:
    transport, out_dir = HeldTransport(hierarchy), tmp_path / "device"
    endpoint = _endpoint(hierarchy, tmp_path)

    def enroll() -> Enrolled:
        cn = "kept.cert-lab.local"
        return enroll_device(
            endpoint, transport, common_name=cn, sans=(), out_dir=out_dir, wait=_wait(FakeClock(), 6, [])
        )

    with pytest.raises(StillPending):
        enroll()
    files = DeviceFiles.under(out_dir)
    assert files.key.exists() and files.pending_csr.exists() and not files.certificate.exists()
    assert files.key.stat().st_mode & 0o077 == 0
    transport.approved = True
    enrolled = enroll()
    assert len(set(transport.sent)) == 1  # the same CSR every time, across both runs
    assert enrolled.certificate.public_key() == load_csr(transport.sent[0]).public_key()
    assert not files.pending_csr.exists()


def test_a_pending_request_for_other_names_is_not_resent(hierarchy: Hierarchy, tmp_path: Path) -> None:
    transport, out_dir = HeldTransport(hierarchy), tmp_path / "device"
    endpoint = _endpoint(hierarchy, tmp_path)
    with pytest.raises(StillPending):
        enroll_device(
            endpoint,
            transport,
            common_name="a.cert-lab.local",
            sans=(),
            out_dir=out_dir,
            wait=_wait(FakeClock(), 1, []),
        )
    transport.approved = True
    enroll_device(endpoint, transport, common_name="b.cert-lab.local", sans=(), out_dir=out_dir)
    assert len(set(transport.sent)) == 2


# --- est_client against an RA in manual mode (real HTTP, in a thread) ----------------------------------


@pytest.fixture
def manual_ra_url(hierarchy: Hierarchy) -> Iterator[str]:
    agent_der = hierarchy.agent_der
    ca = AppThread(lambda: create_ca_app(hierarchy.ca, peer_certificate=lambda request: agent_der))
    ca.start()
    assert ca.started.wait(30)

    def make_ra() -> web.Application:
        backend = DogtagRABackend(ca.url, profile="estServiceCert", ssl_context=None, timeout_s=5)
        config = AuthorizerConfig(EST_ROLE, False, hierarchy.algorithm, True, True, DEFAULT_LAB_RESERVED)
        users = [RealmUser(EST_USER, EST_PASSWORD, frozenset({EST_ROLE}))]
        authorizer = Authorizer(config, users, hierarchy.intermediate)
        return create_ra_app(
            backend, authorizer, peer_certificate=lambda request: None, manual_approval=ManualApproval(backend, 3)
        )

    ra = AppThread(make_ra)
    ra.start()
    assert ra.started.wait(30)
    yield ra.url
    ra.stop()
    ca.stop()


def test_est_client_gets_202_then_the_certificate_once_approved(hierarchy: Hierarchy, manual_ra_url: str) -> None:
    csr = _csr(hierarchy, _name())
    with ESTClient(manual_ra_url, ssl_context=ssl.create_default_context(), auth=(EST_USER, EST_PASSWORD)) as client:
        with pytest.raises(PendingApproval) as caught:
            client.simpleenroll(csr)
        assert caught.value.retry_after_s == 3
        assert caught.value.request_id is not None
        request_id = int(caught.value.request_id, 16)
        hierarchy.ca.approve(request_id, INSTALLER)
        certificate = client.simpleenroll(csr)
        assert certificate.serial_number == hierarchy.ca.get_request(request_id).serial
        assert client.simpleenroll(csr).serial_number == certificate.serial_number


# --- what est-enroll says while it waits ---------------------------------------------------------------


def test_est_enroll_says_each_wait_and_names_this_labs_approve_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wait = _approval_wait(Context(None, tmp_path), "ecc", 60)
    wait.on_pending(_pending("0x1f", "5"), 5.0, 59.2)
    assert capsys.readouterr().err == (
        "labctl: pending approval at the CA (request 0x1f), retrying in 5 s (waiting up to 60 s more)\n"
    )
    assert wait.approve_command("0x1f") == f"labctl --state-dir {tmp_path} approve 0x1f --pki-type ecc"
    assert wait.wait_s == 60
