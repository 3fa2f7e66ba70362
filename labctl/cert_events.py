"""Certificate events: what the Intermediate CA says happened (an issuance, a revocation), on the wire.

One shape for the three places an event travels: the body of a webhook POST, an entry of the CA's
events API (`GET /ca/v2/labctl/events`, a labctl extension) and a line of `labctl events --json`.
The CA builds it (labctl/services/ca/outbox.py), the host reads it back (labctl/event_feed.py).
`id` grows by one per event of a CA and is never reused: receivers deduplicate by (hierarchy, id),
since delivery is at least once.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from labctl.errors import CAError

# The lab docs' pipeline routes EST certificates to the Intermediate CA under this label; the roots
# are offline and issue nothing through the services, so every event is the intermediate's.
CA_LEVEL = "intermediate"


class EventType(enum.StrEnum):
    ISSUED = "certificate.issued"
    REVOKED = "certificate.revoked"
    # Off hold: a Certificate_Hold revocation undone (Dogtag's unrevoke); the certificate is valid again.
    RELEASED = "certificate.released"


@dataclass(frozen=True, slots=True)
class CertificateEvent:
    """One event. `reason` is Dogtag's revocation reason name (Key_Compromise), as the CA's REST API and
    `labctl cert-status` print it, and `reason_code` its RFC 5280 CRLReason code; both None on issuance."""

    event_id: int
    type: EventType
    hierarchy: str
    serial: int
    subject: str
    profile: str
    time: datetime
    request_id: int | None
    reason: str | None = None
    reason_code: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.event_id,
            "type": self.type.value,
            "hierarchy": self.hierarchy,
            "serial": f"0x{self.serial:x}",
            "subject": self.subject,
            "profile": self.profile,
            "reason": self.reason,
            "reason_code": self.reason_code,
            "time": rfc3339(self.time),
            "ca_level": CA_LEVEL,
            "request_id": None if self.request_id is None else f"0x{self.request_id:x}",
        }

    def line(self) -> str:
        """One line for people: `2026-12-02T22:14:15.123Z ecc #7 certificate.issued 0x1a2b CN=... (profile)`."""
        what = f"{self.profile}, {self.reason}" if self.reason else self.profile
        return f"{rfc3339(self.time)} {self.hierarchy} #{self.event_id} {self.type.value} 0x{self.serial:x} {self.subject} ({what})"


def rfc3339(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and a Z: 2026-12-02T22:14:15.123Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_event(data: object, *, source: str) -> CertificateEvent:
    """An event as to_json() writes it.

    Raises:
        CAError: "<source>: <the field that is missing or wrong>".
    """
    if not isinstance(data, Mapping):
        raise CAError(f"{source}: an event is not a JSON object: {str(data)[:100]}")
    try:
        request_id = data.get("request_id")
        code = data.get("reason_code")
        return CertificateEvent(
            event_id=_int(data["id"]),
            type=EventType(data["type"]),
            hierarchy=str(data["hierarchy"]),
            serial=int(str(data["serial"]), 16),
            subject=str(data["subject"]),
            profile=str(data["profile"]),
            time=datetime.fromisoformat(str(data["time"])),
            request_id=None if request_id is None else int(str(request_id), 16),
            reason=None if data.get("reason") is None else str(data["reason"]),
            reason_code=None if code is None else _int(code),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise CAError(f"{source}: malformed event {str(dict(data))[:200]}: {exc!r}") from exc


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{value!r} is not an integer")
    return value
