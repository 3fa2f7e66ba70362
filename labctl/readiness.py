"""Waiting with a deadline: every wait names what it waited for, what it last saw, and why it gave up."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from labctl.errors import NotReadyError

T = TypeVar("T")


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def wait_until(
    probe: Callable[[], tuple[T | None, str]],
    *,
    what: str,
    timeout: float,
    interval: float = 0.2,
    clock: Clock | None = None,
    diagnose: Callable[[], str] | None = None,
) -> T:
    """Call `probe` until it returns a value (not None) or the deadline passes.

    `probe` returns (value or None, a short description of what it saw), e.g. (None, "status=starting").

    Raises:
        NotReadyError: "<what> not ready after <timeout>s (<last seen>)", with `diagnose()` as the hint.
    """
    tick = clock or SystemClock()
    deadline = tick.monotonic() + timeout
    seen = "never checked"
    while True:
        value, seen = probe()
        if value is not None:
            return value
        if tick.monotonic() >= deadline:
            raise NotReadyError(f"{what} not ready after {timeout:g}s ({seen})", hint=diagnose() if diagnose else None)
        tick.sleep(interval)
