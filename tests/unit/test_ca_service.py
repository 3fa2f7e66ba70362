"""The Intermediate CA in-process: two-step install, Dogtag REST enrollment, agent approval,
revocation and CRL, the PKIException error JSON, and who counts as an agent.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import ClientResponse
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7

from labctl import dogtag
from labctl.pki.issue import build_csr, certificates_pem, common_name_subject, csr_pem, load_pem_certificates
from labctl.pki.keys import KeyAlgorithm
from labctl.services.ca.app import create_app
from labctl.services.ca.authority import CAState, IntermediateCA, RevocationReason
from tests.conftest import DEVICE_KEY, INSTALLER, der_of, install_certificate
from tests.helpers import assert_has_aki_ski, assert_is_ca, assert_issued_by, key_for

if TYPE_CHECKING:
    from tests.conftest import AiohttpClient, CAOpener, CAService, Hierarchy

STATUS = "/ca/admin/ca/getStatus"
PREFIXES = ["/ca/v2", "/ca/rest"]
PKI_EXCEPTION_KEYS = {"Attributes", "ClassName", "Code", "Message"}
# A profile that does not certify the hierarchy's key family.
REFUSING_PROFILE = {
    KeyAlgorithm.RSA_4096: "caECServerCert",
    KeyAlgorithm.EC_P384: "caServerCert",
    KeyAlgorithm.ML_DSA_87: "caServerCert",
}


def _csr_text(algorithm: KeyAlgorithm, common_name: str) -> str:
    return csr_pem(build_csr(key_for(algorithm, DEVICE_KEY), common_name_subject(common_name))).decode()


async def _json(response: ClientResponse, status: int) -> Any:
    assert response.status == status, await response.text()
    return await response.json()


async def _pki_exception(response: ClientResponse, status: int, class_name: str) -> dict[str, Any]:
    body = await _json(response, status)
    assert set(body) == PKI_EXCEPTION_KEYS
    expected = class_name if class_name.startswith("com.") else f"com.netscape.certsrv.base.{class_name}"
    assert body["ClassName"] == expected
    assert body["Code"] == status
    assert body["Message"]
    return body  # type: ignore[no-any-return]


async def _submit(ca: CAService, common_name: str, *, prefix: str = "/ca/v2", profile: str = "estServiceCert") -> Any:
    payload = dogtag.enrollment_request(profile, _csr_text(ca.hierarchy.algorithm, common_name))
    body = await _json(await ca.client.post(f"{prefix}/certrequests", json=payload), 200)
    assert body["total"] == 1
    return body["entries"][0]


async def _status(client: Any) -> dict[str, Any]:
    body = await _json(await client.get(STATUS), 200)
    return body["Response"]  # type: ignore[no-any-return]


# --- install -------------------------------------------------------------------------------------


async def test_status_is_awaiting_certificate_before_install(
    awaiting_ca: IntermediateCA, aiohttp_client: AiohttpClient
) -> None:
    client = await aiohttp_client(create_app(awaiting_ca))
    response = await _status(client)
    assert response["Status"] == "awaiting-certificate"
    assert "Counts" not in response
    assert "Error" not in response
    assert (awaiting_ca.dir / "ca.csr").exists()


async def test_status_is_running_after_install(
    awaiting_ca: IntermediateCA, hierarchy: Hierarchy, aiohttp_client: AiohttpClient
) -> None:
    client = await aiohttp_client(create_app(awaiting_ca))
    install_certificate(awaiting_ca, hierarchy.root)
    response = await _status(client)
    assert response["Status"] == "running"
    assert response["Counts"] == {"VALID": 0, "REVOKED": 0, "PENDING_REQUESTS": 0}
    assert_is_ca(awaiting_ca.issuer.certificate, path_length=0)
    assert_issued_by(awaiting_ca.issuer.certificate, hierarchy.root.certificate)


async def test_status_is_starting_until_listener_serves_issued_tls(
    hierarchy: Hierarchy, aiohttp_client: AiohttpClient
) -> None:
    client = await aiohttp_client(create_app(hierarchy.ca, tls_ready=lambda: False))
    response = await _status(client)
    assert response["Status"] == "starting"
    assert "Counts" in response


async def test_status_is_install_failed_when_certificate_does_not_match_key(
    awaiting_ca: IntermediateCA, hierarchy: Hierarchy, other_hierarchy: Hierarchy, aiohttp_client: AiohttpClient
) -> None:
    awaiting_ca.root_path.write_bytes(certificates_pem([hierarchy.root.certificate]))
    awaiting_ca.cert_path.write_bytes(certificates_pem([other_hierarchy.intermediate]))
    client = await aiohttp_client(create_app(awaiting_ca))
    response = await _status(client)
    assert response["Status"] == "install-failed"
    assert "does not match the CA's signing key" in response["Error"]


async def test_status_is_install_failed_without_root_certificate(
    awaiting_ca: IntermediateCA, hierarchy: Hierarchy, aiohttp_client: AiohttpClient
) -> None:
    install_certificate(awaiting_ca, hierarchy.root)
    awaiting_ca.root_path.unlink()
    client = await aiohttp_client(create_app(awaiting_ca))
    response = await _status(client)
    assert response["Status"] == "install-failed"
    assert "root.crt is missing" in response["Error"]


async def test_install_recovers_when_certificate_is_replaced(awaiting_ca: IntermediateCA, hierarchy: Hierarchy) -> None:
    install_certificate(awaiting_ca, hierarchy.root)
    awaiting_ca.root_path.unlink()
    assert not awaiting_ca.try_install()
    assert awaiting_ca.state is CAState.INSTALL_FAILED
    install_certificate(awaiting_ca, hierarchy.root)
    assert awaiting_ca.try_install()
    assert awaiting_ca.install_error is None


async def test_install_survives_restart(
    open_ca: CAOpener, tmp_path: Path, hierarchy: Hierarchy, aiohttp_client: AiohttpClient
) -> None:
    data_dir = tmp_path / "restart-ca"
    first = open_ca(data_dir)
    install_certificate(first, hierarchy.root)
    assert first.try_install()
    assert first.try_install()  # a second call is a no-op
    csr = build_csr(key_for(hierarchy.algorithm, DEVICE_KEY), common_name_subject("before-restart"))
    issued = first.certificate_of(first.submit(csr_pem(csr), "estServiceCert", INSTALLER))
    counts, certificate = first.store.counts(), first.issuer.certificate
    first.store.close()

    second = open_ca(data_dir)
    client = await aiohttp_client(create_app(second))
    response = await _status(client)
    assert response["Status"] == "running"
    assert response["Counts"] == counts
    assert second.issuer.certificate == certificate
    assert second.get_certificate(issued.serial_number).der == der_of(issued)


async def test_install_issues_admin_credential_once(open_ca: CAOpener, tmp_path: Path, hierarchy: Hierarchy) -> None:
    data_dir = tmp_path / "admin-ca"
    first = open_ca(data_dir)
    admin_csr = build_csr(key_for(hierarchy.algorithm, DEVICE_KEY), common_name_subject("lab-admin"))
    (data_dir / "admin.csr").write_bytes(csr_pem(admin_csr))
    install_certificate(first, hierarchy.root)
    assert first.try_install(), first.install_error
    admin_pem = (data_dir / "admin.crt").read_bytes()
    admin = load_pem_certificates(admin_pem)[0]
    assert_issued_by(admin, first.issuer.certificate)
    assert first.get_certificate(admin.serial_number).is_agent
    first.store.close()

    second = open_ca(data_dir)
    assert second.try_install()
    assert (data_dir / "admin.crt").read_bytes() == admin_pem
    assert second.store.counts()["VALID"] == 1


# --- enrollment ----------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_agent_submit_completes_with_cert_id(ca_service: CAService, prefix: str) -> None:
    ca_service.as_agent()
    info = await _submit(ca_service, "agent-submit.cert-lab.local", prefix=prefix)
    assert info["requestStatus"] == "complete"
    assert info["operationResult"] == "success"
    assert info["certId"].startswith("0x")
    assert info["certURL"].endswith(f"{prefix}/certs/{info['certId']}")
    assert "errorMessage" not in info


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_get_cert_returns_cert_data(ca_service: CAService, prefix: str) -> None:
    ca_service.as_agent()
    info = await _submit(ca_service, "cert-data.cert-lab.local", prefix=prefix)
    data = await _json(await ca_service.client.get(f"{prefix}/certs/{info['certId']}"), 200)
    assert data["id"] == info["certId"]
    assert data["id"].startswith("0x")
    assert data["Status"] == "VALID"
    assert data["SubjectDN"] == "CN=cert-data.cert-lab.local"
    assert data["IssuerDN"] == ca_service.hierarchy.intermediate.subject.rfc4514_string()
    assert data["ProfileID"] == "estServiceCert"
    certificate = load_pem_certificates(data["Encoded"].encode())[0]
    assert certificate.serial_number == int(info["certId"], 16)
    assert_issued_by(certificate, ca_service.hierarchy.intermediate)
    assert_has_aki_ski(certificate)


async def test_fullcmc_profile_issues_an_agents_request_at_submit(ca_service: CAService) -> None:
    """estFullcmcDeviceCert (CMCAuthForEST): the RA has checked the CMC request and submits as its agent."""
    ca_service.as_agent()
    info = await _submit(ca_service, "fullcmc-profile.cert-lab.local", profile="estFullcmcDeviceCert")
    assert info["requestStatus"] == "complete"
    data = await _json(await ca_service.client.get(f"/ca/v2/certs/{info['certId']}"), 200)
    assert data["ProfileID"] == "estFullcmcDeviceCert"
    profile = await _json(await ca_service.client.get("/ca/v2/profiles/estFullcmcDeviceCert"), 200)
    assert (profile["authenticatorId"], profile["visible"]) == ("CMCAuthForEST", False)


async def test_fullcmc_profile_leaves_anyone_elses_request_pending(ca_service: CAService) -> None:
    info = await _submit(ca_service, "fullcmc-anonymous.cert-lab.local", profile="estFullcmcDeviceCert")
    assert info["requestStatus"] == "pending"


async def test_get_request_reports_completed_request(ca_service: CAService) -> None:
    ca_service.as_agent()
    info = await _submit(ca_service, "get-request.cert-lab.local")
    ca_service.as_anonymous()
    again = await _json(await ca_service.client.get(f"/ca/v2/certrequests/{info['requestID']}"), 200)
    assert again["requestStatus"] == "complete"
    assert again["certId"] == info["certId"]


async def test_anonymous_submit_stays_pending(ca_service: CAService) -> None:
    before = ca_service.hierarchy.ca.store.counts()
    info = await _submit(ca_service, "anonymous.cert-lab.local")
    assert info["requestStatus"] == "pending"
    assert "certId" not in info
    again = await _json(await ca_service.client.get(f"/ca/v2/certrequests/{info['requestID']}"), 200)
    assert again["requestStatus"] == "pending"
    assert "certId" not in again
    after = ca_service.hierarchy.ca.store.counts()
    assert after["VALID"] == before["VALID"]
    assert after["PENDING_REQUESTS"] == before["PENDING_REQUESTS"] + 1


async def test_agent_approves_pending_request_with_review_nonce(ca_service: CAService) -> None:
    info = await _submit(ca_service, "approved.cert-lab.local")
    request_id = info["requestID"]
    ca_service.as_agent()
    review = await _json(await ca_service.client.get(f"/ca/v2/agent/certrequests/{request_id}"), 200)
    assert review["requestStatus"] == "pending"
    assert review["nonce"]
    response = await ca_service.client.post(f"/ca/v2/agent/certrequests/{request_id}/approve", json=review)
    assert response.status == 204, await response.text()
    done = await _json(await ca_service.client.get(f"/ca/v2/certrequests/{request_id}"), 200)
    assert done["requestStatus"] == "complete"
    assert done["certId"].startswith("0x")


async def test_list_requests_finds_pending_behind_a_page_of_completed(ca_service: CAService) -> None:
    for index in range(3):
        ca_service.hierarchy.issue(f"filler-{index}.cert-lab.local")
    info = await _submit(ca_service, "queued.cert-lab.local")
    ca_service.as_agent()
    body = await _json(
        await ca_service.client.get("/ca/v2/agent/certrequests", params={"requestState": "pending", "size": "2"}),
        200,
    )
    assert body["entries"], "no pending request listed"
    assert all(entry["requestStatus"] == "pending" for entry in body["entries"])
    everything = await _json(
        await ca_service.client.get("/ca/v2/agent/certrequests", params={"requestState": "pending", "size": "1000"}),
        200,
    )
    assert info["requestID"] in {entry["requestID"] for entry in everything["entries"]}


async def test_list_requests_with_unknown_state_is_400(ca_service: CAService) -> None:
    ca_service.as_agent()
    response = await ca_service.client.get("/ca/v2/agent/certrequests", params={"requestState": "sleeping"})
    await _pki_exception(response, 400, "BadRequestException")


async def test_list_requests_needs_agent(ca_service: CAService) -> None:
    await _pki_exception(await ca_service.client.get("/ca/v2/agent/certrequests"), 401, "UnauthorizedException")


async def test_approve_with_stale_nonce_is_400(ca_service: CAService) -> None:
    info = await _submit(ca_service, "stale-nonce.cert-lab.local")
    ca_service.as_agent()
    url = f"/ca/v2/agent/certrequests/{info['requestID']}"
    await _json(await ca_service.client.get(url), 200)
    response = await ca_service.client.post(f"{url}/approve", json={"nonce": "12345"})
    await _pki_exception(response, 400, "BadRequestException")


async def test_approve_without_certificate_is_401_with_basic_challenge(ca_service: CAService) -> None:
    info = await _submit(ca_service, "no-credential.cert-lab.local")
    response = await ca_service.client.post(f"/ca/v2/agent/certrequests/{info['requestID']}/approve", json={})
    await _pki_exception(response, 401, "UnauthorizedException")
    assert response.headers["WWW-Authenticate"] == 'Basic realm="Certificate Authority"'
    again = await _json(await ca_service.client.get(f"/ca/v2/certrequests/{info['requestID']}"), 200)
    assert again["requestStatus"] == "pending"


async def test_approve_by_non_agent_is_403(ca_service: CAService) -> None:
    info = await _submit(ca_service, "non-agent.cert-lab.local")
    ca_service.peer.present(ca_service.hierarchy.issue("device-not-agent.cert-lab.local"))
    response = await ca_service.client.post(f"/ca/v2/agent/certrequests/{info['requestID']}/approve", json={})
    await _pki_exception(response, 403, "ForbiddenException")
    assert "WWW-Authenticate" not in response.headers
    again = await _json(await ca_service.client.get(f"/ca/v2/certrequests/{info['requestID']}"), 200)
    assert again["requestStatus"] == "pending"


async def test_agent_rejects_pending_request(ca_service: CAService) -> None:
    info = await _submit(ca_service, "rejected.cert-lab.local")
    ca_service.as_agent()
    response = await ca_service.client.post(f"/ca/v2/agent/certrequests/{info['requestID']}/reject", json={})
    assert response.status == 204, await response.text()
    again = await _json(await ca_service.client.get(f"/ca/v2/certrequests/{info['requestID']}"), 200)
    assert again["requestStatus"] == "rejected"
    assert "certId" not in again
    approve = await ca_service.client.post(f"/ca/v2/agent/certrequests/{info['requestID']}/approve", json={})
    await _pki_exception(approve, 400, "BadRequestException")


async def test_client_certificate_of_another_ca_is_anonymous(ca_service: CAService, other_hierarchy: Hierarchy) -> None:
    # Same CA name, same agent subject and key: only the issuer's signature differs.
    ca_service.peer.present(other_hierarchy.agent)
    info = await _submit(ca_service, "forged-agent.cert-lab.local")
    assert info["requestStatus"] == "pending"
    assert "certId" not in info
    response = await ca_service.client.post(f"/ca/v2/agent/certrequests/{info['requestID']}/approve", json={})
    await _pki_exception(response, 401, "UnauthorizedException")


async def test_revoked_agent_certificate_is_not_an_agent(ca_service: CAService) -> None:
    hierarchy = ca_service.hierarchy
    agent = hierarchy.issue("revoked-agent", key=key_for(hierarchy.algorithm, DEVICE_KEY), profile="estRAAgentCert")
    hierarchy.revoke(agent)
    ca_service.peer.present(agent)
    info = await _submit(ca_service, "from-revoked-agent.cert-lab.local")
    assert info["requestStatus"] == "pending"


async def test_profile_refusing_key_rejects_request(ca_service: CAService) -> None:
    ca_service.as_agent()
    profile = REFUSING_PROFILE[ca_service.hierarchy.algorithm]
    info = await _submit(ca_service, "refused.cert-lab.local", profile=profile)
    assert info["requestStatus"] == "rejected"
    assert info["operationResult"] == "error"
    assert f"profile {profile} does not allow" in info["errorMessage"]
    assert "certId" not in info


async def test_unknown_profile_is_400(ca_service: CAService) -> None:
    ca_service.as_agent()
    payload = dogtag.enrollment_request("noSuchProfile", _csr_text(ca_service.hierarchy.algorithm, "x"))
    body = await _pki_exception(
        await ca_service.client.post("/ca/v2/certrequests", json=payload), 400, "BadRequestException"
    )
    assert "unknown profile 'noSuchProfile'" in body["Message"]


async def test_garbage_csr_is_400_pki_exception(ca_service: CAService) -> None:
    ca_service.as_agent()
    payload = dogtag.enrollment_request("estServiceCert", "bm90IGEgY2VydGlmaWNhdGUgcmVxdWVzdA==")
    response = await ca_service.client.post("/ca/v2/certrequests", json=payload)
    body = await _pki_exception(response, 400, "BadRequestException")
    assert body["Attributes"] == {"Attribute": []}
    assert "PKCS#10" in body["Message"]


async def test_malformed_json_is_400(ca_service: CAService) -> None:
    response = await ca_service.client.post(
        "/ca/v2/certrequests", data=b'{"ProfileID": "estServiceCert",', headers={"Content-Type": "application/json"}
    )
    body = await _pki_exception(response, 400, "BadRequestException")
    assert "malformed JSON" in body["Message"]


async def test_wrong_content_type_is_415(ca_service: CAService) -> None:
    response = await ca_service.client.post(
        "/ca/v2/certrequests", data=b"<CertEnrollmentRequest/>", headers={"Content-Type": "application/xml"}
    )
    await _pki_exception(response, 415, "BadRequestException")


# --- certificates and revocation -------------------------------------------------------------------


async def test_revoke_by_agent_marks_certificate_revoked(ca_service: CAService) -> None:
    certificate = ca_service.hierarchy.issue("revoke-me.cert-lab.local")
    cert_id = dogtag.format_id(certificate.serial_number)
    ca_service.as_agent()
    body = await _json(
        await ca_service.client.post(f"/ca/v2/agent/certs/{cert_id}/revoke", json={"Reason": "Key_Compromise"}), 200
    )
    assert body["requestStatus"] == "complete"
    assert body["certId"] == cert_id
    data = await _json(await ca_service.client.get(f"/ca/v2/certs/{cert_id}"), 200)
    assert data["Status"] == "REVOKED"
    assert data["RevocationReason"] == 1
    assert data["RevokedBy"] == "ra-agent"


async def test_crl_lists_revoked_serial_and_verifies(ca_service: CAService) -> None:
    certificate = ca_service.hierarchy.issue("on-the-crl.cert-lab.local")
    ca_service.as_agent()
    response = await ca_service.client.post(
        f"/ca/v2/agent/certs/{dogtag.format_id(certificate.serial_number)}/revoke", json={"Reason": "superseded"}
    )
    assert response.status == 200, await response.text()
    crl_response = await ca_service.client.get("/ca/ee/ca/getCRL")
    assert crl_response.status == 200
    assert crl_response.content_type == "application/pkix-crl"
    crl = x509.load_der_x509_crl(await crl_response.read())
    intermediate = ca_service.hierarchy.intermediate
    assert crl.issuer == intermediate.subject
    assert crl.is_signature_valid(intermediate.public_key())  # type: ignore[arg-type]
    entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
    assert entry is not None
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason is x509.ReasonFlags.superseded


async def test_unrevoke_takes_a_held_certificate_off_the_crl(ca_service: CAService) -> None:
    certificate = ca_service.hierarchy.issue("held.cert-lab.local")
    cert_id = dogtag.format_id(certificate.serial_number)
    ca_service.as_agent()
    hold = await ca_service.client.post(f"/ca/v2/agent/certs/{cert_id}/revoke", json={"Reason": "Certificate_Hold"})
    assert hold.status == 200, await hold.text()
    crl = x509.load_der_x509_crl(await (await ca_service.client.get("/ca/ee/ca/getCRL")).read())
    entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason is x509.ReasonFlags.certificate_hold
    body = await _json(await ca_service.client.post(f"/ca/v2/agent/certs/{cert_id}/unrevoke"), 200)
    assert (body["requestType"], body["requestStatus"], body["operationResult"]) == (
        "unrevocation",
        "complete",
        "success",
    )
    assert "certId" not in body  # CertRequestInfoFactory: no certId on an unrevocation
    data = await _json(await ca_service.client.get(f"/ca/v2/certs/{cert_id}"), 200)
    assert data["Status"] == "VALID"
    assert "RevocationReason" not in data
    crl = x509.load_der_x509_crl(await (await ca_service.client.get("/ca/ee/ca/getCRL")).read())
    assert crl.get_revoked_certificate_by_serial_number(certificate.serial_number) is None


async def test_unrevoke_by_non_agent_is_403(ca_service: CAService) -> None:
    certificate = ca_service.hierarchy.issue("held-anonymous.cert-lab.local")
    ca_service.hierarchy.ca.revoke(certificate.serial_number, RevocationReason.Certificate_Hold, INSTALLER)
    response = await ca_service.client.post(
        f"/ca/v2/agent/certs/{dogtag.format_id(certificate.serial_number)}/unrevoke"
    )
    assert response.status == 401
    assert ca_service.hierarchy.ca.get_certificate(certificate.serial_number).status.value == "REVOKED"


async def test_cancel_makes_a_pending_request_canceled(ca_service: CAService) -> None:
    info = await _submit(ca_service, "canceled.cert-lab.local")
    ca_service.as_agent()
    response = await ca_service.client.post(f"/ca/v2/agent/certrequests/{info['requestID']}/cancel", json={})
    assert response.status == 204, await response.text()
    again = await _json(await ca_service.client.get(f"/ca/v2/certrequests/{info['requestID']}"), 200)
    assert again["requestStatus"] == "canceled"
    approve = await ca_service.client.post(f"/ca/v2/agent/certrequests/{info['requestID']}/approve", json={})
    await _pki_exception(approve, 400, "BadRequestException")


async def test_request_action_with_a_stale_nonce_is_400(ca_service: CAService) -> None:
    info = await _submit(ca_service, "stale-nonce.cert-lab.local")
    ca_service.as_agent()
    url = f"/ca/v2/agent/certrequests/{info['requestID']}/update"
    await _pki_exception(await ca_service.client.post(url, json={"nonce": "1"}), 400, "BadRequestException")


async def test_revoke_twice_is_400_already_revoked(ca_service: CAService) -> None:
    certificate = ca_service.hierarchy.issue("revoke-twice.cert-lab.local")
    url = f"/ca/v2/agent/certs/{dogtag.format_id(certificate.serial_number)}/revoke"
    ca_service.as_agent()
    assert (await ca_service.client.post(url, json={"Reason": "Unspecified"})).status == 200
    response = await ca_service.client.post(url, json={"Reason": "Unspecified"})
    body = await _pki_exception(response, 400, "BadRequestException")
    assert body["Message"] == f"certificate #{certificate.serial_number:x} has already been revoked"


async def test_revoke_by_non_agent_is_403(ca_service: CAService) -> None:
    certificate = ca_service.hierarchy.issue("not-revoked.cert-lab.local")
    ca_service.peer.present(certificate)
    url = f"/ca/v2/agent/certs/{dogtag.format_id(certificate.serial_number)}/revoke"
    await _pki_exception(await ca_service.client.post(url, json={}), 403, "ForbiddenException")
    data = await _json(await ca_service.client.get(f"/ca/v2/certs/{dogtag.format_id(certificate.serial_number)}"), 200)
    assert data["Status"] == "VALID"


async def test_revoke_with_unknown_reason_is_400(ca_service: CAService) -> None:
    certificate = ca_service.hierarchy.issue("bad-reason.cert-lab.local")
    ca_service.as_agent()
    url = f"/ca/v2/agent/certs/{dogtag.format_id(certificate.serial_number)}/revoke"
    body = await _pki_exception(await ca_service.client.post(url, json={"Reason": "Bored"}), 400, "BadRequestException")
    assert "unknown revocation reason 'Bored'" in body["Message"]


async def test_unknown_serial_is_404_json(ca_service: CAService) -> None:
    response = await ca_service.client.get("/ca/v2/certs/0x1")
    body = await _pki_exception(response, 404, dogtag.CERT_NOT_FOUND)
    assert "0x1 not found" in body["Message"]


@pytest.mark.parametrize("serial", ["0xZZ", "12ab", "0x0"])
async def test_bad_serial_is_400(ca_service: CAService, serial: str) -> None:
    await _pki_exception(await ca_service.client.get(f"/ca/v2/certs/{serial}"), 400, "BadRequestException")


async def test_list_certs_returns_total(ca_service: CAService) -> None:
    ca_service.hierarchy.issue("listed.cert-lab.local")
    counts = ca_service.hierarchy.ca.store.counts()
    body = await _json(await ca_service.client.get("/ca/v2/certs", params={"size": "1000"}), 200)
    assert body["total"] == counts["VALID"] + counts["REVOKED"]
    assert len(body["entries"]) == body["total"]
    assert all(entry["id"].startswith("0x") for entry in body["entries"])
    valid = await _json(await ca_service.client.get("/ca/v2/certs", params={"status": "VALID", "size": "1"}), 200)
    assert valid["total"] == counts["VALID"]
    assert len(valid["entries"]) == 1


async def test_search_certs_filters_by_common_name(ca_service: CAService) -> None:
    certificate = ca_service.hierarchy.issue("search-target.cert-lab.local")
    body = await _json(
        await ca_service.client.post("/ca/v2/certs/search", json={"commonName": "search-target.cert-lab"}), 200
    )
    assert body["total"] == 1
    (entry,) = body["entries"]
    assert entry["id"] == dogtag.format_id(certificate.serial_number)
    assert entry["SubjectDN"] == "CN=search-target.cert-lab.local"
    assert entry["Status"] == "VALID"


async def test_chain_is_certs_only_pkcs7_der_by_default(ca_service: CAService) -> None:
    response = await ca_service.client.get("/ca/v2/authorities/host-authority/chain")
    assert response.status == 200
    assert response.content_type == "application/pkcs7-mime"
    chain = pkcs7.load_der_pkcs7_certificates(await response.read())
    # A SET OF in DER: the order is the encoding's, not the chain's.
    assert set(chain) == {ca_service.hierarchy.intermediate, ca_service.hierarchy.root.certificate}


async def test_chain_is_pem_when_asked(ca_service: CAService) -> None:
    response = await ca_service.client.get(
        "/ca/rest/authorities/host-authority/chain", headers={"Accept": "application/x-pem-file"}
    )
    assert response.status == 200
    assert response.content_type == "application/x-pem-file"
    text = await response.text()
    assert text.startswith("-----BEGIN PKCS7-----\n")
    assert text.endswith("-----END PKCS7-----\n")
    assert all(len(line) <= 64 for line in text.splitlines())
    chain = pkcs7.load_pem_pkcs7_certificates(text.encode())
    # A SET OF in DER: the order is the encoding's, not the chain's.
    assert set(chain) == {ca_service.hierarchy.intermediate, ca_service.hierarchy.root.certificate}


async def test_login_answers_agent_identity(ca_service: CAService) -> None:
    ca_service.as_agent()
    body = await _json(await ca_service.client.get("/ca/rest/account/login"), 200)
    assert body["id"] == "ra-agent"
    assert body["Roles"] == ["Certificate Manager Agents"]
