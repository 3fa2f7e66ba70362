"""Fixtures shared by the orchestrator's unit tests: an ECC lab on the fake runtime with a simulated CA."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from labctl.services.ca.store import Store
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


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """Where a CA store of the test's own lives (tests/unit/test_store*.py)."""
    return tmp_path / "ca.db"


@pytest.fixture
def store(store_path: Path) -> Iterator[Store]:
    opened = Store(store_path)
    yield opened
    opened.close()
