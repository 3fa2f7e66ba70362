"""Where labctl's client-side checks run: on the host, or, where the host cannot be the client
(ML-DSA TLS needs OpenSSL 3.5; the image has it), in a short-lived container on the hierarchy's
network. Same checks, same results: the container prints JSON lines, read back here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cryptography import x509

from labctl.bootstrap import admin_client
from labctl.ca_client import CAClient, ca_ssl_context
from labctl.devices import HostTransport, Transport
from labctl.endpoint import Endpoint
from labctl.errors import ESTError, LabctlError
from labctl.orchestrator import Orchestrator
from labctl.pki.issue import csr_pem, load_pem_certificates
from labctl.runtime.base import FileContent, VolumeMount
from labctl.specs import CLIENT_DIR
from labctl.state import HierarchyState
from labctl.tls import host_supports_tls
from labctl.topology import dump_lab, iot_volume_name
from labctl.verify import AdminFactory, CheckResult, verify_containment, verify_endpoint


def host_admin(state_dir: Path, endpoint: Endpoint) -> AdminFactory:
    """Lab-admin CA clients from the host, for one hierarchy."""
    state = HierarchyState.of(state_dir, endpoint.hierarchy)
    return lambda: admin_client(endpoint.hierarchy, state, endpoint.ca_url)


def file_admin(ca_url: str, trust: Path, cert: Path, key: Path) -> AdminFactory:
    """Lab-admin CA clients from credential files (inside a client container)."""
    return lambda: CAClient(ca_url, ssl_context=ca_ssl_context(trust, cert=cert, key=key))


def verify_lab(orchestrator: Orchestrator, endpoints: Sequence[Endpoint]) -> list[CheckResult]:
    """Every check for each hierarchy, the hierarchies side by side (their checks share no state and
    mostly wait: on TLS, key generation in a client container, probe timeouts); results in their order."""
    with ThreadPoolExecutor(max_workers=max(1, len(endpoints)), thread_name_prefix="labctl-verify") as pool:
        per_hierarchy = list(pool.map(lambda endpoint: _verify_hierarchy(orchestrator, endpoint), endpoints))
    return [result for results in per_hierarchy for result in results]


def _verify_hierarchy(orchestrator: Orchestrator, endpoint: Endpoint) -> list[CheckResult]:
    """Client checks where they can run (the host, or the hierarchy's network), then the runtime's."""
    hierarchy = endpoint.hierarchy
    if host_supports_tls(hierarchy.algorithm):
        results = verify_endpoint(endpoint, admin=host_admin(orchestrator.state_dir, endpoint))
    else:
        results = verify_in_network(orchestrator, endpoint)
    ca_certificate = load_pem_certificates(endpoint.trust_file.read_bytes())[0]
    return results + verify_containment(orchestrator.lab, hierarchy, orchestrator.runtime, ca_certificate)


def _client_files(orchestrator: Orchestrator, endpoint: Endpoint) -> dict[str, FileContent]:
    """What every in-network labctl client gets in CLIENT_DIR: the lab file, the trust anchor, the EST credentials."""
    return {
        # The lab as this command sees it (renamed, placed), not the file it was read from.
        "lab.toml": FileContent(dump_lab(orchestrator.lab).encode()),
        "ca-chain.pem": FileContent(endpoint.trust_file.read_bytes()),
        "est-credentials": _credentials_file(endpoint),
    }


def _credentials_file(endpoint: Endpoint) -> FileContent:
    return FileContent(f"{endpoint.username}:{endpoint.password}".encode(), 0o600)


def verify_in_network(orchestrator: Orchestrator, endpoint: Endpoint) -> list[CheckResult]:
    """verify_endpoint() for one hierarchy, run from a container on its network against the RA's hostname."""
    hierarchy = endpoint.hierarchy
    state = HierarchyState.of(orchestrator.state_dir, hierarchy)
    files = {
        **_client_files(orchestrator, endpoint),
        # The lab admin credential, for the revocation checks; the container is removed right after.
        "admin.crt": FileContent(state.admin_cert.read_bytes()),
        "admin.key": FileContent(state.admin_key.read_bytes(), 0o600),
    }
    args = [
        "--config", f"{CLIENT_DIR}/lab.toml",
        "verify-endpoint",
        "--hierarchy", hierarchy.name,
        "--ra-url", f"https://{hierarchy.ra.hostname}:{hierarchy.ra.port}",
        "--ca-url", f"https://{hierarchy.ca.container}:{hierarchy.ca.port}",
        "--trust", f"{CLIENT_DIR}/ca-chain.pem",
        "--credentials", f"{CLIENT_DIR}/est-credentials",
        "--admin-cert", f"{CLIENT_DIR}/admin.crt",
        "--admin-key", f"{CLIENT_DIR}/admin.key",
    ]  # fmt: skip
    result = orchestrator.run_client(hierarchy, args, files)
    checks = [_check(line) for line in result.output.splitlines() if line.startswith("{")]
    if not checks:
        raise LabctlError(
            f"in-network client for {hierarchy.name} exited {result.exit_code} without results",
            hint=result.output.strip()[-2000:],
        )
    return checks


class InNetworkTransport:
    """EST exchanges run by `labctl est-call` in a client container on the hierarchy's network."""

    def __init__(self, orchestrator: Orchestrator, endpoint: Endpoint) -> None:
        self._orchestrator = orchestrator
        self._endpoint = endpoint

    def _call(self, operation: str, files: dict[str, FileContent], extra: list[str]) -> list[x509.Certificate]:
        hierarchy = self._endpoint.hierarchy
        files = {"ca-chain.pem": FileContent(self._endpoint.trust_file.read_bytes()), **files}
        args = [
            "est-call", operation,
            "--ra-url", f"https://{hierarchy.ra.hostname}:{hierarchy.ra.port}",
            "--trust", f"{CLIENT_DIR}/ca-chain.pem",
            *extra,
        ]  # fmt: skip
        result = self._orchestrator.run_client(hierarchy, args, files)
        errors = [json.loads(line) for line in result.output.splitlines() if line.startswith('{"error"')]
        if errors:
            raise ESTError(str(errors[-1]["error"]), status_code=errors[-1].get("status"))
        if "-----BEGIN CERTIFICATE-----" not in result.output:
            raise ESTError(
                f"{operation} from inside the {hierarchy.name} network gave no answer (exit {result.exit_code})",
                hint=result.output.strip()[-2000:],
            )
        return load_pem_certificates(result.output.encode())

    def cacerts(self) -> list[x509.Certificate]:
        return self._call("cacerts", {}, [])

    def simpleenroll(self, csr: x509.CertificateSigningRequest) -> x509.Certificate:
        files = {"csr.pem": FileContent(csr_pem(csr)), "est-credentials": _credentials_file(self._endpoint)}
        args = ["--csr", f"{CLIENT_DIR}/csr.pem", "--credentials", f"{CLIENT_DIR}/est-credentials"]
        return self._call("simpleenroll", files, args)[0]

    def simplereenroll(self, csr: x509.CertificateSigningRequest, cert: Path, key: Path) -> x509.Certificate:
        # The device key goes into the client container for the TLS handshake; the container is removed after.
        files = {
            "csr.pem": FileContent(csr_pem(csr)),
            "device.crt": FileContent(cert.read_bytes()),
            "device.key": FileContent(key.read_bytes(), 0o600),
        }
        args = [
            "--csr",
            f"{CLIENT_DIR}/csr.pem",
            "--cert",
            f"{CLIENT_DIR}/device.crt",
            "--key",
            f"{CLIENT_DIR}/device.key",
        ]
        return self._call("simplereenroll", files, args)[0]


def transport_for(orchestrator: Orchestrator, endpoint: Endpoint) -> Transport:
    """From the host when its TLS can do the hierarchy's algorithm, else from inside the hierarchy's network."""
    if host_supports_tls(endpoint.hierarchy.algorithm):
        return HostTransport(endpoint)
    return InNetworkTransport(orchestrator, endpoint)


IOT_DATA_DIR = "/var/lib/labctl/iot"


def run_iot_device(
    orchestrator: Orchestrator, endpoint: Endpoint, *, common_name: str, with_bootstrap_credential: bool
) -> tuple[int, list[str], dict[str, str]]:
    """Run the IoT client once in a container on the hierarchy's network, its data on a named volume.

    Returns:
        (exit code, the client's log lines, its final JSON summary or {}).
    """
    hierarchy = endpoint.hierarchy
    state = HierarchyState.of(orchestrator.state_dir, hierarchy)
    files = _client_files(orchestrator, endpoint)
    args = [
        "--config", f"{CLIENT_DIR}/lab.toml",
        "iot-device",
        "--hierarchy", hierarchy.name,
        "--cn", common_name,
        "--ra-url", f"https://{hierarchy.ra.hostname}:{hierarchy.ra.port}",
        "--ca-url", f"https://{hierarchy.ca.container}:{hierarchy.ca.port}",
        "--trust", f"{CLIENT_DIR}/ca-chain.pem",
        "--est-credentials", f"{CLIENT_DIR}/est-credentials",
        "--data-dir", IOT_DATA_DIR,
    ]  # fmt: skip
    if with_bootstrap_credential:
        files["bootstrap-credential"] = FileContent(state.bootstrap_credential().encode(), 0o600)
        args += ["--bootstrap-credential", f"{CLIENT_DIR}/bootstrap-credential"]
    volume = iot_volume_name(orchestrator.lab, hierarchy, common_name)
    result = orchestrator.run_client(hierarchy, args, files, mounts=[VolumeMount(volume, IOT_DATA_DIR)])
    lines = result.output.splitlines()
    summaries = [json.loads(line) for line in lines if line.startswith('{"')]
    return result.exit_code, [line for line in lines if not line.startswith('{"')], summaries[-1] if summaries else {}


def _check(line: str) -> CheckResult:
    data = json.loads(line)
    return CheckResult(
        hierarchy=str(data["hierarchy"]),
        check=str(data["check"]),
        passed=bool(data["passed"]),
        elapsed_s=float(data["elapsed_s"]),
        reason=str(data.get("reason", "")),
    )
