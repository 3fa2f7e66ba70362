"""OCSP (RFC 6960) messages: a CA's answer to a request, and a client's request and reading of the answer.

The responder is the CA itself (RFC 6960 §4.2.2.2: the CA that issued the certificate may sign),
named by key hash and sending its certificate along. It answers the lightweight profile (RFC 5019):
one CertID per request, SHA-1 (what `openssl ocsp` sends) or SHA-2 CertIDs, a nonce echoed when sent.
cryptography signs and reads every lab key type here, ML-DSA-87 included (id-ml-dsa-87, RFC 9881).
"""

from __future__ import annotations

import enum
import functools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from pyasn1.codec.der import decoder
from pyasn1.error import PyAsn1Error
from pyasn1_modules import rfc5280

from labctl.errors import PKIError
from labctl.pki.issue import Issuer
from labctl.pki.keys import signature_hash
from labctl.pki.signatures import ocsp_response_signed_by

log = logging.getLogger(__name__)

# A one-CertID request with a nonce is about 120 bytes; a signed request with its signer's ML-DSA-87
# certificate about 12 KB. Anything larger is not an OCSP request to this responder.
MAX_REQUEST_BYTES = 16 * 1024
# RFC 8954 §2.1: a nonce is 1 to 32 octets; a longer (or empty) one is a malformedRequest.
# (RFC 9654, which obsoletes it, allows up to 128: one constant to change.)
MAX_NONCE_BYTES = 32
# The client's nonce (RFC 8954 §2.1: new clients MUST send 32 octets).
CLIENT_NONCE_BYTES = 32
# nextUpdate (RFC 5019 §2.2.4): answers are made from the CA's database on every request, so a
# revocation shows at once to whoever asks; a client that caches an answer keeps it at most this long.
NEXT_UPDATE = timedelta(minutes=10)


class Status(enum.StrEnum):
    """RFC 6960 §2.2 CertStatus."""

    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class CertStatus:
    """A certificate's status, as the CA knows it (revocation time and reason only when revoked)."""

    status: Status
    revoked_at: datetime | None = None
    reason: x509.ReasonFlags | None = None


GOOD = CertStatus(Status.GOOD)
UNKNOWN = CertStatus(Status.UNKNOWN)
# The CA's status of a serial it is asked about: GOOD, a revoked CertStatus, or UNKNOWN (never issued).
StatusLookup = Callable[[int], CertStatus]


# --- responder ---------------------------------------------------------------------------------


def respond(request_der: bytes, issuer: Issuer, lookup: StatusLookup, *, now: datetime | None = None) -> bytes:
    """The DER OCSPResponse to a DER OCSPRequest, signed by `issuer` when successful.

    Unsuccessful answers are unsigned (RFC 6960 §2.3): malformedRequest for what is not a one-CertID
    OCSP request or has a bad nonce, unauthorized for a CertID naming another issuer.
    """
    try:
        request = ocsp.load_der_ocsp_request(request_der)
        nonce = _nonce(request)
        algorithm = request.hash_algorithm
    except NotImplementedError:
        # cryptography reads one CertID only, and RFC 5019 §2.1.1 allows one only ("MUST include only
        # one Request"): answered malformedRequest, not a partial answer (docs-drafts/ocsp.md).
        log.info("OCSP request with more than one CertID: malformedRequest")
        return unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    except UnsupportedAlgorithm:
        # A CertID hash we cannot compute cannot name this CA: RFC 6960 §2.3 "not capable of responding
        # authoritatively".
        log.info("OCSP request with an unsupported CertID hash: unauthorized")
        return unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
    except (ValueError, PKIError) as exc:
        log.info("malformed OCSP request: %s", exc)
        return unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    if (request.issuer_name_hash, request.issuer_key_hash) != issuer_hashes(issuer.certificate, algorithm):
        # RFC 5019 §2.2.3 and RFC 6960 §2.3: a responder that is not authoritative for the certificate's
        # issuer answers unauthorized (RFC 6960 §2.2 also allows "unknown"; unauthorized says why, and
        # openssl reports it as "Responder Error: unauthorized").
        log.info("OCSP request for serial 0x%x of another issuer: unauthorized", request.serial_number)
        return unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
    status = lookup(request.serial_number)
    log.debug("OCSP 0x%x: %s", request.serial_number, status.status.value)
    return _signed_answer(request, status, issuer, nonce, now or datetime.now(UTC))


def unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    """An unsigned OCSPResponse carrying only its status (RFC 6960 §4.2.1: no responseBytes)."""
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(serialization.Encoding.DER)


def _nonce(request: ocsp.OCSPRequest) -> bytes | None:
    """The request's nonce (RFC 8954 §2.1), or None; PKIError for an empty or over-long one."""
    try:
        nonce = request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return None
    if not 1 <= len(nonce) <= MAX_NONCE_BYTES:
        raise PKIError(f"nonce of {len(nonce)} octets (RFC 8954: 1 to {MAX_NONCE_BYTES})")
    return nonce


def _signed_answer(
    request: ocsp.OCSPRequest, status: CertStatus, issuer: Issuer, nonce: bytes | None, now: datetime
) -> bytes:
    # The CertID is echoed as sent (its hash algorithm and hashes), so the client matches it byte for byte.
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            issuer_name_hash=request.issuer_name_hash,
            issuer_key_hash=request.issuer_key_hash,
            serial_number=request.serial_number,
            algorithm=request.hash_algorithm,
            cert_status=_OCSP_STATUS[status.status],
            this_update=now,
            next_update=now + NEXT_UPDATE,
            revocation_time=status.revoked_at if status.status is Status.REVOKED else None,
            revocation_reason=_reason(status) if status.status is Status.REVOKED else None,
        )
        # RFC 6960 §4.2.2.3: byKey, the SHA-1 of the CA's public key; the certificate lets a client that
        # only knows the root check the signer.
        .responder_id(ocsp.OCSPResponderEncoding.HASH, issuer.certificate)
        .certificates([issuer.certificate])
    )
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    response = builder.sign(issuer.private_key, signature_hash(issuer.private_key))
    return response.public_bytes(serialization.Encoding.DER)


def _reason(status: CertStatus) -> x509.ReasonFlags | None:
    # RFC 5280 §5.3.1: reason code unspecified SHOULD be absent, as in the CRL (pki.issue.build_crl).
    return None if status.reason in (None, x509.ReasonFlags.unspecified) else status.reason


_OCSP_STATUS = {
    Status.GOOD: ocsp.OCSPCertStatus.GOOD,
    Status.REVOKED: ocsp.OCSPCertStatus.REVOKED,
    Status.UNKNOWN: ocsp.OCSPCertStatus.UNKNOWN,
}


def issuer_hashes(issuer: x509.Certificate, algorithm: hashes.HashAlgorithm) -> tuple[bytes, bytes]:
    """CertID's issuerNameHash and issuerKeyHash (RFC 6960 §4.1.1): the hash of the issuer's DER subject,
    and of its subjectPublicKey BIT STRING's value (tag, length and unused-bits octet excluded).

    The same for every request to one CA: kept per issuer and hash (the pyasn1 decode cost a third of
    a P-384 answer's CPU in the OCSP benchmark)."""
    return _issuer_hashes(issuer, type(algorithm))


@functools.lru_cache(maxsize=16)
def _issuer_hashes(issuer: x509.Certificate, kind: type[hashes.HashAlgorithm]) -> tuple[bytes, bytes]:
    algorithm = kind()
    name = issuer.subject.public_bytes()
    spki_der = issuer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        spki, _ = decoder.decode(spki_der, asn1Spec=rfc5280.SubjectPublicKeyInfo())
    except PyAsn1Error as exc:  # cryptography wrote it: not expected
        raise PKIError(f"cannot read the issuer's public key: {exc}") from exc
    key_bits = spki["subjectPublicKey"].asOctets()
    return _digest(algorithm, name), _digest(algorithm, key_bits)


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    digest = hashes.Hash(algorithm)
    digest.update(data)
    return digest.finalize()


