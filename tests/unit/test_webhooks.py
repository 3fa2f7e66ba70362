"""Webhook delivery to a receiver on 127.0.0.1: in order, retried while the receiver is down and
delivered once it is back, resumed from the stored cursor, and reported when undelivered too long."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from labctl.services.ca.app import create_app
from labctl.services.ca.store import NewRequest, Store
from labctl.services.ca.webhooks import DeliverySettings, WebhookDelivery
from tests.conftest import AiohttpClient, AiohttpServer, CAOpener

HIERARCHY = "rsa"
FAST = DeliverySettings(first_retry_s=0.01, max_retry_s=0.05, timeout_s=2.0, poll_s=0.01)


@dataclass
class Receiver:
    """Takes events; answers `failures` 503s first (a receiver that is up but not ready)."""

    failures: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    ids_seen: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.ids_seen.append(request.headers["X-Labctl-Event-Id"])
        if self.failures > 0:
            self.failures -= 1
            return web.Response(status=503)
        self.received.append(await request.json())
        return web.Response(status=204)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/events", self.handle)
        return app

    @property
    def serials(self) -> list[str]:
        return [event["serial"] for event in self.received]


def _issue(store: Store, serial: int) -> None:
    now = datetime.now(UTC)
    store.add_certificate(
        serial=serial,
        request_id=None,
        profile_id="estServiceCert",
        subject=f"CN=device{serial}",
        issuer="CN=Test Intermediate CA",
        der=b"\x30\x03\x02\x01\x01",
        not_before=now,
        not_after=now + timedelta(days=90),
        is_agent=False,
        new_request=NewRequest(b"\x30\x00", f"CN=device{serial}", "agent"),
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _until(condition: Callable[[], bool], *, deadline_s: float = 20.0) -> None:
    """Wait for `condition` (a deadline for a hung test, not a timing assertion)."""
    async with asyncio.timeout(deadline_s):
        while not condition():
            await asyncio.sleep(0.01)


async def _delivering(store: Store, url: str, settings: DeliverySettings = FAST) -> WebhookDelivery:
    delivery = WebhookDelivery(store.outbox, hierarchy=HIERARCHY, urls=[url], settings=settings)
    await delivery.start()
    return delivery


async def test_events_are_posted_in_order_as_json(store: Store, aiohttp_server: AiohttpServer) -> None:
    receiver = Receiver()
    server = await aiohttp_server(receiver.app())
    delivery = await _delivering(store, str(server.make_url("/events")))
    try:
        for serial in (1, 2, 3):
            _issue(store, serial)
        store.revoke(2, reason="Key_Compromise", revoked_by="agent", reason_code=1)
        await _until(lambda: len(receiver.received) == 4)
    finally:
        await delivery.stop()
    assert receiver.serials == ["0x1", "0x2", "0x3", "0x2"]
    assert [e["type"] for e in receiver.received] == ["certificate.issued"] * 3 + ["certificate.revoked"]
    assert {e["hierarchy"] for e in receiver.received} == {HIERARCHY}
    assert receiver.received[-1]["reason"] == "Key_Compromise"
    ids = [e["id"] for e in receiver.received]
    assert ids == sorted(ids) and receiver.ids_seen == [str(i) for i in ids]


async def test_events_wait_while_the_receiver_is_down_and_arrive_once_it_is_back(
    store: Store, aiohttp_server: AiohttpServer
) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/events"
    delivery = await _delivering(store, url)
    try:
        _issue(store, 1)
        _issue(store, 2)
        await _until(lambda: (r := store.outbox.receiver(url)) is not None and r.last_error is not None)
        failures = [store.outbox.receiver(url).last_error]  # type: ignore[union-attr]
        receiver = Receiver()
        await aiohttp_server(receiver.app(), port=port)
        await _until(lambda: len(receiver.received) == 2)
        _issue(store, 3)
        await _until(lambda: len(receiver.received) == 3)
    finally:
        await delivery.stop()
    assert receiver.serials == ["0x1", "0x2", "0x3"]
    assert "cannot connect: Connection refused" in failures
    state = store.outbox.receiver(url)
    assert state is not None and state.pending == 0 and state.last_error is None


async def test_a_failing_answer_is_retried_without_reordering(store: Store, aiohttp_server: AiohttpServer) -> None:
    receiver = Receiver(failures=3)
    server = await aiohttp_server(receiver.app())
    delivery = await _delivering(store, str(server.make_url("/events")))
    try:
        _issue(store, 1)
        _issue(store, 2)
        await _until(lambda: len(receiver.received) == 2)
    finally:
        await delivery.stop()
    assert receiver.serials == ["0x1", "0x2"]
    first_id = str(receiver.received[0]["id"])
    assert receiver.ids_seen[:4] == [first_id] * 4  # the first event, until taken, before the second


async def test_a_restarted_delivery_resumes_after_the_last_delivered_event(
    tmp_path: Path, aiohttp_server: AiohttpServer
) -> None:
    receiver = Receiver()
    server = await aiohttp_server(receiver.app())
    url = str(server.make_url("/events"))
    first = Store(tmp_path / "ca.db")
    delivery = await _delivering(first, url)
    _issue(first, 1)
    await _until(lambda: len(receiver.received) == 1)
    await delivery.stop()
    _issue(first, 2)  # recorded while no delivery runs (the CA stopping)
    first.close()

    second = Store(tmp_path / "ca.db")
    delivery = await _delivering(second, url)
    try:
        await _until(lambda: len(receiver.received) == 2)
    finally:
        await delivery.stop()
        second.close()
    assert receiver.serials == ["0x1", "0x2"]


async def test_an_event_undelivered_too_long_is_reported_and_still_retried(
    store: Store, aiohttp_server: AiohttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/events"
    settings = DeliverySettings(report_after_s=0, first_retry_s=0.01, max_retry_s=0.05, poll_s=0.01)
    delivery = await _delivering(store, url, settings)
    try:
        with caplog.at_level(logging.ERROR, logger="labctl.services.ca.webhooks"):
            _issue(store, 1)
            await _until(lambda: any("undelivered since" in r.message for r in caplog.records))
        reports = [r.message for r in caplog.records if "undelivered since" in r.message]
        assert len(reports) == 1 and url in reports[0] and "0x1" in reports[0]
        receiver = Receiver()
        await aiohttp_server(receiver.app(), port=port)
        await _until(lambda: len(receiver.received) == 1)
    finally:
        await delivery.stop()


async def test_an_issuance_does_not_wait_for_a_receiver(store: Store) -> None:
    # A receiver that accepts the connection and never answers: issuing still returns at once, the
    # event waits in the outbox.
    hung = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = hung.sockets[0].getsockname()[1]
    delivery = await _delivering(store, f"http://127.0.0.1:{port}/events")
    try:
        _issue(store, 1)
        _issue(store, 2)
        assert [e.serial for e in store.outbox.events(hierarchy=HIERARCHY)] == [1, 2]
    finally:
        await delivery.stop()
        hung.close()


async def test_the_ca_app_delivers_once_however_many_listeners_serve_it(
    open_ca: CAOpener, tmp_path: Path, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    receiver = Receiver()
    server = await aiohttp_server(receiver.app())
    ca = open_ca(tmp_path / "ca")
    ca.config = dataclasses.replace(ca.config, hierarchy="ecc", webhooks=(str(server.make_url("/events")),))
    await aiohttp_client(create_app(ca))  # started: its delivery runs
    await aiohttp_client(create_app(ca))  # a second listener on the same CA
    _issue(ca.store, 1)
    _issue(ca.store, 2)
    await _until(lambda: len(receiver.received) == 2)
    assert receiver.serials == ["0x1", "0x2"]
    assert len([task for task in asyncio.all_tasks() if task.get_name().startswith("webhook ")]) == 1
    assert {e["hierarchy"] for e in receiver.received} == {"ecc"}


async def test_progress_is_stored_before_a_retry_waits(store: Store, aiohttp_server: AiohttpServer) -> None:
    taken: list[int] = []

    async def first_only(request: web.Request) -> web.Response:
        event = await request.json()
        if taken and event["id"] != taken[0]:
            return web.Response(status=503)
        taken.append(event["id"])
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/events", first_only)
    server = await aiohttp_server(app)
    url = str(server.make_url("/events"))
    delivery = await _delivering(store, url)
    try:
        _issue(store, 1)
        _issue(store, 2)
        await _until(lambda: (r := store.outbox.receiver(url)) is not None and r.last_error is not None)
    finally:
        await delivery.stop()
    assert store.outbox.cursor(url) == taken[0]  # the second waits; the first is not sent again after a restart
