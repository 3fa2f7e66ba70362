"""Progress events: runners emit them, the CLI renders them (tests assert on them, not on stdout)."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


class StepStatus(enum.StrEnum):
    STARTED = "started"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"
    CANCELLED = "cancelled"  # stopped because the run was interrupted (Ctrl-C, SIGTERM) or another step failed


class Cancelled(Exception):
    """A step stopped early: the run was interrupted, or another step failed."""

    def __init__(self) -> None:
        super().__init__("cancelled")


@dataclass(frozen=True, slots=True)
class StepEvent:
    step: str  # e.g. "ecc/ca/installed"
    status: StepStatus
    elapsed_s: float = 0.0
    detail: str = ""


EventSink = Callable[[StepEvent], None]


def ignore_events(_: StepEvent) -> None:
    return None


class StepOutcome:
    """Lets a step say it found nothing to do: `outcome.skip("running")`."""

    def __init__(self) -> None:
        self.skipped = False
        self.detail = ""

    def skip(self, detail: str) -> None:
        self.skipped = True
        self.detail = detail


@contextmanager
def timed_step(emit: EventSink, step: str) -> Iterator[StepOutcome]:
    """Emit STARTED, then DONE / SKIPPED / FAILED with the elapsed time."""
    started = time.perf_counter()
    outcome = StepOutcome()
    emit(StepEvent(step, StepStatus.STARTED))
    try:
        yield outcome
    except (Cancelled, KeyboardInterrupt):
        emit(StepEvent(step, StepStatus.CANCELLED, time.perf_counter() - started, "cancelled"))
        raise
    except BaseException as exc:
        emit(StepEvent(step, StepStatus.FAILED, time.perf_counter() - started, str(exc) or type(exc).__name__))
        raise
    status = StepStatus.SKIPPED if outcome.skipped else StepStatus.DONE
    emit(StepEvent(step, status, time.perf_counter() - started, outcome.detail))
