"""The load client and the ceilings, run by `labctl bench-enroll` / `labctl bench-ceiling` in a
short-lived container of the lab image on a hierarchy's network: the client the host cannot be
for ML-DSA TLS (its OpenSSL is 3.0; the image's is 3.5), and the same CPU as the services."""

from __future__ import annotations

from collections.abc import Sequence

from labctl.clients import ClientRunner
from labctl.endpoint import Endpoint
from labctl.errors import LabctlError
from labctl.loadgen import (
    CONCURRENCY,
    NEW_CONNECTION_CONCURRENCY,
    SERVERKEYGEN_CONCURRENCY,
    LoadReport,
    Operation,
    parse_records,
)
from labctl.pki.keys import KeyAlgorithm
from labctl.runtime.base import ExecResult, FileContent
from labctl.specs import CLIENT_DIR
from labctl.topology import Hierarchy

SETUP_ALLOWANCE_S = 180.0  # container start, key generation (16 RSA-4096 keys), crypto ceilings
# serverkeygen's last requests finish after the deadline: at c=8, RSA-4096 keys at ~1/s a core take ~8 s.
SERVERKEYGEN_TAIL_S = 60.0


def _formatted(value: float) -> str:
    return f"{value:g}"


def enroll_in_network(
    runner: ClientRunner, endpoint: Endpoint, *, duration: float, operation: Operation = Operation.SIMPLEENROLL
) -> LoadReport:
    """simpleenroll (or serverkeygen, keep-alive c=8) load on the hierarchy's RA, from a container on its
    network, against the RA's hostname."""
    hierarchy = endpoint.hierarchy
    files = {
        "ca-chain.pem": FileContent(endpoint.trust_file.read_bytes()),
        "est-credentials": FileContent(f"{endpoint.username}:{endpoint.password}".encode(), 0o600),
    }
    args = [
        "bench-enroll",
        "--algorithm", hierarchy.algorithm.value,
        "--label", hierarchy.name,
        "--ra-url", f"https://{hierarchy.ra.hostname}:{hierarchy.ra.port}",
        "--trust", f"{CLIENT_DIR}/ca-chain.pem",
        "--credentials", f"{CLIENT_DIR}/est-credentials",
        "--duration", _formatted(duration),
        "--operation", operation.value,
    ]  # fmt: skip
    if operation is Operation.SERVERKEYGEN:
        timeout = len(SERVERKEYGEN_CONCURRENCY) * (duration + SERVERKEYGEN_TAIL_S) + SETUP_ALLOWANCE_S
    else:
        timeout = (len(CONCURRENCY) + len(NEW_CONNECTION_CONCURRENCY)) * duration + SETUP_ALLOWANCE_S
    result = runner.run(hierarchy, args, files, timeout=timeout)
    return _report(result, f"bench-enroll --operation {operation.value} on the {hierarchy.name} network")


def ceilings_in_network(
    runner: ClientRunner,
    hierarchy: Hierarchy,
    algorithms: Sequence[KeyAlgorithm],
    *,
    duration: float,
    crypto_seconds: float,
) -> LoadReport:
    """The load client's own ceiling and, per algorithm, the crypto and TLS handshake ceilings, in a container."""
    args = ["bench-ceiling", "--duration", _formatted(duration), "--crypto-seconds", _formatted(crypto_seconds)]
    for algorithm in algorithms:
        args += ["--algorithm", algorithm.value]
    runs = len(CONCURRENCY) + len(algorithms)
    timeout = runs * duration + 2 * len(algorithms) * crypto_seconds + SETUP_ALLOWANCE_S
    result = runner.run(hierarchy, args, {}, timeout=timeout)
    return _report(result, f"bench-ceiling on the {hierarchy.name} network")


def _report(result: ExecResult, what: str) -> LoadReport:
    report = parse_records(result.output)
    if result.exit_code != 0 or report.is_empty:
        raise LabctlError(f"{what} exited {result.exit_code}", hint=result.output.strip()[-2000:] or "no output")
    return report
