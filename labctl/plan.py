"""Lab -> Plan: the bring-up steps and what each needs. Pure; checked acyclic before anything starts.

Per hierarchy: network -> CA container (needs the image and the CA data volume) -> CA installed
(root signs its CSR) -> CA healthy -> RA credentials -> RA container -> RA healthy. Hierarchies
do not depend on each other, so they run side by side.
"""

from __future__ import annotations

import enum
import graphlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from labctl.errors import TopologyError
from labctl.topology import Hierarchy


class StepKind(enum.StrEnum):
    IMAGE = "image"
    NETWORK = "network"
    VOLUME = "volume"
    CA_CONTAINER = "ca/container"
    CA_INSTALLED = "ca/installed"
    CA_HEALTHY = "ca/healthy"
    RA_CREDENTIALS = "ra/credentials"
    RA_CONTAINER = "ra/container"
    RA_HEALTHY = "ra/healthy"


# What a hierarchy's step needs within the same hierarchy.
_NEEDS: Mapping[StepKind, tuple[StepKind, ...]] = {
    StepKind.NETWORK: (),
    StepKind.VOLUME: (),
    StepKind.CA_CONTAINER: (StepKind.NETWORK, StepKind.VOLUME),
    StepKind.CA_INSTALLED: (StepKind.CA_CONTAINER,),
    StepKind.CA_HEALTHY: (StepKind.CA_INSTALLED,),
    StepKind.RA_CREDENTIALS: (StepKind.CA_HEALTHY,),
    StepKind.RA_CONTAINER: (StepKind.RA_CREDENTIALS,),
    StepKind.RA_HEALTHY: (StepKind.RA_CONTAINER,),
}
_NEEDS_IMAGE = (StepKind.CA_CONTAINER, StepKind.RA_CONTAINER)


@dataclass(frozen=True, slots=True)
class Step:
    step_id: str  # "image" or "<hierarchy>/<kind>", e.g. "ecc/ca/healthy"
    kind: StepKind
    hierarchy: str | None
    requires: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    steps: tuple[Step, ...]

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.step_id == step_id:
                return step
        raise TopologyError(f"unknown step {step_id!r}")

    def order(self) -> list[str]:
        """One valid order of the steps (dependencies first)."""
        return list(graphlib.TopologicalSorter(self.graph()).static_order())

    def graph(self) -> dict[str, set[str]]:
        return {step.step_id: set(step.requires) for step in self.steps}


def step_id(hierarchy: str, kind: StepKind) -> str:
    return f"{hierarchy}/{kind.value}"


def build_plan(hierarchies: Sequence[Hierarchy]) -> Plan:
    steps = [Step(StepKind.IMAGE.value, StepKind.IMAGE, None, ())]
    for hierarchy in hierarchies:
        for kind, needs in _NEEDS.items():
            requires = [step_id(hierarchy.name, need) for need in needs]
            if kind in _NEEDS_IMAGE:
                requires.append(StepKind.IMAGE.value)
            steps.append(Step(step_id(hierarchy.name, kind), kind, hierarchy.name, tuple(requires)))
    plan = Plan(tuple(steps))
    check_plan(plan.steps)
    return plan


def check_plan(steps: Iterable[Step]) -> None:
    """Every dependency exists and there is no cycle ("a -> b": a needs b)."""
    steps = list(steps)
    known = {step.step_id for step in steps}
    for step in steps:
        missing = [r for r in step.requires if r not in known]
        if missing:
            raise TopologyError(f"step {step.step_id} needs unknown step {missing[0]}")
    try:
        graphlib.TopologicalSorter({s.step_id: set(s.requires) for s in steps}).prepare()
    except graphlib.CycleError as exc:
        raise TopologyError(f"dependency cycle: {' -> '.join(reversed(exc.args[1]))}") from exc
