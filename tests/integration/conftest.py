"""Integration fixtures: the rsa and ecc hierarchies as real processes on 127.0.0.1 with TLS,
on free ports (so a lab the developer runs on the default ports is left alone)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from labctl.endpoint import Endpoint
from labctl.local import LocalLab
from labctl.ports import with_free_ports
from labctl.topology import load_lab


@pytest.fixture(scope="session")
def local_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalLab, dict[str, Endpoint], Path]]:
    state = tmp_path_factory.mktemp("state")
    runner = LocalLab(with_free_ports(load_lab()), state, hierarchies=("rsa", "ecc"))
    endpoints = runner.up(timeout=60)
    try:
        yield runner, {e.hierarchy.name: e for e in endpoints}, state
    finally:
        runner.stop()
