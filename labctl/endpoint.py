"""How to reach one running hierarchy from the host, whatever runs it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from labctl.state import HierarchyState
from labctl.topology import Hierarchy, Lab


@dataclass(frozen=True, slots=True)
class Endpoint:
    hierarchy: Hierarchy
    ra_url: str
    ca_url: str
    trust_file: Path  # the Intermediate CA and root, PEM
    username: str
    password: str


def published_host(lab: Lab) -> str:
    """Where the host reaches the lab's published ports."""
    return str(lab.bind_address) if str(lab.bind_address) != "0.0.0.0" else "127.0.0.1"


def ra_url_for(lab: Lab, hierarchy: Hierarchy) -> str:
    return f"https://{published_host(lab)}:{hierarchy.ra.port}"


def endpoint_for(lab: Lab, state_dir: Path, hierarchy: Hierarchy) -> Endpoint:
    """The published addresses of a hierarchy and its host state (no runtime needed)."""
    state = HierarchyState.of(state_dir, hierarchy)
    username, password = state.est_credentials()
    return Endpoint(
        hierarchy,
        ra_url=ra_url_for(lab, hierarchy),
        ca_url=f"https://{published_host(lab)}:{hierarchy.ca.port}",
        trust_file=state.chain,
        username=username,
        password=password,
    )
