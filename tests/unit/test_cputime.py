"""RA and CA CPU per enrollment (issue 16) without timing: /proc parsing, process trees, the window
arithmetic and the report's rows."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from benchmarks.cpu import add_cpu, service_sampler
from benchmarks.report import cpu_table, markdown
from labctl.cputime import (
    CLOCK_TICKS,
    CpuSampler,
    Sample,
    cpu_between,
    efficiency,
    efficiency_bound,
    per_request,
    process_tree,
    stat_ticks,
    tree_cpu_seconds,
)
from labctl.errors import LabctlError
from labctl.topology import load_lab


def _stat(pid: int, comm: str, utime: int, stime: int, cutime: int = 0, cstime: int = 0) -> str:
    # proc(5) fields 1-17 and a few more: pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
    # majflt cmajflt utime stime cutime cstime priority nice ...
    return f"{pid} ({comm}) S 1 {pid} {pid} 0 -1 4194560 100 0 0 0 {utime} {stime} {cutime} {cstime} 20 0 3 0\n"


def _fake_proc(root: Path, tree: dict[int, list[int]], ticks: dict[int, int]) -> Path:
    """A /proc with each pid's stat and one thread whose children are `tree[pid]`."""
    for pid, children in tree.items():
        task = root / str(pid) / "task" / str(pid)
        task.mkdir(parents=True)
        (task / "children").write_text(" ".join(map(str, children)) + (" " if children else ""))
        (root / str(pid) / "stat").write_text(_stat(pid, "python3", ticks[pid], 0))
    return root


def test_stat_ticks_sums_utime_stime_and_waited_for_children() -> None:
    assert stat_ticks(_stat(7, "python3", 120, 30, 5, 1)) == 156


def test_stat_ticks_counts_fields_from_the_last_parenthesis() -> None:
    # comm is whatever the process named itself: spaces and ")" included (proc(5)).
    assert stat_ticks(_stat(7, "evil) S 1 2 3 (name", 10, 20)) == 30


def test_process_tree_follows_children_of_every_thread(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path, {10: [11, 12], 11: [13], 12: [], 13: []}, dict.fromkeys((10, 11, 12, 13), 1))
    assert sorted(process_tree(10, proc)) == [10, 11, 12, 13]


def test_process_tree_leaves_out_a_process_that_ended(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path, {10: [11, 99], 11: []}, {10: 1, 11: 1})  # 99 listed, gone since
    assert sorted(process_tree(10, proc)) == [10, 11]
    assert process_tree(4242, proc) == []


def test_tree_cpu_seconds_sums_the_tree_in_seconds(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path, {10: [11], 11: []}, {10: 3 * CLOCK_TICKS, 11: CLOCK_TICKS})
    assert tree_cpu_seconds(10, proc) == 4.0


def test_tree_cpu_seconds_reads_this_process() -> None:
    assert tree_cpu_seconds(os.getpid()) > 0


SAMPLES = [
    Sample(10.0, {"ra": 1.0, "ca": 2.0}),
    Sample(11.0, {"ra": 2.0, "ca": 2.5}),
    Sample(13.0, {"ra": 6.0, "ca": 3.5}),
]


def test_cpu_between_samples_is_their_difference() -> None:
    assert cpu_between(SAMPLES, 10.0, 13.0) == {"ra": 5.0, "ca": 1.5}


def test_cpu_between_interpolates_inside_a_sample_interval() -> None:
    assert cpu_between(SAMPLES, 10.5, 12.0) == pytest.approx({"ra": 2.5, "ca": 0.75})


def test_cpu_between_outside_the_samples_takes_the_nearest() -> None:
    assert cpu_between(SAMPLES, 5.0, 20.0) == {"ra": 5.0, "ca": 1.5}


def test_cpu_between_refuses_an_inverted_window_and_no_samples() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        cpu_between(SAMPLES, 12.0, 11.0)
    with pytest.raises(ValueError, match="no CPU samples"):
        cpu_between([], 1.0, 2.0)


def test_per_request_divides_by_successful_enrollments_in_ms() -> None:
    cpu = per_request({"ra": 2.4, "ca": 1.6}, 400)
    assert (cpu.ra_ms, cpu.ca_ms, cpu.total_ms) == (6.0, 4.0, 10.0)


def test_per_request_without_a_success_has_no_figure() -> None:
    cpu = per_request({"ra": 2.4, "ca": 1.6}, 0)
    assert (cpu.ra_ms, cpu.ca_ms, cpu.total_ms) == (None, None, None)


def test_efficiency_is_issuance_over_ra_plus_ca() -> None:
    assert efficiency(1.5, 6.0) == 0.25
    assert efficiency(None, 6.0) is None
    assert efficiency(1.5, None) is None


