"""Certificate assertions, a cached key factory and an EST enrollment shared by the tests.

Key generation is slow (RSA-4096 takes about a second), so `key_for` memoizes keys per
(algorithm, index) for the whole test session. Tests that need distinct keys ask for
distinct indexes; tests that need "a key of this algorithm" use index 0.
"""

from __future__ import annotations

import base64

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ObjectIdentifier

from labctl.endpoint import Endpoint
from labctl.est_client import est_ssl_context
from labctl.pki.issue import build_csr, common_name_subject
from labctl.pki.keys import KeyAlgorithm, PrivateKey, generate_private_key

__all__ = [
    "KEY_USAGE_NAMES",
    "assert_has_aki_ski",
    "assert_is_ca",
    "assert_is_leaf",
    "assert_issued_by",
    "eku",
    "key_for",
    "key_usage_bits",
    "simpleenroll",
    "small_ec_key",
    "small_rsa_key",
]

KEY_USAGE_NAMES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)

_KEYS: dict[tuple[KeyAlgorithm, int], PrivateKey] = {}
_SMALL_RSA: dict[tuple[int, int], rsa.RSAPrivateKey] = {}
_SMALL_EC: dict[tuple[str, int], ec.EllipticCurvePrivateKey] = {}


def key_for(algorithm: KeyAlgorithm | str, index: int = 0) -> PrivateKey:
    """A private key of `algorithm`, generated once per (algorithm, index) and then reused."""
    algo = KeyAlgorithm(algorithm)
    cache_key = (algo, index)
    if cache_key not in _KEYS:
        _KEYS[cache_key] = generate_private_key(algo)
    return _KEYS[cache_key]


def small_rsa_key(bits: int = 2048, index: int = 0) -> rsa.RSAPrivateKey:
    """A cached RSA key of another size (e.g. 2048 or 1024) for negative tests."""
    cache_key = (bits, index)
    if cache_key not in _SMALL_RSA:
        _SMALL_RSA[cache_key] = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return _SMALL_RSA[cache_key]


def small_ec_key(curve: ec.EllipticCurve | None = None, index: int = 0) -> ec.EllipticCurvePrivateKey:
    """A cached EC key on another curve (default P-256) for negative tests."""
    chosen = curve or ec.SECP256R1()
    cache_key = (chosen.name, index)
    if cache_key not in _SMALL_EC:
        _SMALL_EC[cache_key] = ec.generate_private_key(chosen)
    return _SMALL_EC[cache_key]


def _extension(cert: x509.Certificate, cls: type[x509.ExtensionType]) -> x509.Extension[x509.ExtensionType]:
    try:
        return cert.extensions.get_extension_for_class(cls)
    except x509.ExtensionNotFound:
        raise AssertionError(f"{cert.subject.rfc4514_string()} has no {cls.__name__} extension") from None


def assert_is_ca(cert: x509.Certificate, path_length: int | None = 0) -> None:
    """CA=true in a critical basicConstraints with this path length; critical keyUsage with keyCertSign and cRLSign."""
    bc = _extension(cert, x509.BasicConstraints)
    name = cert.subject.rfc4514_string()
    assert bc.critical, f"{name}: basicConstraints is not critical"
    assert bc.value.ca, f"{name}: basicConstraints CA is false"
    assert bc.value.path_length == path_length, f"{name}: path length {bc.value.path_length} != {path_length}"
    ku = _extension(cert, x509.KeyUsage)
    assert ku.critical, f"{name}: keyUsage is not critical"
    assert ku.value.key_cert_sign, f"{name}: keyUsage lacks keyCertSign"
    assert ku.value.crl_sign, f"{name}: keyUsage lacks cRLSign"


def assert_is_leaf(cert: x509.Certificate) -> None:
    """basicConstraints present, critical, CA=false; no keyCertSign."""
    bc = _extension(cert, x509.BasicConstraints)
    name = cert.subject.rfc4514_string()
    assert bc.critical, f"{name}: basicConstraints is not critical"
    assert not bc.value.ca, f"{name}: is a CA"
    assert "key_cert_sign" not in key_usage_bits(cert), f"{name}: leaf has keyCertSign"


def assert_has_aki_ski(cert: x509.Certificate) -> None:
    """Both key identifiers present and non-critical; the SKI is non-empty."""
    name = cert.subject.rfc4514_string()
    ski = _extension(cert, x509.SubjectKeyIdentifier)
    aki = _extension(cert, x509.AuthorityKeyIdentifier)
    assert not ski.critical, f"{name}: SKI is critical"
    assert not aki.critical, f"{name}: AKI is critical"
    assert ski.value.digest, f"{name}: SKI is empty"
    assert aki.value.key_identifier, f"{name}: AKI has no keyIdentifier"


def assert_issued_by(leaf: x509.Certificate, ca: x509.Certificate) -> None:
    """Issuer name matches, the signature verifies with the CA key, and the leaf's AKI is the CA's SKI."""
    name = leaf.subject.rfc4514_string()
    assert leaf.issuer == ca.subject, f"{name}: issuer {leaf.issuer.rfc4514_string()} != {ca.subject.rfc4514_string()}"
    leaf.verify_directly_issued_by(ca)  # raises InvalidSignature / ValueError on mismatch
    aki = _extension(leaf, x509.AuthorityKeyIdentifier).value
    ski = _extension(ca, x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest, f"{name}: AKI does not match the issuer's SKI"
    assert leaf.not_valid_after_utc <= ca.not_valid_after_utc, f"{name}: outlives its issuer"


def key_usage_bits(cert: x509.Certificate) -> set[str]:
    """The names (as x509.KeyUsage spells them) of the keyUsage bits set; empty set if there is none."""
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return set()
    bits = {name for name in KEY_USAGE_NAMES if getattr(ku, name)}
    if ku.key_agreement:
        if ku.encipher_only:
            bits.add("encipher_only")
        if ku.decipher_only:
            bits.add("decipher_only")
    return bits


def eku(cert: x509.Certificate) -> set[ObjectIdentifier]:
    """The extended key usage OIDs; empty set if there is none."""
    try:
        return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return set()


class FakeClock:
    """A readiness Clock whose time moves only when someone sleeps on it."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def simpleenroll(endpoint: Endpoint, common_name: str, key: PrivateKey | None = None) -> httpx.Response:
    """POST /.well-known/est/simpleenroll to the endpoint's RA with its EST password, on a connection of
    its own (with several workers, any one may answer), for a CSR of `key` (a new one by default)."""
    key = key or generate_private_key(endpoint.hierarchy.algorithm)
    csr = build_csr(key, common_name_subject(common_name))
    with httpx.Client(verify=est_ssl_context(endpoint.trust_file)) as client:
        return client.post(
            f"{endpoint.ra_url}/.well-known/est/simpleenroll",
            content=base64.b64encode(csr.public_bytes(serialization.Encoding.DER)),
            headers={"Content-Type": "application/pkcs10"},
            auth=(endpoint.username, endpoint.password),
        )
