"""Manual approval (RFC 7030 section 4.2.3): the RA holds an enrollment at the CA for an agent, answers
202 with Retry-After, and answers the client's repeated request from the CA's request state.

Dogtag's DogtagRABackend submits the request and then, as an agent, reviews and approves it; in manual
mode this RA submits it and stops there, asking the lab CA to leave it pending (dogtag.HOLD_ATTRIBUTE),
as a CA agent decides later (`labctl approve`). The repeated request is recognised by its repeat key,
SHA-256 over the CSR's DER and the authenticated principal, which the CA stores with the request: the
RA keeps no state, so a restarted RA still finds the request, and nothing is ever issued twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from labctl import dogtag
from labctl.errors import ServiceError
from labctl.services.est_ra.authz import Principal
from labctl.services.est_ra.config import DEFAULT_RETRY_AFTER_S


class HeldRequests(Protocol):
    """What manual approval needs of the CA (DogtagRABackend implements it)."""

    async def find_held(self, repeat_key: str) -> dogtag.RequestInfo | None: ...

    async def submit_held(self, csr_b64: str, repeat_key: str) -> dogtag.RequestInfo: ...

    async def issued_certificate(self, info: dogtag.RequestInfo) -> x509.Certificate: ...


@dataclass(frozen=True, slots=True)
class Pending:
    """The request waits for an agent: answer 202 with Retry-After."""

    request_id: int
    retry_after_s: int

    @property
    def reason(self) -> str:
        # est-enroll reads the request ID from this line (labctl/est_client.py).
        return f"pending approval at the CA (request {dogtag.format_id(self.request_id)})"


@dataclass(frozen=True, slots=True)
class ManualApproval:
    requests: HeldRequests
    retry_after_s: int = DEFAULT_RETRY_AFTER_S

    async def enroll(self, csr: x509.CertificateSigningRequest, principal: Principal) -> x509.Certificate | Pending:
        """The certificate once approved, Pending until then.

        Raises:
            ServiceError: 403 when an agent rejected (or canceled) the request, with the CA's reason.
        """
        der = csr.public_bytes(serialization.Encoding.DER)
        key = repeat_key(der, principal)
        # Look first: a repeat after issuance or rejection must not submit again.
        info = await self.requests.find_held(key)
        if info is None:
            info = await self.requests.submit_held(dogtag.b64_single_line(der), key)
        match info.status:
            case "complete":
                return await self.requests.issued_certificate(info)
            case "pending":
                return Pending(info.request_id, self.retry_after_s)
            case "rejected" | "canceled":
                reason = f": {info.error}" if info.error else ""
                raise ServiceError(
                    403, f"request {dogtag.format_id(info.request_id)} was {info.status} at the CA{reason}"
                )
            case other:
                raise ServiceError(502, f"CA answered request {dogtag.format_id(info.request_id)} in state {other!r}")


def repeat_key(csr_der: bytes, principal: Principal) -> str:
    """SHA-256 over the principal and the CSR: the same CSR from another principal is another request."""
    who = (
        f"cert:{principal.certificate.serial_number:x}"
        if principal.certificate is not None
        else f"user:{principal.name}"
    )
    return hashlib.sha256(who.encode() + b"\0" + csr_der).hexdigest()
