"""The CA's event outbox: an event per issuance and revocation, committed with it, in ID order;
webhook cursors that survive a reopen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from labctl.cert_events import EventType, parse_event
from labctl.services.ca.store import NewRequest, SerialInUse, Store

HIERARCHY = "ecc"
URL = "http://192.0.2.1:9797/events"


def _issue(store: Store, serial: int, subject: str = "CN=device01") -> int | None:
    now = datetime.now(UTC)
    return store.add_certificate(
        serial=serial,
        request_id=None,
        profile_id="estServiceCert",
        subject=subject,
        issuer="CN=Test Intermediate CA",
        der=b"\x30\x03\x02\x01\x01",
        not_before=now,
        not_after=now + timedelta(days=90),
        is_agent=False,
        new_request=NewRequest(b"\x30\x00", subject, "agent"),
    )


def test_an_issuance_records_one_event_with_its_request(store: Store) -> None:
    request_id = _issue(store, 0x1A2B)
    (event,) = store.outbox.events(hierarchy=HIERARCHY)
    assert (event.type, event.serial, event.subject, event.profile) == (
        EventType.ISSUED,
        0x1A2B,
        "CN=device01",
        "estServiceCert",
    )
    assert event.request_id == request_id
    assert event.reason is None
    assert event.time == store.get_certificate(0x1A2B).issued_at  # type: ignore[union-attr]


def test_an_issuance_and_its_event_commit_together(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(store.outbox, "append", refuse)
    with pytest.raises(RuntimeError):
        _issue(store, 0x1A2B)
    monkeypatch.undo()
    assert store.get_certificate(0x1A2B) is None
    assert store.outbox.events(hierarchy=HIERARCHY) == []


def test_a_serial_collision_records_no_event(store: Store) -> None:
    _issue(store, 0x1A2B)
    with pytest.raises(SerialInUse):
        _issue(store, 0x1A2B, subject="CN=device02")
    assert [e.subject for e in store.outbox.events(hierarchy=HIERARCHY)] == ["CN=device01"]


def test_a_revocation_records_its_reason_and_revocation_request(store: Store) -> None:
    _issue(store, 0x1A2B)
    request_id = store.revoke(0x1A2B, reason="Key_Compromise", revoked_by="agent", reason_code=1)
    assert request_id is not None
    assert store.get_request(request_id).request_type == "revocation"  # type: ignore[union-attr]
    event = store.outbox.events(hierarchy=HIERARCHY)[-1]
    assert (event.type, event.serial, event.reason, event.reason_code, event.request_id) == (
        EventType.REVOKED,
        0x1A2B,
        "Key_Compromise",
        1,
        request_id,
    )


def test_revoking_twice_records_one_event(store: Store) -> None:
    _issue(store, 0x1A2B)
    assert store.revoke(0x1A2B, reason="Superseded", revoked_by="agent") is not None
    assert store.revoke(0x1A2B, reason="Superseded", revoked_by="agent") is None
    assert [e.type for e in store.outbox.events(hierarchy=HIERARCHY)] == [EventType.ISSUED, EventType.REVOKED]


def test_a_release_from_hold_records_its_event_and_unrevocation_request(store: Store) -> None:
    _issue(store, 0x1A2B)
    store.revoke(0x1A2B, reason="Certificate_Hold", revoked_by="agent", reason_code=6)
    outcome = store.release(0x1A2B, released_by="agent", reason="Certificate_Hold", error="not on hold")
    assert outcome is not None
    request_id, released = outcome
    assert released is True
    assert store.get_request(request_id).request_type == "unrevocation"  # type: ignore[union-attr]
    event = store.outbox.events(hierarchy=HIERARCHY)[-1]
    assert (event.type, event.serial, event.reason, event.request_id) == (EventType.RELEASED, 0x1A2B, None, request_id)


def test_releasing_a_certificate_not_on_hold_records_no_event(store: Store) -> None:
    _issue(store, 0x1A2B)
    store.revoke(0x1A2B, reason="Key_Compromise", revoked_by="agent", reason_code=1)
    outcome = store.release(0x1A2B, released_by="agent", reason="Certificate_Hold", error="not on hold")
    assert outcome is not None
    request_id, released = outcome
    assert released is False
    assert store.get_request(request_id).error == "not on hold"  # type: ignore[union-attr]
    assert [e.type for e in store.outbox.events(hierarchy=HIERARCHY)] == [EventType.ISSUED, EventType.REVOKED]


def test_event_ids_grow_in_order_and_page_by_after(store: Store) -> None:
    for serial in range(1, 6):
        _issue(store, serial)
    ids = [e.event_id for e in store.outbox.events(hierarchy=HIERARCHY)]
    assert ids == sorted(ids) and len(set(ids)) == 5
    page = store.outbox.events(hierarchy=HIERARCHY, after=ids[1], limit=2)
    assert [e.event_id for e in page] == ids[2:4]
    assert store.outbox.latest_id() == ids[-1]


def test_events_survive_a_reopen(tmp_path: Path) -> None:
    first = Store(tmp_path / "ca.db")
    _issue(first, 0x1A2B)
    first.close()
    second = Store(tmp_path / "ca.db")
    try:
        assert [e.serial for e in second.outbox.events(hierarchy=HIERARCHY)] == [0x1A2B]
    finally:
        second.close()


def test_a_new_receiver_starts_after_the_latest_event(store: Store) -> None:
    _issue(store, 1)
    assert store.outbox.register(URL) == store.outbox.latest_id()
    _issue(store, 2)
    receiver = store.outbox.receiver(URL)
    assert receiver is not None and receiver.pending == 1


def test_a_receivers_cursor_survives_a_reopen(tmp_path: Path) -> None:
    first = Store(tmp_path / "ca.db")
    first.outbox.register(URL)
    for serial in (1, 2, 3):
        _issue(first, serial)
    delivered = first.outbox.events(hierarchy=HIERARCHY)[1].event_id
    first.outbox.delivered(URL, delivered)
    first.outbox.failed(URL, "connection refused", datetime.now(UTC))
    first.close()
    second = Store(tmp_path / "ca.db")
    try:
        assert second.outbox.register(URL) == delivered
        receiver = second.outbox.receiver(URL)
        assert receiver is not None
        assert (receiver.pending, receiver.last_error) == (1, "connection refused")
    finally:
        second.close()


def test_an_event_round_trips_through_its_json(store: Store) -> None:
    _issue(store, 0x1A2B)
    store.revoke(0x1A2B, reason="Key_Compromise", revoked_by="agent", reason_code=1)
    for event in store.outbox.events(hierarchy=HIERARCHY):
        data = event.to_json()
        assert data["serial"] == "0x1a2b"
        assert data["ca_level"] == "intermediate"
        assert data["time"].endswith("Z")
        assert parse_event(data, source="test").to_json() == data
