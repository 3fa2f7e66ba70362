"""The benchmarks' in-network load client (`labctl bench-enroll` / `bench-ceiling`, run by
`python -m benchmarks` in a lab container): its measurements as loadgen record lines."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator, Sequence
from urllib.parse import urlsplit

from labctl import loadgen
from labctl.ceiling import measure_ceiling
from labctl.errors import LabctlError
from labctl.pki.keys import KeyAlgorithm


def enrollment_records(
    *,
    label: str,
    algorithm: KeyAlgorithm,
    ra_url: str,
    context: ssl.SSLContext,
    auth: tuple[str, str],
    duration_s: float,
    concurrency: Sequence[int],
    new_connection: Sequence[int],
    operation: loadgen.Operation = loadgen.Operation.SIMPLEENROLL,
) -> Iterator[str]:
    """simpleenroll (or serverkeygen, keep-alive only: `new_connection` is not used) load on one RA at each
    concurrency level: the environment's line, then one line per run."""
    url = urlsplit(ra_url)
    if url.hostname is None:
        raise LabctlError(f"--ra-url {ra_url} names no host")
    yield loadgen.record_line(loadgen.RecordKind.ENVIRONMENT, loadgen.current_environment())
    if operation is loadgen.Operation.SERVERKEYGEN:
        generated = asyncio.run(
            loadgen.measure_serverkeygen(
                label=label,
                host=url.hostname,
                port=url.port or 443,
                context=context,
                auth=auth,
                duration_s=duration_s,
                server_hostname=url.hostname,
                concurrency=concurrency,
            )
        )
        for row in generated:
            yield loadgen.record_line(loadgen.RecordKind.SERVERKEYGEN, row)
        return
    rows = asyncio.run(
        loadgen.measure_enrollment(
            label=label,
            algorithm=algorithm,
            host=url.hostname,
            port=url.port or 443,
            context=context,
            auth=auth,
            duration_s=duration_s,
            server_hostname=url.hostname,
            concurrency=concurrency,
            new_connection=new_connection,
        )
    )
    for row in rows:
        yield loadgen.record_line(loadgen.RecordKind.ENROLLMENT, row)


def ceiling_records(algorithms: Sequence[KeyAlgorithm], *, duration_s: float, crypto_seconds: float) -> Iterator[str]:
    """Ceilings where this runs: the load client's own (trivial server), and per algorithm certificates
    issued/s, signatures/s, serverkeygen crypto/s and TLS handshakes/s with a key of it; the environment's
    line first."""
    yield loadgen.record_line(loadgen.RecordKind.ENVIRONMENT, loadgen.current_environment())
    for row in asyncio.run(loadgen.measure_client_ceiling(duration_s)):
        yield loadgen.record_line(loadgen.RecordKind.CLIENT_CEILING, row)
    for algorithm in algorithms:
        ceiling = measure_ceiling(algorithm, seconds=crypto_seconds)
        yield loadgen.record_line(loadgen.RecordKind.CRYPTO_CEILING, ceiling)
        handshakes = asyncio.run(loadgen.measure_handshake_ceiling(algorithm, duration_s))
        yield loadgen.record_line(loadgen.RecordKind.HANDSHAKE_CEILING, handshakes)
