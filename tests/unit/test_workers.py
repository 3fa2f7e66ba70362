"""labctl.services.workers: N forked workers, SIGTERM reaching them all, one failing stopping the rest."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from labctl.services.workers import MAX_DEFAULT_WORKERS, default_workers, run_workers, worker_count


@pytest.mark.parametrize(("cpus", "workers"), [(1, 1), (2, 1), (3, 1), (4, 2), (8, 4), (16, 4), (64, 4)])
def test_default_workers_are_one_per_two_cpus_of_the_affinity_mask_capped(
    monkeypatch: pytest.MonkeyPatch, cpus: int, workers: int
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(cpus)))
    assert MAX_DEFAULT_WORKERS == 4
    assert default_workers() == workers


def test_worker_count_is_the_setting_else_auto_but_one_on_a_port_the_kernel_picks() -> None:
    assert worker_count(3, 8443, 0) == 3  # set explicitly: as set
    assert worker_count(None, 8443, None) == default_workers()  # auto; no plain-HTTP port
    assert worker_count(None, 8443, 0) == 1  # port 0: each worker would get a port of its own
    assert worker_count(None, 0) == 1


def _wait_for_files(directory: Path, count: int, *, timeout_s: float = 10.0) -> list[Path]:
    deadline = time.monotonic() + timeout_s
    while len(files := list(directory.iterdir())) < count:
        assert time.monotonic() < deadline, f"only {len(files)} of {count} workers started"
        time.sleep(0.02)
    return files


def _until_sigterm(directory: Path, stopped: Path | None = None) -> None:
    """A worker: announce its pid in a file, then run until SIGTERM (the default handler would kill it: exit 0
    instead), and say so in `stopped` if given."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    (directory / str(os.getpid())).touch()
    while not stop.wait(0.05):
        pass
    if stopped is not None:
        stopped.touch()


def test_sigterm_to_the_parent_stops_every_worker(tmp_path: Path) -> None:
    def terminate_when_started() -> None:
        _wait_for_files(tmp_path, 2)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=terminate_when_started, daemon=True).start()
    before = signal.getsignal(signal.SIGTERM)
    assert run_workers(2, lambda _index: _until_sigterm(tmp_path)) == 0
    pids = [int(path.name) for path in tmp_path.iterdir()]
    assert len(set(pids)) == 2 and os.getpid() not in pids
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reaped by run_workers
    assert signal.getsignal(signal.SIGTERM) is before


def test_another_child_of_the_process_is_not_taken_for_a_worker(tmp_path: Path) -> None:
    """A test runner has children of its own: one that exits while the workers run is neither reaped nor
    a worker's exit (os.wait() took it for one, in CI)."""
    other = subprocess.Popen(["sleep", "0.2"])

    def terminate_after_the_other_exits() -> None:
        _wait_for_files(tmp_path, 2)
        time.sleep(0.6)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=terminate_after_the_other_exits, daemon=True).start()
    assert run_workers(2, lambda _index: _until_sigterm(tmp_path)) == 0
    assert other.wait(timeout=5) == 0  # its status is still there for its owner


def test_a_worker_that_fails_stops_the_others(tmp_path: Path) -> None:
    def worker(index: int) -> None:
        (tmp_path / f"index-{index}").touch()
        if index == 0:
            time.sleep(0.2)
            raise SystemExit(3)
        _until_sigterm(tmp_path, tmp_path / "stopped")  # the other: stopped by run_workers

    assert run_workers(2, worker) == 3
    assert (tmp_path / "stopped").exists()  # sent SIGTERM, not waited for
    assert sorted(p.name for p in tmp_path.glob("index-*")) == ["index-0", "index-1"]  # each index once
