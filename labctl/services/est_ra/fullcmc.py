"""EST fullcmc (RFC 7030 section 4.3): a CMC Full PKI Request in, a Full PKI Response out.

What Dogtag EST forwards to its CA's CMC profile (backend.conf `fullcmc.profile`), this RA checks
itself (labctl/pki/cmc.py) and enrolls the PKCS#10 inside through the same backend, authentication
and name policy as simpleenroll.

Errors: no CMC message at all (not base64/DER, not CMS SignedData), a wrong Content-Type and failed
HTTP authentication are plain `<status> <reason>`; every refusal of a CMC message is a 4xx (or 5xx)
carrying a CMC failure response (RFC 7030 section 4.3.2: "A CMC response with the Content-Type of
application/pkcs7-mime MUST be included in the response data for any CMC error response").

Who signs the responses: Dogtag's CA signs them with its signing key. Here the RA holds no CA key
(`labctl verify` checks that it does not), so it signs with its own TLS server key and certificate,
which chain to the same hierarchy and which the client has just authenticated in TLS. RFC 5272 has a
Full PKI Response "signed by the CA or an LRA" (section 2.2, figure 2), and leaves a response
unsigned only when the server cannot sign (section 3.2.1.3.4).
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from labctl.errors import PKIError, ServiceError
from labctl.pki.cmc import (
    CMCFailure,
    Echo,
    FailInfo,
    FullPKIRequest,
    build_full_pki_response,
    parse_full_pki_request,
)
from labctl.pki.issue import load_pem_certificates
from labctl.pki.keys import PrivateKey, read_private_key
from labctl.pki.pkcs7 import wrap_base64
from labctl.services.est_ra.authz import Authorizer, Principal
from labctl.services.est_ra.backend import CABackend
from labctl.services.http import error_headers, read_body

log = logging.getLogger(__name__)

CMC_RESPONSE_TYPE = "application/pkcs7-mime; smime-type=CMC-response"
_REQUEST_SMIME_TYPE = "cmc-request"


@dataclass(frozen=True, slots=True)
class CMCSigner:
    """The key and certificate that sign this RA's Full PKI Responses (its TLS server credential)."""

    key: PrivateKey
    certificate: x509.Certificate

    @classmethod
    def from_files(cls, cert_file: Path, key_file: Path) -> CMCSigner:
        return cls(read_private_key(key_file), load_pem_certificates(cert_file.read_bytes())[0])


def _fail_info(status: int) -> FailInfo:
    """The CMCFailInfo for a refusal the RA's shared checks raised as an HTTP status."""
    if status == 503:
        return FailInfo.TRY_LATER
    if status >= 500:
        return FailInfo.INTERNAL_CA_ERROR
    return FailInfo.BAD_REQUEST


def check_content_type(header: str | None) -> None:
    """RFC 7030 section 4.3.1: application/pkcs7-mime; an smime-type, when given, must be CMC-request."""
    media, *params = (part.strip() for part in (header or "").split(";"))
    smime = {k.strip().lower(): v.strip().strip('"').lower() for k, _, v in (p.partition("=") for p in params)}
    if media.lower() != "application/pkcs7-mime" or smime.get("smime-type", _REQUEST_SMIME_TYPE) != _REQUEST_SMIME_TYPE:
        got = (header or "none")[:80]
        raise ServiceError(415, f"expected Content-Type application/pkcs7-mime; smime-type=CMC-request, got {got}")


