"""The lab CA's submit answer is Dogtag's CertRequestInfos, with no inline certificate (labctl's old addition,
gone with issue 13), and the RA exchanges with its CA as DogtagRABackend does, step by step: GET certs/{id}
for the certificate."""

from __future__ import annotations

import base64

import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization

from labctl import dogtag
from labctl.errors import PKIError
from labctl.pki.issue import build_csr, certificates_pem, common_name_subject
from labctl.pki.profiles import get_profile
from labctl.services.est_ra.backend import DogtagRABackend
from tests.conftest import AiohttpServer, CAService, Hierarchy
from tests.helpers import key_for

# certsrv/cert/CertRequestInfo.java's fields, as the lab CA serves them (certId and certURL once issued).
REQUEST_INFO_FIELDS = {
    "requestID",
    "requestType",
    "requestStatus",
    "requestURL",
    "operationResult",
    "creationTime",
    "modificationTime",
    "certRequestType",
}


def _csr_b64(hierarchy: Hierarchy) -> str:
    csr = build_csr(key_for(hierarchy.algorithm, 41), common_name_subject("inline.cert-lab.local"))
    return base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode()


@pytest.mark.parametrize("prefix", ["/ca/v2", "/ca/rest"])
async def test_agent_submit_answer_carries_no_inline_certificate(ca_service: CAService, prefix: str) -> None:
    ca_service.as_agent()
    body = dogtag.enrollment_request("estServiceCert", _csr_b64(ca_service.hierarchy))
    response = await ca_service.client.post(f"{prefix}/certrequests", json=body)
    assert response.status == 200, await response.text()
    [entry] = (await response.json())["entries"]
    assert entry["requestStatus"] == "complete"
    assert "certificate" not in entry
    assert set(entry) == REQUEST_INFO_FIELDS | {"certId", "certURL"}


async def test_pending_submit_answer_carries_no_certificate(ca_service: CAService) -> None:
    ca_service.as_anonymous()
    body = dogtag.enrollment_request("estServiceCert", _csr_b64(ca_service.hierarchy))
    response = await ca_service.client.post("/ca/v2/certrequests", json=body)
    [entry] = (await response.json())["entries"]
    assert entry["requestStatus"] == "pending"
    assert set(entry) == REQUEST_INFO_FIELDS


@pytest.mark.parametrize("approval", ["AgentCertAuth", "manual"])
async def test_ra_backend_exchanges_as_dogtag_ra_backend_does(
    hierarchy: Hierarchy, aiohttp_server: AiohttpServer, approval: str
) -> None:
    """A CA answering as Dogtag does: the backend logs in, fetches the template, submits it filled with
    the CSR, reviews and approves a pending request with the review (nonce included), reads the
    request again and GETs certs/{id}: DogtagRABackend.issueCertificate's calls, in its order."""
    issued = hierarchy.issue("dogtag-style.cert-lab.local")
    calls: list[str] = []
    submitted: list[dict[str, object]] = []
    approved: list[dict[str, object]] = []
    status = {"now": "complete" if approval == "AgentCertAuth" else "pending"}
    csr_b64 = _csr_b64(hierarchy)

    def info() -> web.Response:
        entry = {"requestID": "0x1", "requestType": "enrollment", "requestStatus": status["now"]}
        if status["now"] == "complete":
            entry["certId"] = dogtag.format_id(issued.serial_number)
        return web.json_response({"total": 1, "entries": [entry]})

    async def handle(request: web.Request) -> web.Response:
        calls.append(f"{request.method} {request.path.removeprefix('/ca/v2')}")
        path = request.path.removeprefix("/ca/v2")
        if path == "/account/login":
            return web.json_response({"id": "ra", "Roles": ["Certificate Manager Agents"]})
        if path == "/certrequests/profiles/estServiceCert":
            return web.json_response(dogtag.enrollment_template(get_profile("estServiceCert")))
        if path == "/certrequests" and request.method == "POST":
            submitted.append(await request.json())
            return info()
        if path == "/agent/certrequests/0x1":
            return web.json_response({"requestId": "0x1", "nonce": "n0nce", "ProfileID": "estServiceCert"})
        if path == "/agent/certrequests/0x1/approve":
            approved.append(await request.json())
            status["now"] = "complete"
            return web.Response(status=204)
        if path == "/certrequests/0x1":
            return info()
        data = {"id": dogtag.format_id(issued.serial_number), "Status": "VALID"}
        data["Encoded"] = certificates_pem([issued]).decode()
        return web.json_response(data)

    app = web.Application()
    app.add_routes([web.route("*", "/{tail:.*}", handle)])
    server = await aiohttp_server(app)
    backend = DogtagRABackend(str(server.make_url("")), profile="estServiceCert", ssl_context=None, timeout_s=5)
    try:
        certificate = await backend.enroll(csr_b64)
    finally:
        await backend.close()
    assert certificate == issued
    review_steps = ["GET /agent/certrequests/0x1", "POST /agent/certrequests/0x1/approve", "GET /certrequests/0x1"]
    assert calls == [
        "GET /account/login",
        "GET /certrequests/profiles/estServiceCert",
        "POST /certrequests",
        *(review_steps if approval == "manual" else []),
        f"GET /certs/{dogtag.format_id(issued.serial_number)}",
    ]
    parsed = dogtag.parse_enrollment_request(submitted[0])
    assert parsed.profile_id == "estServiceCert" and parsed.csr.decode() == csr_b64
    review = {"requestId": "0x1", "nonce": "n0nce", "ProfileID": "estServiceCert"}
    assert approved == ([review] if approval == "manual" else [])  # the review, nonce and all, handed back


def test_the_filled_template_carries_the_csr_and_leaves_the_template_as_it_was() -> None:
    template = dogtag.enrollment_template(get_profile("estServiceCert"))
    before = repr(template)
    filled = dogtag.fill_enrollment_template(template, "MIIBcsr")
    assert repr(template) == before
    request = dogtag.parse_enrollment_request(filled)
    assert (request.profile_id, request.csr) == ("estServiceCert", b"MIIBcsr")


def test_a_template_without_a_certificate_request_input_is_refused() -> None:
    with pytest.raises(PKIError, match="no certReqInputImpl input"):
        dogtag.fill_enrollment_template({"Input": [{"ClassID": "subjectNameInputImpl"}]}, "MIIB")
