"""The CA's events extension (labctl's, not Dogtag's): the read API and the webhook delivery.

`GET /ca/v2/labctl/events?after=N&limit=M`, for agents (as the other agent endpoints): the events
after ID N, oldest first, each with the configured receivers it is overdue at (`undelivered`), plus
every receiver's progress. The path sits under `labctl/`, a segment Dogtag does not use.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from labctl.cert_events import rfc3339
from labctl.errors import ServiceError
from labctl.services.ca.authority import Caller, IntermediateCA
from labctl.services.ca.outbox import Receiver
from labctl.services.ca.webhooks import DeliverySettings, WebhookDelivery

EVENTS_PATH = "/ca/v2/labctl/events"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def attach_events(app: web.Application, authority: IntermediateCA, *, agent: Callable[[web.Request], Caller]) -> None:
    """Serve the events API on `app` and, when the CA has receivers, deliver to them while it runs.

    Args:
        agent: the app's check that the caller is an agent (401 without credentials, 403 otherwise).
    """

    async def list_events(request: web.Request) -> web.Response:
        agent(request)
        return web.json_response(events_page(authority, after=_number(request, "after", 0), limit=_limit(request)))

    app.router.add_get(EVENTS_PATH, list_events)
    if authority.config.webhooks and authority.config.deliver_events:
        app.cleanup_ctx.append(_delivery(authority))


# The CAs whose events are being delivered: a second application on the same CA (another listener)
# must not start a second delivery, which would send every event twice.
_DELIVERING: weakref.WeakSet[IntermediateCA] = weakref.WeakSet()


def _delivery(authority: IntermediateCA) -> Callable[[web.Application], AsyncIterator[None]]:
    async def run(_app: web.Application) -> AsyncIterator[None]:
        if authority in _DELIVERING:
            yield
            return
        config = authority.config
        settings = DeliverySettings(report_after_s=config.events_report_after_s)
        delivery = WebhookDelivery(
            authority.store.outbox, hierarchy=config.hierarchy, urls=config.webhooks, settings=settings
        )
        _DELIVERING.add(authority)
        try:
            await delivery.start()
            yield
        finally:
            await delivery.stop()
            _DELIVERING.discard(authority)

    return run


def events_page(authority: IntermediateCA, *, after: int, limit: int) -> dict[str, Any]:
    """The API's answer: {"events": [...], "latest_id": int, "receivers": [...]}."""
    outbox = authority.store.outbox
    config = authority.config
    overdue_before = datetime.now(UTC) - timedelta(seconds=config.events_report_after_s)
    receivers = [r for r in (outbox.receiver(url) for url in config.webhooks) if r is not None]
    entries = []
    for event in outbox.events(hierarchy=config.hierarchy, after=after, limit=limit):
        late = event.time <= overdue_before
        undelivered = [r.url for r in receivers if late and r.delivered_id < event.event_id]
        entries.append({**event.to_json(), "undelivered": undelivered})
    return {
        "events": entries,
        "latest_id": outbox.latest_id(),
        "receivers": [_receiver(r, overdue_before) for r in receivers],
    }


def _receiver(receiver: Receiver, overdue_before: datetime) -> dict[str, Any]:
    oldest = receiver.oldest_pending
    return {
        "url": receiver.url,
        "delivered_id": receiver.delivered_id,
        "pending": receiver.pending,
        "oldest_pending": None if oldest is None else rfc3339(oldest),
        "overdue": oldest is not None and oldest <= overdue_before,
        "last_error": receiver.last_error,
        "last_attempt": None if receiver.last_attempt is None else rfc3339(receiver.last_attempt),
    }


def _number(request: web.Request, name: str, default: int) -> int:
    text = request.query.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise ServiceError(400, f"{name} must be a non-negative integer, got {text!r}") from None
    if value < 0:
        raise ServiceError(400, f"{name} must be a non-negative integer, got {text!r}")
    return value


def _limit(request: web.Request) -> int:
    limit = _number(request, "limit", DEFAULT_LIMIT)
    if not 1 <= limit <= MAX_LIMIT:
        raise ServiceError(400, f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    return limit
