"""The benchmarks' pure parts: spreads over repeated runs, step events folded per kind, the report's text."""

from __future__ import annotations

import pytest

from benchmarks.lifecycle import describe
from benchmarks.report import markdown
from benchmarks.stats import Spread, StepTiming, aggregate_steps, step_kind, step_spreads, summarize
from labctl.errors import LabctlError
from labctl.events import StepEvent, StepStatus

HIERARCHIES = {"rsa", "ecc", "pqc"}
ROLES = {"bench-dogtag-intermediate-ca": "ca", "bench-dogtag-est-ca": "ra"}


def test_summarize_gives_min_median_max() -> None:
    assert summarize([3.0, 1.0, 2.0]) == Spread(n=3, min=1.0, median=2.0, max=3.0)


def test_summarize_takes_the_middle_of_an_even_count() -> None:
    assert summarize([4.0, 1.0, 2.0, 3.0]) == Spread(n=4, min=1.0, median=2.5, max=4.0)


def test_summarize_rounds_to_milliseconds() -> None:
    assert summarize([1.23456]) == Spread(n=1, min=1.235, median=1.235, max=1.235)


def test_summarize_of_nothing_is_none() -> None:
    assert summarize([]) is None


@pytest.mark.parametrize(
    ("step", "kind"),
    [
        ("ecc/ca/installed", "ca/installed"),
        ("pqc/network", "network"),
        ("image", "image"),
        ("bench-dogtag-est-ca/removed", "ra/removed"),
        ("bench-dogtag-intermediate-ca/removed", "ca/removed"),
        ("bench-rsa-client-1a2b3c4d/removed", "other/removed"),
    ],
    ids=["hierarchy-step", "network", "image", "ra-removed", "ca-removed", "unknown-container"],
)
def test_step_kind(step: str, kind: str) -> None:
    assert step_kind(step, HIERARCHIES, ROLES) == kind


def test_aggregate_folds_hierarchies_per_kind() -> None:
    events = [
        StepEvent("image", StepStatus.STARTED),
        StepEvent("image", StepStatus.SKIPPED, 0.4, "up to date"),
        StepEvent("rsa/ca/installed", StepStatus.STARTED),
        StepEvent("rsa/ca/installed", StepStatus.DONE, 2.25),
        StepEvent("ecc/ca/installed", StepStatus.DONE, 0.5),
        StepEvent("pqc/ca/installed", StepStatus.SKIPPED, 0.25, "installed"),
        StepEvent("pqc/ra/healthy", StepStatus.FAILED, 60.0, "not healthy"),
    ]
    steps = aggregate_steps(events, HIERARCHIES, ROLES)
    assert list(steps) == ["image", "ca/installed", "ra/healthy"]
    assert steps["ca/installed"] == StepTiming("ca/installed", count=3, skipped=1, failed=0, max_s=2.25, sum_s=3.0)
    assert steps["image"] == StepTiming("image", count=1, skipped=1, failed=0, max_s=0.4, sum_s=0.4)
    assert steps["ra/healthy"].failed == 1


def test_aggregate_ignores_steps_that_only_started() -> None:
    assert aggregate_steps([StepEvent("rsa/network", StepStatus.STARTED)], HIERARCHIES, ROLES) == {}


def test_step_spreads_are_over_each_runs_slowest() -> None:
    runs = [
        {"network": StepTiming("network", 3, 0, 0, 0.3, 0.6)},
        {"network": StepTiming("network", 3, 0, 0, 0.1, 0.2), "image": StepTiming("image", 1, 0, 0, 9.0, 9.0)},
        {"network": StepTiming("network", 3, 0, 0, 0.2, 0.4)},
    ]
    spreads = step_spreads(runs)
    assert list(spreads) == ["network", "image"]
    assert spreads["network"] == Spread(n=3, min=0.1, median=0.2, max=0.3)
    assert spreads["image"] == Spread(n=1, min=9.0, median=9.0, max=9.0)


def _report(podman: dict[str, object]) -> dict[str, object]:
    machine = {"cores": 2, "memory_gib": 23.5, "python": "3.11", "openssl": "OpenSSL 3.0", "podman": "-"}
    return {"machine": machine, "ceiling": {}, "client_ceiling": [], "enrollment": {}, "podman": podman, "errors": []}


def test_report_says_why_the_podman_parts_did_not_run() -> None:
    text = markdown(_report({"available": False, "reason": "no podman service at unix:///x and cannot start one"}))
    assert "Podman parts not run: no podman service at unix:///x and cannot start one." in text
    assert text.endswith("Errors: 0")


def test_report_tables_the_lifecycle_by_step() -> None:
    spread = {"n": 1, "min": 1.0, "median": 1.0, "max": 1.0}
    phase = {"seconds": [1.0], "spread": spread, "steps": [], "step_spread": {"ca/installed": spread}}
    lifecycle = {"repeat": 1, "verify_checks": 30, "phases": {"cold_up": phase, "verify": phase}}
    text = markdown(_report({"available": True, "lifecycle": lifecycle}))
    assert "| `verify` (30 checks) | 1.0 | 1.0 | 1.0 |" in text
    assert "| CA signing (CSR wait, root signs) | 1.0 |  |  |  |" in text


def test_an_error_is_described_in_one_line_with_its_hints_last_line() -> None:
    error = LabctlError("client exited 1\nmore", hint="last log lines:\n...\nConnectionRefusedError: [Errno 111]")
    assert describe(error) == "client exited 1 (ConnectionRefusedError: [Errno 111])"
    assert describe(LabctlError("plain")) == "plain"
