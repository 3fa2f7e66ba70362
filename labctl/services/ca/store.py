"""SQLite persistence of the Intermediate CA: requests, issued certificates, revocations, CRL number.

WAL journal with synchronous=FULL: a commit that returned survives a crash or power loss, so a
restarted CA forgets no certificate and no revocation. Serials are stored as hex text (they are
up to 159 bits, wider than SQLite integers) under a UNIQUE constraint, so one is never reused.
Look-ups stay index reads at a million certificates (benchmarks/scale.py): counts per status kept by
triggers, each certificate's CNs in a table of their own, pages in (issued_at, serial) order by index.
"""

from __future__ import annotations

import enum
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from labctl.cert_events import EventType
from labctl.services.ca.outbox import Outbox

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    request_type TEXT NOT NULL,
    profile_id  TEXT NOT NULL,
    csr_der     BLOB,
    subject     TEXT NOT NULL,
    status      TEXT NOT NULL,
    requester   TEXT NOT NULL,
    serial      TEXT,
    error       TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS certs (
    serial      TEXT PRIMARY KEY,
    request_id  INTEGER,
    profile_id  TEXT NOT NULL,
    subject     TEXT NOT NULL,
    issuer      TEXT NOT NULL,
    der         BLOB NOT NULL,
    not_before  TEXT NOT NULL,
    not_after   TEXT NOT NULL,
    is_agent    INTEGER NOT NULL DEFAULT 0,
    status      TEXT NOT NULL DEFAULT 'VALID',
    revoked_at  TEXT,
    revoked_by  TEXT,
    revocation_reason TEXT,
    issued_at   TEXT NOT NULL
);
-- Pages of certs and certs/search in their order (issued_at, serial), whole or of one status, without
-- sorting the table; certs_status_issued supersedes the older certs_status. requests_status: the pending
-- requests getStatus counts and agent/certrequests lists, without reading every request.
CREATE INDEX IF NOT EXISTS certs_status_issued ON certs(status, issued_at, serial);
CREATE INDEX IF NOT EXISTS certs_issued ON certs(issued_at, serial);
DROP INDEX IF EXISTS certs_status;
CREATE INDEX IF NOT EXISTS requests_status ON requests(status);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- A request held for approval under the RA's repeat key (labctl/services/est_ra/approval.py): the
-- repeated EST request finds it again, across RA restarts. Its own table, so older databases gain it.
CREATE TABLE IF NOT EXISTS repeat_keys (
    repeat_key  TEXT PRIMARY KEY,
    request_id  INTEGER NOT NULL REFERENCES requests(id)
);
-- The CRL every worker serves (docs/workers.md): `revocations` counts changes to what a CRL lists (the
-- triggers below), `built_from` is the count the stored CRL was built at; equal, and built by the current
-- issuer within CRL_UPDATE_INTERVAL, it is current. One row.
CREATE TABLE IF NOT EXISTS crl_state (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    revocations INTEGER NOT NULL DEFAULT 0,
    built_from  INTEGER,
    issuer      TEXT,
    built_at    TEXT,
    der         BLOB
);
INSERT OR IGNORE INTO crl_state (id) VALUES (1);
CREATE TRIGGER IF NOT EXISTS crl_revocation_changed
    AFTER UPDATE OF status, revocation_reason ON certs
    WHEN OLD.status IS NOT NEW.status OR OLD.revocation_reason IS NOT NEW.revocation_reason
BEGIN
    UPDATE crl_state SET revocations = revocations + 1;
END;
CREATE TRIGGER IF NOT EXISTS crl_revoked_inserted AFTER INSERT ON certs WHEN NEW.status IS NOT 'VALID'
BEGIN
    UPDATE crl_state SET revocations = revocations + 1;
