"""The benchmarks' serverkeygen and OCSP loads, about a second each against the CA and RA as processes
(rsa): their records are well formed and no request failed. No figure is asserted: timings are the
benchmark's to report, not a test's to check."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from benchmarks.ocsp import ocsp_load
from labctl.cli import main
from labctl.endpoint import Endpoint
from labctl.loadgen import LoadSummary, parse_records
from labctl.local import LocalLab
from labctl.state import HierarchyState

pytestmark = pytest.mark.integration
SECONDS = 1.0


def _assert_well_formed(row: LoadSummary, *, concurrency: int) -> None:
    assert (row.label, row.concurrency, row.keepalive) == ("rsa", concurrency, True)
    assert row.requests > 0
    assert row.errors == 0
    assert 1 <= row.verified <= row.requests  # the first answer at least was checked in full
    assert 0 < row.p50_ms <= row.p95_ms <= row.p99_ms
    assert row.per_s > 0


def test_serverkeygen_load_answers_every_request(local_lab: tuple[LocalLab, dict[str, Endpoint], Path]) -> None:
    """Through `labctl bench-enroll --operation serverkeygen`, as the in-network client runs it for pqc."""
    _, endpoints, state = local_lab
    endpoint = endpoints["rsa"]
    port = urlsplit(endpoint.ra_url).port
    args = [
        "bench-enroll", "--operation", "serverkeygen", "--algorithm", "rsa-4096", "--label", "rsa",
        "--ra-url", f"https://localhost:{port}", "--trust", str(endpoint.trust_file),
        "--credentials", str(HierarchyState.of(state, endpoint.hierarchy).credentials_file),
        "--duration", str(SECONDS),
        # c=2, not 8: RSA-4096 keys take ~1 s each here, and the test needs only a few answers.
        "--concurrency", "2",
    ]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = parse_records(result.output)
    assert report.environment is not None
    assert not report.enrollment
    [row] = report.serverkeygen
    _assert_well_formed(row, concurrency=2)


def test_ocsp_load_answers_every_request_good(local_lab: tuple[LocalLab, dict[str, Endpoint], Path]) -> None:
    runner, endpoints, state = local_lab
    [row] = ocsp_load(runner.lab, state, endpoints["rsa"].hierarchy, duration=SECONDS)
    _assert_well_formed(row, concurrency=8)
    assert row.verified < row.requests  # a sample, not every answer
