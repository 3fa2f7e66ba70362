"""CPU time of the lab's services under load, from /proc (proc(5)): what one enrollment costs the RA and the CA.

A service is a process tree (a host process, or a container's main process as podman reports it in
`State.Pid`, and its descendants): its CPU time is utime + stime of each process, plus cutime + cstime
(descendants that ended and were waited for). A CpuSampler reads those every SAMPLE_INTERVAL_S on a
thread of its own while the load runs; a load run's CPU is the difference between the sampled totals
at its start and end, interpolated between the samples around each, since the load client may run
elsewhere (in a container) and only says when each run started and ended (`time.time()`: containers
share the host's clock). Divided by the run's successful enrollments: CPU ms per enrollment.
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")  # proc(5): times in /proc/PID/stat are in clock ticks
SAMPLE_INTERVAL_S = 0.05


def stat_ticks(stat: str) -> int:
    """utime + stime + cutime + cstime of one /proc/PID/stat line, in clock ticks.

    proc(5): field 2 (comm) is in parentheses and may hold spaces and parentheses itself, so the
    fields are counted from the last ")": field 3 (state) first, utime is field 14, cstime field 17.
    """
    fields = stat[stat.rindex(")") + 1 :].split()
    return sum(int(value) for value in fields[11:15])


def process_tree(pid: int, proc: Path = PROC) -> list[int]:
    """`pid` and its descendants (/proc/PID/task/TID/children of every thread); processes gone meanwhile are left out."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        try:
            children = [
                int(child)
                for task in (proc / str(current) / "task").iterdir()
                for child in (task / "children").read_text(encoding="ascii").split()
            ]
        except OSError:  # ended meanwhile
            continue
        found.append(current)
        pending += children
    return found


def tree_cpu_seconds(pid: int, proc: Path = PROC) -> float:
    """CPU seconds used so far by `pid`'s process tree (0.0 once it is gone)."""
    ticks = 0
    for member in process_tree(pid, proc):
        try:
            ticks += stat_ticks((proc / str(member) / "stat").read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
    return ticks / CLOCK_TICKS


@dataclass(frozen=True, slots=True)
class Sample:
    """CPU seconds used so far by each named service, at `at` (time.time())."""

    at: float
    seconds: Mapping[str, float]


def cpu_between(samples: Sequence[Sample], start: float, end: float) -> dict[str, float]:
    """CPU seconds each service used between `start` and `end`, interpolated linearly between the samples
    around each. Before the first sample or after the last, the nearest one stands in.

    Raises:
        ValueError: no samples, or `end` before `start`.
    """
    if not samples:
        raise ValueError("no CPU samples")
    if end < start:
        raise ValueError(f"window ends ({end}) before it starts ({start})")
    return {name: _at(samples, end, name) - _at(samples, start, name) for name in samples[0].seconds}


def _at(samples: Sequence[Sample], when: float, name: str) -> float:
    index = bisect.bisect_left([sample.at for sample in samples], when)
    if index == 0:
        return samples[0].seconds[name]
    if index == len(samples):
        return samples[-1].seconds[name]
    before, after = samples[index - 1], samples[index]
    span = after.at - before.at
    share = (when - before.at) / span if span else 1.0
    return before.seconds[name] + share * (after.seconds[name] - before.seconds[name])


@dataclass(frozen=True, slots=True)
class CpuPerRequest:
    """CPU ms per successful request of one load run, by service; None where the run had no success."""

    ra_ms: float | None
    ca_ms: float | None

    @property
    def total_ms(self) -> float | None:
        return None if self.ra_ms is None or self.ca_ms is None else round(self.ra_ms + self.ca_ms, 2)


def per_request(seconds: Mapping[str, float], succeeded: int) -> CpuPerRequest:
    """The CPU seconds of the "ra" and "ca" services over a run, per successful request, in ms."""

    def share(name: str) -> float | None:
        return round(seconds[name] * 1000 / succeeded, 2) if succeeded > 0 and name in seconds else None

    return CpuPerRequest(share("ra"), share("ca"))


def efficiency(issue_cpu_ms: float | None, total_ms: float | None) -> float | None:
    """The one-core issuance CPU ms over what an enrollment cost the RA and the CA (1.0: nothing but issuance)."""
    if not issue_cpu_ms or not total_ms:
        return None
    return round(issue_cpu_ms / total_ms, 2)


def efficiency_bound(issue_cpu_ms: float | None, pop_cpu_ms: float | None) -> float | None:
    """The highest efficiency an enrollment can have: its cryptography alone, the issuance and the two
    proof-of-possession checks (the RA's and the CA's, as Dogtag makes them: labctl.ceiling.Ceiling), with
    TLS, HTTP, JSON, SQLite and logging costing nothing."""
    if not issue_cpu_ms or not pop_cpu_ms:
        return None
    return round(issue_cpu_ms / (issue_cpu_ms + 2 * pop_cpu_ms), 2)


class CpuSampler:
    """Samples the CPU seconds of named process trees every `interval_s` on a thread of its own, until stopped.

    Args:
        pids: service name ("ra", "ca") -> the main process of its tree.
        read: CPU seconds of a tree by its main PID (tests pass a fake).
    """

    def __init__(
        self,
        pids: Mapping[str, int],
        *,
        interval_s: float = SAMPLE_INTERVAL_S,
        read: Callable[[int], float] = tree_cpu_seconds,
    ) -> None:
        self._pids = dict(pids)
        self._interval_s = interval_s
        self._read = read
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-cpu", daemon=True)
        self.samples: list[Sample] = []

    def sample(self) -> None:
        self.samples.append(Sample(time.time(), {name: self._read(pid) for name, pid in self._pids.items()}))

    def __enter__(self) -> CpuSampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.sample()

    def per_request(self, started_at: float, ended_at: float, succeeded: int) -> CpuPerRequest:
        """CPU ms per successful request of a run between `started_at` and `ended_at`."""
        return per_request(cpu_between(self.samples, started_at, ended_at), succeeded)
