"""A Dogtag user's session (tests/e2e/dogtag_flow.py, Dogtag's current Python client) against the rsa
and ecc CAs running as processes: server info v1 and v2 and connect() without a pinned version, login
and logout, profiles and enrollment templates, DogtagRABackend's exchange and CertClient.enroll_cert, the
agent's request operations, certificates listed, shown, reviewed and searched, revoke-ca, hold, release,
Remove_from_CRL, revoke, the host authority with its certificate and chain, and the three refusals
(approve of a decided request, revoke of a revoked certificate, revoke-ca) as Dogtag answers them.
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
from tests.dogtag_flows import FLOW, assert_dogtag_semantics, client_zip, flow_args, run_from_host, steps

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("name", ["rsa", "ecc"])
def test_dogtag_users_session(local_lab: tuple[LocalLab, dict[str, Endpoint], Path], name: str) -> None:
    _, endpoints, state = local_lab
    endpoint = endpoints[name]
    seen = run_from_host(endpoint.hierarchy, state, endpoint.ca_url, f"{name}.flow.cert-lab.local")
    assert_dogtag_semantics(seen, endpoint.hierarchy)


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
