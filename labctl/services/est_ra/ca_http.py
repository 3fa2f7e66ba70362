"""The RA's HTTP/1.1 client to its CA: pooled keep-alive connections on asyncio streams (TLS with the
RA's agent certificate, or plain HTTP), for DogtagRABackend's calls.

Why not aiohttp's ClientSession, which the RA used before: the RA makes four calls per enrollment
(login, template, submit, certs/{id}: DogtagRABackend.issueCertificate), and ClientSession's request
machinery (URL objects, cookie filtering, tracing hooks, header multidicts) cost ~0.15-0.2 ms of CPU
per call more than this client on this machine, about a tenth of an enrollment's RA + CA CPU (issue
16; BENCHMARKS.md "CPU per enrollment"). The CA sees the same requests: method, path, Host, Accept,
and for a body Content-Type and Content-Length, on kept-alive connections.

Answers may come with Content-Length, chunked (a real Dogtag behind Tomcat), or until the connection
closes. A kept-alive connection idle for IDLE_S is dropped before the CA closes it (its header timeout
is 10 s: labctl.services.http), and a GET whose reused connection turns out closed before any answer
is sent once more on a new one, as aiohttp does; a POST is never sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

IDLE_S = 5.0
MAX_BODY_BYTES = 16 * 1024 * 1024  # a chain or a certificate is kilobytes; a CA answering more is broken
CLOSE_TIMEOUT_S = 1.0


class CAHTTPError(Exception):
    """The CA's answer is not HTTP/1.1 this client can read, or is cut short."""


