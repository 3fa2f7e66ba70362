"""Several worker processes serving one port (docs/workers.md).

Each worker is a forked copy of the service that binds the same host:port with SO_REUSEPORT: the
kernel spreads new connections over the workers' listening sockets, and a worker that stops leaves
the group without dropping the others' connections. The parent serves nothing: it forwards SIGTERM
and SIGINT to the workers, waits for them, and stops them all when one exits on its own (so the
container, or LocalLab.wait, sees the service fail instead of running at reduced capacity).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import select
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from types import FrameType

from labctl.services.profiling import profiled

log = logging.getLogger(__name__)

# The default (`workers` unset, "auto"): one worker per two CPUs the process may run on, 1 to this. A
# busy hierarchy's RA and CA split the CPUs between them (about 45/55 per enrollment, BENCHMARKS.md), so
# one worker per CPU for each would put two workers on every core: measured on 2 CPUs, that costs 10-30%
# more CPU per enrollment and doubles p99 for no throughput (BENCHMARKS.md, "Worker processes"). The cap:
# a lab is six services beside whatever else the machine runs, each worker a Python process (~25 MiB of
# its own); more is for a lab file to ask (docs/workers.md).
MAX_DEFAULT_WORKERS = 4
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def default_workers() -> int:
    """One per two CPUs in this process's affinity mask (a container's --cpuset-cpus), 1 to MAX_DEFAULT_WORKERS.

    os.cpu_count() would count the host's CPUs; a CPU quota (--cpus) shows in neither.
    """
    return max(1, min(len(os.sched_getaffinity(0)) // 2, MAX_DEFAULT_WORKERS))


def worker_count(requested: int | None, *ports: int | None) -> int:
    """`requested`, or for auto (None) default_workers(); but one when a port is 0 (tests): the kernel picks
    a port per socket, so workers could not share it."""
    if requested is not None:
        return requested
    return 1 if 0 in ports else default_workers()


def run_service(service: str, count: int, serve: Callable[[int], None]) -> int:
    """Run `serve(index)`, profiled as `service` (labctl.services.profiling): in this process (index 0) when
    `count` is 1, else in `count` workers (run_workers).

    Returns:
        0 for one process; run_workers' exit code for several.
    """

    def profiled_serve(index: int) -> None:
        with profiled(service):
            serve(index)

    if count == 1:
        profiled_serve(0)
        return 0
    return run_workers(count, profiled_serve)


def run_workers(count: int, worker: Callable[[int], None], *, orphan_poll_s: float = 1.0) -> int:
    """Fork `count` processes that each run `worker(index)`, index 0 to count - 1 (each must serve with
    reuse_port; index 0 may do what one process alone must, as the CA's webhook delivery); wait for all.

    Returns:
        0 when every worker exited 0 after SIGTERM/SIGINT reached this process; otherwise the first
        non-zero exit code of a worker (or 1 when one exited 0 on its own), after stopping the others.
    """
    parent = os.getpid()
    children: set[int] = set()
    stopping = False

    def stop_all(signum: int | None = None, frame: FrameType | None = None) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):  # exited, not yet waited for
                os.kill(pid, signal.SIGTERM)

    # Signals stay blocked while forking: a SIGTERM between two forks must reach every worker.
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    previous = {sig: signal.signal(sig, stop_all) for sig in _STOP_SIGNALS}
    try:
        for index in range(count):
            pid = os.fork()
            if pid == 0:
                _run_child(functools.partial(worker, index), parent, previous, orphan_poll_s)  # never returns
            children.add(pid)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    if stopping:
        # The mask holds for this thread only: a signal another thread took can have run stop_all
        # between two forks, before the later workers existed.
        stop_all()
    log.info("%d workers: pids %s", count, " ".join(str(pid) for pid in sorted(children)))
    result = 0
    try:
        for pid, status in _exits(children):
            children.discard(pid)
            code = os.waitstatus_to_exitcode(status)
            if not stopping:
                log.error("worker %d exited with code %d; stopping the other workers", pid, code)
                result = code or 1
                stop_all()
            elif code != 0 and result == 0:
                result = code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return result


def _exits(children: set[int]) -> Iterator[tuple[int, int]]:
    """(pid, wait status) of each of `children` as it exits, until all have.

    Through a pidfd per child (pidfd_open(2), Linux 5.3), not os.wait(): that reaps any child of the
    process, and a process that has others (a test runner, say) would take theirs for a worker's.
    """
    fds = {os.pidfd_open(pid): pid for pid in children}
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    try:
        while fds:
            for fd, _events in poller.poll():  # PEP 475: a signal runs stop_all, then the poll resumes
                pid = fds.pop(fd)
                poller.unregister(fd)
                os.close(fd)
                _, status = os.waitpid(pid, 0)
                yield pid, status
    finally:
        for fd in fds:
            os.close(fd)


def _run_child(
    worker: Callable[[], None],
    parent: int,
    handlers: dict[signal.Signals, Callable[[int, FrameType | None], object] | int | None],
    orphan_poll_s: float,
) -> None:
    """A worker's life: the parent's signal handlers undone, `worker` run, then os._exit (never back into the parent's code)."""
    code = 0
    try:
        for sig, handler in handlers.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        threading.Thread(target=_stop_when_orphaned, args=(parent, orphan_poll_s), daemon=True).start()
        worker()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # a worker's failure is its exit code; the traceback goes to the log
        traceback.print_exc()
        code = 1
    finally:
        logging.shutdown()
        os._exit(code)


def _stop_when_orphaned(parent: int, poll_s: float) -> None:
    """SIGTERM this worker once its parent is gone (SIGKILLed after its grace period): no worker outlives the service."""
    while os.getppid() == parent:
        time.sleep(poll_s)
    os.kill(os.getpid(), signal.SIGTERM)
