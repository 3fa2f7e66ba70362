"""The bring-up plan: steps per hierarchy, dependency order, independence of hierarchies, checks."""

from __future__ import annotations

import pytest

from labctl.errors import TopologyError
from labctl.plan import Plan, Step, StepKind, build_plan, check_plan
from labctl.topology import load_lab

HIERARCHY_STEPS = {kind.value for kind in StepKind} - {StepKind.IMAGE.value}


@pytest.fixture(scope="module")
def plan() -> Plan:
    return build_plan(load_lab().hierarchies)


def _step(step_id: str, *requires: str) -> Step:
    return Step(step_id, StepKind.NETWORK, "x", requires)


def _closure(plan: Plan, step_id: str) -> set[str]:
    """Every step `step_id` needs, directly or not."""
    seen: set[str] = set()
    todo = list(plan.step(step_id).requires)
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(plan.step(current).requires)
    return seen


def test_build_plan_has_the_image_and_eight_steps_per_hierarchy(plan: Plan) -> None:
    names = [hierarchy.name for hierarchy in load_lab().hierarchies]
    assert sorted(names) == ["ecc", "pqc", "rsa"]
    assert [s.step_id for s in plan.steps if s.hierarchy is None] == ["image"]
    for name in names:
        steps = {s.step_id.removeprefix(f"{name}/") for s in plan.steps if s.hierarchy == name}
        assert steps == HIERARCHY_STEPS
        assert len(steps) == 8
    assert len(plan.steps) == 1 + 8 * len(names)


def test_order_puts_every_step_after_its_dependencies(plan: Plan) -> None:
    order = plan.order()
    assert sorted(order) == sorted(s.step_id for s in plan.steps)
    position = {step_id: index for index, step_id in enumerate(order)}
    for step in plan.steps:
        for required in step.requires:
            assert position[required] < position[step.step_id], f"{step.step_id} runs before {required}"


@pytest.mark.parametrize("hierarchy", ["rsa", "ecc", "pqc"])
def test_hierarchy_chain_runs_from_network_to_ra_healthy(plan: Plan, hierarchy: str) -> None:
    needs = _closure(plan, f"{hierarchy}/ra/healthy")
    assert needs == {"image"} | {f"{hierarchy}/{kind}" for kind in HIERARCHY_STEPS - {"ra/healthy"}}


def test_containers_need_the_image(plan: Plan) -> None:
    needing_image = {s.step_id for s in plan.steps if "image" in s.requires}
    assert needing_image == {f"{h}/{kind}" for h in ("rsa", "ecc", "pqc") for kind in ("ca/container", "ra/container")}


def test_hierarchies_are_independent(plan: Plan) -> None:
    for step in plan.steps:
        if step.hierarchy is None:
            continue
        foreign = {need for need in _closure(plan, step.step_id) if need != "image"}
        foreign = {need for need in foreign if not need.startswith(f"{step.hierarchy}/")}
        assert not foreign, f"{step.step_id} needs another hierarchy's {sorted(foreign)}"


def test_check_plan_names_a_two_step_cycle() -> None:
    with pytest.raises(TopologyError, match=r"^dependency cycle: a -> b -> a$"):
        check_plan([_step("a", "b"), _step("b", "a")])


def test_check_plan_names_a_longer_cycle_in_need_order() -> None:
    # "a -> b": a needs b. Any rotation names the same cycle; the direction must be the needs'.
    with pytest.raises(TopologyError) as caught:
        check_plan([_step("a", "b"), _step("b", "c"), _step("c", "a"), _step("d", "a")])
    assert str(caught.value).removeprefix("dependency cycle: ") in {
        "a -> b -> c -> a",
        "b -> c -> a -> b",
        "c -> a -> b -> c",
    }


def test_check_plan_names_an_unknown_dependency() -> None:
    with pytest.raises(TopologyError, match=r"step a needs unknown step ghost"):
        check_plan([_step("a", "ghost"), _step("b")])


def test_check_plan_accepts_a_valid_graph() -> None:
    check_plan([_step("a", "b", "c"), _step("b", "c"), _step("c")])


def test_plan_step_rejects_an_unknown_id(plan: Plan) -> None:
    with pytest.raises(TopologyError, match="unknown step 'nope'"):
        plan.step("nope")
