"""The serverkeygen and OCSP benchmarks without timing: how their answers are checked (cheaply, and a
sample in full), their records, and the report rows they make."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner

from benchmarks.report import markdown, ocsp_tables, serverkeygen_tables
from labctl.cli import main
from labctl.errors import LabctlError
from labctl.loadgen import (
    Answer,
    LoadSummary,
    RecordKind,
    SampledCheck,
    build_request,
    ocsp_checks,
    parse_records,
    record_line,
    run_load,
    trivial_server,
)
from labctl.pki import ocsp
from labctl.services.ca.ocsp import certificate_status

if TYPE_CHECKING:
    from tests.conftest import Hierarchy

ROW = LoadSummary("ecc", 8, True, 400, 0, 200.0, 30.1, 45.2, 60.3, 31.0, verified=8)
MACHINE = {"cores": 2, "memory_gib": 23.5, "python": "3.11", "openssl": "OpenSSL 3.0", "podman": "-"}


def _row(per_s: float, **extra: Any) -> dict[str, Any]:
    row = {
        "label": "x", "concurrency": 8, "keepalive": True, "requests": 100, "errors": 0, "per_s": per_s,
        "p50_ms": 30.0, "p95_ms": 40.0, "p99_ms": 50.0, "mean_ms": 31.0, "verified": 2,
    }  # fmt: skip
    return row | extra


def _report(**parts: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "machine": MACHINE,
        "ceiling": {},
        "client_ceiling": [],
        "enrollment": {},
        "podman": None,
        "errors": [],
    }
    return base | parts


# --- checks ----------------------------------------------------------------------------------------


def _verdicts(check: SampledCheck) -> list[bool]:
    return [check(index, Answer(200, "x", b"")) for index in range(7)]


def test_sampled_check_checks_the_first_answer_then_one_in_every() -> None:
    full_calls: list[int] = []

    def full(index: int, _: Answer) -> str | None:
        full_calls.append(index)
        return None

    check = SampledCheck(lambda index, _: None, full, every=3)
    assert _verdicts(check) == [True] * 7
    assert full_calls == [0, 3, 6]
    assert (check.seen, check.verified, check.first_failure) == (7, 3, None)


def test_sampled_check_refuses_what_the_cheap_check_refuses_and_keeps_the_first_reason() -> None:
    check = SampledCheck(lambda index, _: f"bad {index}" if index % 2 else None, lambda *_: None, every=100)
    assert _verdicts(check) == [True, False, True, False, True, False, True]
    assert check.first_failure == "bad 1"


def test_sampled_check_refuses_a_sampled_answer_the_full_check_refuses() -> None:
    check = SampledCheck(lambda *_: None, lambda *_: "bad signature", every=100)
    assert _verdicts(check) == [False, True, True, True, True, True, True]
    assert (check.verified, check.first_failure) == (1, "bad signature")


def _ocsp_answer(hierarchy: Hierarchy, query: ocsp.Query) -> Answer:
    der = ocsp.respond(query.der, hierarchy.ca.issuer, lambda serial: certificate_status(hierarchy.ca, serial))
    return Answer(200, "application/ocsp-response", der)


def test_ocsp_checks_pass_a_good_answer_cheaply_and_in_full(hierarchy: Hierarchy) -> None:
    leaf = hierarchy.issue("bench-ocsp-good.cert-lab.local")
    query = ocsp.build_request(hierarchy.intermediate, leaf.serial_number)
    cheap, full = ocsp_checks([query], hierarchy.intermediate)
    answer = _ocsp_answer(hierarchy, query)
    assert (cheap(0, answer), full(0, answer)) == (None, None)


def test_ocsp_cheap_check_refuses_a_revoked_certificate(hierarchy: Hierarchy) -> None:
    leaf = hierarchy.issue("bench-ocsp-revoked.cert-lab.local")
    hierarchy.revoke(leaf)
    query = ocsp.build_request(hierarchy.intermediate, leaf.serial_number)
    cheap, _ = ocsp_checks([query], hierarchy.intermediate)
    assert cheap(0, _ocsp_answer(hierarchy, query)) == "certificate status revoked, expected good"


def test_ocsp_cheap_check_refuses_an_unsuccessful_answer(hierarchy: Hierarchy) -> None:
    query = ocsp.build_request(hierarchy.intermediate, 0x1)
    cheap, _ = ocsp_checks([query], hierarchy.intermediate)
    answer = Answer(200, "application/ocsp-response", b"\x30\x03\x0a\x01\x01")  # malformedRequest
    assert cheap(0, answer) == "OCSP response status malformed_request"
    assert (cheap(0, Answer(200, "text/plain", b"500 Internal Server Error")) or "").startswith("not an OCSP response")


def test_ocsp_full_check_refuses_an_answer_signed_by_another_ca(
    hierarchy: Hierarchy, other_hierarchy: Hierarchy
) -> None:
    leaf = hierarchy.issue("bench-ocsp-forged.cert-lab.local")
    query = ocsp.build_request(hierarchy.intermediate, leaf.serial_number)
    # The other CA (same subject, another key) answers for the same serial, good.
    forged = ocsp.respond(
        ocsp.build_request(other_hierarchy.intermediate, leaf.serial_number, nonce=False).der,
        other_hierarchy.ca.issuer,
        lambda _: ocsp.GOOD,
    )
    cheap, full = ocsp_checks([query], hierarchy.intermediate)
    answer = Answer(200, "application/ocsp-response", forged)
    assert cheap(0, answer) is None  # only the signature tells: why a sample is checked in full
    assert "not signed by" in (full(0, answer) or "")


async def test_run_load_counts_answers_the_check_refuses_as_errors() -> None:
    server, port = await trivial_server(None)
    requests = [build_request("127.0.0.1", "/", b"", auth=None, keepalive=True)] * 2
    async with server:
        result = await run_load(
            label="trivial", host="127.0.0.1", port=port, context=None, requests=requests, concurrency=1,
            keepalive=True, duration_s=0.1, check=lambda index, answer: index == 0 and answer.body == b"ok",
        )  # fmt: skip
    assert result.requests > 1
    assert result.errors == result.requests // 2  # c=1 alternates between the two requests, index 0 first


def test_build_request_takes_the_content_type() -> None:
    request = build_request("ca:8044", "/ca/ocsp", b"\x30\x00", auth=None, keepalive=True, content_type="x/y")
    assert b"Content-Type: x/y\r\nContent-Length: 2\r\n" in request


# --- records -----------------------------------------------------------------------------------------


def test_serverkeygen_records_round_trip_with_their_sample_count() -> None:
    report = parse_records(record_line(RecordKind.SERVERKEYGEN, ROW))
    assert report.serverkeygen == [ROW]
    assert report.serverkeygen[0].verified == 8
    assert not report.is_empty


def test_a_load_record_without_its_sample_count_is_refused() -> None:
    data = json.loads(record_line(RecordKind.SERVERKEYGEN, ROW))
    del data["verified"]
    with pytest.raises(LabctlError, match="has no 'verified'"):
        parse_records(json.dumps(data))


def test_a_crypto_ceiling_record_without_serverkeygen_is_refused() -> None:
    line = json.dumps({"record": "crypto_ceiling", "algorithm": "ec-p384", "issue_per_s": 1, "sign_per_s": 2})
    with pytest.raises(LabctlError, match="has no 'serverkeygen_per_s'"):
        parse_records(line)


def test_bench_enroll_serverkeygen_runs_keepalive_only() -> None:
    args = ["bench-enroll", "--operation", "serverkeygen", "--new-connection", "8", "--algorithm", "ec-p384"]
    args += ["--label", "ecc", "--ra-url", "https://ra:8466", "--trust", __file__, "--credentials", __file__]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "serverkeygen runs keep-alive only" in result.output


# --- report ------------------------------------------------------------------------------------------


def test_serverkeygen_rows_against_the_host_and_container_ceilings() -> None:
    report = _report(
        ceiling={"rsa": {"issue_per_s": 170.0, "sign_per_s": 160.0, "serverkeygen_per_s": 1.2}},
        serverkeygen={"rsa": [_row(0.9, requests=9, verified=1)]},
        podman={
            "available": True,
            "lab": {"algorithms": {"pqc": "ml-dsa-87"}},
            "container": {
                "ceilings": {"crypto_ceiling": {"ml-dsa-87": {"issue_per_s": 580.0, "serverkeygen_per_s": 400.04}}},
                "serverkeygen": {"pqc": [_row(100.0)]},
            },
        },
    )
    lines = serverkeygen_tables(report)
    assert "| rsa | 8 | 0.9 | 30.0 | 40.0 | 50.0 | 0 | 1 of 9 | 1.2 | 0.75 |" in lines
    assert "| pqc | 8 | 100.0 | 30.0 | 40.0 | 50.0 | 0 | 2 of 100 | 400.0 | 0.25 |" in lines
    assert lines[1].startswith("Serverkeygen, CA and RA as processes on the host")


def test_ocsp_rows_against_the_signature_ceilings() -> None:
    report = _report(
        ceiling={"ecc": {"issue_per_s": 1400.0, "sign_per_s": 2800.0}},
        ocsp={"ecc": [_row(700.0)]},
        podman={
            "available": True,
            "lab": {"algorithms": {"pqc": "ml-dsa-87"}},
            "container": {"ceilings": {"crypto_ceiling": {"ml-dsa-87": {"sign_per_s": 740.0}}}},
            "ocsp": {"pqc": [_row(370.0, errors=3)]},
        },
    )
    lines = ocsp_tables(report)
    assert "| ecc | 8 | 700.0 | 30.0 | 40.0 | 50.0 | 0 | 2 of 100 | 2800.0 | 0.25 |" in lines
    assert "| pqc | 8 | 370.0 | 30.0 | 40.0 | 50.0 | 3 | 2 of 100 | 740.0 | 0.50 |" in lines
    assert any(line.startswith("OCSP, the podman lab (load client on the host") for line in lines)


def test_the_ceiling_table_has_the_serverkeygen_column() -> None:
    ceiling = {"rsa": {"issue_per_s": 170.0, "sign_per_s": 160.0, "serverkeygen_per_s": 1.2, "handshake_per_s": 110}}
    text = markdown(_report(ceiling=ceiling))
    assert "| rsa | host | 170.0 | 160.0 | 1.2 | 110 |" in text


def _before_these_loads(report: dict[str, Any]) -> dict[str, Any]:
    """A report as the runner wrote it before serverkeygen and OCSP (e.g. benchmarks/rootless.json's)."""
    old = {key: value for key, value in report.items() if key not in ("serverkeygen", "ocsp")}
    podman = {key: value for key, value in report["podman"].items() if key != "ocsp"}
    podman["container"] = {key: value for key, value in podman["container"].items() if key != "serverkeygen"}
    old["podman"] = podman
    old["ceiling"] = {
        name: {k: v for k, v in c.items() if k != "serverkeygen_per_s"} for name, c in report["ceiling"].items()
    }
    return old


def test_a_report_from_before_these_loads_still_renders_without_their_tables() -> None:
    latest = json.loads((Path(__file__).parents[2] / "benchmarks" / "latest.json").read_text())
    text = markdown(_before_these_loads(latest))
    assert "Serverkeygen" not in text and "OCSP" not in text
    rsa = latest["ceiling"]["rsa"]
    assert f"| rsa | host | {rsa['issue_per_s']} | {rsa['sign_per_s']} | - | {rsa['handshake_per_s']} |" in text
