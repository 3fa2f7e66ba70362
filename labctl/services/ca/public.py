"""The CA's plain-HTTP port: Dogtag's "unsecure" connector (8080 in a Dogtag instance), for what relying
parties fetch without TLS and without authentication.

Served here, and nothing else (any other path is a 404; no handler reads a client certificate or a body):
- GET /ca/ee/ca/getCRL?op=getCRL&crlIssuingPoint=MasterCRL: the full CRL, DER (the CRL distribution point);
- GET /ca/ee/ca/getCAChain?op=downloadBIN: the CA chain as a certs-only CMS message (AIA caIssuers);
- the OCSP responder at /ca/ocsp (AIA ocsp), added through PUBLIC_ROUTES.
The URLs come from labctl.pki.distribution, which also writes them into the certificates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aiohttp import web

from labctl.errors import ServiceError
from labctl.pki.distribution import CA_ISSUERS_PATH, CRL_PATH, MASTER_CRL
from labctl.pki.pkcs7 import certs_only_der
from labctl.services.ca.authority import IntermediateCA
from labctl.services.ca.ocsp import add_ocsp_routes
from labctl.services.http import MAX_BODY, error_middleware, text_error

PUBLIC_AUTHORITY = web.AppKey("public_authority", IntermediateCA)
# Nothing here takes a body but OCSP's POST: a request of one certificate ID is well under a kilobyte.
MAX_PUBLIC_BODY = 16 * 1024

# Routes another module serves on this port: each is given the app and the CA, and adds its routes.
PublicRoutes = Callable[[web.Application, IntermediateCA], None]
# The OCSP responder (/ca/ocsp, GET and POST): Dogtag's CA answers OCSP on its plain port too.
PUBLIC_ROUTES: tuple[PublicRoutes, ...] = (add_ocsp_routes,)


def create_public_app(authority: IntermediateCA, *, extra: Sequence[PublicRoutes] = PUBLIC_ROUTES) -> web.Application:
    """The plain-HTTP app: read-only, anonymous; errors as `<status> <reason>` text."""
    app = web.Application(middlewares=[error_middleware(text_error)], client_max_size=MAX_PUBLIC_BODY)
    app[PUBLIC_AUTHORITY] = authority
    app[MAX_BODY] = MAX_PUBLIC_BODY
    app.add_routes([web.get(CRL_PATH, get_crl), web.get(CA_ISSUERS_PATH, get_ca_chain)])
    for add_routes in extra:
        add_routes(app, authority)
    return app


def _query(request: web.Request, name: str, expected: str, *, status: int) -> None:
    """Dogtag's servlets take their operation from the query; only the one the published URL names is served."""
    value = request.query.get(name)
    if value != expected:
        seen = "missing" if value is None else repr(value)
        raise ServiceError(status, f"{name} must be {expected} ({seen})")


async def get_crl(request: web.Request) -> web.Response:
    """GetCRL.java's op=getCRL for the one issuing point, MasterCRL.

    As DER with application/pkix-crl (RFC 2585 section 4.2; Dogtag answers application/octet-stream),
    refreshed on every revocation (IntermediateCA.crl_der).
    """
    _query(request, "op", "getCRL", status=400)
    _query(request, "crlIssuingPoint", MASTER_CRL, status=404)
    der = request.app[PUBLIC_AUTHORITY].crl_der()
    headers = {"Content-Disposition": f"attachment; filename={MASTER_CRL}.crl"}
    return web.Response(body=der, content_type="application/pkix-crl", headers=headers)


async def get_ca_chain(request: web.Request) -> web.Response:
    """GetCAChain.java's op=downloadBIN: the CA chain (Intermediate, root) as a certs-only CMS message.

    RFC 5280 section 4.2.2.1: an HTTP caIssuers URI points at one DER certificate or a "certs-only" CMS
    message, served as application/pkcs7-mime (Dogtag answers application/octet-stream, file ca.p7c).
    """
    _query(request, "op", "downloadBIN", status=400)
    der = certs_only_der(request.app[PUBLIC_AUTHORITY].chain)
    headers = {"Content-Disposition": "attachment; filename=ca.p7c"}
    return web.Response(body=der, content_type="application/pkcs7-mime", headers=headers)
