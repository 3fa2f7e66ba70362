"""Manual approval (RFC 7030 section 4.2.3), in-process for every algorithm: the RA answers 202 with
Retry-After while a CA agent has not approved; the repeated request gets the certificate once approved,
the same one on every later repeat (nothing issued twice), 403 once rejected; an RA restart changes nothing.
"""

from __future__ import annotations

import base64
import itertools
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aiohttp import ClientResponse
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from labctl import dogtag
from labctl.errors import TopologyError
from labctl.pki.issue import build_csr, common_name_subject, csr_pem
from labctl.pki.pkcs7 import load_certs_only
from labctl.render import RA_RETRY_AFTER_S, render_ra_config
from labctl.services.ca.store import RequestStatus
from labctl.services.est_ra.app import create_app as create_ra_app
from labctl.services.est_ra.approval import ManualApproval
from labctl.services.est_ra.authz import Authorizer
from labctl.services.est_ra.backend import DogtagRABackend
from labctl.services.est_ra.config import (
    DEFAULT_RETRY_AFTER_S,
    Approval,
    AuthorizerConfig,
    BackendConfig,
    ConfigError,
    RealmUser,
    load_config,
)
from labctl.topology import dump_lab, load_lab, parse_lab, reserved_names
from tests.conftest import (
    DEFAULT_LAB_RESERVED,
    DEVICE_KEY,
    EST_PASSWORD,
    EST_ROLE,
    EST_USER,
    INSTALLER,
    RENEWAL_KEY,
    PeerSeam,
    RAService,
    basic_auth,
)
from tests.helpers import assert_issued_by, key_for
from tests.unit.test_ra_config import FILES as RA_FILES

if TYPE_CHECKING:
    from tests.conftest import AiohttpClient, CAService, Hierarchy

PKCS10 = {"Content-Type": "application/pkcs10"}
RETRY_AFTER_S = 7
_names = itertools.count()

ManualRAFactory = Callable[[], Awaitable[RAService]]


def _name() -> str:
    """A device name no other test uses: the session's CA is shared, and an RSA CSR is deterministic."""
    return f"held{next(_names)}.cert-lab.local"


def _csr(hierarchy: Hierarchy, name: str, *, key_index: int = DEVICE_KEY) -> x509.CertificateSigningRequest:
    return build_csr(key_for(hierarchy.algorithm, key_index), common_name_subject(name), [name])


def _b64(csr: x509.CertificateSigningRequest) -> bytes:
    return base64.encodebytes(csr.public_bytes(serialization.Encoding.DER))


@pytest.fixture
async def make_manual_ra(
    hierarchy: Hierarchy, ca_url: str, aiohttp_client: AiohttpClient
) -> AsyncIterator[ManualRAFactory]:
    """An RA in manual approval mode in front of the CA; each call is a fresh RA (a restart: no state kept)."""

    async def make() -> RAService:
        backend = DogtagRABackend(ca_url, profile="estServiceCert", ssl_context=None, timeout_s=5)
        config = AuthorizerConfig(EST_ROLE, False, hierarchy.algorithm, True, True, DEFAULT_LAB_RESERVED)
        users = [RealmUser(EST_USER, EST_PASSWORD, frozenset({EST_ROLE}))]
        peer = PeerSeam()
        app = create_ra_app(
            backend,
            Authorizer(config, users, hierarchy.intermediate),
            peer_certificate=peer,
            manual_approval=ManualApproval(backend, RETRY_AFTER_S),
        )
        return RAService(await aiohttp_client(app), peer, hierarchy)

    yield make


@pytest.fixture
async def manual_ra(make_manual_ra: ManualRAFactory) -> RAService:
    return await make_manual_ra()


async def _enroll(
    ra: RAService, csr: x509.CertificateSigningRequest, *, operation: str = "simpleenroll"
) -> ClientResponse:
    auth = basic_auth() if operation == "simpleenroll" else {}
    return await ra.client.post(ra.url(operation), data=_b64(csr), headers={**PKCS10, **auth})


