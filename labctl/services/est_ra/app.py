"""The EST endpoints (RFC 7030, with RFC 8951's clarifications) under /.well-known/est/[label/].

Strict in what it sends: HTTP/1.1 with Content-Length, base64 in 64-column LF lines with nothing
after the last (labctl/pki/pkcs7.py says why LF), `Content-Transfer-Encoding: base64`, exact content
types, one certificate per enrollment answer. Liberal in what it accepts: base64 wrapped or not, LF
or CRLF, PEM armour, DER, with or without Content-Transfer-Encoding, chunked request bodies.
"""

from __future__ import annotations

import base64
import logging

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from labctl.errors import PKIError, ServiceError
from labctl.pki.csrattrs import CsrAttribute, CsrAttrs, encode_csrattrs
from labctl.pki.issue import load_csr
from labctl.pki.keys import KeyAlgorithm, algorithm_of
from labctl.pki.pkcs7 import certs_only_base64, wrap_base64
from labctl.services.est_ra.approval import ManualApproval, Pending
from labctl.services.est_ra.authz import Authorizer, Principal
from labctl.services.est_ra.backend import CABackend
from labctl.services.est_ra.fullcmc import FullCMC, check_content_type
from labctl.services.est_ra.serverkeygen import generate_and_enroll, key_delivery, serverkeygen_response
from labctl.services.http import (
    MAX_BODY,
    PeerCertificate,
    error_middleware,
    read_body,
    text_error,
    tls_peer_certificate,
)

log = logging.getLogger(__name__)

CACERTS_TYPE = "application/pkcs7-mime"
ENROLL_TYPE = "application/pkcs7-mime; smime-type=certs-only"
CSRATTRS_TYPE = "application/csrattrs"
OPERATIONS = {
    "cacerts": "GET",
    "csrattrs": "GET",
    "simpleenroll": "POST",
    "simplereenroll": "POST",
    "serverkeygen": "POST",
    "fullcmc": "POST",
}

BACKEND: web.AppKey[CABackend] = web.AppKey("backend")
AUTHORIZER: web.AppKey[Authorizer] = web.AppKey("authorizer")
PEER: web.AppKey[PeerCertificate] = web.AppKey("peer_certificate")
LABEL: web.AppKey[str | None] = web.AppKey("label")
CSRATTRS: web.AppKey[bytes | None] = web.AppKey("csrattrs")
SERVER_KEY_ALGORITHM: web.AppKey[KeyAlgorithm | None] = web.AppKey("server_key_algorithm")
APPROVAL: web.AppKey[ManualApproval | None] = web.AppKey("approval")
FULLCMC: web.AppKey[FullCMC | None] = web.AppKey("fullcmc")

# What each hierarchy asks for in csrattrs (RFC 7030 section 4.5.2): its signature algorithm, and for EC the curve.
_CSR_ATTRIBUTES = {
    # sha384WithRSAEncryption, and rsaEncryption: the key serverkeygen makes (RFC 7030 section 4.4)
    KeyAlgorithm.RSA_4096: CsrAttrs(oids=("1.2.840.113549.1.1.12", "1.2.840.113549.1.1.1")),
    KeyAlgorithm.EC_P384: CsrAttrs(
        oids=("1.2.840.10045.4.3.3",),  # ecdsa-with-SHA384
        attributes=(CsrAttribute("1.2.840.10045.2.1", ("1.3.132.0.34",)),),  # id-ecPublicKey: secp384r1
    ),
    KeyAlgorithm.ML_DSA_87: CsrAttrs(oids=("2.16.840.1.101.3.4.3.19",)),  # id-ml-dsa-87
}


def csr_attributes_for(algorithm: KeyAlgorithm) -> CsrAttrs:
    return _CSR_ATTRIBUTES[algorithm]


