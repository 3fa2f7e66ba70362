"""Fixtures shared by the orchestrator's unit tests: an ECC lab on the fake runtime with a simulated CA."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.test_orchestrator import LabRig, make_rig


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[LabRig]:
    built = make_rig(tmp_path)
    yield built
    built.ca.close()


@pytest.fixture
def up_rig(rig: LabRig) -> LabRig:
    """The rig after a first, successful `up`."""
    rig.up()
    return rig
