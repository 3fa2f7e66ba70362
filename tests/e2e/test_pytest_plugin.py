"""labctl's pytest plugin, as a user's project runs it: the examples against the running lab."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from labctl.runtime.base import LAB_LABEL
from labctl.runtime.podman import PodmanRuntime

from .conftest import LabCLI

pytestmark = pytest.mark.e2e
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_examples_pass_with_the_lab_fixture(lab_cli: LabCLI) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLES),
         "--lab-reuse", "--lab-state-dir", str(lab_cli.state_dir)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "4 passed" in result.stdout
    # --lab-reuse leaves the lab running for the rest of this session.
    assert '"health": "healthy"' in lab_cli.run("status", "--json").stdout


def test_a_named_lab_of_its_own_is_brought_up_and_removed(
    lab_cli: LabCLI, runtime: PodmanRuntime, tmp_path: Path
) -> None:
    """--lab-name: a CI job's own lab on free subnets and ports beside the default one, gone afterwards."""
    name = "e2e-plugin"
    default_before = {info.name: info.state for info in runtime.list_containers({LAB_LABEL: lab_cli.lab.name})}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLES),
         "--lab-name", name, "--lab-state-dir", str(tmp_path / "state")],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "4 passed" in result.stdout
    selector = {LAB_LABEL: name}
    assert (runtime.list_containers(selector), runtime.list_networks(selector), runtime.list_volumes(selector)) == (
        [],
        [],
        [],
    )
    after = {info.name: info.state for info in runtime.list_containers({LAB_LABEL: lab_cli.lab.name})}
    assert after == default_before
