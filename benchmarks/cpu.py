"""RA and CA CPU ms per enrollment beside each enrollment load row (issue 16; labctl.cputime says how).

The services' process trees are found through the runtime that started them: a ProcessRuntime's
process on the host, or podman's `State.Pid` of each container (the host's PID, rootless too). The
load rows say when they ran and how many enrollments succeeded; the sampler, running meanwhile on
the host, gives the CPU the RA and the CA used in each row's window.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from labctl.cputime import CpuSampler
from labctl.errors import LabctlError
from labctl.topology import Hierarchy


class HasMainPid(Protocol):
    """ProcessRuntime and PodmanRuntime: the host PID of a running container's main process."""

    def main_pid(self, name: str) -> int | None: ...


def service_sampler(runtime: HasMainPid, hierarchy: Hierarchy) -> CpuSampler:
    """A CpuSampler over the hierarchy's RA ("ra") and CA ("ca") process trees; start it with `with`.

    Raises:
        LabctlError: either service is not running.
    """
    pids = {}
    for role, container in (("ra", hierarchy.ra.container), ("ca", hierarchy.ca.container)):
        pid = runtime.main_pid(container)
        if pid is None:
            raise LabctlError(f"{container} is not running: no CPU to read for {hierarchy.name}'s enrollment")
        pids[role] = pid
    return CpuSampler(pids)


def add_cpu(rows: Iterable[dict[str, Any]], sampler: CpuSampler) -> None:
    """Give each load row (LoadSummary as a dict) its "cpu": RA, CA and RA+CA CPU ms per successful enrollment."""
    for row in rows:
        cpu = sampler.per_request(row["started_at"], row["ended_at"], row["succeeded"])
        row["cpu"] = {"ra_ms": cpu.ra_ms, "ca_ms": cpu.ca_ms, "total_ms": cpu.total_ms}
