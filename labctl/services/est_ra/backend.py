"""The RA's way to its CA: the CABackend protocol, and the Dogtag REST client behind it.

Dogtag EST's DogtagRABackend, step by step (dogtagpki/pki
base/est/src/main/java/org/dogtagpki/est/DogtagRABackend.java, issueCertificate): as an agent (TLS
client certificate, HTTP Basic username and password, or both, as backend.conf says) log in, fetch the
profile's enrollment template, submit it filled with the CSR, review and approve the request when the
profile left it pending, read the certificate by its ID. The CA chain for cacerts; a client
certificate's status (a revoked one may not enroll). Failures reaching the CA become 503 with
Retry-After, never a hang: every call has a deadline.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
import ssl
from typing import Any, Protocol

import aiohttp
from cryptography import x509

from labctl import dogtag
from labctl.errors import PKIError, ServiceError
from labctl.pki.issue import load_pem_certificates
from labctl.pki.pkcs7 import load_certs_only

log = logging.getLogger(__name__)

RETRY_AFTER_S = 10
# A stopped CA container answers nothing: not a connect (its address is gone), and not on a kept-alive
# connection either (no RST from a namespace that no longer exists), so without a bound the RA would
# wait out backend.conf's whole timeout. A connect gets this long, and so does request data the CA's
# kernel has not acknowledged (TCP_USER_TIMEOUT): a live CA acknowledges at once, however long it then
# takes to answer, which backend.conf's timeout still bounds.
CONNECT_TIMEOUT_S = 2.0


def _ca_socket(addr_info: tuple[int, int, int, str, tuple[str, int] | tuple[str, int, int, int]]) -> socket.socket:
    """A socket to the CA that gives up on unacknowledged data after CONNECT_TIMEOUT_S (Linux)."""
    family, kind, proto, _, _ = addr_info
    sock = socket.socket(family=family, type=kind, proto=proto)
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(CONNECT_TIMEOUT_S * 1000))
    return sock


def basic_authorization(username: str, password: str) -> str:
    """An HTTP Basic Authorization value (RFC 7617), UTF-8 as the lab CA decodes it."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


class CABackend(Protocol):
    async def cacerts(self) -> list[x509.Certificate]: ...

    async def enroll(self, csr_b64: str) -> x509.Certificate: ...

    async def certificate_status(self, serial: int) -> str: ...

    async def close(self) -> None: ...