def test_efficiency_bound_counts_two_proof_of_possession_checks() -> None:
    # ecc in the lab's container, 2026-12-03: issuance 0.369 ms, a P-384 CSR check 0.533 ms: the RA's and
    # the CA's checks alone cost more than the issuance, so no RA + CA can reach an efficiency of 0.5.
    assert efficiency_bound(0.369, 0.533) == 0.26
    assert efficiency_bound(1.0, 0.0) is None
    assert efficiency_bound(None, 0.5) is None


def test_sampler_samples_at_start_and_stop() -> None:
    readings = iter([1.0, 10.0, 3.0, 14.0])
    with CpuSampler({"ra": 1, "ca": 2}, interval_s=3600, read=lambda _pid: next(readings)) as sampler:
        pass
    assert [dict(sample.seconds) for sample in sampler.samples] == [{"ra": 1.0, "ca": 10.0}, {"ra": 3.0, "ca": 14.0}]


class FakeRuntime:
    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids

    def main_pid(self, name: str) -> int | None:
        return self.pids.get(name)


def test_service_sampler_reads_the_hierarchy_ra_and_ca() -> None:
    ecc = load_lab().hierarchy("ecc")
    sampler = service_sampler(FakeRuntime({ecc.ra.container: 5, ecc.ca.container: 6}), ecc)
    assert sampler._pids == {"ra": 5, "ca": 6}


def test_service_sampler_names_a_service_that_is_not_running() -> None:
    ecc = load_lab().hierarchy("ecc")
    with pytest.raises(LabctlError, match=f"{ecc.ca.container} is not running"):
        service_sampler(FakeRuntime({ecc.ra.container: 5}), ecc)


def _row(**extra: Any) -> dict[str, Any]:
    row = {
        "label": "ecc", "concurrency": 8, "keepalive": True, "requests": 400, "errors": 0, "per_s": 400.0,
        "p50_ms": 18.0, "p95_ms": 25.0, "p99_ms": 30.0, "mean_ms": 19.0, "verified": 0,
        "succeeded": 400, "started_at": 10.0, "ended_at": 13.0,
    }  # fmt: skip
    return row | extra


def test_add_cpu_gives_each_row_its_window_per_enrollment() -> None:
    sampler = CpuSampler({"ra": 1, "ca": 2}, read=lambda _pid: 0.0)
    sampler.samples = SAMPLES
    rows = [_row(), _row(succeeded=0)]
    add_cpu(rows, sampler)
    assert rows[0]["cpu"] == {"ra_ms": 12.5, "ca_ms": 3.75, "total_ms": 16.25}
    assert rows[1]["cpu"] == {"ra_ms": None, "ca_ms": None, "total_ms": None}


def test_cpu_table_puts_issuance_beside_ra_plus_ca() -> None:
    rows = {"ecc": [_row(cpu={"ra_ms": 4.0, "ca_ms": 4.0, "total_ms": 8.0}), _row(concurrency=1)]}
    table = cpu_table(rows, {"ecc": 1.6}, {"ecc": 0.8})
    assert table[2] == "| ecc | keep-alive | 8 | 400.0 | 0 | 30.0 | 4.0 | 4.0 | 8.0 | 1.6 | 0.2 | 0.8 | 0.5 |"
    assert len(table) == 3  # the row without CPU figures is left out


def test_markdown_has_a_cpu_section_for_host_enrollment() -> None:
    report = {
        "machine": {"cores": 2, "memory_gib": 23.5, "python": "3.11", "openssl": "OpenSSL 3.0", "podman": "-"},
        "ceiling": {"ecc": {"issue_per_s": 600.0, "sign_per_s": 3000.0, "issue_cpu_ms": 1.6, "pop_cpu_ms": 0.4}},
        "client_ceiling": [],
        "enrollment": {"ecc": [_row(cpu={"ra_ms": 4.0, "ca_ms": 4.0, "total_ms": 8.0})]},
        "podman": None,
        "errors": [],
    }
    text = markdown(report)
    assert "CPU per enrollment, CA and RA as processes on the host:" in text
    assert "| 8.0 | 1.6 | 0.2 | 0.4 | 0.67 |" in text


def test_profiled_writes_a_profile_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from labctl.services.profiling import PROFILE_ENV, profiled

    monkeypatch.setenv(PROFILE_ENV, str(tmp_path / "profiles"))
    with profiled("ca"):
        sum(range(100))
    assert [path.name for path in (tmp_path / "profiles").iterdir()] == [f"ca-{os.getpid()}.prof"]


def test_profiled_does_nothing_unasked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from labctl.services.profiling import PROFILE_ENV, profiled

    monkeypatch.delenv(PROFILE_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    with profiled("ca"):
        pass
    assert list(tmp_path.iterdir()) == []
