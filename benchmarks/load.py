"""An EST load client on raw asyncio streams: httpx's async client manages ~750 req/s at c=8 here and
slows as concurrency grows, so it would measure itself. Keep-alive or a new TLS connection per request."""

from __future__ import annotations

import asyncio
import base64
import ssl
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    label: str
    concurrency: int
    keepalive: bool
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> dict[str, object]:
        return {
            "label": self.label,
            "concurrency": self.concurrency,
            "keepalive": self.keepalive,
            "requests": self.requests,
            "errors": self.errors,
            "per_s": round(self.per_s, 1),
            "p50_ms": round(self.percentile(0.50), 2),
            "p95_ms": round(self.percentile(0.95), 2),
            "p99_ms": round(self.percentile(0.99), 2),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 2) if self.latencies_ms else 0.0,
        }


def build_request(host: str, path: str, body: bytes, *, auth: tuple[str, str] | None, keepalive: bool) -> bytes:
    headers = [
        f"POST {path} HTTP/1.1" if body else f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Connection: keep-alive" if keepalive else "Connection: close",
    ]
    if body:
        headers += ["Content-Type: application/pkcs10", f"Content-Length: {len(body)}"]
    if auth:
        headers.append("Authorization: Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("connection closed")
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    await reader.readexactly(length)
    return status


async def run_load(
    *,
    label: str,
    host: str,
    port: int,
    context: ssl.SSLContext | None,
    requests: Sequence[bytes],
    concurrency: int,
    keepalive: bool,
    duration_s: float,
    server_hostname: str | None = None,
) -> LoadResult:
    """`concurrency` workers send requests (cycling through `requests`) for `duration_s`."""
    result = LoadResult(label, concurrency, keepalive)
    deadline = time.perf_counter() + duration_s

    async def worker(index: int) -> None:
        reader = writer = None
        sent = index
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(
                        host, port, ssl=context, server_hostname=server_hostname if context else None
                    )
                assert reader is not None
                writer.write(requests[sent % len(requests)])
                sent += 1
                status = await _read_response(reader)
                if status != 200:
                    result.errors += 1
                if not keepalive:
                    writer.close()
                    reader = writer = None
            except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError):
                result.errors += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                continue
            result.requests += 1
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
        if writer is not None:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result


async def trivial_server(context: ssl.SSLContext) -> tuple[asyncio.AbstractServer, int]:
    """A TLS server that signs nothing and answers 200 at once: the load client's own ceiling."""
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                length = 0
                while line not in (b"\r\n", b"\n", b""):
                    line = await reader.readline()
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                writer.write(reply)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    return server, server.sockets[0].getsockname()[1]
