"""Two labs on one host: `--lab NAME` with `--subnets auto --ports auto` beside the default lab.

Both are verified while both run, and taking the second down leaves the default one untouched. The
second lab's file sets two worker processes for every CA and RA (docs/workers.md; auto gives one on 2
CPUs): the whole of verify then runs against services of several workers, in podman.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from labctl.placement import RECORDED_LAB
from labctl.runtime.base import LAB_LABEL
from labctl.runtime.podman import PodmanRuntime
from labctl.topology import dump_lab, load_lab, with_workers
from tests.e2e.conftest import VERIFY_CHECKS, LabCLI

SECOND = "e2e-second"
WORKERS = 2
_PARENT_PIDS = (
    "import glob\n"
    "for path in glob.glob('/proc/[0-9]*/stat'):\n"
    "    print(open(path).read().rsplit(') ', 1)[1].split()[1])\n"
)


@pytest.fixture(scope="module")
def second(lab_cli: LabCLI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCLI]:
    cli = LabCLI(tmp_path_factory.mktemp("second-state"), lab_cli.lab)
    lab_file = tmp_path_factory.mktemp("second-lab") / "lab.toml"
    lab_file.write_text(dump_lab(with_workers(lab_cli.lab, ca=WORKERS, ra=WORKERS)), encoding="utf-8")
    cli.run("--lab", SECOND, "down", "--volumes")
    cli.run("--config", str(lab_file), "--lab", SECOND, "up", "--subnets", "auto", "--ports", "auto", timeout=900)
    try:
        yield cli
    finally:
        cli.run("--lab", SECOND, "down", "--volumes", check=False)


def _containers(runtime: PodmanRuntime, lab: str) -> dict[str, str]:
    return {info.name: info.state for info in runtime.list_containers({LAB_LABEL: lab})}


def test_the_second_lab_has_its_own_names_subnets_and_ports(lab_cli: LabCLI, second: LabCLI) -> None:
    placed = load_lab(second.state_dir / RECORDED_LAB)
    default = lab_cli.lab
    for mine, theirs in zip(placed.hierarchies, default.hierarchies, strict=True):
        assert not mine.subnet.overlaps(theirs.subnet)
        assert {mine.ca.port, mine.ra.port}.isdisjoint({theirs.ca.port, theirs.ra.port})
        assert mine.ra.container == f"{SECOND}-{theirs.ra.container}"


def test_both_labs_verify_while_both_run(lab_cli: LabCLI, second: LabCLI) -> None:
    for cli, args in ((second, ("--lab", SECOND)), (lab_cli, ())):
        output = cli.run(*args, "verify", "--json").stdout
        results = [json.loads(line) for line in output.splitlines()]
        assert len(results) == VERIFY_CHECKS and all(r["passed"] for r in results), output


def test_each_service_of_the_second_lab_runs_its_workers(second: LabCLI, runtime: PodmanRuntime) -> None:
    placed = load_lab(second.state_dir / RECORDED_LAB)
    for hierarchy in placed.hierarchies:
        assert (hierarchy.ca.workers, hierarchy.ra.workers) == (WORKERS, WORKERS)
        for container in (hierarchy.ca.container, hierarchy.ra.container):
            # The service is PID 1 and its workers are its children: each process's parent PID, from /proc.
            result = runtime.exec(container, ("python", "-c", _PARENT_PIDS))
            parents = result.output.split()
            assert parents.count("1") >= WORKERS, (container, result.output)


def test_status_of_the_second_lab_finds_its_recorded_ports(second: LabCLI) -> None:
    rows = [json.loads(line) for line in second.run("--lab", SECOND, "status", "--json").stdout.splitlines()]
    placed = load_lab(second.state_dir / RECORDED_LAB)
    assert {r["port"] for r in rows} == {p for h in placed.hierarchies for p in (h.ca.port, h.ra.port)}
    assert {r["health"] for r in rows} == {"healthy"}


def test_taking_the_second_lab_down_leaves_the_default_one_alone(
    lab_cli: LabCLI, second: LabCLI, runtime: PodmanRuntime, tmp_path: Path
) -> None:
    default_before = _containers(runtime, lab_cli.lab.name)
    assert len(_containers(runtime, SECOND)) == 6
    second.run("--lab", SECOND, "down", "--volumes")
    assert runtime.list_containers({LAB_LABEL: SECOND}) == []
    assert runtime.list_networks({LAB_LABEL: SECOND}) == []
    assert runtime.list_volumes({LAB_LABEL: SECOND}) == []
    assert _containers(runtime, lab_cli.lab.name) == default_before
    assert set(default_before.values()) == {"running"}
    assert not (second.state_dir / RECORDED_LAB).exists()  # the next up starts from the lab file
    # No secret of the removed lab is left on the host: root and admin keys, EST and bootstrap credentials.
    left = sorted(str(p.relative_to(second.state_dir)) for p in second.state_dir.rglob("*") if p.is_file())
    assert left in ([], [".lock"]), left
