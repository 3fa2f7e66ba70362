"""Certs-only PKCS#7 (degenerate SignedData), DER and base64, exactly as EST carries it.

RFC 7030 section 4.1.3 and RFC 8951: the body is base64. We send 64-column lines separated by LF,
with nothing after the last line: LF because the lab docs' recipes pipe answers into coreutils
`base64 -d`, which rejects CR ("invalid input"), while openssl, libest and Python accept either.
We accept base64 wrapped or not, LF or CRLF, PEM armour, or plain DER.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from labctl.errors import PKIError
from labctl.pki.issue import decode_base64

BASE64_COLUMNS = 64


def certs_only_der(certs: Sequence[x509.Certificate]) -> bytes:
    if not certs:
        raise PKIError("a certs-only PKCS#7 needs at least one certificate")
    return pkcs7.serialize_certificates(list(certs), serialization.Encoding.DER)


def wrap_base64(der: bytes) -> bytes:
    """Base64 in lines of 64 columns separated by LF, with no line break after the last line."""
    text = base64.b64encode(der)
    lines = [text[i : i + BASE64_COLUMNS] for i in range(0, len(text), BASE64_COLUMNS)]
    return b"\n".join(lines)


def certs_only_base64(certs: Sequence[x509.Certificate]) -> bytes:
    return wrap_base64(certs_only_der(certs))


def load_certs_only(data: bytes) -> list[x509.Certificate]:
    """Read a certs-only PKCS#7 given as DER, base64 (any wrapping) or PEM ('PKCS7' armour).

    Raises:
        PKIError: not base64, not PKCS#7, or no certificate inside.
    """
    stripped = data.strip()
    if stripped.startswith(b"-----BEGIN"):
        stripped = b"".join(line for line in stripped.splitlines() if not line.startswith(b"-----"))
    der = bytes(stripped) if stripped[:1] == b"\x30" else decode_base64(stripped, what="PKCS#7")
    try:
        certs = pkcs7.load_der_pkcs7_certificates(der)
    except (ValueError, UnsupportedAlgorithm, x509.InvalidVersion) as exc:  # e.g. not SignedData; bad cert version
        raise PKIError(f"not a certs-only PKCS#7: {exc}") from exc
    if not certs:
        raise PKIError("PKCS#7 holds no certificate")
    return certs
