"""The lab lock: one labctl command at a time changes a lab; the holder is named; waits are bounded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from labctl import cli
from labctl.errors import LabctlError
from labctl.lock import LOCK_FILE, POLL_S, lab_lock
from tests.helpers import FakeClock

# Holds the lab lock as `labctl up` until a line arrives on stdin (or stdin closes).
HOLDER = """
import sys
from pathlib import Path
from labctl.lock import lab_lock
with lab_lock(Path(sys.argv[1]), wait_s=0, command="up"):
    print("locked", flush=True)
    sys.stdin.readline()
"""

# Takes the lock without waiting; exit code 0 when it got it, 3 when it was busy.
TAKER = """
import sys
from pathlib import Path
from labctl.errors import LabctlError
from labctl.lock import lab_lock
try:
    with lab_lock(Path(sys.argv[1]), wait_s=0, command="down"):
        pass
except LabctlError:
    sys.exit(3)
"""


class Holder:
    def __init__(self, state_dir: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(state_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.strip() == "locked", f"holder did not take the lock: {line!r}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def release(self) -> None:
        assert self.process.stdin is not None
        if not self.process.stdin.closed:
            self.process.stdin.write("release\n")
            self.process.stdin.close()
        assert self.process.wait(timeout=10) == 0
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[Holder]:
    held = Holder(tmp_path)
    try:
        yield held
    finally:
        held.release()


def _taken_by_other_process(state_dir: Path) -> bool:
    code = subprocess.run([sys.executable, "-c", TAKER, str(state_dir)], timeout=10).returncode
    assert code in (0, 3), f"taker exited {code}"
    return code == 0


def test_busy_lock_fails_after_waiting_naming_holder_command_and_pid(tmp_path, holder):
    clock = FakeClock()
    with pytest.raises(LabctlError) as info, lab_lock(tmp_path, wait_s=1.0, command="down", clock=clock):
        pytest.fail("got a lock another process holds")
    assert str(info.value) == f"lab {tmp_path} is busy: `labctl up` (pid {holder.pid}) holds it"
    assert info.value.hint is not None and "wait for it" in info.value.hint
    assert sum(clock.sleeps) == pytest.approx(1.0)
    assert max(clock.sleeps) <= POLL_S


def test_busy_lock_with_no_wait_fails_at_once(tmp_path, holder):
    clock = FakeClock()
    with (
        pytest.raises(LabctlError, match=r"is busy: `labctl up`"),
        lab_lock(tmp_path, wait_s=0, command="down", clock=clock),
    ):
        pytest.fail("got a lock another process holds")
    assert clock.sleeps == []


def test_waiter_gets_lock_once_holder_releases(tmp_path, holder):
    class ReleasingClock(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            if len(self.sleeps) == 2:
                holder.release()

    clock = ReleasingClock()
    with lab_lock(tmp_path, wait_s=60, command="down", clock=clock):
        assert (tmp_path / LOCK_FILE).read_text().split() == [str(os.getpid()), "down"]
    assert len(clock.sleeps) == 2


def test_released_lock_is_reacquirable(tmp_path):
    with lab_lock(tmp_path, wait_s=0, command="up"):
        assert not _taken_by_other_process(tmp_path)
    assert _taken_by_other_process(tmp_path)
    with lab_lock(tmp_path, wait_s=0, command="up"):
        pass


def test_lock_is_released_when_the_block_raises(tmp_path):
    with pytest.raises(RuntimeError, match="boom"), lab_lock(tmp_path, wait_s=0, command="up"):
        raise RuntimeError("boom")
    assert _taken_by_other_process(tmp_path)
    assert (tmp_path / LOCK_FILE).read_text() == ""


def test_lock_creates_missing_state_dir_and_private_lock_file(tmp_path):
    state_dir = tmp_path / "new" / "lab"
    with lab_lock(state_dir, wait_s=0, command="up"):
        assert (state_dir / LOCK_FILE).stat().st_mode & 0o777 == 0o600


MUTATING = [
    ["up"],
    ["down"],
    ["build"],
    ["serve-local"],
    ["revoke", "0x1a", "--pki-type", "ecc", "--reason", "key_compromise"],
    ["iot", "enroll", "--pki-type", "ecc"],
]


@pytest.fixture
def signal_handlers() -> Iterator[None]:
    """`up` and `serve-local` make SIGTERM and SIGHUP stop them; pytest's handlers come back afterwards."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.mark.parametrize("command", MUTATING, ids=[" ".join(c[:2]) if c[0] == "iot" else c[0] for c in MUTATING])
def test_mutating_commands_refuse_a_busy_lab(tmp_path, holder, monkeypatch, signal_handlers, command):
    monkeypatch.setattr(cli, "LOCK_WAIT_S", 0)
    result = CliRunner().invoke(cli.main, ["--state-dir", str(tmp_path), *command])
    assert result.exit_code == 1, result.output
    assert f"is busy: `labctl up` (pid {holder.pid}) holds it" in result.output


def test_read_only_commands_take_no_lock(tmp_path, holder):
    result = CliRunner().invoke(cli.main, ["--state-dir", str(tmp_path), "credentials", "--pki-type", "ecc"])
    assert result.exit_code == 0, result.output
    assert ":" in result.output
