"""The lab CA inlines an issued certificate in its submit answer (one round trip for the RA); the RA
still works against a CA that does not (Dogtag's own: POST certrequests, then GET certs/{id})."""

from __future__ import annotations

import base64

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from labctl import dogtag
from labctl.pki.issue import build_csr, certificates_pem, common_name_subject
from labctl.services.est_ra.backend import DogtagRABackend
from tests.conftest import AiohttpServer, CAService, Hierarchy
from tests.helpers import key_for


def _csr_b64(hierarchy: Hierarchy) -> str:
    csr = build_csr(key_for(hierarchy.algorithm, 41), common_name_subject("inline.cert-lab.local"))
    return base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode()


async def test_agent_submit_answer_carries_the_issued_certificate(ca_service: CAService) -> None:
    ca_service.as_agent()
    body = dogtag.enrollment_request("estServiceCert", _csr_b64(ca_service.hierarchy))
    response = await ca_service.client.post("/ca/v2/certrequests", json=body)
    [info] = dogtag.parse_request_infos(await response.json())
    assert info.status == "complete" and info.certificate_pem is not None
    assert f"0x{_serial(info.certificate_pem):x}" == dogtag.format_id(info.cert_id or 0)


async def test_pending_submit_answer_carries_no_certificate(ca_service: CAService) -> None:
    ca_service.as_anonymous()
    body = dogtag.enrollment_request("estServiceCert", _csr_b64(ca_service.hierarchy))
    response = await ca_service.client.post("/ca/v2/certrequests", json=body)
    [info] = dogtag.parse_request_infos(await response.json())
    assert info.status == "pending" and info.certificate_pem is None


async def test_ra_backend_fetches_the_certificate_from_a_dogtag_ca(
    hierarchy: Hierarchy, aiohttp_server: AiohttpServer
) -> None:
    """A CA that answers as Dogtag does (no inline certificate): the backend GETs certs/{id}."""
    issued = hierarchy.issue("dogtag-style.cert-lab.local")
    fetched: list[str] = []

    async def submit(request: web.Request) -> web.Response:
        entry = {"requestID": "0x1", "requestType": "enrollment", "requestStatus": "complete"}
        entry["certId"] = dogtag.format_id(issued.serial_number)
        return web.json_response({"total": 1, "entries": [entry]})

    async def get_cert(request: web.Request) -> web.Response:
        fetched.append(request.match_info["serial"])
        data = {"id": dogtag.format_id(issued.serial_number), "Status": "VALID"}
        data["Encoded"] = certificates_pem([issued]).decode()
        return web.json_response(data)

    app = web.Application()
    app.add_routes([web.post("/ca/v2/certrequests", submit), web.get("/ca/v2/certs/{serial}", get_cert)])
    server = await aiohttp_server(app)
    backend = DogtagRABackend(str(server.make_url("")), profile="estServiceCert", ssl_context=None, timeout_s=5)
    try:
        certificate = await backend.enroll(_csr_b64(hierarchy))
    finally:
        await backend.close()
    assert certificate == issued
    assert fetched == [dogtag.format_id(issued.serial_number)]


def _serial(pem: bytes) -> int:
    return x509.load_pem_x509_certificate(pem).serial_number
