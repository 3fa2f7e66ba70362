"""What an Intermediate CA publishes on its plain-HTTP port, fetched as a relying party does: from the CRL
distribution point and AIA URLs of a certificate it issued (labctl.pki.distribution writes them).

`labctl verify` runs these as `crl-dp-answers` and `aia-answers`, on the host (the CA reached at the
lab's published address, the URL's port and path kept: the host may lack the hosts block) or inside
the hierarchy's network (the URL as written).
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from labctl.errors import LabctlError, PKIError
from labctl.pki.distribution import certificate_urls, reached_at
from labctl.pki.pkcs7 import load_certs_only
from labctl.pki.signatures import crl_signed_by

TIMEOUT_S = 10.0
OCSP_REQUEST = "application/ocsp-request"


def fetch(url: str, *, host: str | None, body: bytes | None = None, content_type: str = "") -> httpx.Response:
    """GET (or POST `body`) a CA URL, at `host` instead of the URL's own when given.

    Raises:
        LabctlError: no HTTP answer ("<url>: <why>").
    """
    target = url if host is None else reached_at(url, host)
    try:
        with httpx.Client(timeout=TIMEOUT_S, follow_redirects=False) as client:
            if body is None:
                return client.get(target)
            return client.post(target, content=body, headers={"Content-Type": content_type})
    except httpx.HTTPError as exc:
        raise LabctlError(f"{target}: {type(exc).__name__}: {exc}") from exc


def _one(urls: tuple[str, ...], what: str) -> str:
    if len(urls) != 1:
        raise LabctlError(f"the certificate carries {len(urls)} {what} URLs, not 1")
    return urls[0]


def _ok(response: httpx.Response, content_type: str) -> bytes:
    if response.status_code != 200:
        raise LabctlError(f"{response.request.url} answered {response.status_code}: {response.text.strip()[:200]}")
    got = response.headers.get("Content-Type", "")
    if got.split(";")[0].strip() != content_type:
        raise LabctlError(f"{response.request.url} answered {got or 'no Content-Type'}, not {content_type}")
    return response.content


def check_crl_dp(
    certificate: x509.Certificate, issuer: x509.Certificate, *, host: str | None, revoked: int | None = None
) -> None:
    """The certificate's CRL distribution point answers a current CRL signed by `issuer` (listing `revoked`).

    Raises:
        LabctlError: naming the URL and what was wrong.
    """
    url = _one(certificate_urls(certificate).crl, "CRL distribution point")
    der = _ok(fetch(url, host=host), "application/pkix-crl")
    try:
        crl = x509.load_der_x509_crl(der)
    except ValueError as exc:
        raise PKIError(f"{url} answered no DER CRL: {exc}") from exc
    crl_signed_by(crl, issuer)
    next_update = crl.next_update_utc
    if next_update is None or next_update <= datetime.now(UTC):
        raise LabctlError(f"the CRL from {url} has no nextUpdate in the future ({next_update})")
    if revoked is not None and crl.get_revoked_certificate_by_serial_number(revoked) is None:
        raise LabctlError(f"the CRL from {url} does not list revoked certificate 0x{revoked:x}")


def check_aia(certificate: x509.Certificate, issuer: x509.Certificate, *, host: str | None) -> None:
    """The certificate's AIA caIssuers URL answers its issuer; its OCSP URL answers over HTTP.

    Raises:
        LabctlError: naming the URL and what was wrong.
    """
    urls = certificate_urls(certificate)
    ca_issuers = _one(urls.ca_issuers, "AIA caIssuers")
    # RFC 5280 section 4.2.2.1: a certs-only CMS message as application/pkcs7-mime (or one DER certificate).
    served = load_certs_only(_ok(fetch(ca_issuers, host=host), "application/pkcs7-mime"))
    if issuer not in served:
        raise LabctlError(f"{ca_issuers} does not hold the issuer {issuer.subject.rfc4514_string()}")
    _check_ocsp(_one(urls.ocsp, "AIA OCSP"), certificate, issuer, host=host)


def _check_ocsp(url: str, certificate: x509.Certificate, issuer: x509.Certificate, *, host: str | None) -> None:
    """RFC 6960 appendix A.1: an OCSP request POSTed as application/ocsp-request; its CertID hashed with
    SHA-1, which every responder answers (RFC 5019 section 2.1.1).

    The answer must be a successful application/ocsp-response for the certificate.
    """
    request = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, hashes.SHA1()).build()
    response = fetch(url, host=host, body=request.public_bytes(serialization.Encoding.DER), content_type=OCSP_REQUEST)
    _ok(response, "application/ocsp-response")
    try:
        answer = ocsp.load_der_ocsp_response(response.content)
    except ValueError as exc:
        raise PKIError(f"{url} answered no OCSP response: {exc}") from exc
    if answer.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise LabctlError(f"{url} answered {answer.response_status.name}")
    if answer.serial_number != certificate.serial_number:
        raise LabctlError(f"{url} answered for 0x{answer.serial_number:x}, not 0x{certificate.serial_number:x}")