class FullCMC:
    """The fullcmc handler's state: the signer, and the backend it enrolls through."""

    def __init__(self, signer: CMCSigner, backend: CABackend | None = None) -> None:
        self.signer = signer
        self.backend = backend  # None: the RA's own backend (fullcmc.profile is its profile)

    def _response(
        self,
        status: int,
        *,
        body_part_id: int,
        echo: Echo,
        certificate: x509.Certificate | None = None,
        failure: tuple[FailInfo | None, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        der = build_full_pki_response(
            key=self.signer.key,
            signer=self.signer.certificate,
            body_part_id=body_part_id,
            echo=echo,
            certificates=[certificate] if certificate is not None else [],
            failure=failure,
        )
        return web.Response(
            status=status,
            body=wrap_base64(der),
            headers={"Content-Type": CMC_RESPONSE_TYPE, "Content-Transfer-Encoding": "base64", **(headers or {})},
        )

    async def handle(
        self,
        request: web.Request,
        principal: Principal,
        authorizer: Authorizer,
        backend: CABackend,
    ) -> web.Response:
        """Read, check and enroll one Full PKI Request; `principal` is already authenticated as for simpleenroll."""
        body = await read_body(request)
        if not body.strip():
            raise ServiceError(400, "empty request body: expected a base64 CMC Full PKI Request")
        try:
            cmc = parse_full_pki_request(body)
        except CMCFailure as failure:
            log.info("fullcmc for %s refused: %s", principal.name, failure.reason)
            # noSupport is 501, as Dogtag's ESTFrontend maps it; every other CMC failure here is the client's.
            return self._response(
                400 if failure.fail_info is not None else 501,
                body_part_id=failure.body_part_id,
                echo=Echo(),
                failure=(failure.fail_info, failure.reason),
            )
        except PKIError as exc:
            raise ServiceError(400, str(exc)) from exc
        try:
            certificate = await self._enroll(request, cmc, principal, authorizer, backend)
        except CMCFailure as failure:
            log.info("fullcmc for %s refused: %s", principal.name, failure.reason)
            return self._response(
                403, body_part_id=cmc.body_part_id, echo=cmc.echo, failure=(failure.fail_info, failure.reason)
            )
        except ServiceError as exc:
            log.info("fullcmc for %s refused: %d %s", principal.name, exc.status, exc.reason)
            return self._response(
                exc.status,
                body_part_id=cmc.body_part_id,
                echo=cmc.echo,
                failure=(_fail_info(exc.status), exc.reason),
                headers=error_headers(exc),  # Retry-After when the CA is unreachable
            )
        log.info(
            "fullcmc for %s: issued 0x%x %s",
            principal.name,
            certificate.serial_number,
            certificate.subject.rfc4514_string(),
        )
        return self._response(200, body_part_id=cmc.body_part_id, echo=cmc.echo, certificate=certificate)

    async def _enroll(
        self,
        request: web.Request,
        cmc: FullPKIRequest,
        principal: Principal,
        authorizer: Authorizer,
        backend: CABackend,
    ) -> x509.Certificate:
        """simpleenroll's checks on the CSR inside, then the CA; ServiceError or CMCFailure when refused."""
        if cmc.signer is not None:
            await self._check_signer(cmc.signer, authorizer, backend)
        authorizer.check_csr_policy(cmc.csr)
        authorizer.check_names(cmc.csr)
        authorizer.check_enroll(principal, cmc.csr)
        await authorizer.authorize(
            "fullcmc", principal, cmc.csr, remote_addr=request.remote or "", label=request.match_info.get("label")
        )
        csr_b64 = base64.b64encode(cmc.csr.public_bytes(serialization.Encoding.DER)).decode("ascii")
        return await (self.backend or backend).enroll(csr_b64)

    @staticmethod
    async def _check_signer(signer: x509.Certificate, authorizer: Authorizer, backend: CABackend) -> None:
        """RFC 5272 section 3.2: a request signed with "a previously certified signature key" rather than its
        own; here one the RA trusts: a current certificate of this hierarchy that the CA has not revoked."""
        try:
            authorizer.check_certificate(signer)
        except ServiceError as exc:
            raise CMCFailure(FailInfo.BAD_IDENTITY, f"CMC signer: {exc.reason}") from exc
        status = await backend.certificate_status(signer.serial_number)
        if status != "VALID":
            raise CMCFailure(
                FailInfo.BAD_IDENTITY, f"CMC signer certificate 0x{signer.serial_number:x} is {status.lower()}"
            )
