"""Webhook delivery: each event of the outbox POSTed as JSON to every configured receiver.

Per receiver, in event order, at least once: the cursor (the last event a receiver answered 2xx to)
moves only after the answer, and is written durably per batch, so a CA that stops before the write
sends those events again; receivers deduplicate by the event's `id` (X-Labctl-Event-Id). A receiver
that is down holds its queue: the same event is retried with capped exponential backoff, then the
rest follow in order once it is back. An event undelivered for `report_after_s` is reported (one
log line per receiver outage; the events API marks it undelivered) and still retried.

Delivery reads the outbox on its own schedule (every `poll_s`, at once after a delivery) and never
touches the issuance path: an issuance only writes its outbox row, so no receiver can slow or fail it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp

from labctl.cert_events import CertificateEvent
from labctl.services.ca.outbox import Outbox

log = logging.getLogger(__name__)

BATCH = 100


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    # An event not delivered for this long is reported (and still retried).
    report_after_s: float = 300.0
    # The first retry waits this long; each further one twice as long, up to max_retry_s.
    first_retry_s: float = 0.5
    max_retry_s: float = 30.0
    # The whole POST (connect, send, answer) must finish within this.
    timeout_s: float = 5.0
    # How often an idle receiver looks for new events.
    poll_s: float = 0.5


class WebhookDelivery:
    """One task per receiver, started and stopped with the CA's aiohttp application."""

    def __init__(
        self, outbox: Outbox, *, hierarchy: str, urls: Sequence[str], settings: DeliverySettings | None = None
    ) -> None:
        self._outbox = outbox
        self._hierarchy = hierarchy
        self._urls = tuple(urls)
        self._settings = settings or DeliverySettings()
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self._settings.timeout_s)
        self._session = aiohttp.ClientSession(timeout=timeout)
        for url in self._urls:
            self._outbox.register(url)
            self._tasks.append(asyncio.create_task(self._deliver_forever(url), name=f"webhook {url}"))
        if self._urls:
            log.info("delivering events to %s", ", ".join(self._urls))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _deliver_forever(self, url: str) -> None:
        while True:
            try:
                delivered = await self._deliver_pending(url)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not end delivery for good: log it, look again later
                log.exception("webhook %s: delivery failed unexpectedly", url)
                delivered = 0
            if not delivered:
                await asyncio.sleep(self._settings.poll_s)

    async def _deliver_pending(self, url: str) -> int:
        """Deliver what the receiver has not taken yet, in order; the number delivered.

        The cursor is written once per batch, and before any retry wait: each write is an fsync on the
        CA's event loop, which its requests share. A CA stopped mid-batch sends that batch's delivered
        events again (at least once).
        """
        after = self._outbox.cursor(url)
        if after is None:
            after = self._outbox.register(url)
        events = self._outbox.events(hierarchy=self._hierarchy, after=after, limit=BATCH)
        taken = after

        def save() -> None:
            if taken > after:
                self._outbox.delivered(url, taken)

        try:
            for event in events:
                await self._deliver(url, event, before_retry=save)
                taken = event.event_id
        finally:
            save()
        return len(events)

    async def _deliver(self, url: str, event: CertificateEvent, *, before_retry: Callable[[], None]) -> None:
        """POST one event until the receiver takes it."""
        delay = self._settings.first_retry_s
        reported = False
        while (error := await self._post(url, event)) is not None:
            before_retry()
            now = datetime.now(UTC)
            self._outbox.failed(url, error, now)
            if not reported and now - event.time >= timedelta(seconds=self._settings.report_after_s):
                reported = True
                log.error(
                    "webhook %s: event #%d (%s 0x%x) undelivered since %s: %s; still retrying",
                    url,
                    event.event_id,
                    event.type.value,
                    event.serial,
                    event.time.isoformat(timespec="seconds"),
                    error,
                )
            else:
                log.info("webhook %s: event #%d not delivered (%s); retry in %.1fs", url, event.event_id, error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._settings.max_retry_s)
        if reported:
            log.warning("webhook %s is back: event #%d delivered", url, event.event_id)

    async def _post(self, url: str, event: CertificateEvent) -> str | None:
        """None when the receiver answered 2xx; else what went wrong, in one line."""
        assert self._session is not None
        headers = {"X-Labctl-Event-Id": str(event.event_id), "X-Labctl-Event-Type": event.type.value}
        try:
            async with self._session.post(url, json=event.to_json(), headers=headers, allow_redirects=False) as answer:
                if 200 <= answer.status < 300:
                    return None
                return f"answered {answer.status} {answer.reason or ''}".strip()
        except TimeoutError:
            return f"no answer within {self._settings.timeout_s:g}s"
        except aiohttp.ClientConnectorError as exc:  # its own text repeats the address and adds "ssl:default"
            code = exc.os_error.errno
            return f"cannot connect: {os.strerror(code) if isinstance(code, int) and code > 0 else exc.os_error}"
        except aiohttp.ClientError as exc:
            return f"{type(exc).__name__}: {exc}"