def create_app(
    backend: CABackend,
    authorizer: Authorizer,
    *,
    label: str | None = None,
    max_body: int = 64 * 1024,
    peer_certificate: PeerCertificate = tls_peer_certificate,
    manual_approval: ManualApproval | None = None,
    fullcmc: FullCMC | None = None,
) -> web.Application:
    """The RA's aiohttp application. `peer_certificate` is the seam in-process tests use for TLS client auth;
    `manual_approval` holds enrollments for a CA agent (backend.conf approval=manual); without `fullcmc`
    (its response signer) /fullcmc answers 501."""
    app = web.Application(middlewares=[error_middleware(text_error)], client_max_size=max_body)
    app[BACKEND] = backend
    app[AUTHORIZER] = authorizer
    app[PEER] = peer_certificate
    app[LABEL] = label
    app[MAX_BODY] = max_body
    app[APPROVAL] = manual_approval
    app[FULLCMC] = fullcmc
    algorithm = authorizer.config.key_algorithm
    app[CSRATTRS] = None if algorithm is None else encode_csrattrs(csr_attributes_for(algorithm))
    # serverkeygen makes keys of the hierarchy's algorithm; without keyAlgorithm, of its CA's.
    app[SERVER_KEY_ALGORITHM] = algorithm or algorithm_of(authorizer.issuer.public_key())
    app.router.add_route("*", "/.well-known/est/{operation}", dispatch)
    app.router.add_route("*", "/.well-known/est/{label}/{operation}", dispatch)

    async def close_backend(app: web.Application) -> None:
        await app[BACKEND].close()
        if fullcmc is not None and fullcmc.backend is not None:
            await fullcmc.backend.close()

    app.on_cleanup.append(close_backend)
    return app


async def dispatch(request: web.Request) -> web.Response:
    label = request.match_info.get("label")
    if label is not None and label != request.app[LABEL]:
        raise ServiceError(404, f"unknown CA label {label[:64]!r}")
    operation = request.match_info["operation"]
    method = OPERATIONS.get(operation)
    if method is None:
        raise ServiceError(404, f"unknown EST operation {operation[:64]!r}")
    if request.method != method:
        raise ServiceError(405, f"{operation} takes {method}, not {request.method[:16]}", allow=method)
    handler = {
        "cacerts": cacerts,
        "csrattrs": csrattrs,
        "simpleenroll": simpleenroll,
        "simplereenroll": simplereenroll,
        "serverkeygen": serverkeygen,
        "fullcmc": fullcmc,
    }
    return await handler[operation](request)


def _base64_response(der_b64: bytes, content_type: str) -> web.Response:
    return web.Response(
        body=der_b64,
        headers={"Content-Type": content_type, "Content-Transfer-Encoding": "base64"},
    )


async def cacerts(request: web.Request) -> web.Response:
    """RFC 7030 section 4.1: the CA chain, root included, as a certs-only PKCS#7; anonymous."""
    chain = await request.app[BACKEND].cacerts()
    return _base64_response(certs_only_base64(chain), CACERTS_TYPE)


async def csrattrs(request: web.Request) -> web.Response:
    """RFC 7030 section 4.5: what this hierarchy wants in a CSR; anonymous.

    Without keyAlgorithm (Dogtag's authorizer.conf) nothing is asked for: 204, as section 4.5.2 allows.
    """
    attributes = request.app[CSRATTRS]
    if attributes is None:
        return web.Response(status=204)
    return _base64_response(wrap_base64(attributes), CSRATTRS_TYPE)


async def simpleenroll(request: web.Request) -> web.Response:
    authorizer = request.app[AUTHORIZER]
    principal = authorizer.authenticate_enroll(request.headers.get("Authorization"), request.app[PEER](request))
    if principal.certificate is not None:
        await _require_not_revoked(request, principal)
    csr = await _read_csr(request)
    authorizer.check_csr_policy(csr)
    authorizer.check_names(csr)
    authorizer.check_enroll(principal, csr)
    await authorizer.authorize(
        "simpleenroll", principal, csr, remote_addr=request.remote or "", label=request.match_info.get("label")
    )
    return await _enroll(request, csr, principal, "simpleenroll")


async def simplereenroll(request: web.Request) -> web.Response:
    authorizer = request.app[AUTHORIZER]
    principal = authorizer.authenticate_reenroll(request.headers.get("Authorization"), request.app[PEER](request))
    await _require_not_revoked(request, principal)
    csr = await _read_csr(request)
    authorizer.check_csr_policy(csr)
    authorizer.check_names(csr)
    authorizer.check_reenroll(principal, csr)
    await authorizer.authorize(
        "simplereenroll", principal, csr, remote_addr=request.remote or "", label=request.match_info.get("label")
    )
    return await _enroll(request, csr, principal, "simplereenroll")


