"""Both services hold at least 100 concurrent TLS connections and answer every one."""

from __future__ import annotations

import asyncio
import gc
import ssl
from urllib.parse import urlsplit

import pytest

from labctl.est_client import est_ssl_context
from labctl.loadgen import close_stream

pytestmark = pytest.mark.integration
CONNECTIONS = 100


async def _hold_and_ask(url: str, path: str, context: ssl.SSLContext) -> list[bytes]:
    """Open every connection first (all held at once), then send one request on each."""
    parts = urlsplit(url)
    connections = await asyncio.gather(
        *(
            asyncio.open_connection(parts.hostname, parts.port, ssl=context, server_hostname="localhost")
            for _ in range(CONNECTIONS)
        )
    )
    request = f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode()
    for _, writer in connections:
        writer.write(request)
    lines = await asyncio.gather(*(reader.readline() for reader, _ in connections))
    # Wait until every TLS transport is really closed: one left for the garbage collector is a
    # ResourceWarning, an error in this suite.
    await asyncio.gather(*(close_stream(writer) for _, writer in connections))
    return lines


@pytest.mark.parametrize(("target", "path"), [("ra", "/.well-known/est/cacerts"), ("ca", "/ca/admin/ca/getStatus")])
def test_serves_100_concurrent_connections(local_lab, target, path):
    endpoint = local_lab[1]["ecc"]
    url = endpoint.ra_url if target == "ra" else endpoint.ca_url
    status_lines = asyncio.run(_hold_and_ask(url, path, est_ssl_context(endpoint.trust_file)))
    gc.collect()  # a leaked transport would warn here, in this test, not in whichever test runs next
    assert len(status_lines) == CONNECTIONS
    assert all(line.startswith(b"HTTP/1.1 200") for line in status_lines), {line[:20] for line in status_lines}
