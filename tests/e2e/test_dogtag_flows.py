"""A Dogtag user's session with Dogtag's current Python client against each CA of the default lab.

tests/e2e/dogtag_flow.py drives the calls a Dogtag user's script makes, one step each: server info (v1, and
v2 picked by connect()), login and logout, profiles and enrollment templates, DogtagRABackend's exchange
(estServiceCert issues at submit, the manual server profile is approved), the agent's request operations,
certificates listed, shown, reviewed and searched, revoke-ca, hold, release, Remove_from_CRL, revoke, the
host authority with its certificate and chain. rsa and ecc from the host; pqc from a client container on
its network (ML-DSA TLS needs OpenSSL 3.5), with the client shipped in as one zip. The three calls Dogtag
refuses (approve of a decided request, revoke of a revoked certificate, revoke-ca) are answered as Dogtag does.
"""

from __future__ import annotations

import pytest

from labctl.clients import ClientRunner
from labctl.images import ensure_image
from labctl.runtime.base import FileContent
from labctl.runtime.podman import PodmanRuntime
from labctl.specs import CLIENT_DIR
from labctl.state import HierarchyState
from tests.dogtag_flows import FLOW, assert_dogtag_semantics, client_zip, flow_args, run_from_host, steps

from .conftest import LabCLI


@pytest.mark.parametrize("pki_type", ["rsa", "ecc"])
def test_dogtag_users_session_from_the_host(lab_cli: LabCLI, pki_type: str) -> None:
    hierarchy = lab_cli.lab.hierarchy(pki_type)
    url = f"https://127.0.0.1:{hierarchy.ca.port}"
    seen = run_from_host(hierarchy, lab_cli.state_dir, url, f"{pki_type}-host.flow.cert-lab.local")
    assert_dogtag_semantics(seen, hierarchy)


def test_dogtag_users_session_on_the_pqc_network(lab_cli: LabCLI, runtime: PodmanRuntime) -> None:
    hierarchy = lab_cli.lab.hierarchy("pqc")
    state = HierarchyState.of(lab_cli.state_dir, hierarchy)
    files = {
        "dogtag_flow.py": FileContent(FLOW.read_bytes()),
        "dogtag.zip": FileContent(client_zip()),
        "ca-chain.pem": FileContent(state.chain.read_bytes()),
        "admin.crt": FileContent(state.admin_cert.read_bytes()),
        "admin.key": FileContent(state.admin_key.read_bytes(), 0o600),
    }
    args = flow_args(
        hierarchy,
        f"https://{hierarchy.ca.container}:{hierarchy.ca.port}",
        f"{CLIENT_DIR}/ca-chain.pem",
        f"{CLIENT_DIR}/admin.crt",
        f"{CLIENT_DIR}/admin.key",
        "pqc-network.flow.cert-lab.local",
    )
    clients = ClientRunner(
        lab_cli.lab, runtime, lab_cli.state_dir, ensure_image=lambda: ensure_image(runtime).reference
    )
    result = clients.run(hierarchy, args, files, program=("python3", f"{CLIENT_DIR}/dogtag_flow.py"), timeout=300)
    assert result.exit_code == 0, result.output[-3000:]
    assert_dogtag_semantics(steps(result.output), hierarchy)
