"""The scale benchmark, run small: it seeds the rows it says, checks every answer, reports what it measured.
No timing is asserted: only that the run completes, answers right and reports."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.report import scale_markdown
from benchmarks.scale import SUBSTRING, run_scale


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return run_scale(60, issuances=4, queries_per_kind=3)


def test_scale_run_has_no_errors(report: dict[str, Any]) -> None:
    assert report["errors"] == []


def test_scale_run_seeds_a_mix_of_valid_and_revoked(report: dict[str, Any]) -> None:
    counts = report["counts"]
    assert counts["VALID"] + counts["REVOKED"] == 60
    assert counts["PENDING_REQUESTS"] == 0


def test_scale_run_measures_every_look_up_on_both_cas(report: dict[str, Any]) -> None:
    kinds = set(report["queries"]["full"])
    assert kinds == set(report["queries"]["empty"])
    assert {"search by serial", "search by CN (exact)", "getStatus counts", SUBSTRING} <= kinds
    assert report["issuance"]["full"]["n"] == report["issuance"]["empty"]["n"] == 4


def test_scale_run_reports_bytes_per_certificate(report: dict[str, Any]) -> None:
    database = report["database"]
    assert database["bytes_per_certificate"] == round((database["db"] + database["wal"]) / 60)


def test_scale_targets_leave_out_the_substring_scan(report: dict[str, Any]) -> None:
    assert not any("substring" in target for target in report["targets"])


def test_scale_markdown_names_missed_targets(report: dict[str, Any]) -> None:
    missed = {**report, "targets": {"getStatus counts p99 < 50 ms": False}, "errors": ["x failed"]}
    text = scale_markdown(missed)
    assert "Targets missed: getStatus counts p99 < 50 ms" in text
    assert text.endswith("Errors: 1\n- x failed")