END;
-- Dogtag's review nonces (a review's, replayed on approve/reject; a certificate's, on revoke): in the
-- store, so the agent's next call may reach any worker. kind: "request" or "cert"; subject: its ID.
CREATE TABLE IF NOT EXISTS nonces (
    kind        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    nonce       TEXT NOT NULL,
    PRIMARY KEY (kind, subject)
) WITHOUT ROWID;
"""

# Kept by triggers in the transaction of every change to certs: getStatus's counts and a page's total
# read one row per status instead of counting a million index entries.
CERT_COUNTS = (
    "CREATE TABLE cert_counts (status TEXT PRIMARY KEY, n INTEGER NOT NULL)",
    "INSERT INTO cert_counts (status, n) SELECT status, COUNT(*) FROM certs GROUP BY status",
    """CREATE TRIGGER cert_counts_insert AFTER INSERT ON certs BEGIN
        INSERT INTO cert_counts (status, n) VALUES (NEW.status, 1) ON CONFLICT(status) DO UPDATE SET n = n + 1;
    END""",
    """CREATE TRIGGER cert_counts_update AFTER UPDATE OF status ON certs WHEN OLD.status IS NOT NEW.status BEGIN
        UPDATE cert_counts SET n = n - 1 WHERE status = OLD.status;
        INSERT INTO cert_counts (status, n) VALUES (NEW.status, 1) ON CONFLICT(status) DO UPDATE SET n = n + 1;
    END""",
    """CREATE TRIGGER cert_counts_delete AFTER DELETE ON certs BEGIN
        UPDATE cert_counts SET n = n - 1 WHERE status = OLD.status;
    END""",
)
# Each certificate's subject CNs (common_names), written with it: certs/search by exact CN is an index
# look-up. A subject's CNs need parsing, which SQL cannot do, hence a table the store fills, not a trigger.
CERT_NAMES = (
    "CREATE TABLE cert_names (name TEXT NOT NULL, serial TEXT NOT NULL, PRIMARY KEY (name, serial)) WITHOUT ROWID"
)
# RFC 4514 text: RDNs are separated by "," (attributes of one RDN by "+"); an escaped "\," is part of a value.
_SEPARATOR = re.compile(r"(?<!\\)[,+]")


def common_names(subject: str) -> set[str]:
    """The CN values of an RFC 4514 subject, lower-cased and as the text writes them (escapes kept): what
    certs/search with matchExactly compares the commonName it is given with, also lower-cased."""
    names = set()
    for part in _SEPARATOR.split(subject):
        key, equals, value = part.partition("=")
        if equals and key.strip().lower() == "cn":
            names.add(value.lower())
    return names


class RequestStatus(enum.StrEnum):
    """Dogtag's request states (com.netscape.certsrv.request.RequestStatus)."""

    PENDING = "pending"
    COMPLETE = "complete"
    REJECTED = "rejected"
    CANCELED = "canceled"


class CertStatus(enum.StrEnum):
    VALID = "VALID"
    REVOKED = "REVOKED"


@dataclass(frozen=True, slots=True)
class RequestRecord:
    request_id: int
    request_type: str
    profile_id: str
    csr_der: bytes | None
    subject: str
    status: RequestStatus
    requester: str
    serial: int | None
    error: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CertRecord:
    serial: int
    request_id: int | None
    profile_id: str
    subject: str
    issuer: str
    der: bytes
    not_before: datetime
    not_after: datetime
    is_agent: bool
    status: CertStatus
    revoked_at: datetime | None
    revoked_by: str | None
    revocation_reason: str | None
    issued_at: datetime


@dataclass(frozen=True, slots=True)
class NewRequest:
    """A request created already complete, with its certificate (an agent's immediate issuance)."""

    csr_der: bytes
    subject: str
    requester: str


@dataclass(frozen=True, slots=True)
class ImportedRevocation:
    reason: str  # a RevocationReason name: Key_Compromise, Certificate_Hold (on hold), ...
    reason_code: int
    revoked_by: str
    revoked_at: datetime


@dataclass(frozen=True, slots=True)
class ImportedCertificate:
    """A certificate issued before this store recorded it, with its enrollment and any revocation:
    recorded as `add_certificate` and `revoke` would have, requests and events included."""

    serial: int
    profile_id: str
    subject: str
    issuer: str
    der: bytes
    csr_der: bytes
    requester: str
    not_before: datetime
    not_after: datetime
    issued_at: datetime
    revocation: ImportedRevocation | None = None


class SerialInUse(Exception):
    """The serial is already taken: draw another (a 159-bit random collision, in practice never)."""


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# How long a write waits for another worker's transaction: far beyond one issuance's (about a millisecond).
BUSY_TIMEOUT_MS = 5000


