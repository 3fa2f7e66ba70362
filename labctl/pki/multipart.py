"""multipart/mixed bodies as EST's serverkeygen carries them (RFC 7030 section 4.4.2, RFC 2046 section 5.1).

Each part has a Content-Type, `Content-Transfer-Encoding: base64` and a base64 body in 64-column
LF lines (labctl/pki/pkcs7.py says why LF); the delimiters are CRLF as RFC 2046 section 5.1.1 asks.
Readers take any line breaks: Python's email parser does the splitting.
"""

from __future__ import annotations

import email.parser
import email.policy
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message

from labctl.errors import PKIError
from labctl.pki.issue import decode_base64
from labctl.pki.pkcs7 import wrap_base64

CRLF = b"\r\n"


@dataclass(frozen=True, slots=True)
class Part:
    """One body part: its full Content-Type (with parameters) and its decoded content."""

    content_type: str
    content: bytes

    @property
    def media_type(self) -> str:
        return self.content_type.split(";", 1)[0].strip().lower()


def build_multipart(parts: Sequence[Part]) -> tuple[str, bytes]:
    """The Content-Type header (with a fresh boundary) and the body of a multipart/mixed of `parts`."""
    # Base64 never holds '-', so a boundary of dashes and hex cannot occur inside a part.
    boundary = f"est-{secrets.token_hex(12)}"
    body = bytearray()
    for part in parts:
        body += f"--{boundary}".encode() + CRLF
        body += f"Content-Type: {part.content_type}".encode() + CRLF
        body += b"Content-Transfer-Encoding: base64" + CRLF + CRLF
        body += wrap_base64(part.content) + CRLF
    body += f"--{boundary}--".encode() + CRLF
    return f"multipart/mixed; boundary={boundary}", bytes(body)


def parse_multipart(content_type: str, body: bytes) -> list[Part]:
    """The parts of a multipart/mixed answer, base64 bodies decoded (others as sent).

    Raises:
        PKIError: not multipart/mixed, no boundary, no parts, or a part that is not valid base64.
    """
    if not content_type.lower().startswith("multipart/mixed"):
        raise PKIError(f"expected multipart/mixed, got {content_type[:64]}")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    # compat32: header values exactly as sent (the HTTP policy would re-quote parameters).
    message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(head + body)
    if not message.is_multipart() or message.get_boundary() is None:
        raise PKIError("multipart answer has no boundary or no parts")
    parts: list[Part] = []
    for sub in message.get_payload():
        if not isinstance(sub, Message):
            raise PKIError("multipart answer has no parts")
        raw = sub.get_payload(decode=False)
        if not isinstance(raw, str):
            raise PKIError("nested multipart inside the serverkeygen answer")
        encoding = str(sub.get("Content-Transfer-Encoding", "base64")).strip().lower()
        if encoding == "base64":  # strictly: the email module would skip what is not base64
            content = decode_base64(raw.encode("ascii", "replace"), what=sub.get_content_type())
        else:
            content = bytes(sub.get_payload(decode=True))
        parts.append(Part(str(sub.get("Content-Type", "text/plain")), content))
    if not parts:
        raise PKIError("multipart answer holds no parts")
    return parts
