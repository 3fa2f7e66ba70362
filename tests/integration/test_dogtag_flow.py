"""A Dogtag user's session (tests/e2e/dogtag_flow.py, Dogtag's current Python client) against the rsa
and ecc CAs running as processes: server info v1 and v2 and connect() without a pinned version, login
and logout, profiles and enrollment templates, DogtagRABackend's exchange, the agent's request operations,
certificates listed, shown, reviewed and searched, revoke-ca, hold, release, Remove_from_CRL, revoke, and
the host authority with its certificate and chain.

One session per CA; the three calls Dogtag refuses are checked apart (test_dogtag_refusals), as the lab
answers them otherwise until branch wt-answers lands (tests/dogtag_flows.py DOGTAG_REFUSALS).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl.endpoint import Endpoint
from labctl.local import LocalLab
from tests.dogtag_flows import Seen, assert_dogtag_refusals, assert_dogtag_session, run_from_host

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=["rsa", "ecc"])
def session(
    request: pytest.FixtureRequest, local_lab: tuple[LocalLab, dict[str, Endpoint], Path]
) -> tuple[Seen, Endpoint]:
    _, endpoints, state = local_lab
    endpoint = endpoints[request.param]
    seen = run_from_host(endpoint.hierarchy, state, endpoint.ca_url, f"{request.param}.flow.cert-lab.local")
    return seen, endpoint


def test_dogtag_users_session(session: tuple[Seen, Endpoint]) -> None:
    seen, endpoint = session
    assert_dogtag_session(seen, endpoint.hierarchy)


def test_dogtag_refusals(session: tuple[Seen, Endpoint]) -> None:
    seen, _ = session
    assert_dogtag_refusals(seen)
