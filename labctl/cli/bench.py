"""Hidden commands of the benchmarks' in-network load client (python -m benchmarks runs them in a lab container)."""

from __future__ import annotations

from pathlib import Path

import click

from labctl import loadgen
from labctl.bench import ceiling_records, enrollment_records
from labctl.cli import main
from labctl.est_client import est_ssl_context
from labctl.pki.keys import KeyAlgorithm
from labctl.state import read_credentials

_ALGORITHMS = click.Choice([algorithm.value for algorithm in KeyAlgorithm])


@main.command("bench-enroll", hidden=True)
@click.option(
    "--algorithm",
    type=_ALGORITHMS,
    required=True,
    help="the hierarchy's key algorithm (simpleenroll's CSRs; serverkeygen sends P-384 ones)",
)
@click.option("--label", required=True, help="name of the results (the hierarchy)")
@click.option("--ra-url", required=True)
@click.option("--trust", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--credentials", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--duration", type=float, default=5.0, show_default=True, help="seconds per load run")
@click.option("--concurrency", "levels", type=click.IntRange(1, 1024), multiple=True, help="keep-alive levels")
@click.option("--new-connection", "new_levels", type=click.IntRange(1, 1024), multiple=True, help="new-TLS levels")
@click.option("--keepalive-only", is_flag=True, help="no run with a new TLS connection per enrollment")
@click.option(
    "--operation",
    type=click.Choice([operation.value for operation in loadgen.Operation]),
    default=loadgen.Operation.SIMPLEENROLL.value,
    show_default=True,
    help="serverkeygen: keep-alive only, at c=8 unless --concurrency",
)
def bench_enroll(
    algorithm: str,
    label: str,
    ra_url: str,
    trust: Path,
    credentials: Path,
    duration: float,
    levels: tuple[int, ...],
    new_levels: tuple[int, ...],
    keepalive_only: bool,
    operation: str,
) -> None:
    """simpleenroll load on one RA (keep-alive at c=1/8/32, new TLS connection at c=8 unless told), or
    serverkeygen (keep-alive at c=8 unless told): JSON lines."""
    chosen = loadgen.Operation(operation)
    if chosen is loadgen.Operation.SERVERKEYGEN:
        if new_levels:
            raise click.UsageError("--new-connection: serverkeygen runs keep-alive only")
        default_levels: tuple[int, ...] = loadgen.SERVERKEYGEN_CONCURRENCY
    else:
        default_levels = loadgen.CONCURRENCY
    records = enrollment_records(
        label=label,
        algorithm=KeyAlgorithm(algorithm),
        ra_url=ra_url,
        context=est_ssl_context(trust),
        auth=read_credentials(credentials),
        duration_s=duration,
        concurrency=levels or default_levels,
        new_connection=() if keepalive_only else new_levels or loadgen.NEW_CONNECTION_CONCURRENCY,
        operation=chosen,
    )
    for line in records:
        click.echo(line)


@main.command("bench-ceiling", hidden=True)
@click.option("--algorithm", "algorithms", type=_ALGORITHMS, multiple=True, help="key algorithm (repeatable)")
@click.option("--duration", type=float, default=5.0, show_default=True, help="seconds per load run")
@click.option("--crypto-seconds", type=float, default=2.0, show_default=True, help="seconds per crypto rate")
def bench_ceiling(algorithms: tuple[str, ...], duration: float, crypto_seconds: float) -> None:
    """Ceilings where this runs: the load client's own (trivial server), and per algorithm certificates
    issued/s, signatures/s, serverkeygen crypto/s and TLS handshakes/s with a key of it: JSON lines."""
    chosen = [KeyAlgorithm(name) for name in algorithms]
    for line in ceiling_records(chosen, duration_s=duration, crypto_seconds=crypto_seconds):
        click.echo(line)
