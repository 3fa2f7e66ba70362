"""labctl's pytest plugin (entry point `pytest11: labctl`): a session-scoped `lab` fixture.

    def test_device_enrolls(lab):
        certificate = lab.transport("ecc").simpleenroll(csr)

The fixture brings the lab up (replacing any lab of the same name) and removes it, volumes and all,
when the session ends, also after failures and Ctrl-C. With `--lab-reuse` it uses the running lab
(bringing up only what is missing) and leaves it running. Options: --lab-config, --lab-state-dir, and
--lab-name NAME for a lab of its own on free subnets and ports (several jobs on one host).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from labctl.clients import ClientRunner, transport_for
from labctl.devices import Transport
from labctl.endpoint import Endpoint
from labctl.images import ensure_image
from labctl.lock import lab_lock
from labctl.orchestrator import Orchestrator
from labctl.placement import forget_lab, select_lab, settle
from labctl.probe import host_probe
from labctl.runtime.podman import PodmanRuntime
from labctl.topology import Lab

UP_TIMEOUT_S = 180.0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("labctl", "labctl: ephemeral PKI labs")
    group.addoption("--lab-reuse", action="store_true", help="use the running lab and leave it running")
    group.addoption("--lab-config", default=None, help="lab file (default: labctl's shipped lab.toml)")
    group.addoption(
        "--lab-name",
        default=None,
        help="run a lab of this name on free subnets and ports, beside any other lab (e.g. one per CI job)",
    )
    group.addoption("--lab-state-dir", default=None, help="labctl state dir (default: $XDG_STATE_HOME/labctl/<lab>)")


@dataclass
class LabFixture:
    """A running lab, as tests use it."""

    lab: Lab
    state_dir: Path
    orchestrator: Orchestrator
    endpoints: dict[str, Endpoint]
    clients: ClientRunner  # client containers on a hierarchy's network

    def endpoint(self, hierarchy: str) -> Endpoint:
        return self.endpoints[self.lab.hierarchy(hierarchy).name]

    def est_url(self, hierarchy: str) -> str:
        """The RA's EST base URL as the host reaches it, e.g. https://127.0.0.1:8466/.well-known/est."""
        return f"{self.endpoint(hierarchy).ra_url}/.well-known/est"

    def trust_anchor(self, hierarchy: str) -> Path:
        """The hierarchy's Intermediate CA and root, PEM."""
        return self.endpoint(hierarchy).trust_file

    def credentials(self, hierarchy: str) -> tuple[str, str]:
        endpoint = self.endpoint(hierarchy)
        return endpoint.username, endpoint.password

    def transport(self, hierarchy: str) -> Transport:
        """A ready EST client: from the host, or from the hierarchy's network where the host cannot (pqc)."""
        return transport_for(self.clients, self.endpoint(hierarchy))


@pytest.fixture(scope="session")
def lab(request: pytest.FixtureRequest) -> Iterator[LabFixture]:
    config = request.config
    lab_file = config.getoption("--lab-config")
    name = config.getoption("--lab-name")
    state_option = config.getoption("--lab-state-dir")
    selection = select_lab(Path(lab_file) if lab_file else None, name, Path(state_option) if state_option else None)
    model, state_dir = selection.lab, selection.state_dir
    reuse = bool(config.getoption("--lab-reuse"))
    with PodmanRuntime() as runtime:
        with lab_lock(state_dir, wait_s=60, command="pytest lab fixture (up)"):
            if name is not None:
                # A fresh named lab gets a fresh place; a reused one keeps the place it was given.
                model = settle(model, state_dir, runtime, auto_subnets=True, auto_ports=True, keep_place=reuse)
            orchestrator = Orchestrator(model, runtime, state_dir, probe=host_probe)  # a reused lab: no exec per check
            if not reuse:
                orchestrator.down(volumes=True)
            endpoints = orchestrator.up(timeout=UP_TIMEOUT_S)
        try:
            clients = ClientRunner(model, runtime, state_dir, ensure_image=lambda: ensure_image(runtime).reference)
            yield LabFixture(model, state_dir, orchestrator, {e.hierarchy.name: e for e in endpoints}, clients)
        finally:
            if not reuse:
                with lab_lock(state_dir, wait_s=60, command="pytest lab fixture (down)"):
                    orchestrator.down(volumes=True)
                    forget_lab(state_dir, model)  # its hierarchies' keys and credentials too