def connect(path: Path) -> sqlite3.Connection:
    """The store's connection: autocommit (transactions are explicit), WAL, durable commits, and
    temporary files in memory.

    temp_store=MEMORY: the CA's root filesystem is read-only, /tmp included (specs.ca_spec), and a
    statement inside a transaction keeps a statement journal that SQLite spills to a temp file past
    64 KiB (https://www.sqlite.org/tempfiles.html, section 2.5). An INSERT whose b-tree rebalance
    touches enough pages then fails with "disk I/O error", and keeps failing (the tree is unchanged
    after the rollback): the soak's rsa CA stopped issuing at its 3,883rd certificate that way.
    """
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    # Several worker processes share the database (docs/workers.md): a writer waits for the one before it
    # (BEGIN IMMEDIATE takes the write lock first, so no deadlock), up to this, instead of failing at once.
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA temp_store=MEMORY")
    return db


class Store:
    """The CA's database. One connection, used from the service's event loop thread only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = connect(path)
        self._db.row_factory = sqlite3.Row
        self._db.executescript(SCHEMA)
        self._migrate()
        # Its rows are written inside this store's transactions (an event commits with its certificate).
        self.outbox = Outbox(self._db)

    def close(self) -> None:
        self._db.close()

    def _migrate(self) -> None:
        """Give a store of an older labctl the tables derived from certs, filled from its rows (once, at open)."""
        with self._transaction():
            tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "cert_counts" not in tables:
                for statement in CERT_COUNTS:
                    self._db.execute(statement)
            if "cert_names" not in tables:
                self._db.execute(CERT_NAMES)
                # Row by row from the cursor: a million subjects need not sit in memory at once.
                for serial, subject in self._db.execute("SELECT serial, subject FROM certs"):
                    self._add_names(serial, subject)

    def _add_names(self, serial: str, subject: str) -> None:
        # OR IGNORE: a subject may repeat a CN; only a taken serial (in certs) is an error.
        self._db.executemany(
            "INSERT OR IGNORE INTO cert_names (name, serial) VALUES (?, ?)",
            [(name, serial) for name in common_names(subject)],
        )

    # requests

    def add_request(
        self,
        *,
        request_type: str,
        profile_id: str,
        csr_der: bytes | None,
        subject: str,
        status: RequestStatus,
        requester: str,
        error: str | None = None,
        serial: int | None = None,
    ) -> int:
        now = _now()
        cursor = self._db.execute(
            "INSERT INTO requests (request_type, profile_id, csr_der, subject, status, requester, error, serial,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                request_type,
                profile_id,
                csr_der,
                subject,
                status.value,
                requester,
                error,
                None if serial is None else f"{serial:x}",
                now,
                now,
            ),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def _complete_request(
        self,
        request_type: str,
        *,
        profile_id: str,
        csr_der: bytes | None,
        subject: str,
        requester: str,
        serial: str,
        at: str,
        error: str | None = None,
    ) -> int:
        """Insert a request recorded complete at `at` for the certificate `serial` (hex): an immediate
        enrollment, or a revocation or unrevocation (Dogtag records each as a request of its own), with
        `error` for one that failed. Inside the caller's transaction."""
        cursor = self._db.execute(
            "INSERT INTO requests (request_type, profile_id, csr_der, subject, status, requester, serial, error,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                request_type,
                profile_id,
                csr_der,
                subject,
                RequestStatus.COMPLETE.value,
                requester,
                serial,
                error,
                at,
                at,
            ),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def add_held_request(
        self, repeat_key: str, *, profile_id: str, csr_der: bytes, subject: str, requester: str
    ) -> int:
        """A pending enrollment under `repeat_key`, or the request already held under it: one per key."""
        with self._transaction():
            known = self._db.execute(
                "SELECT request_id FROM repeat_keys WHERE repeat_key = ?", (repeat_key,)
            ).fetchone()
            if known is not None:
                return int(known[0])
            request_id = self.add_request(
                request_type="enrollment",
                profile_id=profile_id,
                csr_der=csr_der,
                subject=subject,
                status=RequestStatus.PENDING,
                requester=requester,
            )
            self._db.execute("INSERT INTO repeat_keys (repeat_key, request_id) VALUES (?, ?)", (repeat_key, request_id))
            return request_id

    def request_for_key(self, repeat_key: str) -> RequestRecord | None:
        row = self._db.execute(
            "SELECT requests.* FROM requests JOIN repeat_keys ON repeat_keys.request_id = requests.id"
            " WHERE repeat_keys.repeat_key = ?",
            (repeat_key,),
        ).fetchone()
        return None if row is None else _request(row)

    def set_request_status(
        self, request_id: int, status: RequestStatus, *, serial: int | None = None, error: str | None = None
    ) -> None:
        self._db.execute(
            "UPDATE requests SET status = ?, serial = COALESCE(?, serial), error = ?, updated_at = ? WHERE id = ?",
            (status.value, None if serial is None else f"{serial:x}", error, _now(), request_id),
        )

    def get_request(self, request_id: int) -> RequestRecord | None:
        row = self._db.execute("SELECT * FROM requests WHERE id = ?", (request_id,)).fetchone()
        return None if row is None else _request(row)

    def list_requests(
        self,
        *,
        status: RequestStatus | None = None,
        request_type: str | None = None,
        limit: int = 100,
        start: int = 0,
    ) -> tuple[int, list[RequestRecord]]:
        """Requests matching the filters, oldest first, with the total count before paging."""
        clauses, args = [], []
        if status is not None:
            clauses.append("status = ?")
            args.append(status.value)
        if request_type is not None:
            clauses.append("request_type = ?")
            args.append(request_type)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        total = self._db.execute(f"SELECT COUNT(*) FROM requests {where}", args).fetchone()[0]
        rows = self._db.execute(f"SELECT * FROM requests {where} ORDER BY id LIMIT ? OFFSET ?", [*args, limit, start])
        return total, [_request(row) for row in rows]

    # certificates

    def add_certificate(
        self,
        *,
        serial: int,
        request_id: int | None,
        profile_id: str,
        subject: str,
        issuer: str,
        der: bytes,
        not_before: datetime,
        not_after: datetime,
        is_agent: bool,
        new_request: NewRequest | None = None,
    ) -> int | None:
        """Record an issued certificate and complete its request in one transaction (one fsync).

        With `new_request`, the request is created complete in the same transaction (immediate
        issuance); otherwise `request_id` names the pending request it completes.

        Returns:
            The request's ID.

        Raises:
            SerialInUse: the serial is taken; nothing was written.
        """
        moment = datetime.now(UTC)
        now = moment.isoformat()
        try:
            with self._transaction():
                if new_request is not None:
                    request_id = self._complete_request(
                        "enrollment",
                        profile_id=profile_id,
                        csr_der=new_request.csr_der,
                        subject=new_request.subject,
                        requester=new_request.requester,
                        serial=f"{serial:x}",
                        at=now,
                    )
                self._db.execute(
                    "INSERT INTO certs (serial, request_id, profile_id, subject, issuer, der, not_before, not_after,"
                    " is_agent, issued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        f"{serial:x}",
                        request_id,
                        profile_id,
                        subject,
                        issuer,
                        der,
                        not_before.isoformat(),
                        not_after.isoformat(),
                        int(is_agent),
                        now,
                    ),
                )
                self._add_names(f"{serial:x}", subject)
                if request_id is not None and new_request is None:
                    self._db.execute(
                        "UPDATE requests SET status = ?, serial = ?, error = NULL, updated_at = ? WHERE id = ?",
                        (RequestStatus.COMPLETE.value, f"{serial:x}", now, request_id),
                    )
                self.outbox.append(
                    EventType.ISSUED,
                    serial=serial,
                    subject=subject,
                    profile_id=profile_id,
                    request_id=request_id,
                    time=moment,
                )
        except sqlite3.IntegrityError as exc:
            raise SerialInUse(f"serial 0x{serial:x} is already in use") from exc
        return request_id

    def import_certificates(self, certificates: Iterable[ImportedCertificate]) -> int:
        """Record many certificates in one transaction (one fsync): the scale benchmark seeds a CA this way.

        Returns:
            How many were recorded.

        Raises:
            SerialInUse: a serial is taken; nothing of the batch was written.
        """
        count = 0
        try:
            with self._transaction():
                for certificate in certificates:
                    self._import(certificate)
                    count += 1
        except sqlite3.IntegrityError as exc:
            raise SerialInUse(f"an imported serial is already in use: {exc}") from exc
        return count

    def _import(self, certificate: ImportedCertificate) -> None:
        serial, issued_at = f"{certificate.serial:x}", certificate.issued_at.isoformat()
        request_id = self._complete_request(
            "enrollment",
            profile_id=certificate.profile_id,
            csr_der=certificate.csr_der,
            subject=certificate.subject,
            requester=certificate.requester,
            serial=serial,
            at=issued_at,
        )
        revocation = certificate.revocation
        self._db.execute(
            "INSERT INTO certs (serial, request_id, profile_id, subject, issuer, der, not_before, not_after,"
            " status, revoked_at, revoked_by, revocation_reason, issued_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                serial,
                request_id,
                certificate.profile_id,
                certificate.subject,
                certificate.issuer,
                certificate.der,
                certificate.not_before.isoformat(),
                certificate.not_after.isoformat(),
                (CertStatus.VALID if revocation is None else CertStatus.REVOKED).value,
                None if revocation is None else revocation.revoked_at.isoformat(),
                None if revocation is None else revocation.revoked_by,
                None if revocation is None else revocation.reason,
                issued_at,
            ),
        )
        self._add_names(serial, certificate.subject)
        self.outbox.append(
            EventType.ISSUED,
            serial=certificate.serial,
            subject=certificate.subject,
            profile_id=certificate.profile_id,
            request_id=request_id,
            time=certificate.issued_at,
        )
        if revocation is not None:
            revocation_id = self._complete_request(
                "revocation",
                profile_id=certificate.profile_id,
                csr_der=None,
                subject=certificate.subject,
                requester=revocation.revoked_by,
                serial=serial,
                at=revocation.revoked_at.isoformat(),
            )
            self.outbox.append(
                EventType.REVOKED,
                serial=certificate.serial,
                subject=certificate.subject,
                profile_id=certificate.profile_id,
                request_id=revocation_id,
                time=revocation.revoked_at,
                reason=revocation.reason,
                reason_code=revocation.reason_code,
            )

    def get_certificate(self, serial: int) -> CertRecord | None:
        row = self._db.execute("SELECT * FROM certs WHERE serial = ?", (f"{serial:x}",)).fetchone()
        return None if row is None else _cert(row)

    def list_certificates(
        self,
        *,
        status: CertStatus | None = None,
        subject_contains: str | None = None,
        common_name: str | None = None,
        serial_from: int | None = None,
        serial_to: int | None = None,
        limit: int = 100,
        start: int = 0,
    ) -> tuple[int, list[CertRecord]]:
        """Certificates matching the filters, oldest first, with the total count before paging.

        Args:
            subject_contains: a substring of the subject DN (any case).
            common_name: the subject's CN, exactly (any case).
            serial_from, serial_to: an inclusive serial range; either end may be open.
        """
        clauses: list[str] = []
        args: list[object] = []
        if status is not None:
            clauses.append("status = ?")
            args.append(status.value)
        if subject_contains:
            clauses.append("instr(lower(subject), lower(?)) > 0")
            args.append(subject_contains)
        if common_name:
            clauses.append("serial IN (SELECT serial FROM cert_names WHERE name = ?)")
            args.append(common_name.lower())
        if serial_from is not None and serial_from == serial_to:
            # One certificate (Dogtag's search by serial): the primary key, not the range below.
            clauses.append("serial = ?")
            args.append(f"{serial_from:x}")
            serial_from = serial_to = None
        # Serials are hex text without leading zeros: longer is larger, equal lengths compare as text.
        if serial_from is not None:
            low = f"{serial_from:x}"
            clauses.append("(length(serial) > ? OR (length(serial) = ? AND serial >= ?))")
            args += [len(low), len(low), low]
        if serial_to is not None:
            high = f"{serial_to:x}"
            clauses.append("(length(serial) < ? OR (length(serial) = ? AND serial <= ?))")
            args += [len(high), len(high), high]
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        if clauses in ([], ["status = ?"]):  # no filter but the status: the kept counts say how many
            total = self._count(status)
        else:
            total = self._db.execute(f"SELECT COUNT(*) FROM certs {where}", args).fetchone()[0]
        rows = self._db.execute(
            f"SELECT * FROM certs {where} ORDER BY issued_at, serial LIMIT ? OFFSET ?", [*args, limit, start]
        )
        return total, [_cert(row) for row in rows]

    def revoke(self, serial: int, *, reason: str, revoked_by: str, reason_code: int | None = None) -> int | None:
        """Mark a certificate revoked, record the revocation as a request of its own (as Dogtag does) and
        its event, in one transaction.

        Returns:
            The revocation request's ID; None when the certificate was not valid (already revoked, or unknown).
        """
        moment = datetime.now(UTC)
        now = moment.isoformat()
        with self._transaction():
            cursor = self._db.execute(
                "UPDATE certs SET status = ?, revoked_at = ?, revoked_by = ?, revocation_reason = ?"
                " WHERE serial = ? AND status = ?",
                (CertStatus.REVOKED.value, now, revoked_by, reason, f"{serial:x}", CertStatus.VALID.value),
            )
            if cursor.rowcount != 1:
                return None
            recorded = self._status_request("revocation", serial, requester=revoked_by, at=now)
            if recorded is None:  # not after the UPDATE above found the row; for the type checker
                return None
            request_id, subject, profile_id = recorded
            self.outbox.append(
                EventType.REVOKED,
                serial=serial,
                subject=subject,
                profile_id=profile_id,
                request_id=request_id,
                time=moment,
                reason=reason,
                reason_code=reason_code,
            )
        return request_id

    def release(self, serial: int, *, released_by: str, reason: str, error: str) -> tuple[int, bool] | None:
        """Take a certificate off hold (Dogtag's unrevocation): VALID again, with the unrevocation request and
        its event, in one transaction. A certificate not on hold stays as it is; the request is recorded
        complete with `error`, as Dogtag records a failed unrevocation (base/ca/.../ca/ServiceUnrevoke.java).

        Args:
            reason: the revocation reason name a held certificate carries (Certificate_Hold).

        Returns:
            The unrevocation request's ID and whether the certificate was released; None for an unknown serial.
        """
        moment = datetime.now(UTC)
        now = moment.isoformat()
        with self._transaction():
            cursor = self._db.execute(
                "UPDATE certs SET status = ?, revoked_at = NULL, revoked_by = NULL, revocation_reason = NULL"
                " WHERE serial = ? AND status = ? AND revocation_reason = ?",
                (CertStatus.VALID.value, f"{serial:x}", CertStatus.REVOKED.value, reason),
            )
            released = cursor.rowcount == 1
            recorded = self._status_request(
                "unrevocation", serial, requester=released_by, at=now, error=None if released else error
            )
            if recorded is None:
                return None
            request_id, subject, profile_id = recorded
            if released:
                self.outbox.append(
                    EventType.RELEASED,
                    serial=serial,
                    subject=subject,
                    profile_id=profile_id,
                    request_id=request_id,
                    time=moment,
                )
        return request_id, released

    def _status_request(
        self, kind: str, serial: int, *, requester: str, at: str, error: str | None = None
    ) -> tuple[int, str, str] | None:
        """Record a revocation or an unrevocation of `serial` as a completed request of its own (Dogtag keeps
        one per status change), inside the caller's transaction.

        Returns:
            The request's ID and the certificate's subject and profile; None for an unknown serial.
        """
        row = self._db.execute("SELECT subject, profile_id FROM certs WHERE serial = ?", (f"{serial:x}",)).fetchone()
        if row is None:
            return None
        subject, profile_id = row
        request_id = self._complete_request(
            kind,
            profile_id=profile_id,
            csr_der=None,
            subject=subject,
            requester=requester,
            serial=f"{serial:x}",
            at=at,
            error=error,
        )
        return request_id, subject, profile_id

    def revoked(self) -> Iterator[CertRecord]:
        for row in self._db.execute(
            "SELECT * FROM certs WHERE status = ? ORDER BY revoked_at", (CertStatus.REVOKED.value,)
        ):
            yield _cert(row)

    def _count(self, status: CertStatus | None) -> int:
        """Certificates of `status` (any: None), from the kept counts."""
        value = None if status is None else status.value
        row = self._db.execute(
            "SELECT COALESCE(SUM(n), 0) FROM cert_counts WHERE ?1 IS NULL OR status = ?1", (value,)
        ).fetchone()
        return int(row[0])

    def counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT status, n FROM cert_counts").fetchall()
        counts = {status.value: 0 for status in CertStatus}
        counts.update({row[0]: row[1] for row in rows})
        pending = self._db.execute(
            "SELECT COUNT(*) FROM requests WHERE status = ?", (RequestStatus.PENDING.value,)
        ).fetchone()[0]
        counts["PENDING_REQUESTS"] = pending
        return counts

    def next_crl_number(self) -> int:
        with self._transaction():
            return self._next_crl_number()

    def _next_crl_number(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'crl_number'").fetchone()
        number = int(row[0]) + 1 if row else 1
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES ('crl_number', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (str(number),),
        )
        return number

    def current_crl(self, *, issuer: str, built_after: datetime) -> bytes | None:
        """The stored CRL when it lists the current revocations, by `issuer`, built after `built_after`."""
        row = self._db.execute(
            "SELECT der FROM crl_state WHERE id = 1 AND built_from = revocations AND issuer = ? AND built_at > ?",
            (issuer, built_after.isoformat()),
        ).fetchone()
        return None if row is None else bytes(row[0])

    def rebuild_crl(
        self, *, issuer: str, built_after: datetime, at: datetime, build: Callable[[list[CertRecord], int], bytes]
    ) -> tuple[bytes, bool]:
        """The current CRL, built by `build(revoked, number)` and stored unless another worker stored one
        while this one waited for the write lock.

        Returns:
            The CRL's DER, and whether this call built it.
        """
        with self._transaction():  # BEGIN IMMEDIATE: one worker builds, the others then read what it stored
            current = self.current_crl(issuer=issuer, built_after=built_after)
            if current is not None:
                return current, False
            der = build(list(self.revoked()), self._next_crl_number())
            self._db.execute(
                "UPDATE crl_state SET built_from = revocations, issuer = ?, built_at = ?, der = ? WHERE id = 1",
                (issuer, at.isoformat(), der),
            )
        return der, True

    def put_nonce(self, kind: str, subject: str, nonce: str) -> None:
        """Remember the nonce of a review of `subject`; a later review replaces it."""
        with self._transaction():
            self._db.execute(
                "INSERT INTO nonces (kind, subject, nonce) VALUES (?, ?, ?)"
                " ON CONFLICT(kind, subject) DO UPDATE SET nonce = excluded.nonce",
                (kind, subject, nonce),
            )

    def take_nonce(self, kind: str, subject: str) -> str | None:
        """The nonce of the last review of `subject`, forgotten as it is read (it is good for one call)."""
        with self._transaction():
            # fetchall: the statement runs to its end before COMMIT.
            rows = self._db.execute(
                "DELETE FROM nonces WHERE kind = ? AND subject = ? RETURNING nonce", (kind, subject)
            ).fetchall()
        return str(rows[0][0]) if rows else None

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if not exc_type:
            self._db.execute("COMMIT")
        elif self._db.in_transaction:
            self._db.execute("ROLLBACK")
        # else SQLite already rolled back on its own (SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM...:
        # https://www.sqlite.org/lang_transaction.html "Response To Errors Within A Transaction");
        # a ROLLBACK now would raise "no transaction is active" and hide the error that matters.


def _request(row: sqlite3.Row) -> RequestRecord:
    return RequestRecord(
        request_id=row["id"],
        request_type=row["request_type"],
        profile_id=row["profile_id"],
        csr_der=row["csr_der"],
        subject=row["subject"],
        status=RequestStatus(row["status"]),
        requester=row["requester"],
        serial=int(row["serial"], 16) if row["serial"] else None,
        error=row["error"],
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
    )


def _cert(row: sqlite3.Row) -> CertRecord:
    return CertRecord(
        serial=int(row["serial"], 16),
        request_id=row["request_id"],
        profile_id=row["profile_id"],
        subject=row["subject"],
        issuer=row["issuer"],
        der=row["der"],
        not_before=datetime.fromisoformat(row["not_before"]),
        not_after=datetime.fromisoformat(row["not_after"]),
        is_agent=bool(row["is_agent"]),
        status=CertStatus(row["status"]),
        revoked_at=_time(row["revoked_at"]),
        revoked_by=row["revoked_by"],
        revocation_reason=row["revocation_reason"],
        issued_at=datetime.fromisoformat(row["issued_at"]),
    )
