"""The CA's OCSP responder, anonymous, where Dogtag's CA serves its own: /ca/ocsp.

POST /ca/ocsp with an application/ocsp-request body, or GET /ca/ocsp/{url-encoded base64 request}
(RFC 6960 Appendix A.1, RFC 5019 §5); the answer is application/ocsp-response. Every answer is made
from the CA's database, so a revocation shows in the next one. OCSP-level failures (malformedRequest,
unauthorized, tryLater) are OCSP responses with HTTP 200: a client reads the OCSP status only in a
200 answer (openssl's OCSP_sendreq_nbio refuses any other). HTTP errors are for what is not an OCSP
exchange at all: 415 for another content type, 413 for a body over MAX_REQUEST_BYTES. A GET's
request line is bounded by aiohttp (8190 bytes: 400 before any handler runs); RFC 5019 §5 has
clients POST anything over 255 bytes anyway.

`add_ocsp_routes(app, authority)` serves it from any aiohttp app (the HTTPS API, a plain-HTTP listener).
"""

from __future__ import annotations

import base64
import binascii
import logging
from urllib.parse import unquote

from aiohttp import web
from cryptography.x509 import ocsp as x509_ocsp

from labctl.errors import ServiceError
from labctl.pki import ocsp
from labctl.services.ca.authority import IntermediateCA, RevocationReason
from labctl.services.ca.store import CertStatus
from labctl.services.http import read_body

log = logging.getLogger(__name__)

OCSP_PATH = "/ca/ocsp"
REQUEST_TYPE = "application/ocsp-request"
RESPONSE_TYPE = "application/ocsp-response"
OCSP_AUTHORITY = web.AppKey("ocsp_authority", IntermediateCA)


def add_ocsp_routes(app: web.Application, authority: IntermediateCA) -> None:
    """Serve OCSP for `authority` at /ca/ocsp (POST) and /ca/ocsp/{request} (GET) on `app`."""
    app[OCSP_AUTHORITY] = authority
    app.add_routes(
        [
            web.post(OCSP_PATH, ocsp_post),
            # aiohttp matches the decoded path; the handler reads the raw one (base64 may hold "/" or "%2F").
            web.get(OCSP_PATH + "/{request:.+}", ocsp_get),
        ]
    )


async def ocsp_post(request: web.Request) -> web.Response:
    if request.content_type != REQUEST_TYPE:
        raise ServiceError(415, f"expected {REQUEST_TYPE}, got {request.content_type or 'no content type'}")
    if request.content_length is not None and request.content_length > ocsp.MAX_REQUEST_BYTES:
        raise ServiceError(413, f"OCSP request over {ocsp.MAX_REQUEST_BYTES} bytes")
    body = await read_body(request)
    if len(body) > ocsp.MAX_REQUEST_BYTES:
        raise ServiceError(413, f"OCSP request over {ocsp.MAX_REQUEST_BYTES} bytes")
    return _answer(request, body)


async def ocsp_get(request: web.Request) -> web.Response:
    encoded = unquote(request.raw_path.split("?", 1)[0].split(OCSP_PATH + "/", 1)[1])
    try:
        der = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        log.info("OCSP GET with a path that is not base64: malformedRequest")
        return _response(ocsp.unsuccessful(x509_ocsp.OCSPResponseStatus.MALFORMED_REQUEST))
    return _answer(request, der)


def _answer(request: web.Request, der: bytes) -> web.Response:
    authority = request.app[OCSP_AUTHORITY]
    authority.try_install()
    try:
        issuer = authority.issuer
    except ServiceError:
        # Not installed yet: RFC 6960 §2.3 tryLater ("temporarily unable to respond").
        return _response(ocsp.unsuccessful(x509_ocsp.OCSPResponseStatus.TRY_LATER))
    return _response(ocsp.respond(der, issuer, lambda serial: certificate_status(authority, serial)))


def certificate_status(authority: IntermediateCA, serial: int) -> ocsp.CertStatus:
    """What the CA's database says of `serial`: unknown when this CA never issued it (RFC 6960 §2.2)."""
    record = authority.store.get_certificate(serial)
    if record is None:
        return ocsp.UNKNOWN
    if record.status is CertStatus.REVOKED and record.revoked_at is not None:
        reason = RevocationReason[record.revocation_reason or "Unspecified"].flag
        return ocsp.CertStatus(ocsp.Status.REVOKED, record.revoked_at, reason)
    return ocsp.GOOD


def _response(der: bytes) -> web.Response:
    return web.Response(body=der, content_type=RESPONSE_TYPE)
