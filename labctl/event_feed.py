"""The lab's certificate events, read from each hierarchy's Intermediate CA as the lab admin (`labctl events`).

Each CA keeps its events in its outbox and serves them at GET /ca/v2/labctl/events (labctl's extension);
the feed pages through them from where it last stopped, per hierarchy, and merges the hierarchies by
time. The pqc CA is read from the host too: it serves an RSA-keyed TLS certificate beside its ML-DSA
one, and labctl.bootstrap.admin_client checks that certificate with cryptography.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from labctl.bootstrap import admin_client
from labctl.ca_client import CAClient
from labctl.cert_events import CertificateEvent, parse_event
from labctl.errors import CAError, LabctlError
from labctl.placement import labctl_command
from labctl.state import HierarchyState
from labctl.topology import Hierarchy, Lab

PAGE = 500


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """An event, and the webhook receivers it is overdue at (the CA reports them; it still retries)."""

    event: CertificateEvent
    undelivered: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {**self.event.to_json(), "undelivered": list(self.undelivered)}

    def line(self) -> str:
        late = f"  UNDELIVERED to {', '.join(self.undelivered)}" if self.undelivered else ""
        return self.event.line() + late


@dataclass(frozen=True, slots=True)
class OverdueReceiver:
    """A webhook receiver that has not taken an event for longer than the lab's report_after_s."""

    hierarchy: str
    url: str
    pending: int
    oldest_pending: str
    last_error: str | None

    def line(self) -> str:
        error = f" (last error: {self.last_error})" if self.last_error else ""
        return (
            f"{self.hierarchy}: webhook {self.url} has {self.pending} undelivered events since"
            f" {self.oldest_pending}{error}; the CA keeps retrying"
        )


ClientOpener = Callable[[Hierarchy], CAClient]


class EventFeed:
    """New events of some hierarchies, oldest first, each read once; `overdue` after each read."""

    def __init__(self, hierarchies: Sequence[Hierarchy], open_client: ClientOpener) -> None:
        self._hierarchies = tuple(hierarchies)
        self._open_client = open_client
        self._clients: dict[str, CAClient] = {}
        self._after = {h.name: 0 for h in hierarchies}
        self.overdue: list[OverdueReceiver] = []
        self.errors: dict[str, CAError] = {}

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def __enter__(self) -> EventFeed:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def read_new(self) -> list[FeedEvent]:
        """Every event since the last call of the CAs that answered, merged across hierarchies by time.

        A CA that could not be read (unreachable, or an error answer) is in `errors`, by hierarchy; none
        of its events were consumed, so the next call reads them.
        """
        per_hierarchy = []
        overdue: list[OverdueReceiver] = []
        self.errors = {}
        for hierarchy in self._hierarchies:
            try:
                events, late = self._read(hierarchy)
            except CAError as exc:
                self.errors[hierarchy.name] = exc
                continue
            per_hierarchy.append(events)
            overdue += late
        self.overdue = overdue
        return list(heapq.merge(*per_hierarchy, key=lambda e: e.event.time))

    def _client(self, hierarchy: Hierarchy) -> CAClient:
        if hierarchy.name not in self._clients:
            self._clients[hierarchy.name] = self._open_client(hierarchy)
        return self._clients[hierarchy.name]

    def _read(self, hierarchy: Hierarchy) -> tuple[list[FeedEvent], list[OverdueReceiver]]:
        client = self._client(hierarchy)
        after = self._after[hierarchy.name]
        events: list[FeedEvent] = []
        while True:
            page = _page(client.labctl_events(after=after, limit=PAGE), source=f"{hierarchy.name} CA")
            events += page.events
            if page.events:
                after = page.events[-1].event.event_id
            if len(page.events) < PAGE:
                break
        self._after[hierarchy.name] = after
        return events, [_overdue(hierarchy.name, receiver) for receiver in page.receivers if receiver.get("overdue")]


@dataclass(frozen=True, slots=True)
class _Page:
    events: list[FeedEvent]
    receivers: list[dict[str, object]]


def _page(body: object, *, source: str) -> _Page:
    """The events API's answer: {"events": [event + "undelivered"], "latest_id", "receivers": [...]}."""
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise CAError(f"{source}: the events answer has no events list: {str(body)[:100]}")
    receivers = body.get("receivers", [])
    if not isinstance(receivers, list) or not all(isinstance(r, dict) for r in receivers):
        raise CAError(f"{source}: the events answer's receivers are not a list of objects")
    events = []
    for entry in body["events"]:
        undelivered = entry.get("undelivered", []) if isinstance(entry, dict) else []
        if not isinstance(undelivered, list):
            raise CAError(f"{source}: an event's undelivered is not a list: {undelivered!r}")
        events.append(FeedEvent(parse_event(entry, source=source), tuple(str(url) for url in undelivered)))
    return _Page(events, receivers)


def _overdue(hierarchy: str, receiver: dict[str, object]) -> OverdueReceiver:
    error = receiver.get("last_error")
    pending = receiver.get("pending")
    return OverdueReceiver(
        hierarchy=hierarchy,
        url=str(receiver.get("url")),
        pending=pending if isinstance(pending, int) else 0,
        oldest_pending=str(receiver.get("oldest_pending")),
        last_error=None if error is None else str(error),
    )


def hierarchies_up(lab: Lab, state_dir: Path) -> list[Hierarchy]:
    """The hierarchies with a lab admin credential in the state dir (brought up); all of them when none is,
    so the first one's client explains that the lab is not up."""
    up = [h for h in lab.hierarchies if HierarchyState(state_dir / h.name).admin_cert.exists()]
    return up or list(lab.hierarchies)


def admin_opener(lab: Lab, state_dir: Path, *, config: Path | None = None) -> ClientOpener:
    """Lab-admin clients of the hierarchies' CAs on their published ports (127.0.0.1).

    Raises (when a client is opened):
        LabctlError: the hierarchy has no lab admin credential in the state dir (the lab is not up).
    """

    def open_client(hierarchy: Hierarchy) -> CAClient:
        state = HierarchyState(state_dir / hierarchy.name)
        if not state.admin_cert.exists():
            raise LabctlError(
                f"the {hierarchy.name} hierarchy of lab {lab.name!r} is not up: no lab admin credential in {state.root}",
                hint=f"bring it up with `{labctl_command('up', lab.name, state_dir, config)}`",
            )
        return admin_client(hierarchy, state, f"https://127.0.0.1:{hierarchy.ca.port}")

    return open_client
