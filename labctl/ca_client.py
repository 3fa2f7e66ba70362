"""Host-side client of an Intermediate CA's REST API (Dogtag paths), on httpx.

Used by labctl to bootstrap a hierarchy (issue the RA's TLS and agent certificates with the lab
admin credential), and by the revocation tooling. httpx errors become CAError here, once.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from labctl import dogtag
from labctl.errors import CAError, PKIError
from labctl.pki.issue import certificate_sans, general_names_for, load_der_certificate, load_pem_certificates
from labctl.pki.signatures import issued_by


def ca_ssl_context(
    trust_file: Path | None, *, cert: Path | None = None, key: Path | None = None, unrated_signatures: bool = False
) -> ssl.SSLContext:
    """Verify the CA against the hierarchy's chain; None trusts nothing and checks nothing (status polling,
    or a `peer_check` that verifies the server with cryptography instead).

    `unrated_signatures`: OpenSSL before 3.5 cannot rate an ML-DSA signature's strength and refuses to load a
    certificate signed with one ("ca md too weak") at the default security level; level 0 lets it load the
    RSA admin credential a PQ CA issued. Only with trust_file None, where cryptography checks the chain.
    """
    if trust_file is None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if unrated_signatures:
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
    else:
        context = ssl.create_default_context(cafile=str(trust_file))
    if cert is not None and key is not None:
        context.load_cert_chain(cert, key)
    return context


PeerCheck = Callable[[bytes], None]
STATUS_PATH = "/ca/admin/ca/getStatus"


@dataclass(frozen=True, slots=True)
class CAStatus:
    """getStatus's answer: `status` is awaiting-certificate, install-failed, starting or running;
    `counts` (certificates per status, and PENDING_REQUESTS) is empty until the CA runs."""

    status: str
    counts: Mapping[str, int]


def parse_status(body: object, *, source: str = STATUS_PATH) -> CAStatus:
    """Read getStatus's JSON: {"Response": {"Status": str, "Counts": {str: int} (optional), ...}}.

    Raises:
        CAError: "<source>: <the field that is missing or of the wrong type>".
    """
    response = body.get("Response") if isinstance(body, dict) else None
    if not isinstance(response, dict):
        raise CAError(f"{source}: the answer has no Response object")
    status = response.get("Status")
    if not isinstance(status, str):
        raise CAError(f"{source}: Response.Status is {status!r}, not a string")
    # Counts is the lab CA's addition (labctl/services/ca/app.py get_status), sent once it runs.
    counts = response.get("Counts", {})
    if not isinstance(counts, dict) or not all(
        isinstance(value, int) and not isinstance(value, bool) for value in counts.values()
    ):
        raise CAError(f"{source}: Response.Counts is not an object of integers: {str(counts)[:100]}")
    return CAStatus(status, MappingProxyType(dict(counts)))


def issued_by_check(issuer: x509.Certificate, hostname: str) -> PeerCheck:
    """Verify the CA's TLS certificate with cryptography, for chains the host's OpenSSL cannot verify
    (an ML-DSA issuer under OpenSSL < 3.5): issued by `issuer`, current, and naming `hostname`."""

    def check(der: bytes) -> None:
        certificate = load_der_certificate(der, what="CA's TLS certificate")
        try:
            issued_by(certificate, issuer)
        except PKIError as exc:
            raise CAError(f"CA's TLS certificate was not issued by {issuer.subject.rfc4514_string()}") from exc
        now = datetime.now(UTC)
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise CAError("CA's TLS certificate is outside its validity period")
        if general_names_for([hostname])[0] not in certificate_sans(certificate):
            raise CAError(f"CA's TLS certificate does not name {hostname}")

    return check


class CAClient:
    def __init__(
        self,
        base_url: str,
        *,
        ssl_context: ssl.SSLContext,
        timeout_s: float = 10.0,
        peer_check: PeerCheck | None = None,
    ) -> None:
        """`peer_check` verifies the server certificate (DER) before any answer is used, where `ssl_context`
        cannot (it then verifies nothing itself)."""
        self.base_url = base_url.rstrip("/")
        self._peer_check = peer_check
        self._http = httpx.Client(base_url=self.base_url, verify=ssl_context, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CAClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _request(self, method: str, path: str, *, json: Any = None, accept: str = "application/json") -> httpx.Response:
        try:
            with self._http.stream(method, path, json=json, headers={"Accept": accept}) as response:
                if self._peer_check is not None:
                    self._peer_check(_peer_der(response))
                response.read()
        except httpx.HTTPError as exc:
            raise CAError(f"CA at {self.base_url} unreachable: {exc}") from exc
        if response.status_code >= 400:
            raise CAError(
                f"CA at {self.base_url}: {method} {path}: {_message(response)}", status_code=response.status_code
            )
        return response

    def status(self) -> CAStatus:
        """getStatus, parsed: CAError when the answer is not JSON or not getStatus's shape."""
        response = self._request("GET", STATUS_PATH)
        try:
            body = response.json()
        except ValueError as exc:  # json.JSONDecodeError, UnicodeDecodeError
            raise CAError(f"CA at {self.base_url}: {STATUS_PATH}: the answer is not JSON: {exc}") from exc
        return parse_status(body, source=f"CA at {self.base_url}: {STATUS_PATH}")

    def enroll(self, csr: x509.CertificateSigningRequest, profile_id: str) -> x509.Certificate:
        """Submit as the calling agent and, when the profile waits for an agent (caServerCert), review and
        approve the request: DogtagRABackend.issueCertificate's steps (dogtagpki/pki
        base/est/src/main/java/org/dogtagpki/est/DogtagRABackend.java). CAError when it is not issued."""
        info = self.submit(csr, profile_id)
        if info.status == "pending" and not info.error:
            self.decide(info.request_id, self.review(info.request_id), "approve")
            info = self.request_info(info.request_id)
        if info.status != "complete" or info.cert_id is None:
            raise CAError(f"CA did not issue request 0x{info.request_id:x}: {info.status} {info.error or ''}".strip())
        return load_pem_certificates(self.certificate(info.cert_id).pem)[0]

    def submit(
        self,
        csr: x509.CertificateSigningRequest,
        profile_id: str,
        *,
        credentials: dict[str, str] | None = None,
        api: str = "v2",
    ) -> dogtag.RequestInfo:
        """Submit an enrollment request and return its state, whatever it is (complete, pending, rejected)."""
        csr_b64 = base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode()
        body = dogtag.enrollment_request(profile_id, csr_b64, credentials=credentials)
        return dogtag.parse_request_infos(self._request("POST", f"/ca/{api}/certrequests", json=body).json())[0]

    def certificate(self, serial: int) -> dogtag.CertInfo:
        return dogtag.parse_cert_data(self._request("GET", f"/ca/v2/certs/{dogtag.format_id(serial)}").json())

    def revoke(self, serial: int, reason: str) -> dogtag.CertInfo:
        self._request(
            "POST", f"/ca/v2/agent/certs/{dogtag.format_id(serial)}/revoke", json=dogtag.revoke_request(reason)
        )
        return self.certificate(serial)

    def unrevoke(self, serial: int) -> dogtag.RequestInfo:
        """POST agent/certs/{id}/unrevoke: the unrevocation's CertRequestInfo; `error` set when the certificate
        was not on hold (Dogtag answers that with 200 too)."""
        response = self._request("POST", f"/ca/v2/agent/certs/{dogtag.format_id(serial)}/unrevoke")
        return dogtag.parse_request_infos(response.json())[0]

    def requests(self, *, status: str | None = None, page_size: int = 1000) -> list[dogtag.RequestInfo]:
        """GET agent/certrequests: enrollment requests, oldest first, optionally in one state (e.g. pending)."""
        query = f"requestType=enrollment&pageSize={page_size}" + (f"&requestState={status}" if status else "")
        return dogtag.parse_request_infos(self._request("GET", f"/ca/v2/agent/certrequests?{query}").json())

    def request_info(self, request_id: int) -> dogtag.RequestInfo:
        """GET certrequests/{id}: the request's state and, once issued, its certificate's ID."""
        return dogtag.parse_request_infos(
            self._request("GET", f"/ca/v2/certrequests/{dogtag.format_id(request_id)}").json()
        )[0]

    def review(self, request_id: int) -> dict[str, Any]:
        """GET agent/certrequests/{id}: the CertReviewResponse, with the nonce approve and reject hand back."""
        body = self._request("GET", f"/ca/v2/agent/certrequests/{dogtag.format_id(request_id)}").json()
        if not isinstance(body, dict):
            raise CAError(f"CA at {self.base_url}: the review of request 0x{request_id:x} is not a JSON object")
        return body

    def decide(self, request_id: int, review: dict[str, Any], action: str) -> None:
        """POST agent/certrequests/{id}/approve or /reject with the review (Dogtag's CertRequestClient)."""
        self._request("POST", f"/ca/v2/agent/certrequests/{dogtag.format_id(request_id)}/{action}", json=review)

    def labctl_events(self, *, after: int, limit: int) -> object:
        """The CA's certificate events after ID `after` (labctl's extension, not Dogtag's), as JSON;
        labctl.event_feed reads it."""
        path = f"/ca/v2/labctl/events?after={after}&limit={limit}"
        try:
            return self._request("GET", path).json()
        except ValueError as exc:  # json.JSONDecodeError, UnicodeDecodeError
            raise CAError(f"CA at {self.base_url}: {path}: the answer is not JSON: {exc}") from exc

    def crl(self) -> x509.CertificateRevocationList:
        der = self._request("GET", "/ca/ee/ca/getCRL?op=getCRL&crlIssuingPoint=MasterCRL", accept="*/*").content
        try:
            return x509.load_der_x509_crl(der)
        except ValueError as exc:
            raise PKIError(f"CA's CRL unreadable: {exc}") from exc

    def ocsp(self, request_der: bytes) -> bytes:
        """POST /ca/ocsp (RFC 6960 Appendix A.1, anonymous): the DER OCSPResponse, whatever its OCSP status."""
        headers = {"Content-Type": "application/ocsp-request", "Accept": "application/ocsp-response"}
        try:
            with self._http.stream("POST", "/ca/ocsp", content=request_der, headers=headers) as response:
                if self._peer_check is not None:
                    self._peer_check(_peer_der(response))
                response.read()
        except httpx.HTTPError as exc:
            raise CAError(f"CA at {self.base_url} unreachable: {exc}") from exc
        if response.status_code != 200:
            raise CAError(
                f"CA at {self.base_url}: POST /ca/ocsp: {_message(response)}", status_code=response.status_code
            )
        return response.content


def _peer_der(response: httpx.Response) -> bytes:
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    der = ssl_object.getpeercert(True) if ssl_object is not None else None  # _SSLSocket: positional only
    if not der:
        raise CAError("no TLS server certificate to check")
    return bytes(der)


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return f"{response.status_code} {response.text.strip()[:200]}"
    if isinstance(data, dict) and "Message" in data:
        return f"{response.status_code} {data['Message']}"
    return f"{response.status_code}"
