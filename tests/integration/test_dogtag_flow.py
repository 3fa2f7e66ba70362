"""A Dogtag user's session (tests/e2e/dogtag_flow.py, Dogtag's current Python client) against the rsa
and ecc CAs running as processes: connect() without a pinned version, DogtagRABackend's exchange,
a manual-approval profile approved, hold, release, revoke, search by serial range."""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl.endpoint import Endpoint
from labctl.local import LocalLab
from tests.dogtag_flows import assert_dogtag_semantics, run_from_host


@pytest.mark.parametrize("name", ["rsa", "ecc"])
def test_dogtag_users_session(local_lab: tuple[LocalLab, dict[str, Endpoint], Path], name: str) -> None:
    _, endpoints, state = local_lab
    endpoint = endpoints[name]
    seen = run_from_host(endpoint.hierarchy, state, endpoint.ca_url, f"{name}.flow.cert-lab.local")
    assert_dogtag_semantics(seen, endpoint.hierarchy)
