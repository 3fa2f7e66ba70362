"""wait_until on a fake clock: no real sleeping, no timing asserts."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest

from labctl.errors import NotReadyError
from labctl.readiness import wait_until
from tests.helpers import FakeClock


def _probe(answers: Iterable[tuple[str | None, str]]) -> tuple[Callable[[], tuple[str | None, str]], list[float]]:
    """A probe returning `answers` in turn (the last one forever), and a list with one entry per call."""
    pending = list(answers)
    calls: list[float] = []

    def probe() -> tuple[str | None, str]:
        calls.append(len(calls))
        return pending.pop(0) if len(pending) > 1 else pending[0]

    return probe, calls


def test_wait_until_returns_the_first_value() -> None:
    clock = FakeClock()
    probe, calls = _probe([(None, "starting"), (None, "starting"), ("ready", "up"), ("later", "up")])
    assert wait_until(probe, what="svc", timeout=10, clock=clock) == "ready"
    assert len(calls) == 3


def test_wait_until_returns_without_sleeping_when_ready_at_once() -> None:
    clock = FakeClock()
    probe, _ = _probe([(0, "exited")])
    assert wait_until(probe, what="svc", timeout=10, clock=clock) == 0  # a falsy value is still a value
    assert clock.sleeps == []


def test_wait_until_sleeps_interval_between_probes() -> None:
    clock = FakeClock()
    probe, _ = _probe([(None, "a"), (None, "b"), (None, "c"), (True, "d")])
    wait_until(probe, what="svc", timeout=10, interval=0.5, clock=clock)
    assert clock.sleeps == [0.5, 0.5, 0.5]


def test_wait_until_raises_not_ready_after_the_timeout() -> None:
    clock = FakeClock(start=1000.0)  # the deadline is relative to when the wait starts
    seen = iter(f"health=starting ({n})" for n in range(1000))
    with pytest.raises(NotReadyError) as caught:
        wait_until(
            lambda: (None, next(seen)),
            what="dogtag-ecc-est-ca",
            timeout=2,
            interval=0.5,
            clock=clock,
            diagnose=lambda: "last log lines:\nboom",
        )
    message = str(caught.value)
    assert "dogtag-ecc-est-ca" in message
    assert "2s" in message
    assert "health=starting (4)" in message  # the last description, not the first
    assert "health=starting (3)" not in message
    assert caught.value.hint == "last log lines:\nboom"
    assert clock.now == pytest.approx(1002.0)
    assert clock.sleeps == [0.5] * 4


def test_wait_until_hint_is_none_without_diagnose() -> None:
    with pytest.raises(NotReadyError) as caught:
        wait_until(lambda: (None, "no"), what="svc", timeout=1, interval=1, clock=FakeClock())
    assert caught.value.hint is None


def test_wait_until_with_zero_timeout_probes_once() -> None:
    clock = FakeClock()
    probe, calls = _probe([(None, "not yet")])
    with pytest.raises(NotReadyError, match=r"svc not ready after 0s \(not yet\)"):
        wait_until(probe, what="svc", timeout=0, clock=clock)
    assert len(calls) == 1
    assert clock.sleeps == []


def test_wait_until_does_not_call_diagnose_on_success() -> None:
    def diagnose() -> str:
        raise AssertionError("diagnose called")

    assert wait_until(lambda: (1, "ok"), what="svc", timeout=1, clock=FakeClock(), diagnose=diagnose) == 1
