"""One labctl command at a time changes a lab: an advisory `flock` on `<state_dir>/.lock`.

Two `labctl up` (or `up` and `down`) on the same lab would race on the same containers, volumes
and state files. The commands that change the lab hold this lock; the read-only ones (`status`,
`verify`, `logs`, ...) take none. The kernel drops a `flock` when its holder exits, however it
exits, so a killed labctl never leaves a stale lock behind; the pid and command written into the
file are only there for the message.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labctl.errors import LabctlError
from labctl.readiness import Clock, SystemClock

log = logging.getLogger(__name__)

LOCK_FILE = ".lock"
POLL_S = 0.2


@contextmanager
def lab_lock(state_dir: Path, *, wait_s: float, command: str, clock: Clock | None = None) -> Iterator[None]:
    """Hold the lab's lock for the block, waiting up to `wait_s` seconds for another holder.

    Args:
        state_dir: the lab's host state directory (created when missing).
        wait_s: how long to wait for another process to release the lock (0: fail at once).
        command: what this process runs (e.g. "up"), shown to whoever waits for the lock.
    Raises:
        LabctlError: another process still held the lock after `wait_s`; the message names its
            command and pid.
    """
    clock = clock or SystemClock()
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = clock.monotonic() + wait_s
        waiting = False
        while not _try_lock(fd):
            remaining = deadline - clock.monotonic()
            if remaining <= 0:
                holder = _holder(path)
                raise LabctlError(
                    f"lab {state_dir} is busy: {holder} holds it",
                    hint=f"wait for it to finish (waited {wait_s:g}s), or stop it if it is stuck; the lock is {path}",
                )
            if not waiting:
                log.info("lab %s is locked by %s; waiting up to %gs", state_dir, _holder(path), wait_s)
                waiting = True
            clock.sleep(min(POLL_S, remaining))
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {command}\n".encode(), 0)
        try:
            yield
        finally:
            # Clear the holder before unlocking, so nobody reads a finished command as the holder.
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(path: Path) -> str:
    """The holder as written in the lock file (`labctl up` (pid 1234)), or a plain description."""
    try:
        pid, _, command = path.read_text(encoding="utf-8").strip().partition(" ")
    except (OSError, UnicodeDecodeError):
        pid, command = "", ""
    if not pid.isdigit():
        return "another labctl process"
    return f"`labctl {command or '?'}` (pid {pid})"