async def _pending(response: ClientResponse) -> int:
    """A 202 answer: Retry-After in seconds and a one-line body naming the CA's request; its ID."""
    text = await response.text()
    assert response.status == 202, text
    assert response.headers["Retry-After"] == str(RETRY_AFTER_S)
    assert text.startswith("202 pending approval at the CA (request 0x"), text
    assert text.count("\n") == 1
    return dogtag.parse_id(text.rsplit("request ", 1)[1].rstrip(")\n"))


async def _issued(response: ClientResponse) -> x509.Certificate:
    body = await response.read()
    assert response.status == 200, body
    (certificate,) = load_certs_only(body)
    return certificate


def _count_requests(hierarchy: Hierarchy) -> int:
    return hierarchy.ca.store.list_requests(limit=1)[0]


# --- the 202 flow --------------------------------------------------------------------------------


async def test_simpleenroll_is_202_with_retry_after_and_held_at_the_ca(manual_ra: RAService) -> None:
    hierarchy = manual_ra.hierarchy
    request_id = await _pending(await _enroll(manual_ra, _csr(hierarchy, _name())))
    record = hierarchy.ca.get_request(request_id)
    assert record.status is RequestStatus.PENDING
    assert record.serial is None
    assert record.requester == "ra-agent"


async def test_repeat_while_pending_is_202_for_the_same_request(manual_ra: RAService) -> None:
    hierarchy = manual_ra.hierarchy
    csr = _csr(hierarchy, _name())
    first = await _pending(await _enroll(manual_ra, csr))
    before = _count_requests(hierarchy)
    assert await _pending(await _enroll(manual_ra, csr)) == first
    assert _count_requests(hierarchy) == before  # the repeat submitted nothing new


async def test_approved_request_is_issued_once_and_repeats_get_the_same_certificate(manual_ra: RAService) -> None:
    hierarchy = manual_ra.hierarchy
    csr = _csr(hierarchy, _name())
    request_id = await _pending(await _enroll(manual_ra, csr))
    hierarchy.ca.approve(request_id, INSTALLER)
    certificate = await _issued(await _enroll(manual_ra, csr))
    assert_issued_by(certificate, hierarchy.intermediate)
    assert certificate.public_key() == csr.public_key()
    assert certificate.serial_number == hierarchy.ca.get_request(request_id).serial
    before = _count_requests(hierarchy)
    again = await _issued(await _enroll(manual_ra, csr))
    assert again.serial_number == certificate.serial_number
    assert _count_requests(hierarchy) == before


async def test_rejected_request_is_403_with_the_reason_and_stays_so(manual_ra: RAService) -> None:
    hierarchy = manual_ra.hierarchy
    csr = _csr(hierarchy, _name())
    request_id = await _pending(await _enroll(manual_ra, csr))
    hierarchy.ca.reject(request_id, INSTALLER)
    for _ in range(2):
        response = await _enroll(manual_ra, csr)
        text = await response.text()
        assert response.status == 403, text
        assert text == f"403 request {dogtag.format_id(request_id)} was rejected at the CA: rejected by installer\n"


async def test_the_same_csr_from_another_principal_is_another_request(manual_ra: RAService) -> None:
    hierarchy = manual_ra.hierarchy
    name = _name()
    csr = _csr(hierarchy, name)
    by_user = await _pending(await _enroll(manual_ra, csr))
    manual_ra.peer.present(hierarchy.issue(name, sans=[name]))
    response = await manual_ra.client.post(manual_ra.url("simpleenroll"), data=_b64(csr), headers=PKCS10)
    assert await _pending(response) != by_user


