"""`labctl verify`'s checks for a hierarchy in manual approval mode (RFC 7030 section 4.2.3):

enroll-pending   simpleenroll is answered 202 with Retry-After, naming the CA's request
agent-approve    the lab admin, as CA agent, reviews and approves that request
pending-issued   the repeated request gets the certificate; a further repeat gets the same serial
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Protocol

from cryptography import x509

from labctl import dogtag
from labctl.ca_client import CAClient
from labctl.endpoint import Endpoint
from labctl.errors import LabctlError, PKIError
from labctl.est_client import ESTClient
from labctl.pending import PendingApproval
from labctl.pki.issue import build_csr, common_name_subject
from labctl.pki.keys import generate_private_key


class CheckRunner(Protocol):
    """verify's _Checks: runs a named check, recording its result."""

    def run(self, name: str, body: Callable[[], None]) -> bool: ...

    def skip(self, name: str, reason: str) -> None: ...


class ApprovalCheckFailed(LabctlError):
    """One of these checks saw something else than it expected."""


class ManualFlow:
    """One device's enrollment through the approval flow; its key, CSR and (once issued) certificate."""

    def __init__(
        self,
        endpoint: Endpoint,
        context: ssl.SSLContext,
        credentials: tuple[str, str],
        common_name: str,
        admin: Callable[[], CAClient] | None,
    ) -> None:
        self._endpoint = endpoint
        self._context = context
        self._credentials = credentials
        self._admin = admin
        self.key = generate_private_key(endpoint.hierarchy.algorithm)
        self.csr = build_csr(self.key, common_name_subject(common_name), [common_name])
        self.request_id: int | None = None
        self.certificate: x509.Certificate | None = None

    def run(self, checks: CheckRunner) -> None:
        if not checks.run("enroll-pending", self._enroll_pending):
            return
        if self._admin is None:
            checks.skip("agent-approve", "no lab admin credential")
            checks.skip("pending-issued", "no lab admin credential")
            return
        if checks.run("agent-approve", self._agent_approve):
            checks.run("pending-issued", self._pending_issued)

    def approving(self, call: Callable[[], x509.Certificate]) -> x509.Certificate:
        """`call`; when the RA holds it (202), the lab admin approves it and `call` is repeated once."""
        try:
            return call()
        except PendingApproval as pending:
            if self._admin is None or pending.request_id is None:
                raise
            self._approve(_request_id(pending))
            return call()

    def _client(self) -> ESTClient:
        return ESTClient(self._endpoint.ra_url, ssl_context=self._context, auth=self._credentials)

    def _enroll_pending(self) -> None:
        with self._client() as client:
            try:
                client.simpleenroll(self.csr)
            except PendingApproval as pending:
                self.request_id = _request_id(pending)
                return
        raise ApprovalCheckFailed("expected 202 pending approval, got a certificate at once")

    def _agent_approve(self) -> None:
        assert self.request_id is not None
        self._approve(self.request_id)

    def _approve(self, request_id: int) -> None:
        assert self._admin is not None
        with self._admin() as ca:
            review = ca.review(request_id)
            status = review.get("requestStatus")
            if status != "pending":
                raise ApprovalCheckFailed(f"request {dogtag.format_id(request_id)} is {status}, not pending")
            ca.decide(request_id, review, "approve")

    def _pending_issued(self) -> None:
        with self._client() as client:
            certificate = client.simpleenroll(self.csr)
            again = client.simpleenroll(self.csr)
        if again.serial_number != certificate.serial_number:
            raise ApprovalCheckFailed(
                f"a further repeat got another certificate ({again.serial_number:#x}, first {certificate.serial_number:#x})"
            )
        self.certificate = certificate


def _request_id(pending: PendingApproval) -> int:
    if pending.request_id is None:
        raise ApprovalCheckFailed(f"the 202 names no request: {pending}")
    try:
        return dogtag.parse_id(pending.request_id)
    except PKIError as exc:
        raise ApprovalCheckFailed(f"the 202 names no usable request: {exc}") from exc
