"""The CA's refusals as Dogtag answers them, on both API paths (v1 /ca/rest, v2 /ca/v2): approve or reject
of a request that is not pending, revoke of a revoked certificate, revoke-ca on an Intermediate; each
with Dogtag's status, exception class and message, and nothing changed in the store."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from aiohttp import ClientResponse

from labctl import dogtag
from labctl.pki.issue import build_csr, common_name_subject, csr_pem
from labctl.services.ca.authority import RevocationReason
from labctl.services.ca.store import CertStatus, RequestStatus
from tests.conftest import DEVICE_KEY, INSTALLER
from tests.helpers import key_for

if TYPE_CHECKING:
    from tests.conftest import CAService, Hierarchy

PREFIXES = ["/ca/v2", "/ca/rest"]
BAD_REQUEST = "com.netscape.certsrv.base.BadRequestException"
UNAUTHORIZED = "com.netscape.certsrv.base.UnauthorizedException"

_names = iter(range(10**6))


async def _refusal(response: ClientResponse, status: int, class_name: str, message: str) -> None:
    """Dogtag's PKIException JSON, exactly."""
    assert response.status == status, await response.text()
    body = await response.json()
    assert (body["Code"], body["ClassName"], body["Message"]) == (status, class_name, message)


def _request_total(hierarchy: Hierarchy) -> int:
    """Every request the CA recorded: a revocation or an unrevocation adds one."""
    total, _records = hierarchy.ca.store.list_requests(status=None, request_type=None, limit=1, start=0)
    return total


def _held(hierarchy: Hierarchy) -> int:
    """A request pending at the CA, as an RA in manual approval mode leaves it; its ID."""
    name = f"held-{next(_names)}.cert-lab.local"
    csr = csr_pem(build_csr(key_for(hierarchy.algorithm, DEVICE_KEY), common_name_subject(name)))
    record = hierarchy.ca.submit(csr, "estServiceCert", INSTALLER, hold=True, repeat_key=name)
    assert record.status is RequestStatus.PENDING
    return record.request_id


def _serial(hierarchy: Hierarchy, reason: RevocationReason | None = None) -> int:
    """A certificate of this CA, revoked with `reason` when one is given."""
    serial = hierarchy.issue(f"target-{next(_names)}.cert-lab.local").serial_number
    if reason is not None:
        hierarchy.ca.revoke(serial, reason, INSTALLER)
    return serial


# --- approve and reject --------------------------------------------------------------------------


@pytest.mark.parametrize("decided", ["approve", "reject", "cancel"])
@pytest.mark.parametrize("action", ["approve", "reject"])
@pytest.mark.parametrize("prefix", PREFIXES)
async def test_decision_on_a_request_not_pending_is_bad_request(
    ca_service: CAService, prefix: str, action: str, decided: str
) -> None:
    """AgentCertRequestServlet (v1 AgentCertRequestService): RequestProcessor.processRequest's
    BadRequestDataException(CMS_REQUEST_NOT_PENDING) -> 400 BadRequestException, as for cancel."""
    hierarchy = ca_service.hierarchy
    request_id = _held(hierarchy)
    ca_service.as_agent()
    url = f"{prefix}/agent/certrequests/{dogtag.format_id(request_id)}"
    first = await ca_service.client.post(f"{url}/{decided}", json={})
    assert first.status == 204, await first.text()
    before, total = hierarchy.ca.get_request(request_id), _request_total(hierarchy)
    review = await ca_service.client.get(url)
    assert review.status == 200
    response = await ca_service.client.post(f"{url}/{action}", json=await review.json())
    await _refusal(response, 400, BAD_REQUEST, "Bad request data: Request Not In Pending State")
    assert (hierarchy.ca.get_request(request_id), _request_total(hierarchy)) == (before, total)


# --- revoke --------------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", [RevocationReason.Key_Compromise, RevocationReason.Certificate_Hold])
@pytest.mark.parametrize("prefix", PREFIXES)
async def test_revoke_of_a_revoked_certificate_is_bad_request(
    ca_service: CAService, prefix: str, reason: RevocationReason
) -> None:
    """RevocationProcessor.validateCertificateToRevoke: CA_CERTIFICATE_ALREADY_REVOKED_1 with
    BigInteger.toString(16), held certificates included."""
    hierarchy = ca_service.hierarchy
    serial = _serial(hierarchy, reason)
    before, total, crl = hierarchy.ca.get_certificate(serial), _request_total(hierarchy), hierarchy.ca.crl_der()
    ca_service.as_agent()
    url = f"{prefix}/agent/certs/{dogtag.format_id(serial)}/revoke"
    response = await ca_service.client.post(url, json={"Reason": "Superseded"})
    await _refusal(response, 400, BAD_REQUEST, f"certificate #{serial:x} has already been revoked")
    assert (hierarchy.ca.get_certificate(serial), _request_total(hierarchy)) == (before, total)
    assert hierarchy.ca.crl_der() == crl