async def test_ra_restart_answers_from_the_ca(make_manual_ra: ManualRAFactory) -> None:
    first = await make_manual_ra()
    hierarchy = first.hierarchy
    csr = _csr(hierarchy, _name())
    request_id = await _pending(await _enroll(first, csr))
    restarted = await make_manual_ra()
    assert await _pending(await _enroll(restarted, csr)) == request_id
    hierarchy.ca.approve(request_id, INSTALLER)
    certificate = await _issued(await _enroll(restarted, csr))
    assert certificate.serial_number == hierarchy.ca.get_request(request_id).serial


async def test_simplereenroll_is_held_too(manual_ra: RAService) -> None:
    hierarchy = manual_ra.hierarchy
    name = _name()
    current = hierarchy.issue(name, sans=[name])
    manual_ra.peer.present(current)
    csr = _csr(hierarchy, name, key_index=RENEWAL_KEY)
    request_id = await _pending(await _enroll(manual_ra, csr, operation="simplereenroll"))
    hierarchy.ca.approve(request_id, INSTALLER)
    renewed = await _issued(await _enroll(manual_ra, csr, operation="simplereenroll"))
    assert renewed.subject == current.subject
    assert renewed.serial_number != current.serial_number


async def test_lab_service_names_are_still_refused_before_anything_is_held(manual_ra: RAService) -> None:
    hierarchy = manual_ra.hierarchy
    before = _count_requests(hierarchy)
    response = await _enroll(manual_ra, _csr(hierarchy, "localhost"))
    assert response.status == 403, await response.text()
    assert _count_requests(hierarchy) == before


async def test_auto_mode_still_issues_at_once(ra: RAService) -> None:
    name = _name()
    response = await ra.client.post(
        ra.url("simpleenroll"), data=_b64(_csr(ra.hierarchy, name)), headers={**PKCS10, **basic_auth()}
    )
    certificate = await _issued(response)
    assert_issued_by(certificate, ra.hierarchy.intermediate)


# --- the CA's side: hold and repeat key over REST ------------------------------------------------


def _held_body(hierarchy: Hierarchy, name: str, key: str) -> dict[str, object]:
    csr_b64 = dogtag.b64_single_line(_csr(hierarchy, name).public_bytes(serialization.Encoding.DER))
    attributes = {dogtag.HOLD_ATTRIBUTE: dogtag.HOLD_VALUE, dogtag.REPEAT_KEY_ATTRIBUTE: key}
    return dogtag.enrollment_request("estServiceCert", csr_b64, credentials=attributes)


async def test_ca_holds_an_agents_request_once_per_repeat_key(ca_service: CAService) -> None:
    ca_service.as_agent()
    key = f"key-{_name()}"
    body = _held_body(ca_service.hierarchy, _name(), key)
    first = dogtag.parse_request_infos(await (await ca_service.client.post("/ca/v2/certrequests", json=body)).json())
    second = dogtag.parse_request_infos(await (await ca_service.client.post("/ca/v2/certrequests", json=body)).json())
    assert first[0].status == "pending"
    assert second[0].request_id == first[0].request_id
    found = await (await ca_service.client.get(f"/ca/v2/agent/certrequests?repeatKey={key}")).json()
    assert [info.request_id for info in dogtag.parse_request_infos(found)] == [first[0].request_id]
    missing = await (await ca_service.client.get("/ca/v2/agent/certrequests?repeatKey=nothing-here")).json()
    assert missing == {"total": 0, "entries": []}


async def test_ca_refuses_a_repeat_key_from_a_non_agent(ca_service: CAService) -> None:
    ca_service.as_anonymous()
    response = await ca_service.client.post(
        "/ca/v2/certrequests", json=_held_body(ca_service.hierarchy, _name(), "squatted")
    )
    assert response.status == 403
    assert ca_service.hierarchy.ca.store.request_for_key("squatted") is None


async def test_ca_agent_request_without_hold_is_still_issued_at_once(ca_service: CAService) -> None:
    hierarchy = ca_service.hierarchy
    record = hierarchy.ca.submit(csr_pem(_csr(hierarchy, _name())), "estServiceCert", INSTALLER)
    assert record.status is RequestStatus.COMPLETE