class _ClosedBeforeAnswer(CAHTTPError):
    """The connection ended before the first byte of an answer: the CA had closed it."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0
    reused: bool = False

    def abort(self) -> None:
        self.writer.transport.abort()


def user_timeout_socket(family: int, kind: int, proto: int, timeout_s: float) -> socket.socket:
    """A socket that gives up on data its peer's kernel has not acknowledged after `timeout_s` (Linux
    TCP_USER_TIMEOUT): a stopped CA container answers nothing, not even a reset."""
    sock = socket.socket(family=family, type=kind, proto=proto)
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(timeout_s * 1000))
    return sock


class CAHTTPClient:
    """Requests to one CA (`url`: scheme, host and port) on at most `limit` pooled connections.

    Every request has `timeout_s` in all; a connection `connect_timeout_s` to be made (TCP).
    """

    def __init__(
        self,
        url: str,
        *,
        ssl_context: ssl.SSLContext | None,
        timeout_s: float,
        connect_timeout_s: float,
        limit: int = 64,
        idle_s: float = IDLE_S,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"CA URL {url!r} is not http(s)://host[:port]")
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._netloc = parts.netloc
        self._ssl = ssl_context if parts.scheme == "https" else None
        if parts.scheme == "https" and self._ssl is None:
            self._ssl = ssl.create_default_context()
        self.path_prefix = parts.path.rstrip("/")
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._idle_s = idle_s
        self._slots = asyncio.Semaphore(limit)
        self._idle: list[_Connection] = []

    async def request(self, method: str, target: str, *, body: bytes | None = None, accept: str) -> Answer:
        """One exchange; `body` is sent as application/json.

        Raises:
            TimeoutError: no complete answer within the timeout.
            OSError: the CA cannot be reached, or the connection broke.
            CAHTTPError: the answer is not HTTP/1.1 this client reads.
        """
        head = f"{method} {target} HTTP/1.1\r\nHost: {self._netloc}\r\nAccept: {accept}\r\n"
        if body is not None or method in ("POST", "PUT"):
            payload = body or b""
            head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        message = (head + "\r\n").encode("latin-1") + (body or b"")
        async with self._slots, asyncio.timeout(self._timeout_s):
            return await self._exchange(method, message)

    async def _exchange(self, method: str, message: bytes) -> Answer:
        while True:
            connection = await self._acquire()
            try:
                connection.writer.write(message)
                answer, reusable = await _read_answer(connection.reader, head_only=method == "HEAD")
            except (OSError, asyncio.IncompleteReadError, CAHTTPError) as exc:
                connection.abort()
                if connection.reused and method == "GET" and isinstance(exc, _ClosedBeforeAnswer | OSError):
                    continue  # the CA had closed this kept-alive connection: once more, on a new one
                if isinstance(exc, asyncio.IncompleteReadError):
                    raise CAHTTPError("CA closed the connection in the middle of its answer") from exc
                raise
            except BaseException:  # cancelled or timed out mid-exchange: the connection's state is unknown
                connection.abort()
                raise
            if reusable:
                connection.idle_since, connection.reused = time.monotonic(), True
                self._idle.append(connection)
            else:
                connection.abort()
            return answer

    async def _acquire(self) -> _Connection:
        """The most recently used idle connection that is still fresh, or a new one."""
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if now - connection.idle_since < self._idle_s and not connection.reader.at_eof():
                return connection
            connection.abort()
        return await self._open()

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(self._host, self._port, type=socket.SOCK_STREAM)
        failure: OSError = OSError(f"no address for {self._host}")
        for family, kind, proto, _, address in infos:
            sock = user_timeout_socket(family, kind, proto, self._connect_timeout_s)
            sock.setblocking(False)
            try:
                async with asyncio.timeout(self._connect_timeout_s):
                    await loop.sock_connect(sock, address)
            except (OSError, TimeoutError) as exc:
                sock.close()
                failure = exc if isinstance(exc, OSError) else OSError(f"connect to {address} timed out")
                continue
            except BaseException:
                sock.close()
                raise
            server_hostname = self._host if self._ssl is not None else None
            reader, writer = await asyncio.open_connection(sock=sock, ssl=self._ssl, server_hostname=server_hostname)
            return _Connection(reader, writer)
        raise failure

    async def close(self) -> None:
        """Close the idle connections (each with its TLS close_notify, bounded)."""
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(connection.writer.wait_closed(), CLOSE_TIMEOUT_S)
            connection.abort()


async def _read_answer(reader: asyncio.StreamReader, *, head_only: bool) -> tuple[Answer, bool]:
    """An answer and whether its connection may carry another request (RFC 9112 sections 6 and 9.3)."""
    while True:
        try:
            status_line = await reader.readline()
        except ConnectionError as exc:
            raise _ClosedBeforeAnswer(str(exc)) from exc
        except ValueError as exc:  # a line over the reader's limit (64 KiB)
            raise CAHTTPError("CA answer status line too long") from exc
        if not status_line:
            raise _ClosedBeforeAnswer("CA closed the connection")
        version, status = _status(status_line)
        headers = await _headers(reader)
        if not 100 <= status < 200:  # RFC 9112 section 6: an interim answer is followed by the final one
            break
    keep_alive = version == b"HTTP/1.1" and "close" not in headers.get("connection", "").lower()
    if head_only or status in (204, 304):
        return Answer(status, b""), keep_alive
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return Answer(status, await _chunked(reader)), keep_alive
    if "content-length" in headers:
        length = _length(headers["content-length"])
        return Answer(status, await reader.readexactly(length)), keep_alive
    body = await reader.read(MAX_BODY_BYTES + 1)  # RFC 9112 section 6.3: the body ends with the connection
    while len(body) <= MAX_BODY_BYTES and (more := await reader.read(MAX_BODY_BYTES + 1 - len(body))):
        body += more
    if len(body) > MAX_BODY_BYTES:
        raise CAHTTPError(f"CA answer over {MAX_BODY_BYTES} bytes")
    return Answer(status, body), False


def _status(line: bytes) -> tuple[bytes, int]:
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise CAHTTPError(f"CA answered {line[:64]!r}, not an HTTP/1.x status line")
    return parts[0], int(parts[1])


async def _headers(reader: asyncio.StreamReader) -> dict[str, str]:
    headers: dict[str, str] = {}
    while True:
        try:
            line = await reader.readline()
        except ValueError as exc:  # a line over the reader's limit (64 KiB)
            raise CAHTTPError("CA answer header line too long") from exc
        if line in (b"\r\n", b"\n"):
            return headers
        if not line:
            raise CAHTTPError("CA closed the connection in the middle of its answer's headers")
        name, separator, value = line.decode("latin-1").partition(":")
        if not separator:
            raise CAHTTPError(f"CA answer header {line[:64]!r} has no colon")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()


def _length(value: str) -> int:
    if not value.isdigit() or int(value) > MAX_BODY_BYTES:
        raise CAHTTPError(f"CA answer Content-Length {value[:32]!r} refused")
    return int(value)


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    """RFC 9112 section 7.1: chunks until a zero-size one, then trailers (read and dropped)."""
    body = bytearray()
    while True:
        size_line = (await reader.readline()).split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise CAHTTPError(f"CA answer chunk size {size_line[:32]!r} is not hexadecimal") from None
        if size == 0:
            await _headers(reader)  # trailers
            return bytes(body)
        if len(body) + size > MAX_BODY_BYTES:
            raise CAHTTPError(f"CA answer over {MAX_BODY_BYTES} bytes")
        body += await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise CAHTTPError("CA answer chunk not followed by CRLF")
