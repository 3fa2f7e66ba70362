"""labctl.services.health: the checks podman execs in the containers and labctl runs from the host, against
a TLS server on loopback whose certificate names localhost (as the services' do)."""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from labctl.pki.issue import common_name_subject
from labctl.pki.keys import write_private_key
from labctl.services import health
from tests.helpers import small_ec_key

PKCS7 = "application/pkcs7-mime"


@dataclass
class Answer:
    status: int = 200
    content_type: str = "application/json"
    body: bytes = b'{"Response": {"Status": "running"}}'


@dataclass
class Served:
    port: int
    trust: str  # the server's certificate, PEM: what the RA's check verifies against
    answer: Answer
    paths: list[str] = field(default_factory=list)


def _certificate(directory: Path) -> Path:
    """A self-signed certificate for localhost and 127.0.0.1 (key next to it); its path."""
    key = small_ec_key()
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(common_name_subject("localhost"))
        .issuer_name(common_name_subject("localhost"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = directory / "tls.crt"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    write_private_key(directory / "tls.key", key)
    return path


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    certificate = _certificate(tmp_path)
    answer = Answer()
    paths: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            paths.append(self.path)
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, *_: object) -> None:
            pass

    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(certificate, tmp_path / "tls.key")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    # A short poll: shutdown() waits for the loop to look again.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Served(server.server_address[1], str(certificate), answer, paths)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_ca_is_healthy_when_its_status_is_running(served: Served) -> None:
    assert health.check("ca", "127.0.0.1", served.port) == (True, "CA status running")
    assert served.paths == [health.CA_STATUS_PATH]


def test_a_ca_still_starting_is_not_healthy(served: Served) -> None:
    served.answer.body = b'{"Response": {"Status": "awaiting-certificate"}}'
    assert health.check("ca", "127.0.0.1", served.port) == (False, "CA status awaiting-certificate")


def test_a_ca_answering_an_error_is_not_healthy(served: Served) -> None:
    served.answer.status = 503
    assert health.check("ca", "127.0.0.1", served.port) == (False, "getStatus answered 503")


@pytest.mark.parametrize("body", [b"<html>proxy error</html>", b"[]", b'{"Response": "running"}'])
def test_a_ca_answering_no_status_is_not_healthy(served: Served, body: bytes) -> None:
    served.answer.body = body
    assert health.check("ca", "127.0.0.1", served.port)[0] is False


def test_the_ra_is_healthy_after_a_cacerts_verified_for_localhost_on_another_address(served: Served) -> None:
    served.answer.content_type, served.answer.body = PKCS7, b"MIIB..."
    assert health.check("ra", "127.0.0.1", served.port, trust=served.trust) == (True, "cacerts 7 bytes")
    assert served.paths == [health.CACERTS_PATH]


def test_the_ras_certificate_must_name_the_server_name(served: Served) -> None:
    served.answer.content_type, served.answer.body = PKCS7, b"MIIB..."
    healthy, detail = health.check("ra", "127.0.0.1", served.port, trust=served.trust, server_name="ra.example")
    assert (healthy, detail.split(":")[0]) == (False, "SSLCertVerificationError")


def test_the_ras_certificate_must_chain_to_the_trust(served: Served, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    served.answer.content_type, served.answer.body = PKCS7, b"MIIB..."
    healthy, detail = health.check("ra", "127.0.0.1", served.port, trust=str(_certificate(other)))
    assert (healthy, detail.split(":")[0]) == (False, "SSLCertVerificationError")


@pytest.mark.parametrize(("content_type", "body"), [("text/plain", b"MIIB..."), (PKCS7, b"")], ids=["type", "empty"])
def test_an_ra_answering_no_pkcs7_is_not_healthy(served: Served, content_type: str, body: bytes) -> None:
    served.answer.content_type, served.answer.body = content_type, body
    assert health.check("ra", "127.0.0.1", served.port, trust=served.trust)[0] is False


def test_the_ras_check_needs_a_trust_file(served: Served) -> None:
    assert health.check("ra", "127.0.0.1", served.port) == (
        False,
        "the RA's check needs the hierarchy's chain (--trust)",
    )


def test_the_command_in_the_container_asks_localhost_and_exits_by_the_answer(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    assert health.main(["ca", "--port", str(served.port)]) == 0
    served.answer.status = 500
    assert health.main(["ca", "--port", str(served.port)]) == 1
    assert capsys.readouterr().out.splitlines() == ["CA status running", "getStatus answered 500"]
