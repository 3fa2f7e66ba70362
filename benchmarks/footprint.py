"""Memory of the bench lab's containers at idle and under load (see PodmanRuntime.memory_usage).

RSS (VmRSS of each container's processes) is what `ps` and `top` show, but it counts the shared
libraries (Python, OpenSSL, cryptography's Rust extension: ~24 MiB) in full in each of the six
containers, which share those pages; PSS divides them among the sharers, so PSS sums to the lab's
footprint. The cgroup's usage (podman stats "MemUsage") is recorded too: its anonymous memory plus
the page cache charged to it, which grows with the CA's SQLite file under load and is reclaimable.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from labctl.runtime.base import MemoryUsage
from labctl.runtime.podman import PodmanRuntime

MIB = 1024 * 1024
SAMPLE_INTERVAL_S = 0.5


@dataclass(frozen=True, slots=True)
class Memory:
    """MiB, rounded (one sample's, the median of a few, or the peak): RSS, PSS and the cgroup's charge."""

    rss_mib: float
    pss_mib: float | None
    cgroup_mib: float | None  # None: no cgroup figures (rootless podman on cgroups v1)
    samples: int

    @classmethod
    def of(cls, usages: Sequence[MemoryUsage], *, peak: bool) -> Memory | None:
        if not usages:
            return None
        pick = max if peak else statistics.median
        pss = [u.pss_bytes for u in usages if u.pss_bytes is not None]
        cgroup = [u.cgroup_bytes for u in usages if u.cgroup_bytes is not None]
        return cls(
            rss_mib=round(pick([u.rss_bytes for u in usages]) / MIB, 1),
            pss_mib=round(pick(pss) / MIB, 1) if pss else None,
            cgroup_mib=round(pick(cgroup) / MIB, 1) if cgroup else None,
            samples=len(usages),
        )


def idle_memory(runtime: PodmanRuntime, names: Sequence[str], *, samples: int = 3) -> dict[str, Memory]:
    """The median of a few samples per container, SAMPLE_INTERVAL_S apart."""
    seen: dict[str, list[MemoryUsage]] = {name: [] for name in names}
    for index in range(samples):
        if index:
            time.sleep(SAMPLE_INTERVAL_S)
        for name in names:
            usage = runtime.memory_usage(name)
            if usage is not None:
                seen[name].append(usage)
    return {name: memory for name, usages in seen.items() if (memory := Memory.of(usages, peak=False))}


class PeakSampler:
    """Samples containers' memory on a thread of its own (and its own podman client) until stopped."""

    def __init__(self, socket_url: str, names: Sequence[str]) -> None:
        self._socket_url = socket_url
        self._names = list(names)
        self._seen: dict[str, list[MemoryUsage]] = {name: [] for name in names}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-memory", daemon=True)
        self.error: str | None = None

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            with PodmanRuntime(self._socket_url, start_service=False) as runtime:
                while not self._stop.is_set():
                    for name in self._names:
                        usage = runtime.memory_usage(name)
                        if usage is not None:
                            self._seen[name].append(usage)
                    self._stop.wait(SAMPLE_INTERVAL_S)
        except Exception as exc:  # reported with the results; the load run goes on
            self.error = f"memory sampling: {exc}"

    def peaks(self) -> dict[str, Memory]:
        return {name: memory for name, usages in self._seen.items() if (memory := Memory.of(usages, peak=True))}
