"""A Dogtag user's session (tests/e2e/dogtag_flow.py, Dogtag's current Python client) against the rsa
and ecc CAs running as processes: server info v1 and v2 and connect() without a pinned version, login
and logout, profiles and enrollment templates, DogtagRABackend's exchange, the agent's request operations,
certificates listed, shown, reviewed and searched, revoke-ca, hold, release, Remove_from_CRL, revoke, and
the host authority with its certificate and chain.

One session per CA; the three calls Dogtag refuses are checked apart (test_dogtag_refusals), as the lab
answers them otherwise until branch wt-answers lands (tests/dogtag_flows.py DOGTAG_REFUSALS).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from labctl.endpoint import Endpoint
from labctl.local import LocalLab
from labctl.state import HierarchyState
from tests.dogtag_flows import (
    FLOW,
    Seen,
    assert_dogtag_refusals,
    assert_dogtag_semantics,
    client_zip,
    flow_args,
    run_from_host,
    steps,
)

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
    assert_dogtag_semantics(seen, endpoint.hierarchy)


def test_dogtag_refusals(session: tuple[Seen, Endpoint]) -> None:
    seen, _ = session
    assert_dogtag_refusals(seen)


def test_dogtag_users_session_with_the_zipped_client(
    local_lab: tuple[LocalLab, dict[str, Endpoint], Path], tmp_path: Path
) -> None:
    """As the pqc client container runs it (tests/e2e/test_dogtag_flows.py): the script beside dogtag.zip (the
    vendored client and the ldap.dn stand-in), nothing on PYTHONPATH. PyPI's dogtag-pki in this venv has no
    PKIClient, so the session passing shows the zip's client was the one imported."""
    _, endpoints, state = local_lab
    endpoint = endpoints["ecc"]
    (tmp_path / "dogtag_flow.py").write_bytes(FLOW.read_bytes())
    (tmp_path / "dogtag.zip").write_bytes(client_zip())
    credentials = HierarchyState.of(state, endpoint.hierarchy)
    args = flow_args(
        endpoint.hierarchy,
        endpoint.ca_url,
        str(credentials.chain),
        str(credentials.admin_cert),
        str(credentials.admin_key),
        "ecc-zip.flow.cert-lab.local",
    )
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    command = [sys.executable, str(tmp_path / "dogtag_flow.py"), *args]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert_dogtag_semantics(steps(result.stdout), endpoint.hierarchy)
