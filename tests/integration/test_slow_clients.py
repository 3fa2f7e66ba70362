"""Slow clients cannot starve the services: a connection that does not deliver a complete request
head within the header timeout, a body within the body timeout, or a TLS handshake within the
handshake timeout is closed (a slow body after a 408 answer), while normal clients are served meanwhile.

The bounds asserted are liveness bounds (closed at all, within 5x the timeout), not performance
figures; the figures measured go to the log (`pytest -s` or -rA shows them).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import httpx
import pytest
from aiohttp import web

from labctl.endpoint import Endpoint
from labctl.est_client import est_ssl_context
from labctl.loadgen import close_stream
from labctl.pki.issue import certificates_pem, create_root_ca
from labctl.pki.keys import KeyAlgorithm, write_private_key
from labctl.services.http import (
    BODY_TIMEOUT_S,
    HANDSHAKE_TIMEOUT_S,
    HEADER_TIMEOUT_S,
    TLSSite,
    app_runner,
    error_middleware,
    read_body,
    server_ssl_context,
    text_error,
)
from tests.helpers import key_for

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

PARTIAL_HEAD = b"GET /.well-known/est/cacerts HTTP/1.1\r\nHo"
SLOW_CONNECTIONS = 20
STALLED_HANDSHAKES = 10  # of each kind: silent, and half a ClientHello
BODY_LENGTH = 2000  # announced by the trickling clients, sent a byte a second


def _tls_socket(url: str) -> ssl.SSLSocket:
    """A TLS connection to the service behind `url`, handshake done, that sends nothing yet."""
    parts = urlsplit(url)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the server's identity is not what is tested here
    raw = socket.create_connection((parts.hostname, parts.port), timeout=10)
    return context.wrap_socket(raw, server_hostname=parts.hostname)


def _tcp_socket(url: str) -> socket.socket:
    """A plain TCP connection to the service behind `url`: no TLS handshake started."""
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def _half_client_hello(hostname: str) -> bytes:
    """The first half of a real TLS ClientHello, as a client that stalls mid-handshake sends it."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname=hostname)
    with contextlib.suppress(ssl.SSLWantReadError):  # the ClientHello is out, the answer not yet in
        tls.do_handshake()
    hello = outgoing.read()
    return hello[: len(hello) // 2]


def _wait_closed(sock: socket.socket, deadline: float) -> bool:
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


def _closed_while_serving(
    endpoint: Endpoint, sockets: list[socket.socket], started: float, *, bound_s: float
) -> tuple[list[bool], float, NormalClient]:
    """Wait (up to `bound_s` after `started`) for the server to close each socket while a normal client
    runs; then close them all. Returns which closed, the time taken, and the normal client."""
    normal = NormalClient(endpoint)
    normal.start()
    try:
        closed = [_wait_closed(sock, started + bound_s) for sock in sockets]
        elapsed = time.monotonic() - started
    finally:
        normal.stop.set()
        normal.join(timeout=15)
        for sock in sockets:
            sock.close()
    return closed, elapsed, normal


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
    closed, elapsed, normal = _closed_while_serving(endpoint, slow, started, bound_s=5 * HEADER_TIMEOUT_S)
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


@pytest.mark.parametrize("service", ["ra", "ca"])
def test_stalled_tls_handshakes_are_closed_while_normal_clients_are_served(local_lab, service):
    """Connections that send nothing, or half a ClientHello, and wait: asyncio's default would keep them 60 s."""
    endpoint = local_lab[1]["ecc"]
    url = endpoint.ra_url if service == "ra" else endpoint.ca_url
    hello = _half_client_hello(urlsplit(url).hostname or "localhost")
    started = time.monotonic()
    stalled = [_tcp_socket(url) for _ in range(2 * STALLED_HANDSHAKES)]
    for sock in stalled[STALLED_HANDSHAKES:]:
        sock.sendall(hello)
    closed, elapsed, normal = _closed_while_serving(endpoint, stalled, started, bound_s=5 * HANDSHAKE_TIMEOUT_S)
    log.warning(
        "%s: %d stalled TLS handshakes (%d silent, %d half a ClientHello) closed after %.1fs (timeout %gs);"
        " %d normal requests served meanwhile",
        service,
        sum(closed),
        STALLED_HANDSHAKES,
        STALLED_HANDSHAKES,
        elapsed,
        HANDSHAKE_TIMEOUT_S,
        len(normal.statuses),
    )
    assert all(closed), f"{closed.count(False)} of {len(stalled)} stalled handshakes still open after {elapsed:.0f}s"
    assert normal.errors == []
    assert normal.statuses and set(normal.statuses) == {200}


class BodyTrickler(threading.Thread):
    """Sends a complete request head announcing BODY_LENGTH bytes, then the body a byte a second.

    Records what the server answered, when its first byte came, and when it closed the connection.
    """

    def __init__(self, url: str, head: bytes, *, give_up_s: float) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.head = head
        self.give_up_s = give_up_s
        self.answer = b""
        self.answered_after: float | None = None
        self.closed_after: float | None = None
        self.sent = 0

    def run(self) -> None:
        with _tls_socket(self.url) as sock:
            started = time.monotonic()
            sock.sendall(self.head)
            while time.monotonic() - started < self.give_up_s:
                if self._read_for(sock, 1.0, started):
                    self.closed_after = time.monotonic() - started
                    return
                try:
                    sock.sendall(b"A")
                    self.sent += 1
                except (ssl.SSLError, ConnectionError):
                    self._read_for(sock, 1.0, started)  # an answer may still be buffered
                    self.closed_after = time.monotonic() - started
                    return

    def _read_for(self, sock: ssl.SSLSocket, seconds: float, started: float) -> bool:
        """Read what arrives for `seconds`; True when the server closed the connection."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(remaining)
            try:
                data = sock.recv(65536)
            except TimeoutError:
                return False
            except (ssl.SSLError, ConnectionError):
                return True
            if not data:
                return True
            if self.answered_after is None:
                self.answered_after = time.monotonic() - started
            self.answer += data
        return False

    @property
    def status_line(self) -> bytes:
        return self.answer.partition(b"\r\n")[0]


def _post_head(path: str, content_type: str, *, authorization: str | None = None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {content_type}"]
    if authorization is not None:
        lines.append(f"Authorization: {authorization}")
    lines.append(f"Content-Length: {BODY_LENGTH}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _basic(endpoint: Endpoint) -> str:
    return "Basic " + base64.b64encode(f"{endpoint.username}:{endpoint.password}".encode()).decode()


@pytest.mark.parametrize("service", ["ra", "ca"])
def test_trickled_request_body_gets_408_and_is_closed_while_normal_clients_are_served(local_lab, service):
    """A complete head, then the body a byte a second: the handler reading it gives up after the body timeout.

    At the RA, an anonymous client trickles too: it is refused (401) before its body is read, and
    aiohttp closes its connection after reading the rest for its lingering time (10 s).
    """
    endpoint = local_lab[1]["ecc"]
    give_up_s = 5 * BODY_TIMEOUT_S
    if service == "ra":
        path, content_type = "/.well-known/est/simpleenroll", "application/pkcs10"
        heads = {
            "authenticated": _post_head(path, content_type, authorization=_basic(endpoint)),
            "anonymous": _post_head(path, content_type),
        }
        url = endpoint.ra_url
    else:
        heads = {"anonymous": _post_head("/ca/rest/certrequests", "application/json")}
        url = endpoint.ca_url
    tricklers = {name: BodyTrickler(url, head, give_up_s=give_up_s) for name, head in heads.items()}
    normal = NormalClient(endpoint)
    for trickler in tricklers.values():
        trickler.start()
    normal.start()
    try:
        for trickler in tricklers.values():
            trickler.join(timeout=give_up_s + 15)
    finally:
        normal.stop.set()
        normal.join(timeout=15)
    for name, trickler in tricklers.items():
        log.warning(
            "%s, %s: %r after %.1fs, closed after %.1fs, %d body bytes sent (timeout %gs); %d normal requests served",
            service,
            name,
            trickler.status_line,
            trickler.answered_after or -1,
            trickler.closed_after or -1,
            trickler.sent,
            BODY_TIMEOUT_S,
            len(normal.statuses),
        )
    for name, trickler in tricklers.items():
        assert trickler.closed_after is not None, f"{name}: a trickled body still connected after {give_up_s:g}s"
    body_read = tricklers["authenticated" if service == "ra" else "anonymous"]
    assert body_read.status_line == b"HTTP/1.1 408 Request Timeout"
    assert f"request body not complete within {BODY_TIMEOUT_S:g}s".encode() in body_read.answer
    assert b"connection: close" in body_read.answer.lower()
    if service == "ra":
        assert tricklers["anonymous"].status_line == b"HTTP/1.1 401 Unauthorized"
    assert normal.errors == []
    assert normal.statuses and set(normal.statuses) == {200}


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


@contextlib.asynccontextmanager
async def _serving(runner: web.AppRunner) -> AsyncIterator[int]:
    """The runner's app on a free 127.0.0.1 port (plain HTTP) while the block runs; yields the port."""
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield site.port
    finally:
        await runner.cleanup()


async def test_header_timeout_is_configurable():
    app = web.Application()
    app.router.add_get("/", _hello)
    async with _serving(app_runner(app, header_timeout_s=1.0)) as port:
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
        await close_stream(writer)
        log.warning("in-process: stalled connection closed after %.2fs (timeout 1s); %d served", elapsed, served)
        assert served > 0


async def _post_length(request: web.Request) -> web.Response:
    return web.Response(text=f"{len(await read_body(request))}\n")


async def _closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (an abort counts as a close)."""
    data = b""
    try:
        while chunk := await reader.read(65536):
            data += chunk
    except ConnectionError:
        pass
    return data


async def test_body_timeout_is_configurable():
    app = web.Application(middlewares=[error_middleware(text_error)])
    app.router.add_get("/", _hello)
    app.router.add_post("/", _post_length)
    async with _serving(app_runner(app, body_timeout_s=1.0)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n")
        started = time.monotonic()
        answer = asyncio.ensure_future(_closed(reader))
        served = 0
        async with aiohttp.ClientSession() as session:
            while not answer.done():
                writer.write(b"A")  # a byte of the body per round, about 20 a second
                async with session.post(f"http://127.0.0.1:{port}/", data=b"hello") as response:
                    assert (response.status, await response.text()) == (200, "5\n")
                    served += 1
                await asyncio.wait([answer], timeout=0.05)
                assert time.monotonic() - started < 5.0, "trickling client still connected after 5x the timeout"
        elapsed = time.monotonic() - started
        await close_stream(writer)
        log.warning(
            "in-process: trickled body answered and closed after %.2fs (timeout 1s); %d served", elapsed, served
        )
        assert answer.result().startswith(b"HTTP/1.1 408 Request Timeout\r\n")
        assert answer.result().endswith(b"\r\n\r\n408 request body not complete within 1s\n")
        assert served > 0


@pytest.fixture
def tls_files(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    key = key_for(KeyAlgorithm.EC_P384, 60)
    cert, key_path = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_bytes(certificates_pem([create_root_ca(key, "slow-clients test", days=1).certificate]))
    write_private_key(key_path, key)
    yield cert, key_path


async def test_handshake_timeout_is_configurable(tls_files):
    app = web.Application()
    app.router.add_get("/", _hello)
    runner = app_runner(app)
    await runner.setup()
    context = server_ssl_context([tls_files], client_ca=None)
    site = TLSSite(runner, "127.0.0.1", 0, ssl_context=context, handshake_timeout_s=1.0)
    await site.start()
    client_context = ssl.create_default_context()
    client_context.check_hostname = False
    client_context.verify_mode = ssl.CERT_NONE  # the server's identity is not what is tested here
    try:
        port = site.port
        silent_reader, silent_writer = await asyncio.open_connection("127.0.0.1", port)  # TCP only, no TLS
        started = time.monotonic()
        closed = asyncio.ensure_future(_closed(silent_reader))
        served = 0
        async with aiohttp.ClientSession() as session:
            while not closed.done():
                async with session.get(f"https://127.0.0.1:{port}/", ssl=client_context) as response:
                    assert response.status == 200
                    served += 1
                await asyncio.wait([closed], timeout=0.05)
                assert time.monotonic() - started < 5.0, "stalled handshake still open after 5x the timeout"
        elapsed = time.monotonic() - started
        await close_stream(silent_writer)
        log.warning("in-process: stalled TLS handshake closed after %.2fs (timeout 1s); %d served", elapsed, served)
        assert closed.result() == b""
        assert served > 0
    finally:
        await runner.cleanup()
