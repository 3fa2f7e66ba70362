"""labctl's own client commands run inside the lab, in a short-lived container on a hierarchy's
network, where the host cannot be the client (ML-DSA TLS needs OpenSSL 3.5; the image has it).
Same checks, same output: the container prints JSON lines, read back here.
"""

from __future__ import annotations

import json
from pathlib import Path

from labctl.endpoint import Endpoint
from labctl.errors import LabctlError
from labctl.orchestrator import CLIENT_DIR, Orchestrator
from labctl.runtime.base import FileContent
from labctl.verify import CheckResult


def verify_in_network(orchestrator: Orchestrator, endpoint: Endpoint) -> list[CheckResult]:
    """verify_endpoint() for one hierarchy, run from a container on its network against the RA's hostname."""
    hierarchy = endpoint.hierarchy
    lab_file = Path(orchestrator.lab.source)
    if not lab_file.is_file():
        raise LabctlError(f"lab file {orchestrator.lab.source} is not a file to hand to the in-network client")
    files = {
        "lab.toml": FileContent(lab_file.read_bytes()),
        "ca-chain.pem": FileContent(endpoint.trust_file.read_bytes()),
        "est-credentials": FileContent(f"{endpoint.username}:{endpoint.password}".encode(), 0o600),
    }
    args = [
        "--config", f"{CLIENT_DIR}/lab.toml",
        "verify-endpoint",
        "--hierarchy", hierarchy.name,
        "--ra-url", f"https://{hierarchy.ra.hostname}:{hierarchy.ra.port}",
        "--trust", f"{CLIENT_DIR}/ca-chain.pem",
        "--credentials", f"{CLIENT_DIR}/est-credentials",
    ]  # fmt: skip
    result = orchestrator.run_client(hierarchy, args, files)
    checks = [_check(line) for line in result.output.splitlines() if line.startswith("{")]
    if not checks:
        raise LabctlError(
            f"in-network client for {hierarchy.name} exited {result.exit_code} without results",
            hint=result.output.strip()[-2000:],
        )
    return checks


def _check(line: str) -> CheckResult:
    data = json.loads(line)
    return CheckResult(
        hierarchy=str(data["hierarchy"]),
        check=str(data["check"]),
        passed=bool(data["passed"]),
        elapsed_s=float(data["elapsed_s"]),
        reason=str(data.get("reason", "")),
    )
