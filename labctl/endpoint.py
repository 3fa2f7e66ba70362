"""How to reach one running hierarchy from the host, whatever runs it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from labctl.topology import Hierarchy


@dataclass(frozen=True, slots=True)
class Endpoint:
    hierarchy: Hierarchy
    ra_url: str
    ca_url: str
    trust_file: Path  # the Intermediate CA and root, PEM
    username: str
    password: str
