"""The lab's lifecycle with podman, in-process through the Orchestrator and PodmanRuntime (as
`labctl up/verify/down` run it) plus the CLI process for a no-op `up`, repeated N times.

Each repetition: cold up (nothing of the bench lab left, its image rebuilt without the layer cache)
-> no-op up -> no-op up as a `labctl` process -> verify -> down (volumes kept) -> warm up. The lab
is left up after the last one, for the footprint and in-network load that follow.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from benchmarks.lab import UP_TIMEOUT_S, BenchLab
from benchmarks.stats import StepTiming, aggregate_steps
from labctl.clients import verify_lab
from labctl.endpoint import Endpoint
from labctl.errors import LabctlError
from labctl.events import EventSink, StepEvent
from labctl.verify import CheckResult

PHASES = ("cold_up", "warm_up", "noop_up", "noop_up_cli", "cli_start", "verify", "down")

_T = TypeVar("_T")


@dataclass
class Phase:
    """One lifecycle phase over the repetitions: wall seconds, and the step breakdown of each run."""

    seconds: list[float] = field(default_factory=list)
    steps: list[dict[str, StepTiming]] = field(default_factory=list)


@dataclass
class Lifecycle:
    phases: dict[str, Phase] = field(default_factory=lambda: {name: Phase() for name in PHASES})
    verify_checks: int = 0
    # Per hierarchy, per run: the sum of its checks' times (pqc's are timed inside its client container).
    verify_by_hierarchy: dict[str, list[float]] = field(default_factory=dict)


def run_lifecycle(bench: BenchLab, repeat: int, errors: list[str]) -> Lifecycle:
    """`repeat` lifecycle runs; a failed run is reported in `errors` and the next one starts from nothing again."""
    recorder = _Recorder(bench)
    for run in range(repeat):
        try:
            recorder.run_once(run, errors)
        except LabctlError as exc:
            errors.append(f"lifecycle run {run + 1}: {describe(exc)}")
    return recorder.result


class _Recorder:
    def __init__(self, bench: BenchLab) -> None:
        self.bench = bench
        self.result = Lifecycle()
        self._hierarchies = {h.name for h in bench.lab.hierarchies}
        self._roles = {
            container: role
            for h in bench.lab.hierarchies
            for container, role in ((h.ca.container, "ca"), (h.ra.container, "ra"))
        }

    def timed(self, name: str, action: Callable[[EventSink], _T]) -> _T:
        """Run `action` with an event sink; record its wall time and, when it emitted steps, their breakdown."""
        events: list[StepEvent] = []  # appended from the orchestrator's step threads (list.append is atomic)
        started = time.perf_counter()
        value = action(events.append)
        phase = self.result.phases[name]
        phase.seconds.append(time.perf_counter() - started)
        if events:
            phase.steps.append(aggregate_steps(events, self._hierarchies, self._roles))
        return value

    def run_once(self, run: int, errors: list[str]) -> None:
        bench = self.bench
        bench.make_cold()
        self.timed("cold_up", lambda sink: bench.orchestrator(sink, cold_image=True).up(timeout=UP_TIMEOUT_S))
        endpoints = self.timed("noop_up", lambda sink: bench.orchestrator(sink).up(timeout=UP_TIMEOUT_S))
        _time_cli(bench, self.result, errors, run)
        checks = self.timed("verify", _verifier(bench, endpoints))
        self.result.verify_checks = len(checks)
        for hierarchy in bench.lab.hierarchies:
            spent = sum(c.elapsed_s for c in checks if c.hierarchy == hierarchy.name)
            self.result.verify_by_hierarchy.setdefault(hierarchy.name, []).append(spent)
        errors += [f"verify (run {run + 1}): {c.hierarchy}/{c.check}: {c.reason}" for c in checks if not c.passed]
        self.timed("down", lambda sink: bench.orchestrator(sink).down(volumes=False))
        self.timed("warm_up", lambda sink: bench.orchestrator(sink).up(timeout=UP_TIMEOUT_S))


def _verifier(bench: BenchLab, endpoints: list[Endpoint]) -> Callable[[EventSink], list[CheckResult]]:
    return lambda sink: verify_lab(bench.clients(), endpoints)


def _time_cli(bench: BenchLab, result: Lifecycle, errors: list[str], run: int) -> None:
    """A no-op `labctl up` as a user runs it (interpreter start and imports included), and `labctl --help` alone."""
    for name, args in (("noop_up_cli", bench.cli("up")), ("cli_start", bench.cli("--help"))):
        started = time.perf_counter()
        completed = bench.run_cli(args)
        elapsed = time.perf_counter() - started
        if completed.returncode != 0:
            tail = (completed.stderr or completed.stdout).strip().splitlines()[-1:] or ["no output"]
            errors.append(f"{name} (run {run + 1}): labctl exited {completed.returncode}: {tail[0]}")
            continue
        if name == "noop_up_cli" and " ok " in completed.stdout:
            # A no-op up does nothing: a step that ran ("ok") means the CLI saw a different lab.
            errors.append(f"{name} (run {run + 1}): not a no-op: {completed.stdout.strip()[-300:]}")
        result.phases[name].seconds.append(elapsed)


def describe(exc: LabctlError) -> str:
    """The error in one line, with the last line of its hint (a log tail ends with what went wrong)."""
    hint = exc.hint.strip().splitlines()[-1] if exc.hint and exc.hint.strip() else ""
    return f"{str(exc).splitlines()[0]}" + (f" ({hint})" if hint else "")


def require_up(bench: BenchLab) -> None:
    """Bring the bench lab up (when the lifecycle did not run or failed half way)."""
    try:
        bench.orchestrator().up(timeout=UP_TIMEOUT_S)
    except LabctlError as exc:
        raise LabctlError(f"bench lab up: {exc}", hint=exc.hint) from exc
