"""Where labctl's client-side checks run: on the host, or, where the host cannot be the client
(ML-DSA TLS needs OpenSSL 3.5; the image has it), in a short-lived container on the hierarchy's
network. Same checks, same results: the container prints JSON lines, read back here.

Both halves of each in-network exchange live here: what the host hands the container (arguments,
files) and reads back, and what the hidden `labctl` command inside it runs and prints.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from cryptography import x509

from labctl import specs
from labctl.bootstrap import admin_client
from labctl.ca_client import CAClient, ca_ssl_context
from labctl.devices import HostTransport, Transport
from labctl.endpoint import Endpoint, endpoint_for
from labctl.errors import ESTError, LabctlError, NotReadyError
from labctl.est_client import ESTClient, est_ssl_context
from labctl.images import IMAGE_UID
from labctl.pending import PendingApproval
from labctl.pki.issue import certificates_pem, csr_pem, load_csr, load_pem_certificates
from labctl.pki.keys import PrivateKey, encrypted_key_pem, load_private_key_pem, private_key_pem, read_private_key
from labctl.readiness import Clock, SystemClock, wait_until
from labctl.runtime.base import ContainerRuntime, ContainerSpec, ExecResult, FileContent, VolumeMount, VolumeSpec
from labctl.specs import CLIENT_DIR
from labctl.state import HierarchyState, read_credentials
from labctl.tls import host_supports_tls
from labctl.topology import Hierarchy, Lab, dump_lab, iot_volume_name, network_name
from labctl.verify import AdminFactory, CheckResult, verify_containment, verify_endpoint


class ClientRunner:
    """Runs `labctl ARGS` in short-lived containers of the lab image on a hierarchy's network.

    For clients the host cannot be (ML-DSA TLS needs OpenSSL 3.5, which the image has), and for the
    lab's own devices (the IoT client). Running a client is not plan execution: it needs the lab,
    the runtime, the host state and the lab image, not the orchestrator.

    Args:
        ensure_image: the lab image's reference, built first when its content changed; asked once.
    """

    def __init__(
        self,
        lab: Lab,
        runtime: ContainerRuntime,
        state_dir: Path,
        *,
        ensure_image: Callable[[], str],
        clock: Clock | None = None,
    ) -> None:
        self.lab = lab
        self.runtime = runtime
        self.state_dir = state_dir
        self._ensure_image = ensure_image
        self._clock = clock or SystemClock()
        self._image: str | None = None
        self._image_lock = threading.Lock()  # verify_lab runs hierarchies side by side

    def _lab_image(self) -> str:
        with self._image_lock:
            if self._image is None:
                # The client is this labctl: its image must hold the same code (a content-hash check, rebuilt if not).
                self._image = self._ensure_image()
            return self._image

    def run(
        self,
        hierarchy: Hierarchy,
        args: Sequence[str],
        files: Mapping[str, FileContent],
        *,
        mounts: Sequence[VolumeMount] = (),
        timeout: float = 120.0,
        program: Sequence[str] = ("labctl",),
    ) -> ExecResult:
        """Run `labctl ARGS` (or `program ARGS`, e.g. python3 and a script in `files`) in a container on the
        hierarchy's network (files in CLIENT_DIR); removed after.

        Volumes in `mounts` are created, labelled, if missing.
        """
        for mount in mounts:
            if not self.runtime.volume_exists(mount.volume):
                self.runtime.create_volume(VolumeSpec(mount.volume, specs.labels(self.lab, hierarchy, "client-data")))
        image = self._lab_image()
        name = f"{self.lab.name}-{hierarchy.name}-client-{secrets.token_hex(4)}"
        spec = ContainerSpec(
            name=name,
            image=image,
            command=(*program, *args),
            network=network_name(self.lab, hierarchy),
            labels=specs.labels(self.lab, hierarchy, "client"),
            mounts=tuple(mounts),
            user=f"{IMAGE_UID}:{IMAGE_UID}",
            files={CLIENT_DIR: files},
            files_owner=(IMAGE_UID, IMAGE_UID),
            extra_hosts=specs.static_hosts(hierarchy),
        )
        self.runtime.create_container(spec)
        try:
            self.runtime.start_container(name)

            def probe() -> tuple[int | None, str]:
                info = self.runtime.inspect_container(name)
                if info is None:
                    raise NotReadyError(f"client container {name} vanished")
                return info.exit_code, info.state

            code = wait_until(probe, what=f"client {name}", timeout=timeout, interval=0.2, clock=self._clock)
            return ExecResult(code, self.runtime.logs(name, tail=10_000))
        finally:
            self.runtime.remove_container(name)


def host_admin(state_dir: Path, endpoint: Endpoint) -> AdminFactory:
    """Lab-admin CA clients from the host, for one hierarchy."""
    state = HierarchyState.of(state_dir, endpoint.hierarchy)
    return lambda: admin_client(endpoint.hierarchy, state, endpoint.ca_url)


def file_admin(ca_url: str, trust: Path, cert: Path, key: Path) -> AdminFactory:
    """Lab-admin CA clients from credential files (inside a client container)."""
    return lambda: CAClient(ca_url, ssl_context=ca_ssl_context(trust, cert=cert, key=key))


def verify_lab(runner: ClientRunner, endpoints: Sequence[Endpoint]) -> list[CheckResult]:
    """Every check for each hierarchy, the hierarchies side by side (their checks share no state and
    mostly wait: on TLS, key generation in a client container, probe timeouts); results in their order."""
    with ThreadPoolExecutor(max_workers=max(1, len(endpoints)), thread_name_prefix="labctl-verify") as pool:
        per_hierarchy = list(pool.map(lambda endpoint: _verify_hierarchy(runner, endpoint), endpoints))
    return [result for results in per_hierarchy for result in results]


def _verify_hierarchy(runner: ClientRunner, endpoint: Endpoint) -> list[CheckResult]:
    """Client checks where they can run (the host, or the hierarchy's network), then the runtime's."""
    hierarchy = endpoint.hierarchy
    if host_supports_tls(hierarchy.algorithm):
        results = verify_endpoint(endpoint, admin=host_admin(runner.state_dir, endpoint))
    else:
        results = verify_in_network(runner, endpoint)
    ca_certificate = load_pem_certificates(endpoint.trust_file.read_bytes())[0]
    return results + verify_containment(runner.lab, hierarchy, runner.runtime, ca_certificate)


def _client_files(lab: Lab, endpoint: Endpoint) -> dict[str, FileContent]:
    """What every in-network labctl client gets in CLIENT_DIR: the lab file, the trust anchor, the EST credentials."""
    return {
        # The lab as this command sees it (renamed, placed), not the file it was read from.
        "lab.toml": FileContent(dump_lab(lab).encode()),
        "ca-chain.pem": FileContent(endpoint.trust_file.read_bytes()),
        "est-credentials": _credentials_file(endpoint),
    }


def _credentials_file(endpoint: Endpoint) -> FileContent:
    return FileContent(f"{endpoint.username}:{endpoint.password}".encode(), 0o600)


def verify_in_network(runner: ClientRunner, endpoint: Endpoint) -> list[CheckResult]:
    """verify_endpoint() for one hierarchy, run from a container on its network against the RA's hostname."""
    hierarchy = endpoint.hierarchy
    state = HierarchyState.of(runner.state_dir, hierarchy)
    files = {
        **_client_files(runner.lab, endpoint),
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
    result = runner.run(hierarchy, args, files)
    checks = [_check(line) for line in result.output.splitlines() if line.startswith("{")]
    if not checks:
        raise LabctlError(
            f"in-network client for {hierarchy.name} exited {result.exit_code} without results",
            hint=result.output.strip()[-2000:],
        )
    return checks


class InNetworkTransport:
    """EST exchanges run by `labctl est-call` in a client container on the hierarchy's network."""

    def __init__(self, runner: ClientRunner, endpoint: Endpoint) -> None:
        self._runner = runner
        self._endpoint = endpoint

    def _call(self, operation: str, files: dict[str, FileContent], extra: list[str]) -> list[x509.Certificate]:
        return load_pem_certificates(self._run(operation, files, extra).encode())

    def _run(self, operation: str, files: dict[str, FileContent], extra: list[str]) -> str:
        """`labctl est-call OPERATION` in a client container: its PEM output, or ESTError."""
        hierarchy = self._endpoint.hierarchy
        files = {"ca-chain.pem": FileContent(self._endpoint.trust_file.read_bytes()), **files}
        args = [
            "est-call", operation,
            "--ra-url", f"https://{hierarchy.ra.hostname}:{hierarchy.ra.port}",
            "--trust", f"{CLIENT_DIR}/ca-chain.pem",
            *extra,
        ]  # fmt: skip
        result = self._runner.run(hierarchy, args, files)
        errors = [json.loads(line) for line in result.output.splitlines() if line.startswith('{"error"')]
        if errors:
            error = errors[-1]
            if error.get("status") == 202:
                raise PendingApproval.from_answer(str(error["error"]), str(error.get("retry_after", "")))
            raise ESTError(str(error["error"]), status_code=error.get("status"))
        if "-----BEGIN CERTIFICATE-----" not in result.output:
            raise ESTError(
                f"{operation} from inside the {hierarchy.name} network gave no answer (exit {result.exit_code})",
                hint=result.output.strip()[-2000:],
            )
        return result.output

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

    def serverkeygen(self, csr: x509.CertificateSigningRequest) -> tuple[PrivateKey, x509.Certificate]:
        # The container prints the key it received: encrypted (PKCS#8, PBES2) under a one-time password
        # that only the host and the container (removed right after) know, as podman keeps its output.
        password = secrets.token_urlsafe(32)
        files = {
            "csr.pem": FileContent(csr_pem(csr)),
            "est-credentials": _credentials_file(self._endpoint),
            "key-password": FileContent(password.encode(), 0o600),
        }
        args = [
            "--csr", f"{CLIENT_DIR}/csr.pem",
            "--credentials", f"{CLIENT_DIR}/est-credentials",
            "--key-password", f"{CLIENT_DIR}/key-password",
        ]  # fmt: skip
        output = self._run("serverkeygen", files, args).encode()
        return load_private_key_pem(output, password=password.encode()), load_pem_certificates(output)[0]

    def fullcmc(self, csr: x509.CertificateSigningRequest, key: PrivateKey) -> x509.Certificate:
        # The device key signs the CMC request inside the container, which is removed after.
        files = {
            "csr.pem": FileContent(csr_pem(csr)),
            "device.key": FileContent(private_key_pem(key), 0o600),
            "est-credentials": _credentials_file(self._endpoint),
        }
        args = ["--csr", f"{CLIENT_DIR}/csr.pem", "--key", f"{CLIENT_DIR}/device.key"]
        args += ["--credentials", f"{CLIENT_DIR}/est-credentials"]
        return self._call("fullcmc", files, args)[0]


def transport_for(runner: ClientRunner, endpoint: Endpoint) -> Transport:
    """From the host when its TLS can do the hierarchy's algorithm, else from inside the hierarchy's network."""
    if host_supports_tls(endpoint.hierarchy.algorithm):
        return HostTransport(endpoint)
    return InNetworkTransport(runner, endpoint)


@contextmanager
def open_transport(
    lab: Lab, state_dir: Path, pki_type: str, open_runner: Callable[[], AbstractContextManager[ClientRunner]]
) -> Iterator[tuple[Endpoint, Transport]]:
    """The hierarchy's endpoint, and a transport: the host's own, or a client container on its network.

    `open_runner` is called only when the host cannot be the client (it needs a container runtime).
    """
    hierarchy = lab.hierarchy(pki_type)
    endpoint = endpoint_for(lab, state_dir, hierarchy)
    if not endpoint.trust_file.exists():
        raise LabctlError(f"the {pki_type} hierarchy has no trust anchor yet ({endpoint.trust_file})", hint="labctl up")
    if host_supports_tls(hierarchy.algorithm):
        yield endpoint, HostTransport(endpoint)
        return
    with open_runner() as runner:
        yield endpoint, InNetworkTransport(runner, endpoint)


def est_call(
    operation: str,
    ra_url: str,
    *,
    trust: Path,
    credentials: Path | None,
    csr: Path | None,
    cert: Path | None,
    key: Path | None,
    key_password: Path | None = None,
) -> str:
    """The in-network half of InNetworkTransport (`labctl est-call`): one exchange, answered as PEM or one JSON error line.

    serverkeygen prints the key first, encrypted under the password in `key_password`, then the certificate.
    """
    auth = None
    if credentials is not None:
        auth = read_credentials(credentials)
    # fullcmc's --key signs the CMC request; simplereenroll's (with --cert) authenticates in TLS.
    context = est_ssl_context(trust, cert=cert, key=key if cert is not None else None)
    request = load_csr(csr.read_bytes()) if csr is not None else None
    try:
        with ESTClient(ra_url, ssl_context=context, auth=auth) as client:
            if operation == "cacerts":
                certificates = client.cacerts()
            elif request is None:
                raise LabctlError(f"{operation} needs --csr")
            elif operation == "fullcmc":
                if key is None:
                    raise LabctlError("fullcmc needs --key (the CSR's key signs the CMC request)")
                certificates = [client.fullcmc(request, read_private_key(key)).certificates[0]]
            elif operation == "simpleenroll":
                certificates = [client.simpleenroll(request)]
            elif operation == "serverkeygen":
                if key_password is None:
                    raise LabctlError("serverkeygen needs --key-password")
                new_key, certificate = client.serverkeygen(request)
                return (
                    encrypted_key_pem(new_key, key_password.read_bytes().strip()).decode()
                    + certificates_pem([certificate]).decode()
                )
            else:
                certificates = [client.simplereenroll(request)]
    except ESTError as exc:
        answer: dict[str, object] = {"error": str(exc).splitlines()[0], "status": exc.status_code}
        if isinstance(exc, PendingApproval):
            answer["retry_after"] = exc.retry_after_s
        return json.dumps(answer) + "\n"
    # PEM, not one JSON line: podman's log splits long lines, and an ML-DSA certificate is over 10 KB.
    return certificates_pem(certificates).decode()


def verify_with_files(
    hierarchy: Hierarchy,
    *,
    ra_url: str,
    ca_url: str,
    trust: Path,
    credentials: Path,
    admin_cert: Path,
    admin_key: Path,
) -> list[CheckResult]:
    """The in-network half of verify_in_network (`labctl verify-endpoint`): the checks of one RA, from credential files."""
    user, password = read_credentials(credentials)
    endpoint = Endpoint(hierarchy, ra_url, ca_url, trust, user, password)
    return verify_endpoint(endpoint, admin=file_admin(ca_url, trust, admin_cert, admin_key))


IOT_DATA_DIR = "/var/lib/labctl/iot"


def run_iot_device(
    runner: ClientRunner, endpoint: Endpoint, *, common_name: str, with_bootstrap_credential: bool
) -> tuple[int, list[str], dict[str, str]]:
    """Run the IoT client once in a container on the hierarchy's network, its data on a named volume.

    Returns:
        (exit code, the client's log lines, its final JSON summary or {}).
    """
    hierarchy = endpoint.hierarchy
    state = HierarchyState.of(runner.state_dir, hierarchy)
    files = _client_files(runner.lab, endpoint)
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
    volume = iot_volume_name(runner.lab, hierarchy, common_name)
    result = runner.run(hierarchy, args, files, mounts=[VolumeMount(volume, IOT_DATA_DIR)])
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
