"""labctl's pytest plugin, as a user's project runs it: the examples against the running lab."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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
