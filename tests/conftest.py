"""Fixtures for the services in-process: one installed Intermediate CA per algorithm for the session,
aiohttp servers and clients per test, and the EST RA wired to the CA over the CA's REST API.

The expensive parts (RSA-4096 keys, the CA install) happen once per algorithm: keys come from
`key_for`, and the `IntermediateCA` object (synchronous, no event loop) is session-scoped. Servers
and clients are created per test, as the event loop is.
"""

from __future__ import annotations

import base64
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from labctl.pki.distribution import DistributionPoints
from labctl.pki.issue import (
    Issuer,
    build_csr,
    certificates_pem,
    common_name_subject,
    create_root_ca,
    csr_pem,
    load_csr,
    sign_intermediate,
)
from labctl.pki.keys import KeyAlgorithm, PrivateKey, write_private_key
from labctl.pki.names import ReservedNames
from labctl.services.ca.app import create_app as create_ca_app
from labctl.services.ca.authority import CAConfig, Caller, CAState, IntermediateCA, RevocationReason
from labctl.services.est_ra.app import create_app as create_ra_app
from labctl.services.est_ra.authz import Authorizer
from labctl.services.est_ra.backend import DogtagRABackend
from labctl.services.est_ra.config import AuthorizerConfig, RealmUser
from labctl.topology import load_lab, reserved_names
from tests.helpers import key_for

ALGORITHMS = [KeyAlgorithm.RSA_4096, KeyAlgorithm.EC_P384, KeyAlgorithm.ML_DSA_87]
ALGORITHM_IDS = ["rsa", "ecc", "pqc"]

CA_NAME = "Test Intermediate CA"
AGENT_NAME = "ra-agent"
EST_ROLE = "EST Users"
EST_USER, EST_PASSWORD = "est-user", "est-password"
NO_ROLE_USER, NO_ROLE_PASSWORD = "auditor", "auditor-password"

# key_for indexes, one per role, so no two roles share a key by accident.
ROOT_KEY, CA_KEY, AGENT_KEY, OTHER_ROOT_KEY, OTHER_CA_KEY = 10, 11, 12, 13, 14
DEVICE_KEY, RENEWAL_KEY = 20, 21

INSTALLER = Caller("installer", is_agent=True)
# Where the session's CAs say they publish their CRL and AIA (labctl.services.ca.public serves them).
DISTRIBUTION = DistributionPoints("test-intermediate-ca", 8080)


