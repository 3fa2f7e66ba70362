"""The load generator's results and their JSON lines: what the in-container client prints is what the host reads."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from labctl import loadgen
from labctl.ceiling import Ceiling
from labctl.cli import main
from labctl.errors import LabctlError
from labctl.loadgen import (
    Environment,
    LoadResult,
    LoadSummary,
    RecordKind,
    build_request,
    parse_records,
    percentile,
    record_line,
    run_load,
    trivial_server,
)

SUMMARY = LoadSummary(
    "pqc", 8, True, 120, 0, 142.2, 44.69, 126.78, 160.56, 53.89, succeeded=120, started_at=1.5, ended_at=6.5
)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.50) == 51.0
    assert percentile(values, 0.99) == 100.0
    assert percentile([3.0, 1.0, 2.0], 0.0) == 1.0


def test_percentile_of_nothing_is_zero() -> None:
    assert percentile([], 0.99) == 0.0


def test_summary_rounds_rate_and_latencies() -> None:
    result = LoadResult("ecc", 8, False, requests=3, errors=1, seconds=2.0, latencies_ms=[1.004, 2.0, 3.0])
    summary = result.summary()
    assert (summary.per_s, summary.p50_ms, summary.mean_ms, summary.errors) == (1.5, 2.0, 2.0, 1)
    assert summary.keepalive is False


def test_build_request_carries_basic_auth_and_length() -> None:
    request = build_request("ra:8456", "/.well-known/est/simpleenroll", b"MIIB", auth=("u", "p"), keepalive=False)
    head, _, body = request.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: ra:8456\r\nConnection: close")
    assert b"Content-Length: 4" in head and b"Authorization: Basic dTpw" in head
    assert body == b"MIIB"


def test_records_round_trip_among_other_lines() -> None:
    output = "\n".join(
        [
            "WARNING something logged first",
            record_line(RecordKind.ENVIRONMENT, Environment("3.13.5", "OpenSSL 3.5.9", 2)),
            record_line(RecordKind.ENROLLMENT, SUMMARY),
            '{"error": "not a record"}',
            record_line(RecordKind.CLIENT_CEILING, SUMMARY),
            record_line(RecordKind.HANDSHAKE_CEILING, SUMMARY),
            record_line(RecordKind.CRYPTO_CEILING, Ceiling("ml-dsa-87", 579.6, 608.3, 401.2, 1.72, 0.45)),
        ]
    )
    report = parse_records(output)
    assert report.environment == Environment("3.13.5", "OpenSSL 3.5.9", 2)
    assert report.enrollment == [SUMMARY]
    assert report.client_ceiling == [SUMMARY]
    assert report.handshake_ceiling == [SUMMARY]
    assert report.crypto_ceiling == [Ceiling("ml-dsa-87", 579.6, 608.3, 401.2, 1.72, 0.45)]


def test_no_records_is_an_empty_report() -> None:
    assert parse_records("Error: something failed\n").is_empty


def test_integer_rates_are_read_as_numbers() -> None:
    line = json.dumps(
        {
            "record": "crypto_ceiling",
            "algorithm": "ec-p384",
            "issue_per_s": 1696,
            "sign_per_s": 3861,
            "serverkeygen_per_s": 1002,
            "issue_cpu_ms": 1,
            "pop_cpu_ms": 2,
        }
    )
    assert parse_records(line).crypto_ceiling == [Ceiling("ec-p384", 1696.0, 3861.0, 1002.0, 1.0, 2.0)]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"record": "enrollment", "label": ', "broken record"),
        ('{"record": "surprise"}', "unknown record 'surprise'"),
        ('{"record": "environment", "python": "3.13", "openssl": "x"}', "has no 'cores'"),
        ('{"record": "environment", "python": "3.13", "openssl": "x", "cores": true}', "cores must be an integer"),
        ('{"record": "crypto_ceiling", "algorithm": "x", "issue_per_s": "fast", "sign_per_s": 1}', "must be a number"),
    ],
    ids=["truncated", "unknown", "missing", "bool-for-int", "string-for-number"],
)
def test_bad_records_are_refused_with_the_reason(line: str, message: str) -> None:
    with pytest.raises(LabctlError, match=message):
        parse_records(line)


def test_bad_keepalive_is_refused() -> None:
    data = json.loads(record_line(RecordKind.ENROLLMENT, SUMMARY)) | {"keepalive": "yes"}
    with pytest.raises(LabctlError, match="keepalive must be true or false"):
        parse_records(json.dumps(data))


async def test_load_against_the_trivial_server_counts_answers() -> None:
    server, port = await trivial_server(None)  # plain TCP: the TLS path is the bench-ceiling test's
    request = build_request("127.0.0.1", "/", b"", auth=None, keepalive=True)
    async with server:
        result = await run_load(
            label="trivial", host="127.0.0.1", port=port, context=None, requests=[request],
            concurrency=2, keepalive=True, duration_s=0.1,
        )  # fmt: skip
    assert result.requests > 0
    assert result.errors == 0
    assert len(result.latencies_ms) == result.requests
    assert result.succeeded == result.requests  # what the services' CPU is divided by
    assert result.started_at < result.ended_at  # the window labctl.cputime reads the services' CPU in


def test_bench_ceiling_prints_records_the_host_reads() -> None:
    args = ["bench-ceiling", "--algorithm", "ec-p384", "--duration", "0.05", "--crypto-seconds", "0.05"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = parse_records(result.output)
    assert report.environment is not None
    assert [row.concurrency for row in report.client_ceiling] == [1, 8, 32]
    assert [c.algorithm for c in report.crypto_ceiling] == ["ec-p384"]
    assert report.crypto_ceiling[0].serverkeygen_per_s > 0
    assert report.crypto_ceiling[0].issue_cpu_ms > 0
    assert report.crypto_ceiling[0].pop_cpu_ms > 0
    assert [(row.label, row.keepalive) for row in report.handshake_ceiling] == [("ec-p384", False)]
    assert all(row.errors == 0 for row in [*report.client_ceiling, *report.handshake_ceiling])


def test_errors_are_counted_by_kind_and_a_few_kinds_kept() -> None:
    result = loadgen.LoadResult("t", 8, True)
    result.error(loadgen.error_kind(loadgen.Answer(502, "text/plain", b"502 CA unreachable: timed out\nmore")))
    result.error("TimeoutError")
    for index in range(loadgen.MAX_ERROR_KINDS + 3):
        result.error(f"kind {index}")
    kinds = result.summary().errors_by_kind
    assert kinds["HTTP 502 502 CA unreachable: timed out"] == 1
    assert kinds["TimeoutError"] == 1
    assert len(kinds) == loadgen.MAX_ERROR_KINDS + 1  # the rest as "other"
    assert kinds["other"] == 5
    assert sum(kinds.values()) == result.errors


def test_error_kinds_survive_the_record_line() -> None:
    result = loadgen.LoadResult("t", 8, True)
    result.error("HTTP 503 CA starting")
    line = loadgen.record_line(loadgen.RecordKind.ENROLLMENT, result.summary())
    [summary] = loadgen.parse_records(line).enrollment
    assert summary.errors_by_kind == {"HTTP 503 CA starting": 1}