async def serverkeygen(request: web.Request) -> web.Response:
    """RFC 7030 section 4.4: simpleenroll's authentication and name policy, the key made here
    (labctl/services/est_ra/serverkeygen.py). The CSR's own key is ignored (section 4.4.1), so the
    hierarchy's key policy applies to the key the RA makes, not to it."""
    authorizer = request.app[AUTHORIZER]
    principal = authorizer.authenticate_enroll(request.headers.get("Authorization"), request.app[PEER](request))
    if request.app[APPROVAL] is not None:
        # A held request would need the key kept until an agent approves and the client repeats: this RA
        # never stores a key it made, so it offers serverkeygen only where enrollment is issued at once.
        raise ServiceError(501, "serverkeygen is not offered where enrollment waits for an agent (approval=manual)")
    if principal.certificate is not None:
        await _require_not_revoked(request, principal)
    csr = await _read_csr(request)
    delivery = key_delivery(csr, principal)
    authorizer.check_names(csr)
    authorizer.check_enroll(principal, csr)
    await authorizer.authorize(
        "serverkeygen", principal, csr, remote_addr=request.remote or "", label=request.match_info.get("label")
    )
    algorithm = request.app[SERVER_KEY_ALGORITHM]
    if algorithm is None:
        raise ServiceError(501, "serverkeygen: this RA's CA key is of no algorithm labctl generates")
    key, certificate = await generate_and_enroll(request.app[BACKEND], algorithm, csr)
    log.info(
        "serverkeygen for %s: issued 0x%x %s (key made here, %s)",
        principal.name,
        certificate.serial_number,
        certificate.subject.rfc4514_string(),
        "encrypted for the client" if delivery.recipient is not None else "plain PKCS#8 over TLS",
    )
    return serverkeygen_response(key, certificate, delivery)


async def fullcmc(request: web.Request) -> web.Response:
    """RFC 7030 section 4.3: authenticated as simpleenroll; labctl/services/est_ra/fullcmc.py does the rest."""
    service = request.app[FULLCMC]
    if service is None:
        raise ServiceError(501, "fullcmc is not configured on this RA")
    authorizer = request.app[AUTHORIZER]
    principal = authorizer.authenticate_enroll(request.headers.get("Authorization"), request.app[PEER](request))
    if request.app[APPROVAL] is not None:
        # A held request would be a CMC "pending" answer and a later query (RFC 5272 section 6.13), which this
        # RA does not implement; enrolling at once would go round the agent. 501, as Dogtag maps pending.
        raise ServiceError(501, "fullcmc is not offered where enrollment waits for an agent (approval=manual)")
    if principal.certificate is not None:
        await _require_not_revoked(request, principal)
    check_content_type(request.headers.get("Content-Type"))
    return await service.handle(request, principal, authorizer, request.app[BACKEND])


async def _require_not_revoked(request: web.Request, principal: Principal) -> None:
    """Ask the CA, which holds every certificate EST issued, whether the client's is still good."""
    assert principal.certificate is not None
    serial = principal.certificate.serial_number
    status = await request.app[BACKEND].certificate_status(serial)
    if status != "VALID":
        raise ServiceError(403, f"client certificate 0x{serial:x} is {status.lower()} at the CA")


async def _read_csr(request: web.Request) -> x509.CertificateSigningRequest:
    if request.content_type != "application/pkcs10":
        got = request.headers.get("Content-Type", "none")[:64]
        raise ServiceError(415, f"expected Content-Type application/pkcs10, got {got}")
    body = await read_body(request)
    if not body.strip():
        raise ServiceError(400, "empty request body: expected a base64 PKCS#10 CSR")
    try:
        return load_csr(body)
    except PKIError as exc:
        raise ServiceError(400, str(exc)) from exc


async def _enroll(
    request: web.Request, csr: x509.CertificateSigningRequest, principal: Principal, operation: str
) -> web.Response:
    approval = request.app[APPROVAL]
    if approval is not None:
        outcome = await approval.enroll(csr, principal)
        if isinstance(outcome, Pending):
            log.info("%s for %s: %s", operation, principal.name, outcome.reason)
            return _pending_response(outcome)
        # Every repeat after the approval gets this same certificate: "approved", not "issued" again.
        log.info("%s for %s: approved 0x%x", operation, principal.name, outcome.serial_number)
        return _base64_response(certs_only_base64([outcome]), ENROLL_TYPE)
    csr_b64 = base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode("ascii")
    certificate = await request.app[BACKEND].enroll(csr_b64)
    log.info(
        "%s for %s: issued 0x%x %s",
        operation,
        principal.name,
        certificate.serial_number,
        certificate.subject.rfc4514_string(),
    )
    # RFC 7030 section 4.2.3: the answer holds the new certificate only; the chain comes from cacerts.
    return _base64_response(certs_only_base64([certificate]), ENROLL_TYPE)


def _pending_response(pending: Pending) -> web.Response:
    """RFC 7030 section 4.2.3: 202 Accepted with Retry-After; the client repeats the same request later."""
    return web.Response(
        status=202,
        text=f"202 {pending.reason}\n",
        headers={"Retry-After": str(pending.retry_after_s)},
    )
