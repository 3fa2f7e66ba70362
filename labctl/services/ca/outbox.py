"""The CA's event outbox: every issuance and revocation as a row, written in the same SQLite
transaction as the certificate or the revocation it describes, so a crash neither loses an event
nor records one for something that did not happen. Event IDs come from AUTOINCREMENT: they only
grow and are never reused.

Beside the events, one delivery cursor per webhook receiver (the last event it took), so a
restarted CA resumes each receiver where it stopped (labctl/services/ca/webhooks.py delivers).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from labctl.cert_events import CertificateEvent, EventType

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    type        TEXT NOT NULL,
    serial      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    profile_id  TEXT NOT NULL,
    request_id  INTEGER,
    reason      TEXT,
    reason_code INTEGER,
    time        TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_cursors (
    url          TEXT PRIMARY KEY,
    delivered_id INTEGER NOT NULL,
    last_error   TEXT,
    last_attempt TEXT
);
"""


@dataclass(frozen=True, slots=True)
class Receiver:
    """A webhook receiver's progress: events after `delivered_id` are still to be delivered."""

    url: str
    delivered_id: int
    pending: int
    oldest_pending: datetime | None
    last_error: str | None
    last_attempt: datetime | None


class Outbox:
    """The events and cursors on the store's connection; `append` only inside the store's transactions."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._db.executescript(SCHEMA)

    def append(
        self,
        event_type: EventType,
        *,
        serial: int,
        subject: str,
        profile_id: str,
        request_id: int | None,
        time: datetime,
        reason: str | None = None,
        reason_code: int | None = None,
    ) -> None:
        self._db.execute(
            "INSERT INTO events (type, serial, subject, profile_id, request_id, reason, reason_code, time)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (event_type.value, f"{serial:x}", subject, profile_id, request_id, reason, reason_code, time.isoformat()),
        )

    def events(self, *, hierarchy: str, after: int = 0, limit: int = 100) -> list[CertificateEvent]:
        """Events with an ID above `after`, oldest first."""
        rows = self._db.execute("SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?", (after, limit))
        return [_event(row, hierarchy) for row in rows]

    def latest_id(self) -> int:
        return int(self._db.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])

    # --- webhook receivers ---------------------------------------------------------------------

    def register(self, url: str) -> int:
        """The receiver's cursor; a receiver new to this CA starts after the latest event (it gets what
        happens from now on, not the CA's whole history)."""
        self._db.execute(
            "INSERT INTO webhook_cursors (url, delivered_id) VALUES (?, (SELECT COALESCE(MAX(id), 0) FROM events))"
            " ON CONFLICT(url) DO NOTHING",
            (url,),
        )
        cursor = self.cursor(url)
        assert cursor is not None
        return cursor

    def cursor(self, url: str) -> int | None:
        """The last event the receiver took; None for a receiver not registered."""
        row = self._db.execute("SELECT delivered_id FROM webhook_cursors WHERE url = ?", (url,)).fetchone()
        return None if row is None else int(row[0])

    def delivered(self, url: str, event_id: int) -> None:
        """Advance the receiver's cursor (it answered 2xx to `event_id`); one durable write per event."""
        self._db.execute(
            "UPDATE webhook_cursors SET delivered_id = MAX(delivered_id, ?), last_error = NULL WHERE url = ?",
            (event_id, url),
        )

    def failed(self, url: str, error: str, when: datetime) -> None:
        self._db.execute(
            "UPDATE webhook_cursors SET last_error = ?, last_attempt = ? WHERE url = ?",
            (error, when.isoformat(), url),
        )

    def receiver(self, url: str) -> Receiver | None:
        row = self._db.execute("SELECT * FROM webhook_cursors WHERE url = ?", (url,)).fetchone()
        if row is None:
            return None
        delivered_id = int(row["delivered_id"])
        pending, oldest = self._db.execute(
            "SELECT COUNT(*), MIN(time) FROM events WHERE id > ?", (delivered_id,)
        ).fetchone()
        return Receiver(
            url=url,
            delivered_id=delivered_id,
            pending=int(pending),
            oldest_pending=datetime.fromisoformat(oldest) if oldest else None,
            last_error=row["last_error"],
            last_attempt=datetime.fromisoformat(row["last_attempt"]) if row["last_attempt"] else None,
        )


def _event(row: sqlite3.Row, hierarchy: str) -> CertificateEvent:
    return CertificateEvent(
        event_id=int(row["id"]),
        type=EventType(row["type"]),
        hierarchy=hierarchy,
        serial=int(row["serial"], 16),
        subject=row["subject"],
        profile=row["profile_id"],
        time=datetime.fromisoformat(row["time"]),
        request_id=row["request_id"],
        reason=row["reason"],
        reason_code=row["reason_code"],
    )
