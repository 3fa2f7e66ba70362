"""e2e: the whole default lab through `labctl up` / `labctl down`, in podman.

It uses the lab file's real names, subnets and ports, so it replaces any lab a developer has
running (it starts with `down --volumes`). Under CI a missing podman fails the run; it never skips.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from labctl.runtime.base import LAB_LABEL
from labctl.runtime.podman import PodmanRuntime
from labctl.topology import Lab, load_lab
from tests.integration.podman_fixtures import require_podman

REPO = Path(__file__).resolve().parents[2]
# `labctl verify` on the default lab: 18 checks for each of the three hierarchies.
VERIFY_CHECKS = 54


@dataclass
class LabCLI:
    state_dir: Path
    lab: Lab
    # The environment of the user the lab belongs to (None: this process's); commands typed as a user
    # types them (`shell`) find the lab's state through it, without --state-dir.
    env: dict[str, str] | None = None
    # What the README's first command printed when it brought the lab up (`up --verify`).
    brought_up: str = ""

    def run(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "labctl.cli", "--state-dir", str(self.state_dir), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False, env=self.env)
        if check and result.returncode != 0:
            raise AssertionError(
                f"labctl {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result

    def shell(self, command: str, *, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """`command` exactly as a user types it, in bash, in `cwd`, with the user's environment."""
        return subprocess.run(
            ["bash", "-c", command], cwd=cwd, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def events(self, *args: str) -> dict[str, str]:
        """Run a --json command; step -> final status."""
        output = self.run(*args, "--json").stdout
        return {e["step"]: e["status"] for e in map(json.loads, output.splitlines()) if "step" in e}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that run a README recipe on the default lab's own names replace the session's lab: last."""
    replacing = [item for item in items if item.get_closest_marker("replaces_default_lab")]
    if replacing:
        items[:] = [item for item in items if item not in replacing] + replacing


@pytest.fixture(scope="session")
def runtime() -> Iterator[PodmanRuntime]:
    require_podman("the e2e tests")
    with PodmanRuntime() as podman:
        yield podman


@pytest.fixture(scope="session")
def lab_cli(runtime: PodmanRuntime, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCLI]:
    """The default lab, brought up by the README's first command (`./scripts/lab`) for a user whose state
    lives in a fresh XDG_STATE_HOME: the e2e tests run against what a new user gets, and the lab docs'
    commands (tests/e2e/test_docs_as_written.py) find it the way a user's shell does."""
    xdg_state = tmp_path_factory.mktemp("xdg-state")
    # This checkout's `lab` and `labctl` first: setup-host leaves a link to another checkout's alone.
    path = f"{REPO / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "XDG_STATE_HOME": str(xdg_state), "PATH": path}
    lab = load_lab()
    cli = LabCLI(xdg_state / "labctl" / lab.name, lab, env)  # labctl's default state dir for that user
    cli.run("down", "--volumes")
    started = subprocess.run(
        [str(REPO / "scripts" / "lab")], cwd=REPO, env=env, capture_output=True, text=True, timeout=1500, check=False
    )
    if started.returncode != 0:
        raise AssertionError(f"./scripts/lab exited {started.returncode}:\n{started.stdout}\n{started.stderr}")
    cli.brought_up = started.stdout
    try:
        yield cli
    finally:
        cli.run("down", "--volumes", check=False)


def bootstrap_and_verify(cli: LabCLI, config: tuple[str, ...], lab: Lab, runtime: PodmanRuntime) -> None:
    """For a lab another tool runs (compose, kube play): `labctl up` installs the CAs and configures
    the RAs without recreating any container, then `verify` passes all VERIFY_CHECKS checks."""
    selector = {LAB_LABEL: lab.name}
    before = {c.name: c.image for c in runtime.list_containers(selector)}
    events = cli.events(*config, "up")  # the certificate bootstrap: CA install, RA credentials
    assert {events[f"{h.name}/ca/installed"] for h in lab.hierarchies} == {"done"}
    assert {events[f"{h.name}/ra/container"] for h in lab.hierarchies} == {"skipped"}  # theirs, kept
    output = cli.run(*config, "verify", "--json").stdout
    results = [json.loads(line) for line in output.splitlines()]
    assert len(results) == VERIFY_CHECKS and all(r["passed"] for r in results), output
    assert {c.name: c.image for c in runtime.list_containers(selector)} == before
