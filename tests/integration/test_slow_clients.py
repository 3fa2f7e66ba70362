"""Slow clients cannot starve the services: a connection that does not deliver a complete request
head within the header timeout is closed, while normal clients are served meanwhile.

The bounds asserted are liveness bounds (closed at all, within 5x the timeout), not performance
figures; the figures measured go to the log (`pytest -s` or -rA shows them).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
import time
from urllib.parse import urlsplit

import aiohttp
import httpx
import pytest
from aiohttp import web

from labctl.endpoint import Endpoint
from labctl.est_client import est_ssl_context
from labctl.services.http import HEADER_TIMEOUT_S, app_runner

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

PARTIAL_HEAD = b"GET /.well-known/est/cacerts HTTP/1.1\r\nHo"
SLOW_CONNECTIONS = 20


def _tls_socket(url: str) -> ssl.SSLSocket:
    """A TLS connection to the service behind `url`, handshake done, that sends nothing yet."""
    parts = urlsplit(url)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the server's identity is not what is tested here
    raw = socket.create_connection((parts.hostname, parts.port), timeout=10)
    return context.wrap_socket(raw, server_hostname=parts.hostname)


def _wait_closed(sock: ssl.SSLSocket, deadline: float) -> bool:
    """Whether the server closed the connection before `deadline` (time.monotonic)."""
    while (remaining := deadline - time.monotonic()) > 0:
        sock.settimeout(remaining)
        try:
            if sock.recv(4096) == b"":
                return True
        except TimeoutError:
            return False
        except (ssl.SSLError, ConnectionError):  # an abrupt close (no close_notify) is a close too
            return True
    return False


class NormalClient(threading.Thread):
    """GET cacerts in a loop until stopped; counts the answers by status."""

    def __init__(self, endpoint: Endpoint) -> None:
        super().__init__(daemon=True)
        self.endpoint = endpoint
        self.statuses: list[int] = []
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(verify=est_ssl_context(self.endpoint.trust_file), timeout=10) as client:
            while not self.stop.is_set():
                try:
                    self.statuses.append(client.get(f"{self.endpoint.ra_url}/.well-known/est/cacerts").status_code)
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                self.stop.wait(0.05)


@pytest.mark.parametrize("service", ["ra", "ca"])
def test_stalled_request_heads_are_closed_while_normal_clients_are_served(local_lab, service):
    endpoint = local_lab[1]["ecc"]
    url = endpoint.ra_url if service == "ra" else endpoint.ca_url
    started = time.monotonic()
    slow = []
    for _ in range(SLOW_CONNECTIONS):
        sock = _tls_socket(url)
        sock.sendall(PARTIAL_HEAD)
        slow.append(sock)
    normal = NormalClient(endpoint)
    normal.start()
    try:
        deadline = started + 5 * HEADER_TIMEOUT_S
        closed = [_wait_closed(sock, deadline) for sock in slow]
        elapsed = time.monotonic() - started
    finally:
        normal.stop.set()
        normal.join(timeout=15)
        for sock in slow:
            sock.close()
    log.warning(
        "%s: %d stalled connections closed after %.1fs (timeout %gs); %d normal requests served meanwhile",
        service,
        sum(closed),
        elapsed,
        HEADER_TIMEOUT_S,
        len(normal.statuses),
    )
    assert all(closed), f"{closed.count(False)} of {len(slow)} stalled connections still open after {elapsed:.0f}s"
    assert normal.errors == []
    assert normal.statuses and set(normal.statuses) == {200}


def test_trickling_request_head_is_closed(local_lab):
    """A client that keeps sending, a byte every 0.5 s, is closed all the same: the bound is on the
    whole head, not on the gap between bytes."""
    endpoint = local_lab[1]["ecc"]
    sock = _tls_socket(endpoint.ra_url)
    started = time.monotonic()
    head = PARTIAL_HEAD + b"st: 127.0.0.1\r\nX-Slow: " + b"a" * 1000
    closed = False
    try:
        for byte in head:
            try:
                sock.sendall(bytes([byte]))
            except (ssl.SSLError, ConnectionError):
                closed = True
                break
            if _wait_closed(sock, time.monotonic() + 0.5):
                closed = True
                break
            if time.monotonic() - started > 5 * HEADER_TIMEOUT_S:
                break
    finally:
        sock.close()
    elapsed = time.monotonic() - started
    log.warning("trickling client closed=%s after %.1fs (timeout %gs)", closed, elapsed, HEADER_TIMEOUT_S)
    assert closed, f"a client trickling its request head still connected after {elapsed:.0f}s"


def test_http10_request_is_answered_and_closed(local_lab):
    endpoint = local_lab[1]["ecc"]
    sock = _tls_socket(endpoint.ra_url)
    try:
        sock.sendall(b"GET /.well-known/est/cacerts HTTP/1.0\r\n\r\n")
        answer = b""
        sock.settimeout(10)
        while chunk := sock.recv(65536):
            answer += chunk
    finally:
        sock.close()
    status_line, _, rest = answer.partition(b"\r\n")
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert status_line == b"HTTP/1.0 200 OK"
    assert b"content-type: application/pkcs7-mime" in headers.lower()
    assert body.strip(), "no body"


# --- in-process, with a short timeout: the same runner the services use -------------------------


async def _hello(_request: web.Request) -> web.Response:
    return web.Response(text="hello\n")


async def test_header_timeout_is_configurable():
    app = web.Application()
    app.router.add_get("/", _hello)
    runner = app_runner(app, header_timeout_s=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = site.port
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(PARTIAL_HEAD)
        await writer.drain()
        started = time.monotonic()
        async with aiohttp.ClientSession() as session:
            served = 0
            read = asyncio.ensure_future(reader.read())
            while not read.done():
                async with session.get(f"http://127.0.0.1:{port}/") as response:
                    assert response.status == 200
                    served += 1
                await asyncio.wait([read], timeout=0.05)
                assert time.monotonic() - started < 5.0, "stalled connection still open after 5x the timeout"
        assert read.result() == b""
        elapsed = time.monotonic() - started
        writer.close()
        await writer.wait_closed()
        log.warning("in-process: stalled connection closed after %.2fs (timeout 1s); %d served", elapsed, served)
        assert served > 0
    finally:
        await runner.cleanup()
