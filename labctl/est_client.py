"""RFC 7030 client on httpx: cacerts, csrattrs, simpleenroll, simplereenroll, serverkeygen, fullcmc.

Accepts a PKCS#7 answer in base64 (any wrapping) or DER. httpx errors become ESTError here, once;
a TLS trust failure says which trust anchor was used and suggests `labctl est-cacerts`.
"""

from __future__ import annotations

import base64
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from labctl.errors import ESTError, PKIError
from labctl.pending import PendingApproval
from labctl.pki.issue import decode_base64
from labctl.pki.pkcs7 import load_certs_only

if TYPE_CHECKING:
    from labctl.pki.cmc import FullPKIResponse
    from labctl.pki.csrattrs import CsrAttrs
    from labctl.pki.keys import PrivateKey


CMC_REQUEST_TYPE = "application/pkcs7-mime; smime-type=CMC-request"


def est_ssl_context(
    trust_file: Path | None, *, cert: Path | None = None, key: Path | None = None, check_hostname: bool = True
) -> ssl.SSLContext:
    """Trust `trust_file` only (None: the system store); present a client certificate when given."""
    context = ssl.create_default_context(cafile=str(trust_file) if trust_file else None)
    context.check_hostname = check_hostname
    if cert is not None and key is not None:
        context.load_cert_chain(cert, key)
    return context


class ESTClient:
    def __init__(
        self,
        base_url: str,
        *,
        ssl_context: ssl.SSLContext,
        auth: tuple[str, str] | None = None,
        label: str | None = None,
        trust_description: str = "the system trust store",
        timeout_s: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        prefix = "/.well-known/est" + (f"/{label}" if label else "")
        self._prefix = prefix
        self._trust = trust_description
        self._http = httpx.Client(
            base_url=self.base_url,
            verify=ssl_context,
            auth=httpx.BasicAuth(*auth) if auth else None,
            timeout=timeout_s,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ESTClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _send(
        self, method: str, operation: str, *, body: bytes | None = None, content_type: str = "application/pkcs10"
    ) -> bytes:
        return self._exchange(method, operation, body=body, content_type=content_type).content

    def _exchange(
        self, method: str, operation: str, *, body: bytes | None = None, content_type: str = "application/pkcs10"
    ) -> httpx.Response:
        url = f"{self._prefix}/{operation}"
        headers = {"Content-Type": content_type, "Content-Transfer-Encoding": "base64"} if body else {}
        try:
            response = self._http.request(method, url, content=body, headers=headers)
        except httpx.ConnectError as exc:
            if isinstance(exc.__context__, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
                raise ESTError(
                    f"TLS trust failure talking to {self.base_url} (trust anchor: {self._trust}): {exc}",
                    hint="fetch the lab's chain with `labctl est-cacerts --pki-type ...` and pass it as the trust anchor",
                ) from exc
            raise ESTError(f"cannot connect to {self.base_url}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise ESTError(f"{operation} at {self.base_url} failed: {exc}") from exc
        if response.status_code != 200:
            reason = _cmc_reason(response) or (
                response.text.strip().splitlines()[0] if response.text.strip() else response.reason_phrase
            )
            if response.status_code == 202:  # RFC 7030 section 4.2.3: held for approval; repeat later
                message = f"{operation} at {self.base_url}: {reason}"
                raise PendingApproval.from_answer(message, response.headers.get("Retry-After"))
            raise ESTError(f"{operation} at {self.base_url}: {reason}", status_code=response.status_code)
        return response

    def cacerts(self) -> list[x509.Certificate]:
        return _certs(self._send("GET", "cacerts"), "cacerts")

    def csrattrs(self) -> CsrAttrs:
        body = self._send("GET", "csrattrs")
        try:
            der = body if body[:1] == b"\x30" else decode_base64(body, what="csrattrs")
            # Imported here: pyasn1-modules' RFC 5652/5280 types take ~0.1 s to load, and every labctl
            # command imports this module (a no-op `up` should not pay for a csrattrs parser).
            from labctl.pki.csrattrs import decode_csrattrs

            return decode_csrattrs(der)
        except PKIError as exc:
            raise ESTError(f"csrattrs answer unreadable: {exc}") from exc

    def simpleenroll(self, csr: x509.CertificateSigningRequest) -> x509.Certificate:
        return _one(_certs(self._send("POST", "simpleenroll", body=_b64(csr)), "simpleenroll"), "simpleenroll")

    def simplereenroll(self, csr: x509.CertificateSigningRequest) -> x509.Certificate:
        return _one(_certs(self._send("POST", "simplereenroll", body=_b64(csr)), "simplereenroll"), "simplereenroll")

    def serverkeygen(self, csr: x509.CertificateSigningRequest) -> tuple[PrivateKey, x509.Certificate]:
        """RFC 7030 section 4.4: a key the server made (plain PKCS#8 over this TLS) and its certificate."""
        response = self._exchange("POST", "serverkeygen", body=_b64(csr))
        # Imported here, as csrattrs' parser is: the email parser is not every command's to load.
        from labctl.pki.serverkeygen import read_serverkeygen

        try:
            return read_serverkeygen(response.headers.get("Content-Type", ""), response.content)
        except PKIError as exc:
            raise ESTError(f"serverkeygen answer unreadable: {exc}") from exc

    def fullcmc(self, csr: x509.CertificateSigningRequest, key: PrivateKey) -> FullPKIResponse:
        """RFC 7030 section 4.3: `csr` in a Full PKI Request signed with `key` (its own); the response,
        its signature checked (whether its signer is one to trust is the caller's to check)."""
        from labctl.pki.cmc import build_full_pki_request, parse_full_pki_response  # pyasn1: see csrattrs

        body = base64.encodebytes(build_full_pki_request(csr, key))
        answer = self._send("POST", "fullcmc", body=body, content_type=CMC_REQUEST_TYPE)
        try:
            response = parse_full_pki_response(answer)
        except PKIError as exc:
            raise ESTError(f"fullcmc answer unreadable: {exc}") from exc
        if not response.success or len(response.certificates) != 1:
            raise ESTError(f"fullcmc answer is not a success with one certificate: {response.status_string}")
        return response


def _cmc_reason(response: httpx.Response) -> str | None:
    """A fullcmc refusal's reason: the statusString of the CMC failure response it carries (RFC 7030 section 4.3.2)."""
    if "smime-type=cmc-response" not in response.headers.get("Content-Type", "").lower():
        return None
    from labctl.pki.cmc import parse_full_pki_response

    try:
        answer = parse_full_pki_response(response.content)
    except PKIError:
        return None
    fail_info = answer.fail_info.name if answer.fail_info is not None else answer.status.name
    return f"{response.status_code} {answer.status_string} (CMC {fail_info})"


def _b64(csr: x509.CertificateSigningRequest) -> bytes:
    return base64.encodebytes(csr.public_bytes(serialization.Encoding.DER))


def _certs(body: bytes, operation: str) -> list[x509.Certificate]:
    try:
        return load_certs_only(body)
    except PKIError as exc:
        raise ESTError(f"{operation} answer is not a certs-only PKCS#7: {exc}") from exc


def _one(certs: list[x509.Certificate], operation: str) -> x509.Certificate:
    if len(certs) != 1:
        raise ESTError(f"{operation} answer holds {len(certs)} certificates, expected exactly 1")
    return certs[0]
