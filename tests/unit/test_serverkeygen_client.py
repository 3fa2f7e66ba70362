"""The client's half of serverkeygen: reading the multipart answer, saving the device as est-enroll
does, and the in-network transport that hands the key back encrypted through podman's log."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from labctl import specs
from labctl.clients import ClientRunner, InNetworkTransport
from labctl.devices import serverkeygen_device
from labctl.endpoint import Endpoint
from labctl.errors import PKIError
from labctl.pki.issue import build_csr, certificates_pem, common_name_subject, load_pem_certificates
from labctl.pki.keypackage import private_key_info
from labctl.pki.keys import KeyAlgorithm, PrivateKey, encrypted_key_pem, read_private_key
from labctl.pki.multipart import Part, build_multipart, parse_multipart
from labctl.pki.pkcs7 import certs_only_der
from labctl.pki.serverkeygen import read_serverkeygen
from labctl.specs import CLIENT_DIR
from tests.helpers import FakeClock, key_for
from tests.unit.test_clients import ClientRuntime, Images
from tests.unit.test_orchestrator import ecc_lab

DEVICE = "keygen01.cert-lab.local"
PKCS8 = "application/pkcs8"
CERTS_ONLY = "application/pkcs7-mime; smime-type=certs-only"


def _certificate(key: PrivateKey, common_name: str = DEVICE) -> x509.Certificate:
    name = common_name_subject(common_name)
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
    )
    return builder.sign(key, hashes.SHA384())


def _answer(key: PrivateKey, certificate: x509.Certificate) -> tuple[str, bytes]:
    return build_multipart([Part(PKCS8, private_key_info(key)), Part(CERTS_ONLY, certs_only_der([certificate]))])


# --- the multipart answer --------------------------------------------------------------------------


def test_read_serverkeygen_returns_the_key_and_its_certificate() -> None:
    key = key_for(KeyAlgorithm.EC_P384, 30)
    certificate = _certificate(key)
    read_key, read_certificate = read_serverkeygen(*_answer(key, certificate))
    assert read_key.public_key() == key.public_key()
    assert read_certificate == certificate


def test_read_serverkeygen_takes_lf_only_delimiters() -> None:
    key = key_for(KeyAlgorithm.EC_P384, 30)
    content_type, body = _answer(key, _certificate(key))
    read_key, _ = read_serverkeygen(content_type, body.replace(b"\r\n", b"\n"))
    assert read_key.public_key() == key.public_key()


def test_read_serverkeygen_refuses_a_certificate_for_another_key() -> None:
    key = key_for(KeyAlgorithm.EC_P384, 30)
    other = _certificate(key_for(KeyAlgorithm.EC_P384, 31))
    with pytest.raises(PKIError, match="not for the key"):
        read_serverkeygen(*_answer(key, other))


def test_read_serverkeygen_refuses_parts_in_another_order() -> None:
    key = key_for(KeyAlgorithm.EC_P384, 30)
    certificate = _certificate(key)
    content_type, body = build_multipart(
        [Part(CERTS_ONLY, certs_only_der([certificate])), Part(PKCS8, private_key_info(key))]
    )
    with pytest.raises(PKIError, match="expected an application/pkcs8 part"):
        read_serverkeygen(content_type, body)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/pkcs7-mime", b"MIIB"),
        ("multipart/mixed; boundary=x", b"--x\r\nContent-Type: application/pkcs8\r\n\r\nnot base64!\r\n--x--\r\n"),
    ],
    ids=["not-multipart", "bad-base64"],
)
def test_parse_multipart_refuses_malformed_answers(content_type: str, body: bytes) -> None:
    with pytest.raises(PKIError):
        parse_multipart(content_type, body)


# --- the device files ------------------------------------------------------------------------------


class KeygenTransport:
    """Stands in for the RA: answers serverkeygen with a fixed key, certified for the CSR's subject."""

    def __init__(self, key: PrivateKey) -> None:
        self.key = key
        self.requests: list[x509.CertificateSigningRequest] = []

    def cacerts(self) -> list[x509.Certificate]:
        return [_certificate(key_for(KeyAlgorithm.EC_P384, 32), "Test CA")]

    def simpleenroll(self, csr: x509.CertificateSigningRequest) -> x509.Certificate:
        raise AssertionError("serverkeygen_device must not simpleenroll")

    def simplereenroll(self, csr: x509.CertificateSigningRequest, cert: Path, key: Path) -> x509.Certificate:
        raise AssertionError("serverkeygen_device must not simplereenroll")

    def serverkeygen(self, csr: x509.CertificateSigningRequest) -> tuple[PrivateKey, x509.Certificate]:
        self.requests.append(csr)
        return self.key, _certificate(self.key, DEVICE)


def test_serverkeygen_device_saves_key_0600_certificate_and_chain(tmp_path: Path) -> None:
    key = key_for(KeyAlgorithm.EC_P384, 30)
    transport = KeygenTransport(key)
    lab = ecc_lab()
    endpoint = Endpoint(lab.hierarchy("ecc"), "https://ra", "https://ca", tmp_path / "chain.pem", "u", "p")
    enrolled = serverkeygen_device(endpoint, transport, common_name=DEVICE, sans=(), out_dir=tmp_path / "dev")
    assert read_private_key(enrolled.files.key).public_key() == key.public_key()
    assert stat.S_IMODE(enrolled.files.key.stat().st_mode) == 0o600
    assert load_pem_certificates(enrolled.files.certificate.read_bytes()) == [enrolled.certificate]
    assert enrolled.files.chain.exists()
    [csr] = transport.requests
    assert csr.subject == common_name_subject(DEVICE)


# --- in the hierarchy's network --------------------------------------------------------------------


class KeygenClientRuntime(ClientRuntime):
    """Client containers that act as `labctl est-call serverkeygen`: the key encrypted under the password
    they were handed, then the certificate."""

    def __init__(self, key: PrivateKey) -> None:
        super().__init__(exit_code=None)
        self.key = key

    def start_container(self, name: str) -> None:
        super().start_container(name)
        spec = self.container(name).spec
        password = spec.files[CLIENT_DIR]["key-password"].data
        self.write_log(
            name, (encrypted_key_pem(self.key, password) + certificates_pem([_certificate(self.key)])).decode()
        )
        self.kill(name, exit_code=0)


def test_in_network_serverkeygen_hands_the_key_back_encrypted(tmp_path: Path) -> None:
    key = key_for(KeyAlgorithm.EC_P384, 30)
    runtime = KeygenClientRuntime(key)
    lab = ecc_lab()
    runtime.create_network(specs.network_spec(lab, lab.hierarchy("ecc")))
    runner = ClientRunner(lab, runtime, tmp_path / "state", ensure_image=Images(runtime), clock=FakeClock())
    (tmp_path / "chain.pem").write_bytes(b"PEM")
    endpoint = Endpoint(lab.hierarchy("ecc"), "https://ra", "https://ca", tmp_path / "chain.pem", "u", "p")
    csr = build_csr(key_for(KeyAlgorithm.EC_P384, 31), common_name_subject(DEVICE), [DEVICE])

    got_key, certificate = InNetworkTransport(runner, endpoint).serverkeygen(csr)

    assert got_key.public_key() == key.public_key() == certificate.public_key()
    [spec] = runtime.started
    assert spec.command[:3] == ("labctl", "est-call", "serverkeygen")
    assert "--key-password" in spec.command
    assert spec.files[CLIENT_DIR]["key-password"].mode == 0o600