def basic_auth(username: str = EST_USER, password: str = EST_PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def der_of(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def seed_key(data_dir: Path, key: PrivateKey) -> None:
    """Give a CA data dir its signing key up front, so the CA does not generate one (RSA-4096 is slow)."""
    write_private_key(data_dir / "ca.key", key)


def install_certificate(ca: IntermediateCA, root: Issuer) -> x509.Certificate:
    """The orchestrator's part of the install: root.crt first, then the root-signed ca.crt."""
    certificate = sign_intermediate(root, load_csr(ca.csr_pem()), days=30)
    ca.root_path.write_bytes(certificates_pem([root.certificate]))
    ca.cert_path.write_bytes(certificates_pem([certificate]))
    return certificate


@dataclass
class Hierarchy:
    """An offline root, the Intermediate CA it signed (installed, running), and the RA's agent credential."""

    algorithm: KeyAlgorithm
    root: Issuer
    ca: IntermediateCA
    agent: x509.Certificate

    @property
    def intermediate(self) -> x509.Certificate:
        return self.ca.issuer.certificate

    @property
    def agent_der(self) -> bytes:
        return der_of(self.agent)

    def issue(
        self,
        common_name: str,
        *,
        key: PrivateKey | None = None,
        sans: Sequence[str] = (),
        profile: str = "estServiceCert",
    ) -> x509.Certificate:
        """A certificate of this CA, issued directly (as an agent would), for tests that need one to hold."""
        csr = build_csr(key or key_for(self.algorithm, DEVICE_KEY), common_name_subject(common_name), sans)
        record = self.ca.submit(csr_pem(csr), profile, INSTALLER)
        return self.ca.certificate_of(record)

    def revoke(self, certificate: x509.Certificate) -> None:
        self.ca.revoke(certificate.serial_number, RevocationReason.Key_Compromise, INSTALLER)


def build_hierarchy(
    data_dir: Path,
    algorithm: KeyAlgorithm,
    root_key: int,
    ca_key: int,
    root_name: str,
    *,
    distribution: DistributionPoints = DISTRIBUTION,
) -> Hierarchy:
    root = create_root_ca(key_for(algorithm, root_key), root_name, days=60)
    data_dir.mkdir(parents=True)
    seed_key(data_dir, key_for(algorithm, ca_key))
    ca = IntermediateCA(CAConfig(data_dir, algorithm, CA_NAME, distribution=distribution))
    install_certificate(ca, root)
    assert ca.try_install(), ca.install_error
    csr = build_csr(key_for(algorithm, AGENT_KEY), common_name_subject(AGENT_NAME))
    agent = ca.certificate_of(ca.submit(csr_pem(csr), "estRAAgentCert", INSTALLER))
    return Hierarchy(algorithm, root, ca, agent)


@pytest.fixture(scope="session", params=ALGORITHMS, ids=ALGORITHM_IDS)
def algorithm(request: pytest.FixtureRequest) -> KeyAlgorithm:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def hierarchy(algorithm: KeyAlgorithm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hierarchy]:
    """The installed CA of `algorithm`, shared by the session: tests add certificates, never remove them."""
    built = build_hierarchy(
        tmp_path_factory.mktemp(f"ca-{algorithm.value}") / "ca", algorithm, ROOT_KEY, CA_KEY, "Test Root CA"
    )
    yield built
    built.ca.store.close()


@pytest.fixture(scope="session")
def other_hierarchy(algorithm: KeyAlgorithm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hierarchy]:
    """A second CA of the same algorithm and the same subject name as `hierarchy`, under another root.

    Its agent certificate even holds the same key and subject as the real agent: only the signature tells.
    """
    built = build_hierarchy(
        tmp_path_factory.mktemp(f"other-ca-{algorithm.value}") / "ca",
        algorithm,
        OTHER_ROOT_KEY,
        OTHER_CA_KEY,
        "Other Root CA",
    )
    yield built
    built.ca.store.close()


class CAOpener(Protocol):
    def __call__(self, data_dir: Path) -> IntermediateCA: ...


@pytest.fixture
def open_ca(algorithm: KeyAlgorithm) -> Iterator[CAOpener]:
    """Open an IntermediateCA on a data dir (seeded with the hierarchy's CA key when new); closed at teardown."""
    opened: list[IntermediateCA] = []

    def open_(data_dir: Path) -> IntermediateCA:
        if not (data_dir / "ca.key").exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            seed_key(data_dir, key_for(algorithm, CA_KEY))
        ca = IntermediateCA(CAConfig(data_dir, algorithm, CA_NAME))
        opened.append(ca)
        return ca

    yield open_
    for ca in opened:
        ca.store.close()


@pytest.fixture
def awaiting_ca(open_ca: CAOpener, tmp_path: Path) -> IntermediateCA:
    """A CA that generated its CSR and waits for its certificate."""
    ca = open_ca(tmp_path / "awaiting-ca")
    assert ca.state is CAState.AWAITING_CERTIFICATE
    return ca


@dataclass
class PeerSeam:
    """Stands in for the TLS layer: the client certificate (DER) the current request presents, if any."""

    der: bytes | None = None

    def __call__(self, request: web.Request) -> bytes | None:
        return self.der

    def present(self, certificate: x509.Certificate | None) -> None:
        self.der = None if certificate is None else der_of(certificate)


AiohttpClient = Callable[..., Awaitable[TestClient[Any, Any]]]
AiohttpServer = Callable[..., Awaitable[TestServer]]


@dataclass
class CAService:
    client: TestClient[web.Request, web.Application]
    peer: PeerSeam
    hierarchy: Hierarchy

    def as_agent(self) -> None:
        self.peer.der = self.hierarchy.agent_der

    def as_anonymous(self) -> None:
        self.peer.der = None


@pytest.fixture
async def ca_service(hierarchy: Hierarchy, aiohttp_client: AiohttpClient) -> CAService:
    """The CA's REST API on a test client; anonymous until the test presents a certificate."""
    peer = PeerSeam()
    client = await aiohttp_client(create_ca_app(hierarchy.ca, peer_certificate=peer))
    return CAService(client, peer, hierarchy)


@pytest.fixture
async def ca_url(hierarchy: Hierarchy, aiohttp_server: AiohttpServer) -> str:
    """The CA on a real loopback port, as the RA reaches it: every request presents the RA's agent credential."""
    agent_der = hierarchy.agent_der
    server = await aiohttp_server(create_ca_app(hierarchy.ca, peer_certificate=lambda request: agent_der))
    return str(server.make_url("")).rstrip("/")


@pytest.fixture
def closed_port_url() -> str:
    """An http URL on a loopback port that nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@dataclass
class RAService:
    client: TestClient[web.Request, web.Application]
    peer: PeerSeam
    hierarchy: Hierarchy
    label: str | None = None

    def url(self, operation: str) -> str:
        return f"/.well-known/est/{self.label}/{operation}" if self.label else f"/.well-known/est/{operation}"


class RAFactory(Protocol):
    def __call__(
        self,
        *,
        ca_url: str | None = None,
        label: str | None = None,
        max_body: int = 64 * 1024,
        enroll_match: bool = False,
        allow_basic: bool = True,
        allow_certificate: bool = True,
        timeout_s: float = 5,
        reserved: ReservedNames | None = None,
        authorizer: AuthorizerConfig | None = None,
        realm: Sequence[RealmUser] | None = None,
    ) -> Awaitable[RAService]: ...


# What the default lab's RAs refuse to issue (every hierarchy's RA reserves the same names).
DEFAULT_LAB_RESERVED = reserved_names(load_lab(), load_lab().hierarchies[0])


@pytest.fixture
async def make_ra(hierarchy: Hierarchy, ca_url: str, aiohttp_client: AiohttpClient) -> AsyncIterator[RAFactory]:
    """Build an EST RA app in front of the CA (or `ca_url`), on a test client closed at teardown."""

    async def make(
        *,
        ca_url: str | None = ca_url,
        label: str | None = None,
        max_body: int = 64 * 1024,
        enroll_match: bool = False,
        allow_basic: bool = True,
        allow_certificate: bool = True,
        timeout_s: float = 5,
        reserved: ReservedNames | None = None,
        authorizer: AuthorizerConfig | None = None,
        realm: Sequence[RealmUser] | None = None,
    ) -> RAService:
        """`authorizer` and `realm` (as load_config reads them) replace the keyword settings above them."""
        assert ca_url is not None
        backend = DogtagRABackend(ca_url, profile="estServiceCert", ssl_context=None, timeout_s=timeout_s)
        config = authorizer or AuthorizerConfig(
            EST_ROLE,
            enroll_match,
            hierarchy.algorithm,
            allow_basic,
            allow_certificate,
            DEFAULT_LAB_RESERVED if reserved is None else reserved,
        )
        users = realm or [
            RealmUser(EST_USER, EST_PASSWORD, frozenset({EST_ROLE})),
            RealmUser(NO_ROLE_USER, NO_ROLE_PASSWORD, frozenset({"Auditors"})),
        ]
        peer = PeerSeam()
        app = create_ra_app(
            backend,
            Authorizer(config, users, hierarchy.intermediate),
            label=label,
            max_body=max_body,
            peer_certificate=peer,
        )
        client = await aiohttp_client(app)
        return RAService(client, peer, hierarchy, label)

    yield make


@pytest.fixture
async def ra(make_ra: RAFactory) -> RAService:
    """The EST RA with default settings: Basic and certificate enrollment, enrollMatchTLSSubjSAN off."""
    return await make_ra()
