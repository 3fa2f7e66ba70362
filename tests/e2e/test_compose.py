"""The compose rendering, run for real: podman-compose starts the lab, `labctl up` bootstraps its
certificates (the root key stays on the host), `labctl verify` passes, podman-compose removes it.

It runs as a lab of its own (free subnets and ports) beside the default one.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from labctl.placement import RECORDED_LAB
from labctl.runtime.base import LAB_LABEL, MANAGED_BY_LABEL
from labctl.runtime.podman import PodmanRuntime
from labctl.topology import load_lab
from tests.e2e.conftest import LabCLI, bootstrap_and_verify

pytestmark = pytest.mark.e2e
NAME = "e2e-compose"
PODMAN_COMPOSE = Path(sys.executable).with_name("podman-compose")


def _compose(compose_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PODMAN_COMPOSE), "-f", str(compose_file), *args], capture_output=True, text=True, timeout=600, check=False
    )


def test_podman_compose_runs_the_rendered_lab_and_labctl_verifies_it(
    lab_cli: LabCLI, runtime: PodmanRuntime, tmp_path: Path
) -> None:
    cli = LabCLI(tmp_path / "state", lab_cli.lab)
    compose_file = tmp_path / "compose.yaml"
    config = ("--lab", NAME)
    cli.run(*config, "down", "--volumes")
    # Placed on free subnets and ports beside the default lab, and recorded: `up` finds the place.
    cli.run(
        *config, "render", "--target", "compose", "--subnets", "auto", "--ports", "auto", "--out", str(compose_file)
    )
    lab = load_lab(cli.state_dir / RECORDED_LAB)
    assert lab.name == NAME and lab.hierarchy("rsa").subnet != lab_cli.lab.hierarchy("rsa").subnet
    try:
        started = _compose(compose_file, "up", "-d")
        assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
        containers = runtime.list_containers({LAB_LABEL: NAME})
        assert len(containers) == 6 and {c.labels.get(MANAGED_BY_LABEL) for c in containers} == {"compose"}
        bootstrap_and_verify(cli, config, lab, runtime)
    finally:
        stopped = _compose(compose_file, "down", "-v")
        cli.run(*config, "down", "--volumes", check=False)  # forgets the placement
    assert stopped.returncode == 0, stopped.stderr[-2000:]
    selector = {LAB_LABEL: NAME}
    assert (runtime.list_containers(selector), runtime.list_networks(selector), runtime.list_volumes(selector)) == (
        [],
        [],
        [],
    )


def test_labctl_down_removes_a_compose_lab_in_one_run(lab_cli: LabCLI, runtime: PodmanRuntime, tmp_path: Path) -> None:
    """compose makes each RA require its CA: `down` removes them in that order, so one run leaves nothing."""
    cli = LabCLI(tmp_path / "state", lab_cli.lab)
    compose_file = tmp_path / "compose.yaml"
    config = ("--lab", NAME)
    cli.run(*config, "down", "--volumes")
    cli.run(
        *config, "render", "--target", "compose", "--subnets", "auto", "--ports", "auto", "--out", str(compose_file)
    )
    selector = {LAB_LABEL: NAME}
    try:
        started = _compose(compose_file, "up", "-d")
        assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
        assert len(runtime.list_containers(selector)) == 6
        down = cli.run(*config, "down", "--volumes", check=False)
        assert down.returncode == 0, down.stdout[-2000:] + down.stderr[-2000:]
        assert (runtime.list_containers(selector), runtime.list_networks(selector), runtime.list_volumes(selector)) == (
            [],
            [],
            [],
        )
    finally:
        _compose(compose_file, "down", "-v")