# --- configuration: lab file and backend.conf ----------------------------------------------------

LAB_TEXT = (Path(__file__).resolve().parents[2] / "labctl" / "lab.toml").read_text()


def _manual_lab_text(value: str = '"manual"') -> str:
    """The shipped lab file with every hierarchy's RA in manual approval mode (or `value`)."""
    return LAB_TEXT.replace(
        'enroll_profile = "estServiceCert"\n', f'enroll_profile = "estServiceCert"\napproval = {value}\n'
    )


def test_lab_file_approval_defaults_to_auto() -> None:
    assert {h.ra.approval for h in load_lab().hierarchies} == {"auto"}


def test_lab_file_reads_manual_approval_and_dumps_it() -> None:
    lab = parse_lab(_manual_lab_text())
    assert {h.ra.approval for h in lab.hierarchies} == {"manual"}
    assert parse_lab(dump_lab(lab)).hierarchies == lab.hierarchies


@pytest.mark.parametrize("value", ['"manually"', '"Manual"', "true"])
def test_lab_file_refuses_an_unknown_approval(value: str) -> None:
    with pytest.raises(TopologyError, match=r"hierarchy\.rsa\.ra\.approval must be one of 'auto', 'manual'"):
        parse_lab(_manual_lab_text(value), source="test.toml")


@pytest.mark.parametrize("name", ["rsa", "ecc", "pqc"])
def test_rendered_backend_conf_carries_the_approval_mode(tmp_path: Path, name: str) -> None:
    lab = parse_lab(_manual_lab_text())
    hierarchy = lab.hierarchy(name)
    files = render_ra_config(
        hierarchy, ca_url="https://ca:8443", username="u", password="p", compat_tls=False,
        reserved=reserved_names(lab, hierarchy),
    )  # fmt: skip
    assert "approval=manual\n" in files["backend.conf"]
    for path, text in files.items():
        (tmp_path / path).write_text(text)
    backend = load_config(tmp_path).backend
    assert (backend.approval, backend.retry_after_s) == (Approval.MANUAL, RA_RETRY_AFTER_S)


def _backend(tmp_path: Path, extra: str) -> BackendConfig:
    """test_ra_config's four files, backend.conf with `extra` lines, loaded as the RA loads them."""
    for name, text in RA_FILES.items():
        (tmp_path / name).write_text(text + extra if name == "backend.conf" else text)
    return load_config(tmp_path).backend


def test_backend_conf_without_approval_is_auto(tmp_path: Path) -> None:
    backend = _backend(tmp_path, "")
    assert (backend.approval, backend.retry_after_s) == (Approval.AUTO, DEFAULT_RETRY_AFTER_S)


def test_backend_conf_reads_manual_and_retry_after(tmp_path: Path) -> None:
    backend = _backend(tmp_path, "approval=manual\nretryAfter=3\n")
    assert (backend.approval, backend.retry_after_s) == (Approval.MANUAL, 3)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("approval=agent\n", "'approval' must be auto or manual, got 'agent'"),
        ("retryAfter=soon\n", "'retryAfter' must be whole seconds, got 'soon'"),
        ("retryAfter=0\n", "'retryAfter' must be at least 1 second, got 0"),
    ],
)
def test_backend_conf_refuses_bad_approval_values(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"backend.conf: {message}")):
        _backend(tmp_path, extra)


async def test_serverkeygen_is_not_offered_in_manual_mode(manual_ra: RAService, hierarchy: Hierarchy) -> None:
    """The RA keeps no key it made, so it cannot hold one until an agent approves: 501, nothing submitted."""
    before = _count_requests(hierarchy)
    response = await manual_ra.client.post(
        manual_ra.url("serverkeygen"), data=_b64(_csr(hierarchy, _name())), headers={**PKCS10, **basic_auth()}
    )
    assert response.status == 501
    assert "approval=manual" in await response.text()
    assert _count_requests(hierarchy) == before
