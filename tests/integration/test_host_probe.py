"""The host probe (labctl.probe) against real services on 127.0.0.1: the CA and RA processes of LocalLab, a
closed port, and a TLS server with a certificate the host cannot verify (as the pqc CA serves it)."""

from __future__ import annotations

import datetime
import http.server
import json
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import mldsa

from labctl.endpoint import Endpoint
from labctl.events import StepEvent, StepStatus
from labctl.local import LocalLab
from labctl.orchestrator import Orchestrator
from labctl.pki.issue import common_name_subject
from labctl.pki.keys import write_private_key
from labctl.ports import free_ports
from labctl.probe import PROBE_TIMEOUT_S, ProbeTarget, host_probe, probe_target
from labctl.runtime.base import Health
from labctl.runtime.process import host_image
from labctl.services.health import CA_STATUS_PATH, Role
from tests.helpers import small_rsa_key

pytestmark = pytest.mark.integration
HIERARCHIES = pytest.mark.parametrize("name", ["rsa", "ecc"])
LocalLabFixture = tuple[LocalLab, dict[str, Endpoint], Path]


@HIERARCHIES
@pytest.mark.parametrize("role", ["ca", "ra"])
def test_the_host_probe_finds_a_running_service_healthy(local_lab: LocalLabFixture, name: str, role: Role) -> None:
    runner, _, state_dir = local_lab
    target = probe_target(runner.lab, state_dir, runner.lab.hierarchy(name), role)
    assert target is not None
    assert host_probe(target)


@pytest.mark.parametrize("role", ["ca", "ra"])
def test_the_host_probe_finds_a_closed_port_unhealthy_at_once(local_lab: LocalLabFixture, role: Role) -> None:
    _, endpoints, _ = local_lab
    (port,) = free_ports(1)
    started = time.monotonic()
    assert not host_probe(ProbeTarget(role, "127.0.0.1", port, endpoints["rsa"].trust_file))
    assert time.monotonic() - started < PROBE_TIMEOUT_S  # refused: no waiting for the timeout


def test_the_host_probe_verifies_the_ras_chain(local_lab: LocalLabFixture) -> None:
    runner, endpoints, state_dir = local_lab
    target = probe_target(runner.lab, state_dir, runner.lab.hierarchy("rsa"), "ra")
    assert target is not None
    assert not host_probe(ProbeTarget("ra", target.host, target.port, endpoints["ecc"].trust_file))


def test_a_no_op_up_of_the_local_lab_runs_no_health_check_process(
    local_lab: LocalLabFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner, endpoints, state_dir = local_lab
    checked: list[str] = []
    original = runner.runtime.run_healthcheck

    def run_healthcheck(name: str) -> Health:
        checked.append(name)
        return original(name)

    monkeypatch.setattr(runner.runtime, "run_healthcheck", run_healthcheck)
    events: list[StepEvent] = []
    # As LocalLab's, on its runtime (whose processes are up), with an event sink of this test's.
    orchestrator = Orchestrator(
        runner.lab, runner.runtime, state_dir, on_event=events.append, build_image=host_image, probe=host_probe
    )
    orchestrator.up(sorted(endpoints))
    assert checked == []
    assert [e.step for e in events if e.status is StepStatus.DONE] == []  # nothing to do: every step skipped


class _StatusHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"Response": {"Status": "running"}}).encode()
        self.send_response(200 if self.path == CA_STATUS_PATH else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def compat_ca(tmp_path: Path) -> Iterator[int]:
    """getStatus over TLS with an RSA certificate an ML-DSA-87 CA signed: what the pqc CA serves a host
    without ML-DSA TLS. Its port."""
    issuer_key = mldsa.MLDSA87PrivateKey.generate()
    key = small_rsa_key()  # the lab's is RSA-4096; the size is no matter to the handshake
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(common_name_subject("localhost"))
        .issuer_name(common_name_subject("PQ Intermediate CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(issuer_key, None)
    )
    (tmp_path / "tls.crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    write_private_key(tmp_path / "tls.key", key)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.set_ciphers("DEFAULT:@SECLEVEL=0")  # this host's OpenSSL rates no ML-DSA signature: load it anyway
    tls.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StatusHandler)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    # A short poll: shutdown() waits for the loop to look again.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_host_probe_reads_a_ca_status_over_a_certificate_it_cannot_verify(compat_ca: int) -> None:
    assert host_probe(ProbeTarget("ca", "127.0.0.1", compat_ca))


def test_the_local_lab_endpoints_are_where_the_probe_asks(local_lab: LocalLabFixture) -> None:
    runner, endpoints, state_dir = local_lab
    endpoint = endpoints["ecc"]
    target = probe_target(runner.lab, state_dir, endpoint.hierarchy, "ra")
    assert target is not None and endpoint.ra_url == f"https://{target.host}:{target.port}"
