"""RSA-4096, ECDSA P-384 and ML-DSA-87 behind one small interface keyed by KeyAlgorithm.

Generation, the digest each signs with, what a public key is (family, name, the hierarchy's
algorithm or not), the strength floor every hierarchy applies, and PEM private keys (written 0600).
"""

from __future__ import annotations

import enum
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, mldsa, rsa

from labctl.errors import PKIError
from labctl.files import write_secret

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | mldsa.MLDSA87PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | mldsa.MLDSA87PublicKey


class KeyAlgorithm(enum.StrEnum):
    """The key algorithm of a hierarchy, as written in the lab file."""

    RSA_4096 = "rsa-4096"
    EC_P384 = "ec-p384"
    ML_DSA_87 = "ml-dsa-87"

    @property
    def kind(self) -> KeyKind:
        return {
            KeyAlgorithm.RSA_4096: KeyKind.RSA,
            KeyAlgorithm.EC_P384: KeyKind.EC,
            KeyAlgorithm.ML_DSA_87: KeyKind.ML_DSA,
        }[self]

    @property
    def label(self) -> str:
        return {
            KeyAlgorithm.RSA_4096: "RSA-4096",
            KeyAlgorithm.EC_P384: "ECDSA P-384",
            KeyAlgorithm.ML_DSA_87: "ML-DSA-87",
        }[self]


class KeyKind(enum.StrEnum):
    """Key families, as certificate profiles constrain them (Dogtag's keyConstraint keyType)."""

    RSA = "RSA"
    EC = "EC"
    ML_DSA = "ML-DSA"


# RSA keys below this size are refused everywhere, whatever the hierarchy.
MIN_RSA_BITS = 2048


def generate_private_key(algorithm: KeyAlgorithm) -> PrivateKey:
    """Generate a fresh key of the hierarchy's algorithm."""
    match algorithm:
        case KeyAlgorithm.RSA_4096:
            return rsa.generate_private_key(public_exponent=65537, key_size=4096)
        case KeyAlgorithm.EC_P384:
            return ec.generate_private_key(ec.SECP384R1())
        case KeyAlgorithm.ML_DSA_87:
            return mldsa.MLDSA87PrivateKey.generate()


def signature_hash(key: PrivateKey) -> hashes.SHA384 | None:
    """The digest to sign with: SHA-384 for RSA and ECDSA; none for ML-DSA (pure mode, no pre-hash)."""
    return None if isinstance(key, mldsa.MLDSA87PrivateKey) else hashes.SHA384()


def key_kind(public_key: object) -> KeyKind:
    """The family of a public key; PKIError for anything else (Ed25519, DSA, ML-DSA-44, ...)."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return KeyKind.RSA
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return KeyKind.EC
    if isinstance(public_key, mldsa.MLDSA87PublicKey):
        return KeyKind.ML_DSA
    raise PKIError(f"unsupported key type {describe_key(public_key)}")


def describe_key(public_key: object) -> str:
    """A short human name for a public key, for error messages: 'RSA-2048', 'EC secp256r1', 'ML-DSA-87'."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA-{public_key.key_size}"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return f"EC {public_key.curve.name}"
    if isinstance(public_key, mldsa.MLDSA87PublicKey):
        return "ML-DSA-87"
    name = type(public_key).__name__.removeprefix("_").replace("PublicKey", "")
    return name or "unknown key"


def matches_algorithm(public_key: object, algorithm: KeyAlgorithm) -> bool:
    """True when the key is exactly the hierarchy's algorithm (family, size or curve)."""
    match algorithm:
        case KeyAlgorithm.RSA_4096:
            return isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size == 4096
        case KeyAlgorithm.EC_P384:
            return isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(public_key.curve, ec.SECP384R1)
        case KeyAlgorithm.ML_DSA_87:
            return isinstance(public_key, mldsa.MLDSA87PublicKey)


def algorithm_of(public_key: object) -> KeyAlgorithm | None:
    """The hierarchy algorithm a public key is, if it is one of the three."""
    return next((algorithm for algorithm in KeyAlgorithm if matches_algorithm(public_key, algorithm)), None)


def check_key_strength(public_key: object) -> None:
    """Refuse keys no profile should certify: short RSA moduli, tiny exponents, curves below P-256.

    Raises:
        PKIError: with the reason, e.g. "RSA public exponent 3 is not allowed (need >= 65537)".
    """
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < MIN_RSA_BITS:
            raise PKIError(f"RSA-{public_key.key_size} is too weak (need at least {MIN_RSA_BITS} bits)")
        exponent = public_key.public_numbers().e
        if exponent < 65537 or exponent % 2 == 0:
            raise PKIError(f"RSA public exponent {exponent} is not allowed (need an odd exponent >= 65537)")
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        if public_key.curve.key_size < 256:
            raise PKIError(f"EC curve {public_key.curve.name} is too weak")
    else:
        key_kind(public_key)


def private_key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def encrypted_key_pem(key: PrivateKey, password: bytes) -> bytes:
    """PKCS#8 PEM encrypted under `password` (PBES2 with AES-256, cryptography's best available)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(password)
    )


def load_private_key_pem(data: bytes, *, own: bool = False, password: bytes | None = None) -> PrivateKey:
    """A PEM private key (the first in `data`; `password` for an encrypted one). `own`: a key labctl generated
    and keeps 0600 in its state, whose RSA consistency check (about 0.4 s for RSA-4096, once per load) is
    skipped; every other key is checked."""
    try:
        key = serialization.load_pem_private_key(data, password=password, unsafe_skip_rsa_key_validation=own)
    except (ValueError, TypeError) as exc:
        raise PKIError(f"cannot read private key: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | mldsa.MLDSA87PrivateKey):
        raise PKIError(f"unsupported private key type {type(key).__name__}")
    return key


def write_private_key(path: Path, key: PrivateKey) -> None:
    """Write a PEM private key readable by its owner only (0600 from the first byte, no umask window)."""
    write_secret(path, private_key_pem(key))


def read_private_key(path: Path, *, own: bool = False) -> PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PKIError(f"cannot read private key {path}: {exc.strerror}") from exc
    return load_private_key_pem(data, own=own)
