"""Signature checks: a certificate issued by a CA, a CSR's proof of possession, a CRL or OCSP response signed by its CA.

The one place where cryptography's verification errors (InvalidSignature, ValueError, TypeError,
UnsupportedAlgorithm) become PKIError, with a one-line message naming the objects involved.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, mldsa, padding, rsa
from cryptography.x509 import ocsp

from labctl.errors import PKIError


def issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> None:
    """Check that `issuer` signed `certificate`: its issuer name is the issuer's subject and the signature verifies.

    Only the signature: validity, revocation and key usage are the caller's to check.

    Raises:
        PKIError: "<subject> was not issued by <issuer>: <why>".
    """
    failed = f"{_name(certificate.subject)} was not issued by {_name(issuer.subject)}"
    # Checked here, not left to cryptography's ValueError: the message can then say which issuer it names.
    if certificate.issuer != issuer.subject:
        raise PKIError(f"{failed}: it names issuer {_name(certificate.issuer)}")
    try:
        certificate.verify_directly_issued_by(issuer)
    except InvalidSignature as exc:
        raise PKIError(f"{failed}: the signature does not verify") from exc
    # ValueError: the signature algorithm does not fit the issuer's key type (an ECDSA signature checked
    # with an RSA key); TypeError, UnsupportedAlgorithm: a key or algorithm cryptography cannot verify with.
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise PKIError(f"{failed}: {_reason(exc)}") from exc


def check_csr_signature(csr: x509.CertificateSigningRequest) -> None:
    """Check a CSR's self-signature, its proof of possession of the private key (RFC 2986 section 3).

    Raises:
        PKIError: the signature does not verify, or its algorithm is one cryptography cannot check.
    """
    try:
        valid = csr.is_signature_valid
    except (UnsupportedAlgorithm, ValueError, TypeError) as exc:
        raise PKIError(f"CSR signature algorithm not supported: {_reason(exc)}") from exc
    if not valid:
        raise PKIError("CSR signature does not verify (proof of possession failed)")


def crl_signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> None:
    """Check that `issuer` signed `crl`.

    Raises:
        PKIError: "CRL of <crl issuer> is not signed by <issuer>: <why>".
    """
    failed = f"CRL of {_name(crl.issuer)} is not signed by {_name(issuer.subject)}"
    public_key = issuer.public_key()
    # The lab's key types; cryptography's CRL check takes only keys that can sign (not X25519, ML-KEM, ...).
    if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | mldsa.MLDSA87PublicKey):
        raise PKIError(f"{failed}: its key ({type(public_key).__name__}) is not a lab signing key")
    if crl.issuer != issuer.subject:
        raise PKIError(f"{failed}: the issuer names differ")
    try:
        valid = crl.is_signature_valid(public_key)
    except (UnsupportedAlgorithm, ValueError, TypeError) as exc:
        raise PKIError(f"{failed}: {_reason(exc)}") from exc
    if not valid:
        raise PKIError(f"{failed}: the signature does not verify")


def ocsp_response_signed_by(response: ocsp.OCSPResponse, issuer: x509.Certificate) -> None:
    """Check that `issuer` itself signed a successful OCSP response (RFC 6960 §4.2.2.2, the CA as responder):
    its responderID names the issuer (byKey or byName) and the signature over tbsResponseData verifies.

    Raises:
        PKIError: "OCSP response is not signed by <issuer>: <why>".
    """
    failed = f"OCSP response is not signed by {_name(issuer.subject)}"
    key_hash = x509.SubjectKeyIdentifier.from_public_key(issuer.public_key()).digest  # RFC 6960 §4.2.2.3: SHA-1
    if response.responder_key_hash not in (None, key_hash) or response.responder_name not in (None, issuer.subject):
        raise PKIError(f"{failed}: its responderID names another responder")
    public_key = issuer.public_key()
    signature, data = response.signature, response.tbs_response_bytes
    try:
        if isinstance(public_key, rsa.RSAPublicKey) and response.signature_hash_algorithm is not None:
            public_key.verify(signature, data, padding.PKCS1v15(), response.signature_hash_algorithm)
        elif isinstance(public_key, ec.EllipticCurvePublicKey) and response.signature_hash_algorithm is not None:
            public_key.verify(signature, data, ec.ECDSA(response.signature_hash_algorithm))
        elif isinstance(public_key, mldsa.MLDSA87PublicKey):
            public_key.verify(signature, data)
        else:
            raise PKIError(f"{failed}: signature algorithm {response.signature_algorithm_oid.dotted_string} unexpected")
    except InvalidSignature as exc:
        raise PKIError(f"{failed}: the signature does not verify") from exc
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise PKIError(f"{failed}: {_reason(exc)}") from exc


def _name(name: x509.Name) -> str:
    return name.rfc4514_string() or "(empty name)"


def _reason(exc: Exception) -> str:
    return str(exc).rstrip(".") or type(exc).__name__
