"""The CA store's look-ups that must stay fast with a million certificates (issue 16): exact-CN and
single-serial search, counts kept by triggers, the migration of an older store, and bulk import."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from labctl.cert_events import EventType
from labctl.services.ca.store import (
    CertStatus,
    ImportedCertificate,
    ImportedRevocation,
    RequestStatus,
    SerialInUse,
    Store,
    common_names,
)

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
# What issue 16 added; dropping it leaves a store as an older labctl wrote it.
ADDED_BY_ISSUE_16 = """
DROP TRIGGER cert_counts_insert;
DROP TRIGGER cert_counts_update;
DROP TRIGGER cert_counts_delete;
DROP TABLE cert_counts;
DROP TABLE cert_names;
DROP INDEX certs_status_issued;
DROP INDEX certs_issued;
DROP INDEX requests_status;
CREATE INDEX certs_status ON certs(status);
"""


def _add(store: Store, serial: int, subject: str) -> None:
    store.add_certificate(
        serial=serial,
        request_id=None,
        profile_id="estServiceCert",
        subject=subject,
        issuer="CN=Test Intermediate CA",
        der=b"\x30\x03\x02\x01\x01",
        not_before=NOW,
        not_after=NOW + timedelta(days=90),
        is_agent=False,
    )


def _imported(serial: int, name: str, revocation: ImportedRevocation | None = None) -> ImportedCertificate:
    return ImportedCertificate(
        serial=serial,
        profile_id="estServiceCert",
        subject=f"CN={name}",
        issuer="CN=Test Intermediate CA",
        der=b"\x30\x03\x02\x01\x01",
        csr_der=b"\x30\x00",
        requester="seeder",
        not_before=NOW,
        not_after=NOW + timedelta(days=90),
        issued_at=NOW + timedelta(seconds=serial),
        revocation=revocation,
    )


def _serials(store: Store, **filters: Any) -> list[int]:
    _total, records = store.list_certificates(**filters)
    return [r.serial for r in records]


def test_common_names_reads_every_cn_lower_cased_with_escapes_kept() -> None:
    assert common_names(r"CN=Device\, Two,O=Lab,cn=Alias+OU=x") == {r"device\, two", "alias"}


def test_common_names_of_a_subject_without_cn_is_empty() -> None:
    assert common_names("O=Lab,C=US") == set()


def test_exact_cn_search_finds_only_that_certificate_in_any_case(store: Store) -> None:
    _add(store, 0x10, "CN=device-1.cert-lab.local")
    _add(store, 0x11, "CN=device-10.cert-lab.local")
    _add(store, 0x12, "CN=other,O=Lab,CN=device-1.cert-lab.local")
    assert _serials(store, common_name="Device-1.Cert-Lab.Local") == [0x10, 0x12]
    total, _records = store.list_certificates(common_name="device-1.cert-lab")
    assert total == 0


def test_exact_cn_search_keeps_to_the_status_asked_for(store: Store) -> None:
    _add(store, 0x10, "CN=device-1")
    _add(store, 0x11, "CN=device-1")
    store.revoke(0x10, reason="Key_Compromise", revoked_by="agent")
    assert _serials(store, common_name="device-1", status=CertStatus.VALID) == [0x11]


def test_subject_substring_search_finds_it_in_any_case(store: Store) -> None:
    _add(store, 0x10, "CN=device-1.cert-lab.local,O=Lab")
    _add(store, 0x11, "CN=device-10.cert-lab.local")
    _add(store, 0x12, "CN=other")
    assert _serials(store, subject_contains="DEVICE-1") == [0x10, 0x11]
    assert _serials(store, subject_contains="1.cert-lab.local,o=lab") == [0x10]
    assert _serials(store, subject_contains="nowhere") == []


def test_search_by_one_serial_finds_it_and_nothing_else(store: Store) -> None:
    for serial in (0xA, 0xAB, 0xABC):
        _add(store, serial, f"CN=s{serial}")
    assert _serials(store, serial_from=0xAB, serial_to=0xAB) == [0xAB]
    assert _serials(store, serial_from=0xAB, serial_to=0xABC) == [0xAB, 0xABC]


def test_counts_follow_issuance_revocation_and_release(store: Store) -> None:
    for serial in (0x10, 0x11, 0x12):
        _add(store, serial, f"CN=s{serial}")
    store.revoke(0x10, reason="Certificate_Hold", revoked_by="agent")
    store.revoke(0x11, reason="Key_Compromise", revoked_by="agent")
    store.release(0x10, released_by="agent", reason="Certificate_Hold", error="x")
    assert store.counts() == {"VALID": 2, "REVOKED": 1, "PENDING_REQUESTS": 0}


def test_page_totals_by_status_match_a_count_of_the_rows(store: Store, store_path: Path) -> None:
    for serial in range(0x10, 0x16):
        _add(store, serial, f"CN=s{serial}")
    store.revoke(0x12, reason="Superseded", revoked_by="agent")
    probe = sqlite3.connect(store_path)
    try:
        for status in (CertStatus.VALID, CertStatus.REVOKED, None):
            where, args = ("WHERE status = ?", (status.value,)) if status else ("", ())
            (expected,) = probe.execute(f"SELECT COUNT(*) FROM certs {where}", args).fetchone()
            total, page = store.list_certificates(status=status, limit=2)
            assert total == expected
            assert len(page) == min(2, expected)
    finally:
        probe.close()


def test_an_older_store_gains_counts_and_names_from_its_rows_at_open(store_path: Path) -> None:
    first = Store(store_path)
    _add(first, 0x10, "CN=kept-1")
    _add(first, 0x11, "CN=kept-2")
    first.revoke(0x11, reason="Key_Compromise", revoked_by="agent")
    first.close()
    older = sqlite3.connect(store_path, isolation_level=None)
    older.executescript(ADDED_BY_ISSUE_16)
    older.close()
    reopened = Store(store_path)
    try:
        assert reopened.counts() == {"VALID": 1, "REVOKED": 1, "PENDING_REQUESTS": 0}
        assert _serials(reopened, common_name="kept-2") == [0x11]
        _add(reopened, 0x12, "CN=kept-3")
        assert reopened.counts()["VALID"] == 2
    finally:
        reopened.close()


def test_opening_drops_the_index_the_new_ones_supersede(store: Store, store_path: Path) -> None:
    probe = sqlite3.connect(store_path)
    try:
        indexes = {row[0] for row in probe.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        probe.close()
    assert {"certs_status_issued", "certs_issued", "requests_status"} <= indexes
    assert "certs_status" not in indexes


def test_import_records_requests_events_and_revocations(store: Store) -> None:
    hold = ImportedRevocation("Certificate_Hold", 6, "agent", NOW + timedelta(days=1))
    compromised = ImportedRevocation("Key_Compromise", 1, "agent", NOW + timedelta(days=2))
    imported = [_imported(0x10, "a"), _imported(0x11, "b", hold), _imported(0x12, "c", compromised)]
    assert store.import_certificates(imported) == 3
    assert store.counts() == {"VALID": 1, "REVOKED": 2, "PENDING_REQUESTS": 0}
    assert [(r.serial, r.revocation_reason) for r in store.revoked()] == [
        (0x11, "Certificate_Hold"),
        (0x12, "Key_Compromise"),
    ]
    total, requests = store.list_requests(status=RequestStatus.COMPLETE)
    assert total == 5
    assert sorted(r.request_type for r in requests) == ["enrollment"] * 3 + ["revocation"] * 2
    events = store.outbox.events(hierarchy="ecc")
    assert [e.type for e in events].count(EventType.REVOKED) == 2
    assert _serials(store, common_name="b") == [0x11]


def test_import_with_a_taken_serial_writes_nothing(store: Store) -> None:
    _add(store, 0x11, "CN=taken")
    with pytest.raises(SerialInUse):
        store.import_certificates([_imported(0x10, "a"), _imported(0x11, "b")])
    assert _serials(store) == [0x11]
    assert store.counts()["VALID"] == 1
    assert store.list_requests()[0] == 0
