"""Running tests/e2e/dogtag_flow.py (a Dogtag user's session, Dogtag's current client) and reading it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from labctl.pki.profiles import SERVER_PROFILE_BY_KIND
from labctl.state import HierarchyState
from labctl.topology import Hierarchy

REPO = Path(__file__).resolve().parents[1]
FLOW = REPO / "tests" / "e2e" / "dogtag_flow.py"
VENDORED = REPO / "tests" / "vendor" / "dogtag_pki_main"


def vendored_env() -> dict[str, str]:
    """This process's environment with Dogtag's current client (tests/vendor) first on PYTHONPATH."""
    path = os.pathsep.join(p for p in (str(VENDORED), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def flow_args(hierarchy: Hierarchy, url: str, bundle: str, cert: str, key: str, name: str) -> list[str]:
    manual = SERVER_PROFILE_BY_KIND[hierarchy.algorithm.kind]
    return [url, bundle, cert, key, hierarchy.algorithm.value, manual, name]


def run_from_host(hierarchy: Hierarchy, state_dir: Path, ca_url: str, name: str) -> dict[str, dict[str, object]]:
    """The session from this host, as the lab admin (its credential in the state dir)."""
    state = HierarchyState.of(state_dir, hierarchy)
    args = flow_args(hierarchy, ca_url, str(state.chain), str(state.admin_cert), str(state.admin_key), name)
    result = subprocess.run(
        [sys.executable, str(FLOW), *args], capture_output=True, text=True, env=vendored_env(), timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return steps(result.stdout)


def steps(output: str) -> dict[str, dict[str, object]]:
    return {e["step"]: e for e in map(json.loads, (line for line in output.splitlines() if line.startswith("{")))}


def assert_dogtag_semantics(seen: dict[str, dict[str, object]], hierarchy: Hierarchy) -> None:
    """What Dogtag answers each step with."""
    assert seen["connect"]["api"] == "v2", seen
    assert seen["dogtag-ra-backend"]["submitted"] == "complete", seen  # estServiceCert: AgentCertAuth
    manual = seen["manual-profile"]
    assert (manual["profile"], manual["submitted"]) == (SERVER_PROFILE_BY_KIND[hierarchy.algorithm.kind], "pending")
    assert seen["hold"]["status"] == "REVOKED" and seen["release"]["status"] == "VALID", seen
    assert seen["revoke"]["status"] == "REVOKED", seen
    assert seen["search"]["serials"] == [manual["serial"]], seen


def client_zip() -> bytes:
    """Dogtag's current client (tests/vendor) and the ldap.dn stand-in, as one importable zip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for module in sorted((VENDORED / "pki").glob("*.py")):
            archive.write(module, f"pki/{module.name}")
        archive.writestr("ldap/__init__.py", "")
        archive.write(REPO / "tests" / "dogtag_ldap_dn.py", "ldap/dn.py")  # python-ldap: no wheel
    return buffer.getvalue()