class DogtagRABackend:
    """CA REST client with the RA's agent credential; one keep-alive connection pool for all requests."""

    def __init__(
        self,
        url: str,
        *,
        profile: str,
        ssl_context: ssl.SSLContext | None,
        timeout_s: float,
        api: str = "v2",
        auth: tuple[str, str] | None = None,
    ) -> None:
        """
        Args:
            ssl_context: trusts the CA's chain; holds the agent certificate when backend.conf names `nickname`.
            auth: backend.conf's `username` and password, sent as HTTP Basic on every call (Dogtag's
                PKIClient with a username and password).
        """
        self._headers = {} if auth is None else {"Authorization": basic_authorization(*auth)}
        self._base = f"{url.rstrip('/')}/ca/{api}"
        self._profile = profile
        self._ssl = ssl_context
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(CONNECT_TIMEOUT_S, timeout_s))
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            # Idle connections are dropped well before the CA closes them (labctl.services.http's
            # HEADER_TIMEOUT_S, 10 s), so a POST is never sent on a connection the CA is closing;
            # aiohttp retries only idempotent requests on a stale connection.
            connector = aiohttp.TCPConnector(
                ssl=self._ssl if self._ssl is not None else False,
                limit=64,
                keepalive_timeout=5.0,
                socket_factory=_ca_socket,
            )
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout, headers=self._headers)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(
        self, method: str, path: str, *, payload: Any = None, accept: str = "application/json"
    ) -> tuple[int, bytes]:
        try:
            async with self._client().request(
                method, f"{self._base}{path}", json=payload, headers={"Accept": accept}
            ) as response:
                body = await response.read()
                status = response.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            reason = type(exc).__name__ if isinstance(exc, asyncio.TimeoutError) else str(exc) or type(exc).__name__
            raise ServiceError(503, f"CA unreachable: {reason}", retry_after=RETRY_AFTER_S) from exc
        if status == 503:
            raise ServiceError(503, "CA is not ready", retry_after=RETRY_AFTER_S)
        if status in (401, 403):
            raise ServiceError(502, "CA refused the RA's agent credential")
        return status, body

    async def _json(self, method: str, path: str, *, payload: Any = None) -> Any:
        """The CA's JSON answer; None for a 404; ServiceError for anything else that is not 2xx."""
        status, body = await self._call(method, path, payload=payload)
        if status == 404 or (status == 204 and not body):  # approve answers 204 No Content
            return None
        try:
            data = json.loads(body)
        except ValueError:
            raise ServiceError(502, f"CA answered {status} with a body that is not JSON") from None
        if status >= 400:
            message = data.get("Message", "") if isinstance(data, dict) else ""
            raise ServiceError(400 if status == 400 else 502, f"CA refused the request: {message or status}")
        return data

    async def cacerts(self) -> list[x509.Certificate]:
        status, body = await self._call(
            "GET", f"/authorities/{dogtag.HOST_AUTHORITY}/chain", accept="application/pkcs7-mime"
        )
        if status != 200:
            raise ServiceError(502, f"CA answered {status} for its chain")
        try:
            return load_certs_only(body)
        except PKIError as exc:
            raise ServiceError(502, f"CA chain unreadable: {exc}") from exc

    async def enroll(self, csr_b64: str) -> x509.Certificate:
        """DogtagRABackend.issueCertificate's exchange, in its order."""
        await self._json("GET", "/account/login")  # AccountClient.login()
        template = await self._json("GET", f"/certrequests/profiles/{self._profile}")  # getEnrollmentTemplate
        if template is None:
            raise ServiceError(502, f"CA has no profile {self._profile} (backend.conf profile)")
        try:
            body = dogtag.fill_enrollment_template(template, csr_b64)
        except PKIError as exc:
            raise ServiceError(502, f"CA's template for {self._profile} unreadable: {exc}") from exc
        info = self._request_info(await self._json("POST", "/certrequests", payload=body))  # enrollRequest
        if info.status == "rejected" or info.error:
            raise ServiceError(403, f"CA rejected the request: {info.error or 'rejected'}")
        if info.status == "pending":  # a manual profile: the RA, an agent, approves its own request
            path = f"/agent/certrequests/{dogtag.format_id(info.request_id)}"
            review = await self._json("GET", path)  # reviewRequest
            if review is None:
                raise ServiceError(502, f"CA lost request 0x{info.request_id:x} before its review")
            await self._json("POST", f"{path}/approve", payload=review)  # approveRequest
            info = self._request_info(await self._json("GET", f"/certrequests/{dogtag.format_id(info.request_id)}"))
        if info.status != "complete" or info.cert_id is None:
            raise ServiceError(502, f"CA left request 0x{info.request_id:x} {info.status} after approval")
        return await self.issued_certificate(info)  # getCert

    def _request_info(self, data: Any) -> dogtag.RequestInfo:
        infos = self._request_infos(data)
        if not infos:
            raise ServiceError(502, "CA answer unreadable: no request in it")
        return infos[0]

    # --- manual approval (labctl/services/est_ra/approval.py) -------------------------------------------

    async def find_held(self, repeat_key: str) -> dogtag.RequestInfo | None:
        """The request held under `repeat_key` at the CA, if any."""
        data = await self._json("GET", f"/agent/certrequests?{dogtag.REPEAT_KEY_ATTRIBUTE}={repeat_key}")
        infos = self._request_infos(data)
        if len(infos) > 1:
            # A CA without the lab's look-up (Dogtag itself) ignores repeatKey and lists every request.
            raise ServiceError(502, "CA cannot look requests up by repeatKey: manual approval needs the lab CA")
        return infos[0] if infos else None

    async def submit_held(self, csr_b64: str, repeat_key: str) -> dogtag.RequestInfo:
        """Submit, asking the CA to hold the request for an agent (DogtagRABackend without its approve step)."""
        attributes = {dogtag.HOLD_ATTRIBUTE: dogtag.HOLD_VALUE, dogtag.REPEAT_KEY_ATTRIBUTE: repeat_key}
        body = dogtag.enrollment_request(self._profile, csr_b64, credentials=attributes)
        return self._request_info(await self._json("POST", "/certrequests", payload=body))

    async def issued_certificate(self, info: dogtag.RequestInfo) -> x509.Certificate:
        if info.cert_id is None:
            raise ServiceError(502, f"CA says request 0x{info.request_id:x} is complete but names no certificate")
        try:
            data = await self._json("GET", f"/certs/{dogtag.format_id(info.cert_id)}")
            return load_pem_certificates(dogtag.parse_cert_data(data).pem)[0]
        except PKIError as exc:
            raise ServiceError(502, f"CA certificate unreadable: {exc}") from exc

    @staticmethod
    def _request_infos(data: Any) -> list[dogtag.RequestInfo]:
        try:
            return [] if data is None else dogtag.parse_request_infos(data)
        except PKIError as exc:
            raise ServiceError(502, f"CA answer unreadable: {exc}") from exc

    async def certificate_status(self, serial: int) -> str:
        """VALID, REVOKED, EXPIRED, ... as the CA says; UNKNOWN when the CA never issued it."""
        data = await self._json("GET", f"/certs/{dogtag.format_id(serial)}")
        if data is None:
            return "UNKNOWN"
        try:
            return dogtag.parse_cert_data(data).status
        except PKIError as exc:
            raise ServiceError(502, f"CA answer unreadable: {exc}") from exc