async def test_revoke_of_an_unknown_certificate_is_not_found_before_its_nonce(ca_service: CAService) -> None:
    """AgentCertServlet.revokeCert looks the certificate up (CertNotFoundException) before the nonce."""
    ca_service.as_agent()
    response = await ca_service.client.post("/ca/v2/agent/certs/0x1/revoke", json={"Nonce": 1, "Reason": "Bored"})
    assert response.status == 404, await response.text()
    assert (await response.json())["ClassName"] == dogtag.CERT_NOT_FOUND


async def test_remove_from_crl_releases_before_the_nonce_is_checked(ca_service: CAService) -> None:
    """AgentCertServlet.revokeCert: REMOVE_FROM_CRL returns unrevokeCert before validateNonce."""
    hierarchy = ca_service.hierarchy
    serial = _serial(hierarchy, RevocationReason.Certificate_Hold)
    ca_service.as_agent()
    url = f"/ca/v2/agent/certs/{dogtag.format_id(serial)}/revoke"
    response = await ca_service.client.post(url, json={"Nonce": 1, "Reason": "Remove_from_CRL"})
    assert response.status == 200, await response.text()
    assert (await response.json())["requestType"] == "unrevocation"
    assert hierarchy.ca.get_certificate(serial).status is CertStatus.VALID


# --- revoke-ca -----------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", [None, RevocationReason.Key_Compromise], ids=["valid", "revoked"])
@pytest.mark.parametrize("prefix", PREFIXES)
async def test_revoke_ca_on_an_intermediate_is_unauthorized(
    ca_service: CAService, prefix: str, reason: RevocationReason | None
) -> None:
    """validateCertificateToRevoke(revokingCACert=true): isSystemCertificate is true only for a self-signed
    CA's own certificate, never on an Intermediate; that check comes before the already-revoked one."""
    hierarchy = ca_service.hierarchy
    serial = _serial(hierarchy, reason)
    before, total = hierarchy.ca.get_certificate(serial), _request_total(hierarchy)
    ca_service.as_agent()
    review = await ca_service.client.get(f"{prefix}/agent/certs/{dogtag.format_id(serial)}")
    nonce = (await review.json())["Nonce"]
    url = f"{prefix}/agent/certs/{dogtag.format_id(serial)}/revoke-ca"
    response = await ca_service.client.post(url, json={"Nonce": nonce, "Reason": "CA_Compromise"})
    await _refusal(response, 401, UNAUTHORIZED, f"Certificate 0x{serial:x} is not a CA signing certificate")
    assert "WWW-Authenticate" not in response.headers  # an authorization refusal, not a challenge
    assert (hierarchy.ca.get_certificate(serial), _request_total(hierarchy)) == (before, total)


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_revoke_ca_of_an_unknown_certificate_is_not_found(ca_service: CAService, prefix: str) -> None:
    ca_service.as_agent()
    response = await ca_service.client.post(f"{prefix}/agent/certs/0x1/revoke-ca", json={"Reason": "CA_Compromise"})
    assert response.status == 404, await response.text()
    assert (await response.json())["ClassName"] == dogtag.CERT_NOT_FOUND


async def test_revoke_ca_of_the_intermediates_own_certificate_is_not_found(ca_service: CAService) -> None:
    """The Root issued it: it is in no repository of the Intermediate's (Dogtag's getCertData would miss it)."""
    serial = ca_service.hierarchy.intermediate.serial_number
    ca_service.as_agent()
    url = f"/ca/v2/agent/certs/{dogtag.format_id(serial)}/revoke-ca"
    response = await ca_service.client.post(url, json={"Reason": "CA_Compromise"})
    assert response.status == 404, await response.text()
    assert (await response.json())["ClassName"] == dogtag.CERT_NOT_FOUND


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_revoke_ca_with_remove_from_crl_releases_a_hold(ca_service: CAService, prefix: str) -> None:
    hierarchy = ca_service.hierarchy
    serial = _serial(hierarchy, RevocationReason.Certificate_Hold)
    ca_service.as_agent()
    url = f"{prefix}/agent/certs/{dogtag.format_id(serial)}/revoke-ca"
    response = await ca_service.client.post(url, json={"Reason": "Remove_from_CRL"})
    assert response.status == 200, await response.text()
    body = await response.json()
    assert (body["requestType"], body["requestStatus"], body["operationResult"]) == (
        "unrevocation",
        "complete",
        "success",
    )
    assert hierarchy.ca.get_certificate(serial).status is CertStatus.VALID


async def test_revoke_ca_needs_an_agent(ca_service: CAService) -> None:
    hierarchy = ca_service.hierarchy
    serial = _serial(hierarchy)
    response = await ca_service.client.post(f"/ca/v2/agent/certs/{dogtag.format_id(serial)}/revoke-ca", json={})
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == f'Basic realm="{dogtag.AGENT_REALM}"'
    assert hierarchy.ca.get_certificate(serial).status is CertStatus.VALID
