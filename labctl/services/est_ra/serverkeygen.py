"""EST server-side key generation (RFC 7030 section 4.4, with RFC 8951 section 3's clarifications).

Where the key is made: here, in the RA, the EST server RFC 7030 section 4.4 lets generate it. The
CA's key never leaves the CA: the RA signs a CSR of the client's subject and SAN with the new key
and enrolls it through its usual CA backend, as it does for simpleenroll. The new key lives in this
process for one request: it is never written to disk nor logged, and leaves only in the answer.

The answer (section 4.4.2) is multipart/mixed: the key, then the certificate as certs-only PKCS#7.
The key is a plain PKCS#8 `application/pkcs8` part, or, when the CSR carries
AsymmetricDecryptKeyIdentifier (section 4.4.1.2), CMS EnvelopedData of an AsymmetricKeyPackage for
the client's TLS certificate (`application/pkcs7-mime; smime-type=server-generated-key`).
Section 4.4.2 also wraps that EnvelopedData in a SignedData by the server; labctl does not (the TLS
server authentication already tells the client who sent it, and `openssl cms -decrypt` reads the
EnvelopedData as it is).
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID, ObjectIdentifier

from labctl.errors import PKIError, ServiceError
from labctl.pki.keypackage import check_recipient, envelop_key_package, private_key_info
from labctl.pki.keys import KeyAlgorithm, PrivateKey, generate_private_key, signature_hash
from labctl.pki.multipart import Part, build_multipart
from labctl.pki.pkcs7 import certs_only_der
from labctl.services.est_ra.authz import Principal
from labctl.services.est_ra.backend import CABackend

PKCS8_TYPE = "application/pkcs8"
ENCRYPTED_KEY_TYPE = "application/pkcs7-mime; smime-type=server-generated-key"
CERTIFICATE_TYPE = "application/pkcs7-mime; smime-type=certs-only"

# RFC 7030 section 4.4.1.1 and 4.4.1.2 (id-aa-decryptKeyID, id-aa-asymmDecryptKeyID).
DECRYPT_KEY_IDENTIFIER = ObjectIdentifier("1.2.840.113549.1.9.16.2.37")
ASYMMETRIC_DECRYPT_KEY_IDENTIFIER = ObjectIdentifier("1.2.840.113549.1.9.16.2.54")
# What else a serverkeygen CSR may carry (PKCS#9, RFC 2985 section 5.4): anything more is an instruction
# about the key this server would not follow, so it is refused rather than ignored.
_PLAIN_ATTRIBUTES = {
    ObjectIdentifier("1.2.840.113549.1.9.14"),  # extensionRequest
    ObjectIdentifier("1.2.840.113549.1.9.7"),  # challengePassword
    ObjectIdentifier("1.2.840.113549.1.9.2"),  # unstructuredName
}


@dataclass(frozen=True, slots=True)
class KeyDelivery:
    """How the key goes back: plain PKCS#8 (no recipient), or encrypted for `recipient`, named by `key_identifier`."""

    recipient: x509.Certificate | None = None
    key_identifier: bytes = b""


def key_delivery(csr: x509.CertificateSigningRequest, principal: Principal) -> KeyDelivery:
    """Read the CSR's attributes (section 4.4.1): 400 for any the server cannot honour, before anything is made."""
    try:
        attributes = list(csr.attributes)
    except ValueError as exc:  # cryptography reads only single, primitive-valued attributes
        raise ServiceError(400, f"unsupported CSR attribute: {exc}") from exc
    delivery = KeyDelivery()
    for attribute in attributes:
        if attribute.oid == DECRYPT_KEY_IDENTIFIER:
            # Section 4.4.1.1 needs a symmetric key shared with the client beforehand; the lab has none.
            raise ServiceError(400, "DecryptKeyIdentifier names a symmetric key; this RA shares none with clients")
        if attribute.oid == ASYMMETRIC_DECRYPT_KEY_IDENTIFIER:
            delivery = _asymmetric_delivery(attribute.value, principal)
        elif attribute.oid not in _PLAIN_ATTRIBUTES:
            raise ServiceError(400, f"unsupported CSR attribute {attribute.oid.dotted_string} for serverkeygen")
    return delivery


def _asymmetric_delivery(key_identifier: bytes, principal: Principal) -> KeyDelivery:
    """Section 4.4.1.2: the identifier must name a key the server knows, here the TLS client certificate's
    (its subjectKeyIdentifier); an ML-DSA certificate cannot be a recipient (signature-only keys)."""
    certificate = principal.certificate
    if certificate is None:
        raise ServiceError(
            400,
            "AsymmetricDecryptKeyIdentifier needs TLS client authentication with the certificate it names"
            " (this request authenticated with a password: send it with that certificate and no -u)",
        )
    try:
        own = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        own = x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest
    if key_identifier != own:
        raise ServiceError(
            400, f"AsymmetricDecryptKeyIdentifier {key_identifier.hex()[:64]} names no key this RA knows"
        )
    try:
        check_recipient(certificate)
    except PKIError as exc:
        raise ServiceError(400, f"cannot encrypt for the client certificate: {exc}") from exc
    return KeyDelivery(certificate, key_identifier)


def server_key_csr(key: PrivateKey, requested: x509.CertificateSigningRequest) -> x509.CertificateSigningRequest:
    """The CSR the RA enrolls: the client's subject and subjectAltName, signed with the new key. The
    request's own key is ignored (section 4.4.1); other requested extensions are the profile's to set."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(requested.subject)
    try:
        san = requested.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
        builder = builder.add_extension(san.value, critical=san.critical)
    except x509.ExtensionNotFound:
        pass
    return builder.sign(key, signature_hash(key))


def _generate(algorithm: KeyAlgorithm, requested: x509.CertificateSigningRequest) -> tuple[PrivateKey, str]:
    key = generate_private_key(algorithm)
    csr = server_key_csr(key, requested)
    return key, base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode("ascii")


async def generate_and_enroll(
    backend: CABackend, algorithm: KeyAlgorithm, requested: x509.CertificateSigningRequest
) -> tuple[PrivateKey, x509.Certificate]:
    """A new key of the hierarchy's algorithm, certified by the CA. Generation runs in a thread
    (RSA-4096 takes up to a second) so the event loop keeps serving other clients meanwhile."""
    key, csr_b64 = await asyncio.to_thread(_generate, algorithm, requested)
    return key, await backend.enroll(csr_b64)


def serverkeygen_response(key: PrivateKey, certificate: x509.Certificate, delivery: KeyDelivery) -> web.Response:
    """Section 4.4.2: multipart/mixed, the key part first, then the certificate; both base64."""
    if delivery.recipient is None:
        key_part = Part(PKCS8_TYPE, private_key_info(key))
    else:
        key_part = Part(ENCRYPTED_KEY_TYPE, envelop_key_package(key, delivery.recipient, delivery.key_identifier))
    content_type, body = build_multipart([key_part, Part(CERTIFICATE_TYPE, certs_only_der([certificate]))])
    return web.Response(body=body, headers={"Content-Type": content_type})
