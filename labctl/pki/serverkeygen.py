"""The client's half of EST serverkeygen (RFC 7030 section 4.4.2): the key and certificate of a
multipart/mixed answer, checked to belong together."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, mldsa, rsa

from labctl.errors import PKIError
from labctl.pki.keys import PrivateKey
from labctl.pki.multipart import parse_multipart
from labctl.pki.pkcs7 import load_certs_only


def read_serverkeygen(content_type: str, body: bytes) -> tuple[PrivateKey, x509.Certificate]:
    """The plain PKCS#8 key and the one certificate of a serverkeygen answer.

    Raises:
        PKIError: not two parts (application/pkcs8, then certs-only PKCS#7), an unreadable key or
            certificate, or a certificate for another key.
    """
    parts = parse_multipart(content_type, body)
    kinds = [part.media_type for part in parts]
    if kinds != ["application/pkcs8", "application/pkcs7-mime"]:
        raise PKIError(f"expected an application/pkcs8 part then an application/pkcs7-mime one, got {kinds}")
    key = load_private_key_info(parts[0].content)
    certificates = load_certs_only(parts[1].content)
    if len(certificates) != 1:
        raise PKIError(f"the certificate part holds {len(certificates)} certificates, expected exactly 1")
    if certificates[0].public_key() != key.public_key():
        raise PKIError("the certificate is not for the key sent with it")
    return key, certificates[0]


def load_private_key_info(der: bytes) -> PrivateKey:
    """A DER PKCS#8 PrivateKeyInfo of one of the lab's key types."""
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError) as exc:
        raise PKIError(f"not a PKCS#8 private key: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | mldsa.MLDSA87PrivateKey):
        raise PKIError(f"unsupported private key type {type(key).__name__}")
    return key
