"""The CA's password agents: HTTP Basic for a user labctl listed in agents.sha256 (Dogtag: a CA user in
Certificate Manager Agents, logging in with PKIClient's username and password), 401 with a Basic
challenge for anything else, a valid TLS client certificate still first; and labctl writing the EST RA
user of Dogtag's installation guide (est-ra-1) at install.
"""

from __future__ import annotations

import base64
import hashlib
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import ClientResponse
from cryptography.hazmat.primitives import serialization

from labctl import dogtag
from labctl.bootstrap import install_agent_passwords
from labctl.ca_files import AGENTS_FILE
from labctl.pki.issue import build_csr, common_name_subject
from labctl.services.ca.app import create_app
from labctl.services.ca.authority import AGENTS_FILE as CA_AGENTS_FILE
from labctl.services.est_ra.backend import DogtagRABackend, basic_authorization
from labctl.state import EST_RA_USER, HierarchyState, remove_lab_secrets
from tests.helpers import assert_issued_by, key_for

if TYPE_CHECKING:
    from tests.conftest import AiohttpServer, CAService, Hierarchy

PASSWORD = "est-ra-1-password-for-tests"
CHALLENGE = f'Basic realm="{dogtag.AGENT_REALM}"'


def _basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": basic_authorization(username, password)}


@pytest.fixture
def password_agent(hierarchy: Hierarchy) -> Iterator[str]:
    """The session CA lists EST_RA_USER with PASSWORD (and another user) for the duration of a test."""
    path = hierarchy.ca.dir / CA_AGENTS_FILE
    lines = [f"other-agent {hashlib.sha256(b'another').hexdigest()}", _agent_line(EST_RA_USER, PASSWORD)]
    path.write_text("\n".join(lines) + "\n")
    try:
        yield EST_RA_USER
    finally:
        path.unlink(missing_ok=True)


def _agent_line(username: str, password: str) -> str:
    return f"{username} {hashlib.sha256(password.encode()).hexdigest()}"


def _enrollment(hierarchy: Hierarchy, common_name: str) -> dict[str, Any]:
    csr = build_csr(key_for(hierarchy.algorithm, 41), common_name_subject(common_name))
    return dogtag.enrollment_request(
        "estServiceCert", base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode()
    )


async def _assert_unauthorized(response: ClientResponse) -> None:
    assert response.status == 401, await response.text()
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    body = await response.json()
    assert (body["ClassName"], body["Code"]) == ("com.netscape.certsrv.base.UnauthorizedException", 401)


def test_labctl_and_the_ca_name_the_agents_file_alike() -> None:
    assert AGENTS_FILE == CA_AGENTS_FILE == "agents.sha256"


async def test_listed_password_user_is_an_agent(ca_service: CAService, password_agent: str) -> None:
    response = await ca_service.client.get("/ca/v2/account/login", headers=_basic(password_agent, PASSWORD))
    assert response.status == 200, await response.text()
    assert (await response.json())["id"] == password_agent
    # An agent's request with an AgentCertAuth profile is issued at submit, as for a certificate agent.
    payload = _enrollment(ca_service.hierarchy, "password-agent-enrolled.example")
    response = await ca_service.client.post(
        "/ca/v2/certrequests", json=payload, headers=_basic(password_agent, PASSWORD)
    )
    assert response.status == 200, await response.text()
    [info] = dogtag.parse_request_infos(await response.json())
    assert info.status == "complete"
    assert ca_service.hierarchy.ca.get_request(info.request_id).requester == password_agent


