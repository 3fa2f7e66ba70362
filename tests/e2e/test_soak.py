"""Soak (marker `soak`, run by .ci/run after the normal suite): SOAK_S seconds of enrollment at
concurrency SOAK_CONCURRENCY on every hierarchy at once (rsa and ecc from the host, pqc from a
container on its network: the host's OpenSSL cannot do ML-DSA TLS).

Held when: zero errors, every enrollment answered is a VALID certificate in its CA's database (the
CA's count grew by exactly the answers), and no service's resident memory grew past the bounds
below, between idle and the end and, more tellingly, between the middle and the end of the load.
Figures go to the log (-rA or -s shows them) and to RELIABILITY.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from benchmarks.in_network import SETUP_ALLOWANCE_S
from labctl import loadgen
from labctl.clients import ClientRunner
from labctl.endpoint import Endpoint, endpoint_for
from labctl.est_client import est_ssl_context
from labctl.images import ensure_image
from labctl.runtime.base import FileContent
from labctl.runtime.podman import PodmanRuntime
from labctl.specs import CLIENT_DIR
from labctl.topology import Lab

from .conftest import LabCLI

pytestmark = [pytest.mark.e2e, pytest.mark.soak]
log = logging.getLogger(__name__)

SOAK_S = 60.0
SOAK_CONCURRENCY = 32
MIB = 1024 * 1024
# Stated bounds on resident memory (RSS of the service's processes): idle -> end of the soak, and
# middle -> end (a leak keeps growing; warm-up caches and allocator arenas do not).
GROWTH_FROM_IDLE_BOUND = 96 * MIB
GROWTH_FROM_MIDDLE_BOUND = 24 * MIB


def _valid_counts(lab_cli: LabCLI) -> dict[str, int]:
    rows = [json.loads(line) for line in lab_cli.run("status", "--json").stdout.splitlines()]
    return {r["hierarchy"]: r["counts"].get("VALID", 0) for r in rows if r["role"] == "ca"}


def _rss(runtime: PodmanRuntime, containers: list[str]) -> dict[str, int]:
    usage = {name: runtime.memory_usage(name) for name in containers}
    missing = [name for name, value in usage.items() if value is None]
    assert not missing, f"not running: {missing}"
    return {name: value.rss_bytes for name, value in usage.items() if value is not None}


# "sqlite3.OperationalError: ...", "ValueError: ...": the last line of a Python traceback.
_EXCEPTION_LINE = re.compile(r"^\s*[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b(: .*)?$")


def _what_went_wrong(runtime: PodmanRuntime, lab: Lab, results: dict[str, loadgen.LoadSummary]) -> str:
    """The errors by kind, and what the services of a hierarchy with errors logged besides their INFO lines."""
    lines = [f"errors by kind: { {name: s.errors_by_kind for name, s in results.items()} }"]
    for hierarchy in lab.hierarchies:
        if results.get(hierarchy.name) is None or not results[hierarchy.name].errors:
            continue
        for container in (hierarchy.ra.container, hierarchy.ca.container):
            logged = [line for line in runtime.logs(container, tail=20_000).splitlines() if " INFO " not in line]
            # The exception lines of every traceback, counted: the first 15 lines alone may be one
            # traceback's middle, and the error that matters may be a chained one.
            raised = Counter(line.strip() for line in logged if _EXCEPTION_LINE.match(line))
            lines += [
                f"{container}: {len(logged)} lines besides INFO; exceptions {dict(raised.most_common(8))}; the first 15:",
                *logged[:15],
            ]
    return "\n".join(lines)


def _host_load(endpoint: Endpoint, results: dict[str, loadgen.LoadSummary]) -> None:
    async def run() -> loadgen.LoadSummary:
        host, port = "127.0.0.1", endpoint.hierarchy.ra.port
        [summary] = await loadgen.measure_enrollment(
            label=endpoint.hierarchy.name, algorithm=endpoint.hierarchy.algorithm, host=host, port=port,
            context=est_ssl_context(endpoint.trust_file), auth=(endpoint.username, endpoint.password),
            duration_s=SOAK_S, server_hostname="localhost",
            concurrency=(SOAK_CONCURRENCY,), new_connection=(),
        )  # fmt: skip
        return summary

    results[endpoint.hierarchy.name] = asyncio.run(run())


def _container_load(clients: ClientRunner, endpoint: Endpoint, results: dict[str, loadgen.LoadSummary]) -> None:
    hierarchy = endpoint.hierarchy
    files = {
        "ca-chain.pem": FileContent(endpoint.trust_file.read_bytes()),
        "est-credentials": FileContent(f"{endpoint.username}:{endpoint.password}".encode(), 0o600),
    }
    args = [
        "bench-enroll", "--algorithm", hierarchy.algorithm.value, "--label", hierarchy.name,
        "--ra-url", f"https://{hierarchy.ra.hostname}:{hierarchy.ra.port}",
        "--trust", f"{CLIENT_DIR}/ca-chain.pem", "--credentials", f"{CLIENT_DIR}/est-credentials",
        "--duration", str(SOAK_S), "--concurrency", str(SOAK_CONCURRENCY), "--keepalive-only",
    ]  # fmt: skip
    result = clients.run(hierarchy, args, files, timeout=SOAK_S + SETUP_ALLOWANCE_S)
    assert result.exit_code == 0, result.output[-2000:]
    [summary] = loadgen.parse_records(result.output).enrollment
    results[hierarchy.name] = summary


def test_soak_every_hierarchy_at_once(lab_cli: LabCLI, runtime: PodmanRuntime) -> None:
    lab = lab_cli.lab
    containers = [c for h in lab.hierarchies for c in (h.ca.container, h.ra.container)]
    endpoints = {h.name: endpoint_for(lab, lab_cli.state_dir, h) for h in lab.hierarchies}
    valid_before = _valid_counts(lab_cli)
    rss_idle = _rss(runtime, containers)
    results: dict[str, loadgen.LoadSummary] = {}
    clients = ClientRunner(lab, runtime, lab_cli.state_dir, ensure_image=lambda: ensure_image(runtime).reference)
    with ThreadPoolExecutor(max_workers=3) as pool:
        loads = [
            pool.submit(_host_load, endpoints["rsa"], results),
            pool.submit(_host_load, endpoints["ecc"], results),
            pool.submit(_container_load, clients, endpoints["pqc"], results),
        ]
        time.sleep(SOAK_S / 2)
        rss_middle = _rss(runtime, containers)
        for load in loads:
            load.result(timeout=SOAK_S + SETUP_ALLOWANCE_S + 60)  # a load's own failure is raised here
    rss_end = _rss(runtime, containers)
    valid_after = _valid_counts(lab_cli)

    for name, summary in sorted(results.items()):
        log.warning(
            "soak %s: %d enrollments in %.0f s at c=%d, %.1f/s, p50 %.0f ms, p99 %.0f ms, %d errors %s; VALID %d -> %d",
            name, summary.requests, SOAK_S, SOAK_CONCURRENCY, summary.per_s, summary.p50_ms, summary.p99_ms,
            summary.errors, summary.errors_by_kind, valid_before[name], valid_after[name],
        )  # fmt: skip
    for name in containers:
        log.warning(
            "soak rss %s: idle %.1f MiB, middle %.1f MiB, end %.1f MiB",
            name, rss_idle[name] / MIB, rss_middle[name] / MIB, rss_end[name] / MIB,
        )  # fmt: skip

    assert sorted(results) == ["ecc", "pqc", "rsa"], "a load thread did not finish"
    errors = {name: s.errors for name, s in results.items()}
    assert errors == {"ecc": 0, "pqc": 0, "rsa": 0}, _what_went_wrong(runtime, lab, results)
    assert all(s.requests > 0 for s in results.values())
    # Every answered enrollment is a VALID certificate in its CA's database, no more, no fewer.
    assert {name: valid_after[name] - valid_before[name] for name in results} == {
        name: s.requests for name, s in results.items()
    }
    grown = {
        n: (rss_end[n] - rss_idle[n]) / MIB for n in containers if rss_end[n] - rss_idle[n] > GROWTH_FROM_IDLE_BOUND
    }
    assert not grown, f"RSS grew past {GROWTH_FROM_IDLE_BOUND / MIB:.0f} MiB from idle (MiB): {grown}"
    leaking = {
        n: (rss_end[n] - rss_middle[n]) / MIB
        for n in containers
        if rss_end[n] - rss_middle[n] > GROWTH_FROM_MIDDLE_BOUND
    }
    assert not leaking, f"RSS still growing past {GROWTH_FROM_MIDDLE_BOUND / MIB:.0f} MiB in the 2nd half: {leaking}"
