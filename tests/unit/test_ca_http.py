"""The RA's HTTP/1.1 client to its CA (labctl/services/est_ra/ca_http.py) against scripted servers on loopback:
what it sends, the answer framings it reads, connection reuse, and a kept-alive connection the CA closed."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from labctl.services.est_ra.ca_http import CAHTTPClient, CAHTTPError

# One scripted answer per request read: the bytes to send, and whether to close the connection after.
Script = Callable[[int, bytes], tuple[bytes, bool]]


class Server:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[bytes] = []
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                answer, close = self.script(len(self.requests) - 1, request)
                writer.write(answer)
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def serving(script: Script) -> AsyncIterator[tuple[Server, CAHTTPClient]]:
    server = Server(script)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    client = CAHTTPClient(f"http://127.0.0.1:{port}", ssl_context=None, timeout_s=5, connect_timeout_s=2)
    async with listener:
        try:
            yield server, client
        finally:
            await client.close()


def ok(body: bytes = b'{"ok": true}', *extra: bytes) -> bytes:
    headers = b"".join(line + b"\r\n" for line in extra)
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), headers, body)


async def test_sends_host_accept_and_a_json_body() -> None:
    async with serving(lambda *_: (ok(), False)) as (server, client):
        answer = await client.request("POST", "/ca/v2/certrequests", body=b'{"a": 1}', accept="application/json")
    assert (answer.status, answer.body) == (200, b'{"ok": true}')
    head = server.requests[0].decode()
    assert head.startswith("POST /ca/v2/certrequests HTTP/1.1\r\nHost: 127.0.0.1:")
    assert "Accept: application/json\r\n" in head and "Content-Type: application/json\r\n" in head
    assert head.endswith('Content-Length: 8\r\n\r\n{"a": 1}')


async def test_keeps_the_connection_alive_between_requests() -> None:
    async with serving(lambda *_: (ok(), False)) as (server, client):
        for _ in range(3):
            await client.request("GET", "/ca/v2/account/login", accept="application/json")
    assert server.connections == 1 and len(server.requests) == 3


async def test_reads_a_chunked_answer() -> None:
    chunked = (
        b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\n{"a"\r\n5\r\n: 1}\n\r\n0\r\nTrailer: t\r\n\r\n'
    )
    async with serving(lambda *_: (chunked, False)) as (server, client):
        first = await client.request("GET", "/x", accept="application/json")
        second = await client.request("GET", "/x", accept="application/json")
    assert first.body == second.body == b'{"a": 1}\n'
    assert server.connections == 1


async def test_an_answer_ending_with_the_connection_is_read_and_not_reused() -> None:
    async with serving(lambda *_: (b"HTTP/1.0 200 OK\r\n\r\nthe whole body", True)) as (server, client):
        assert (await client.request("GET", "/x", accept="text/plain")).body == b"the whole body"
        await client.request("GET", "/x", accept="text/plain")
    assert server.connections == 2


async def test_connection_close_is_honoured() -> None:
    async with serving(lambda *_: (ok(b"{}", b"Connection: close"), True)) as (server, client):
        await client.request("GET", "/x", accept="application/json")
        await client.request("GET", "/x", accept="application/json")
    assert server.connections == 2


async def test_a_get_on_a_connection_the_ca_closed_is_sent_again_on_a_new_one() -> None:
    # The server closes after each answer without saying so: the kept-alive connection is dead.
    async with serving(lambda *_: (ok(), True)) as (server, client):
        await client.request("GET", "/x", accept="application/json")
        await asyncio.sleep(0.05)  # the close reaches the client (no timing is asserted)
        answer = await client.request("GET", "/x", accept="application/json")
    assert answer.status == 200 and server.connections == 2


async def test_a_post_is_never_sent_twice() -> None:
    async with serving(lambda index, _: (ok(), False) if index == 0 else (b"", True)) as (server, client):
        await client.request("GET", "/x", accept="application/json")
        with pytest.raises(CAHTTPError, match="closed the connection"):
            await client.request("POST", "/x", body=b"{}", accept="application/json")
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "middle of its answer"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "not hexadecimal"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "no colon"),
    ],
    ids=["not-http", "huge", "cut-short", "bad-chunk", "bad-header"],
)
async def test_an_unreadable_answer_is_an_error(answer: bytes, message: str) -> None:
    async with serving(lambda *_: (answer, True)) as (_, client):
        with pytest.raises(CAHTTPError, match=message):
            await client.request("POST", "/x", body=b"{}", accept="application/json")


async def test_no_ca_listening_is_an_os_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = CAHTTPClient(f"http://127.0.0.1:{port}", ssl_context=None, timeout_s=5, connect_timeout_s=2)
    with pytest.raises(OSError):
        await client.request("GET", "/x", accept="application/json")


def test_only_http_urls_are_taken() -> None:
    with pytest.raises(ValueError, match="not http"):
        CAHTTPClient("ftp://ca", ssl_context=None, timeout_s=5, connect_timeout_s=2)
