"""The CA's SQLite store: durable journal, revocations that survive a restart, serials never reused."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from labctl.services.ca.store import CertStatus, RequestStatus, SerialInUse, Store, connect

SERIAL = 0x1F2E3D4C5B6A79


def _add_request(store: Store) -> int:
    return store.add_request(
        request_type="enrollment",
        profile_id="estServiceCert",
        csr_der=b"\x30\x00",
        subject="CN=device01",
        status=RequestStatus.PENDING,
        requester="tester",
    )


def _add_certificate(store: Store, serial: int, request_id: int | None) -> None:
    now = datetime.now(UTC)
    store.add_certificate(
        serial=serial,
        request_id=request_id,
        profile_id="estServiceCert",
        subject="CN=device01",
        issuer="CN=Test Intermediate CA",
        der=b"\x30\x03\x02\x01\x01",
        not_before=now,
        not_after=now + timedelta(days=90),
        is_agent=False,
    )


def test_store_uses_wal_journal(store: Store, store_path: Path) -> None:
    probe = sqlite3.connect(store_path)
    try:
        (mode,) = probe.execute("PRAGMA journal_mode").fetchone()
    finally:
        probe.close()
    assert mode == "wal"


def test_store_completes_request_with_its_certificate(store: Store) -> None:
    request_id = _add_request(store)
    _add_certificate(store, SERIAL, request_id)
    request = store.get_request(request_id)
    assert request is not None
    assert request.status is RequestStatus.COMPLETE
    assert request.serial == SERIAL


def test_store_revocation_persists_across_reopen(store_path: Path) -> None:
    first = Store(store_path)
    try:
        _add_certificate(first, SERIAL, _add_request(first))
        assert first.revoke(SERIAL, reason="Key_Compromise", revoked_by="agent")
    finally:
        first.close()
    reopened = Store(store_path)
    try:
        record = reopened.get_certificate(SERIAL)
        assert record is not None
        assert record.status is CertStatus.REVOKED
        assert record.revocation_reason == "Key_Compromise"
        assert record.revoked_by == "agent"
        assert [r.serial for r in reopened.revoked()] == [SERIAL]
        assert reopened.counts() == {"VALID": 0, "REVOKED": 1, "PENDING_REQUESTS": 0}
    finally:
        reopened.close()


def test_store_revoke_twice_reports_false(store: Store) -> None:
    _add_certificate(store, SERIAL, None)
    assert store.revoke(SERIAL, reason="Unspecified", revoked_by="agent")
    assert not store.revoke(SERIAL, reason="Superseded", revoked_by="agent")
    record = store.get_certificate(SERIAL)
    assert record is not None
    assert record.revocation_reason == "Unspecified"


def test_store_duplicate_serial_raises_serial_in_use(store: Store) -> None:
    _add_certificate(store, SERIAL, _add_request(store))
    second_request = _add_request(store)
    with pytest.raises(SerialInUse, match=f"0x{SERIAL:x}"):
        _add_certificate(store, SERIAL, second_request)
    # Nothing of the failed insert was written: the second request is still pending, one certificate.
    request = store.get_request(second_request)
    assert request is not None
    assert request.status is RequestStatus.PENDING
    assert request.serial is None
    assert store.counts()["VALID"] == 1


def test_store_list_certificates_counts_before_paging(store: Store) -> None:
    for serial in (0x10, 0x11, 0x12):
        _add_certificate(store, serial, None)
    total, page = store.list_certificates(limit=2, start=1)
    assert total == 3
    assert len(page) == 2


def test_release_makes_a_held_certificate_valid_and_survives_a_reopen(store_path: Path) -> None:
    store = Store(store_path)
    _add_certificate(store, SERIAL, None)
    store.revoke(SERIAL, reason="Certificate_Hold", revoked_by="agent")
    assert store.release(SERIAL, released_by="agent", reason="Certificate_Hold", error="x") is not None
    store.close()
    reopened = Store(store_path)
    try:
        record = reopened.get_certificate(SERIAL)
        assert record is not None
        assert (record.status, record.revoked_at, record.revocation_reason) == (CertStatus.VALID, None, None)
        assert list(reopened.revoked()) == []
    finally:
        reopened.close()


def test_release_of_an_unknown_serial_writes_nothing(store: Store) -> None:
    assert store.release(SERIAL, released_by="agent", reason="Certificate_Hold", error="x") is None
    assert store.list_requests()[0] == 0


def test_store_connection_keeps_temporary_files_in_memory(store_path: Path) -> None:
    """The CA's /tmp is read-only: a statement journal spilled there fails (see store.connect; e2e:
    test_least_privilege.py::test_ca_store_needs_no_writable_tmp runs one in each CA)."""
    db = connect(store_path)
    try:
        assert db.execute("PRAGMA temp_store").fetchone()[0] == 2  # MEMORY
    finally:
        db.close()


def test_an_error_sqlite_rolled_back_itself_is_the_error_raised(store: Store) -> None:
    """SQLITE_FULL, SQLITE_IOERR... end the transaction in SQLite; the ROLLBACK after them would raise
    "no transaction is active" and hide what happened."""

    class Failure(Exception):
        pass

    with pytest.raises(Failure), store._transaction():
        store._db.execute("ROLLBACK")  # what SQLite does on its own after such an error
        raise Failure
    assert store.counts()["VALID"] == 0  # and the store goes on
