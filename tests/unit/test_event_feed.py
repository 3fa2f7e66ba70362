"""labctl events' feed: pages through each CA's events from where it stopped, merges the hierarchies
by time, and reports receivers the CA marks overdue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from labctl.cert_events import CertificateEvent, EventType
from labctl.errors import CAError
from labctl.event_feed import EventFeed
from labctl.topology import load_lab

LAB = load_lab()
START = datetime(2026, 12, 2, 22, 0, tzinfo=UTC)
URL = "http://172.26.0.1:9797/events"


def _event(hierarchy: str, event_id: int, minute: int) -> dict[str, Any]:
    event = CertificateEvent(
        event_id=event_id,
        type=EventType.ISSUED,
        hierarchy=hierarchy,
        serial=0x1000 + event_id,
        subject=f"CN=device{event_id}",
        profile="estServiceCert",
        time=START + timedelta(minutes=minute),
        request_id=event_id,
    )
    return {**event.to_json(), "undelivered": []}


class FakeCA:
    """The events API of one CA: its events, served after an ID, `limit` at a time."""

    def __init__(self, events: list[dict[str, Any]], receivers: list[dict[str, Any]] | None = None) -> None:
        self.events = events
        self.receivers = receivers or []
        self.calls: list[tuple[int, int]] = []

    def labctl_events(self, *, after: int, limit: int) -> object:
        self.calls.append((after, limit))
        page = [e for e in self.events if e["id"] > after][:limit]
        return {"events": page, "latest_id": self.events[-1]["id"] if self.events else 0, "receivers": self.receivers}

    def close(self) -> None:
        pass


def _feed(cas: dict[str, FakeCA]) -> EventFeed:
    return EventFeed([LAB.hierarchy(name) for name in cas], lambda h: cas[h.name])  # type: ignore[arg-type, return-value]


def test_each_event_is_read_once_from_where_the_feed_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("labctl.event_feed.PAGE", 2)
    ca = FakeCA([_event("rsa", i, i) for i in range(1, 6)])
    with _feed({"rsa": ca}) as feed:
        assert [e.event.event_id for e in feed.read_new()] == [1, 2, 3, 4, 5]
        assert feed.read_new() == []
        ca.events.append(_event("rsa", 6, 6))
        assert [e.event.event_id for e in feed.read_new()] == [6]
    assert [after for after, _ in ca.calls] == [0, 2, 4, 5, 5]


def test_hierarchies_are_merged_by_time() -> None:
    cas = {"rsa": FakeCA([_event("rsa", 1, 1), _event("rsa", 2, 4)]), "ecc": FakeCA([_event("ecc", 1, 2)])}
    with _feed(cas) as feed:
        assert [(e.event.hierarchy, e.event.event_id) for e in feed.read_new()] == [("rsa", 1), ("ecc", 1), ("rsa", 2)]


def test_an_overdue_receiver_and_its_events_are_reported() -> None:
    late = {**_event("rsa", 1, 1), "undelivered": [URL]}
    receiver = {
        "url": URL,
        "delivered_id": 0,
        "pending": 1,
        "oldest_pending": "2026-12-02T22:01:00.000Z",
        "overdue": True,
        "last_error": "ClientConnectorError: connection refused",
        "last_attempt": "2026-12-02T22:09:00.000Z",
    }
    with _feed({"rsa": FakeCA([late], [receiver])}) as feed:
        (event,) = feed.read_new()
        (overdue,) = feed.overdue
    assert event.line().endswith(f"UNDELIVERED to {URL}")
    assert event.to_json()["undelivered"] == [URL]
    assert overdue.line() == (
        f"rsa: webhook {URL} has 1 undelivered events since 2026-12-02T22:01:00.000Z"
        " (last error: ClientConnectorError: connection refused); the CA keeps retrying"
    )


def test_an_event_line_names_hierarchy_id_type_serial_subject_and_profile() -> None:
    with _feed({"ecc": FakeCA([_event("ecc", 7, 0)])}) as feed:
        (event,) = feed.read_new()
    assert event.line() == ("2026-12-02T22:00:00.000Z ecc #7 certificate.issued 0x1007 CN=device7 (estServiceCert)")


@pytest.mark.parametrize(
    "answer",
    [[], {"events": "no"}, {"events": [{"id": 1}]}, {"events": [], "receivers": "no"}],
    ids=["not-an-object", "events-not-a-list", "event-missing-fields", "receivers-not-a-list"],
)
def test_a_malformed_answer_is_a_ca_error(answer: object) -> None:
    class Odd(FakeCA):
        def labctl_events(self, *, after: int, limit: int) -> object:
            return answer

    with _feed({"rsa": Odd([])}) as feed:
        assert feed.read_new() == []
    assert "rsa CA" in str(feed.errors["rsa"])


def test_an_unreachable_ca_keeps_its_events_for_the_next_read_and_the_others_go_on() -> None:
    class Down(FakeCA):
        up = False

        def labctl_events(self, *, after: int, limit: int) -> object:
            if not self.up:
                raise CAError("CA at https://127.0.0.1:8464 unreachable: connection refused")
            return super().labctl_events(after=after, limit=limit)

    ecc = Down([_event("ecc", 1, 1)])
    with _feed({"rsa": FakeCA([_event("rsa", 1, 0)]), "ecc": ecc}) as feed:
        assert [e.event.hierarchy for e in feed.read_new()] == ["rsa"]
        assert set(feed.errors) == {"ecc"}
        ecc.up = True
        assert [e.event.hierarchy for e in feed.read_new()] == ["ecc"]
        assert feed.errors == {}
