"""The pure parts of the lifecycle benchmarks: spreads over repetitions, and the orchestrator's step
events folded per step kind across hierarchies (which run side by side)."""

from __future__ import annotations

import statistics
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from labctl.events import StepEvent, StepStatus


@dataclass(frozen=True, slots=True)
class Spread:
    """min / median / max of one measurement repeated n times (min is the "best of n")."""

    n: int
    min: float
    median: float
    max: float


def summarize(values: Sequence[float]) -> Spread | None:
    """The spread of `values`, rounded to milliseconds; None when there are none."""
    if not values:
        return None
    return Spread(
        n=len(values),
        min=round(min(values), 3),
        median=round(statistics.median(values), 3),
        max=round(max(values), 3),
    )


@dataclass(frozen=True, slots=True)
class StepTiming:
    """One step kind in one run, over the hierarchies (or containers) that ran it.

    max_s is the slowest of them, what a user waits for as they run side by side; sum_s is the
    work they did together; skipped counts those that found nothing to do.
    """

    kind: str
    count: int
    skipped: int
    failed: int
    max_s: float
    sum_s: float


def step_kind(step: str, hierarchies: Collection[str], roles: Mapping[str, str]) -> str:
    """The kind of an event's step: "ecc/ca/installed" -> "ca/installed"; a removed container
    ("<container>/removed", from down) -> "<role>/removed"; anything else ("image") as it is."""
    head, _, rest = step.partition("/")
    if rest and head in hierarchies:
        return rest
    if step.endswith("/removed"):
        return f"{roles.get(step.removesuffix('/removed'), 'other')}/removed"
    return step


def aggregate_steps(
    events: Iterable[StepEvent], hierarchies: Collection[str], roles: Mapping[str, str]
) -> dict[str, StepTiming]:
    """Finished steps per kind, in the order each kind first finished (STARTED events are ignored)."""
    grouped: dict[str, list[StepEvent]] = {}
    for event in events:
        if event.status is StepStatus.STARTED:
            continue
        grouped.setdefault(step_kind(event.step, hierarchies, roles), []).append(event)
    return {
        kind: StepTiming(
            kind=kind,
            count=len(finished),
            skipped=sum(1 for e in finished if e.status is StepStatus.SKIPPED),
            failed=sum(1 for e in finished if e.status is StepStatus.FAILED),
            max_s=round(max(e.elapsed_s for e in finished), 3),
            sum_s=round(sum(e.elapsed_s for e in finished), 3),
        )
        for kind, finished in grouped.items()
    }


def step_spreads(runs: Sequence[Mapping[str, StepTiming]]) -> dict[str, Spread]:
    """Per step kind, the spread over repeated runs of its slowest instance (max_s); kinds in first-seen order."""
    kinds: dict[str, list[float]] = {}
    for run in runs:
        for kind, timing in run.items():
            kinds.setdefault(kind, []).append(timing.max_s)
    return {kind: spread for kind, values in kinds.items() if (spread := summarize(values)) is not None}
