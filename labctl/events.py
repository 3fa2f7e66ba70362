"""Progress events: runners emit them, the CLI renders them (tests assert on them, not on stdout)."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass


class StepStatus(enum.StrEnum):
    STARTED = "started"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class StepEvent:
    step: str  # e.g. "ecc/ca/installed"
    status: StepStatus
    elapsed_s: float = 0.0
    detail: str = ""


EventSink = Callable[[StepEvent], None]


def ignore_events(_: StepEvent) -> None:
    return None