# --- client ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Query:
    """An OCSP request as sent, and what its answer must match."""

    der: bytes
    serial: int
    nonce: bytes | None


def build_request(
    issuer: x509.Certificate,
    serial: int,
    *,
    algorithm: hashes.HashAlgorithm | None = None,
    nonce: bool = True,
) -> Query:
    """An unsigned request for one serial of `issuer`: the leaf itself is not needed (RFC 6960 §4.1.1
    CertID holds the issuer's hashes and the serial). SHA-1 CertID by default, as openssl sends."""
    algorithm = algorithm or hashes.SHA1()
    name_hash, key_hash = issuer_hashes(issuer, algorithm)
    builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(name_hash, key_hash, serial, algorithm)
    value = os.urandom(CLIENT_NONCE_BYTES) if nonce else None
    if value is not None:
        builder = builder.add_extension(x509.OCSPNonce(value), critical=False)
    return Query(builder.build().public_bytes(serialization.Encoding.DER), serial, value)


def read_response(der: bytes, query: Query, issuer: x509.Certificate, *, now: datetime | None = None) -> CertStatus:
    """The status in a CA-signed answer to `query`.

    Raises:
        PKIError: not an OCSP response, unsuccessful (its status named), not signed by `issuer`, for
            another serial, without the nonce sent, or outside thisUpdate..nextUpdate.
    """
    try:
        response = ocsp.load_der_ocsp_response(der)
    except ValueError as exc:
        raise PKIError(f"not an OCSP response: {exc}") from exc
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise PKIError(f"OCSP responder answered {response.response_status.name.lower()}")
    ocsp_response_signed_by(response, issuer)
    if response.serial_number != query.serial:
        raise PKIError(f"OCSP answer is for serial 0x{response.serial_number:x}, not 0x{query.serial:x}")
    if query.nonce is not None:
        try:
            echoed = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        except x509.ExtensionNotFound:
            echoed = None
        if echoed != query.nonce:
            raise PKIError("OCSP answer does not carry the request's nonce (a replayed answer?)")
    _check_current(response, now or datetime.now(UTC))
    match response.certificate_status:
        case ocsp.OCSPCertStatus.GOOD:
            return GOOD
        case ocsp.OCSPCertStatus.REVOKED:
            reason = response.revocation_reason or x509.ReasonFlags.unspecified
            return CertStatus(Status.REVOKED, response.revocation_time_utc, reason)
        case _:
            return UNKNOWN


def _check_current(response: ocsp.OCSPResponse, now: datetime) -> None:
    # RFC 5019 §4: a client rejects an answer with thisUpdate in the future or nextUpdate in the past;
    # the skew allowance is openssl ocsp's default (-validity_period 300).
    skew = timedelta(minutes=5)
    if response.this_update_utc > now + skew:
        raise PKIError(f"OCSP answer's thisUpdate {response.this_update_utc:%Y-%m-%d %H:%M:%SZ} is in the future")
    next_update = response.next_update_utc
    if next_update is not None and next_update < now - skew:
        raise PKIError(f"OCSP answer expired at {next_update:%Y-%m-%d %H:%M:%SZ}")


def describe(serial: int, status: CertStatus) -> str:
    """`0x<serial>: good`, `0x<serial>: revoked (key_compromise, 2026-12-02T22:00:00Z)` or `...: unknown`."""
    if status.status is Status.REVOKED and status.revoked_at is not None:
        reason = (status.reason or x509.ReasonFlags.unspecified).value
        return f"0x{serial:x}: revoked ({reason}, {status.revoked_at:%Y-%m-%dT%H:%M:%SZ})"
    return f"0x{serial:x}: {status.status.value}"