@pytest.mark.parametrize(
    "authorization",
    [
        basic_authorization(EST_RA_USER, "wrong-password"),
        basic_authorization("unknown-user", PASSWORD),
        basic_authorization("other-agent", PASSWORD),
        "Basic !!!not-base64",
        "Bearer abc",
    ],
    ids=["wrong-password", "unknown-user", "other-users-password", "malformed", "not-basic"],
)
async def test_wrong_credentials_are_401_with_a_challenge_and_issue_nothing(
    ca_service: CAService, password_agent: str, authorization: str
) -> None:
    headers = {"Authorization": authorization}
    await _assert_unauthorized(await ca_service.client.get("/ca/v2/account/login", headers=headers))
    payload = _enrollment(ca_service.hierarchy, "refused-password-agent.example")
    before = _recorded(ca_service.hierarchy)
    await _assert_unauthorized(await ca_service.client.post("/ca/v2/certrequests", json=payload, headers=headers))
    assert _recorded(ca_service.hierarchy) == before  # no request, no certificate


def _recorded(hierarchy: Hierarchy) -> tuple[dict[str, int], int]:
    """The CA's certificate counts and how many requests it holds."""
    total, _ = hierarchy.ca.store.list_requests(status=None, request_type=None, limit=1, start=0)
    return hierarchy.ca.store.counts(), total


async def test_without_agents_file_no_password_logs_in(ca_service: CAService) -> None:
    assert not (ca_service.hierarchy.ca.dir / CA_AGENTS_FILE).exists()
    response = await ca_service.client.get("/ca/v2/account/login", headers=_basic(EST_RA_USER, PASSWORD))
    await _assert_unauthorized(response)


async def test_a_valid_agent_certificate_wins_over_a_password(ca_service: CAService, password_agent: str) -> None:
    ca_service.as_agent()
    response = await ca_service.client.get("/ca/v2/account/login", headers=_basic(password_agent, "wrong-password"))
    assert response.status == 200, await response.text()
    assert (await response.json())["id"] != password_agent


async def test_ra_backend_enrolls_with_basic_alone(
    hierarchy: Hierarchy, password_agent: str, aiohttp_server: AiohttpServer
) -> None:
    """DogtagRABackend with backend.conf's username and password, no client certificate: issued at the CA."""
    server = await aiohttp_server(create_app(hierarchy.ca, peer_certificate=lambda request: None))
    url = str(server.make_url("")).rstrip("/")
    auth = (password_agent, PASSWORD)
    backend = DogtagRABackend(url, profile="estServiceCert", ssl_context=None, timeout_s=5, auth=auth)
    try:
        csr = build_csr(key_for(hierarchy.algorithm, 42), common_name_subject("basic-ra.example"))
        certificate = await backend.enroll(base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode())
    finally:
        await backend.close()
    assert_issued_by(certificate, hierarchy.intermediate)
    assert hierarchy.ca.get_certificate(certificate.serial_number).status.value == "VALID"


class _DictCAFiles:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.writes = 0

    def read(self, name: str) -> bytes | None:
        return self.files.get(name)

    def write(self, name: str, data: bytes) -> None:
        self.files[name] = data
        self.writes += 1


def test_install_agent_passwords_writes_est_ra_1_once(tmp_path: Path) -> None:
    state = HierarchyState(tmp_path / "ecc")
    files = _DictCAFiles()
    assert install_agent_passwords(state, files) is True
    password_file = state.ra_dir / "est-ra-1.password"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    text = password_file.read_text()
    # DogtagRABackend reads passwordFile as a properties file: its `password` property.
    assert text.startswith("password=") and text.endswith("\n") and text.count("\n") == 1
    password = text.removeprefix("password=").strip()
    assert len(password) >= 43  # 32 random bytes, URL-safe base64
    assert files.files[AGENTS_FILE] == f"{_agent_line(EST_RA_USER, password)}\n".encode()
    # A second up keeps the password and writes nothing.
    assert install_agent_passwords(state, files) is False
    assert (password_file.read_text(), files.writes) == (text, 1)
    # down --volumes: the hierarchy's secrets go, the EST RA user's password with them.
    assert remove_lab_secrets(tmp_path, ["ecc"]) == [tmp_path / "ecc"]
    assert not password_file.exists()
