"""OCSP on the Intermediate CA: labctl.pki.ocsp's answers per key type (good, revoked, unknown,
unauthorized, nonce, malformed) and /ca/ocsp by POST and GET through the CA's aiohttp app.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp as x509_ocsp
from pyasn1.codec.der import decoder, encoder
from pyasn1_modules import rfc6960

from labctl.errors import PKIError
from labctl.pki import ocsp
from labctl.pki.keys import KeyAlgorithm
from labctl.pki.signatures import ocsp_response_signed_by
from labctl.services.ca.app import create_app
from labctl.services.ca.authority import IntermediateCA, RevocationReason
from labctl.services.ca.ocsp import certificate_status
from tests.conftest import INSTALLER

if TYPE_CHECKING:
    from tests.conftest import AiohttpClient, CAService, Hierarchy

OCSP_REQUEST = {"Content-Type": "application/ocsp-request"}


def _answer(hierarchy: Hierarchy, query: ocsp.Query) -> bytes:
    return ocsp.respond(query.der, hierarchy.ca.issuer, lambda serial: certificate_status(hierarchy.ca, serial))


def _status_of(der: bytes) -> x509_ocsp.OCSPResponseStatus:
    return x509_ocsp.load_der_ocsp_response(der).response_status


# --- answers -------------------------------------------------------------------------------------


def test_fresh_certificate_is_good(hierarchy: Hierarchy) -> None:
    leaf = hierarchy.issue("ocsp-good.cert-lab.local")
    query = ocsp.build_request(hierarchy.intermediate, leaf.serial_number)
    status = ocsp.read_response(_answer(hierarchy, query), query, hierarchy.intermediate)
    assert status == ocsp.GOOD


def test_revoked_certificate_is_revoked_with_time_and_reason(hierarchy: Hierarchy) -> None:
    leaf = hierarchy.issue("ocsp-revoked.cert-lab.local")
    hierarchy.revoke(leaf)
    query = ocsp.build_request(hierarchy.intermediate, leaf.serial_number)
    status = ocsp.read_response(_answer(hierarchy, query), query, hierarchy.intermediate)
    record = hierarchy.ca.get_certificate(leaf.serial_number)
    assert status.status is ocsp.Status.REVOKED
    assert status.reason is x509.ReasonFlags.key_compromise
    assert record.revoked_at is not None
    assert status.revoked_at == record.revoked_at.replace(microsecond=0)
    assert ocsp.describe(leaf.serial_number, status).startswith(f"0x{leaf.serial_number:x}: revoked (keyCompromise, ")


def test_held_certificate_is_revoked_then_good_once_released(hierarchy: Hierarchy) -> None:
    leaf = hierarchy.issue("ocsp-held.cert-lab.local")
    hierarchy.ca.revoke(leaf.serial_number, RevocationReason.Certificate_Hold, INSTALLER)
    query = ocsp.build_request(hierarchy.intermediate, leaf.serial_number)
    held = ocsp.read_response(_answer(hierarchy, query), query, hierarchy.intermediate)
    assert (held.status, held.reason) == (ocsp.Status.REVOKED, x509.ReasonFlags.certificate_hold)
    assert hierarchy.ca.unrevoke(leaf.serial_number, INSTALLER)[0] is True
    query = ocsp.build_request(hierarchy.intermediate, leaf.serial_number)
    assert ocsp.read_response(_answer(hierarchy, query), query, hierarchy.intermediate) == ocsp.GOOD


def test_serial_never_issued_is_unknown(hierarchy: Hierarchy) -> None:
    query = ocsp.build_request(hierarchy.intermediate, 0x5EED)
    assert ocsp.read_response(_answer(hierarchy, query), query, hierarchy.intermediate) == ocsp.UNKNOWN


def test_another_issuers_certificate_is_unauthorized(hierarchy: Hierarchy, other_hierarchy: Hierarchy) -> None:
    # Same subject name, another key: only the issuerKeyHash tells them apart.
    leaf = other_hierarchy.issue("ocsp-foreign.cert-lab.local")
    query = ocsp.build_request(other_hierarchy.intermediate, leaf.serial_number)
    assert _status_of(_answer(hierarchy, query)) is x509_ocsp.OCSPResponseStatus.UNAUTHORIZED


def test_sha256_cert_id_is_answered_in_kind(hierarchy: Hierarchy) -> None:
    leaf = hierarchy.issue("ocsp-sha256.cert-lab.local")
    query = ocsp.build_request(hierarchy.intermediate, leaf.serial_number, algorithm=hashes.SHA256())
    der = _answer(hierarchy, query)
    assert isinstance(x509_ocsp.load_der_ocsp_response(der).hash_algorithm, hashes.SHA256)
    assert ocsp.read_response(der, query, hierarchy.intermediate) == ocsp.GOOD


def test_answer_is_signed_by_the_ca_named_by_key_with_its_certificate(hierarchy: Hierarchy) -> None:
    query = ocsp.build_request(hierarchy.intermediate, 0x1)
    response = x509_ocsp.load_der_ocsp_response(_answer(hierarchy, query))
    assert (
        response.responder_key_hash
        == x509.SubjectKeyIdentifier.from_public_key(hierarchy.intermediate.public_key()).digest
    )
    assert response.certificates == [hierarchy.intermediate]
    ocsp_response_signed_by(response, hierarchy.intermediate)
    assert response.next_update_utc is not None
    assert response.next_update_utc - response.this_update_utc == ocsp.NEXT_UPDATE


SIGNATURE_ALGORITHMS = {
    KeyAlgorithm.RSA_4096: "1.2.840.113549.1.1.12",  # sha384WithRSAEncryption
    KeyAlgorithm.EC_P384: "1.2.840.10045.4.3.3",  # ecdsa-with-SHA384
    KeyAlgorithm.ML_DSA_87: "2.16.840.1.101.3.4.3.19",  # id-ml-dsa-87
}


def test_answer_signature_algorithm_is_the_hierarchys(hierarchy: Hierarchy) -> None:
    der = _answer(hierarchy, ocsp.build_request(hierarchy.intermediate, 0x1))
    response, _ = decoder.decode(der, asn1Spec=rfc6960.OCSPResponse())
    basic, _ = decoder.decode(response["responseBytes"]["response"].asOctets(), asn1Spec=rfc6960.BasicOCSPResponse())
    algorithm = basic["signatureAlgorithm"]
    assert str(algorithm["algorithm"]) == SIGNATURE_ALGORITHMS[hierarchy.algorithm]
    if hierarchy.algorithm is not KeyAlgorithm.RSA_4096:
        # RFC 9881 §2 (ML-DSA) and RFC 5758 §3.2 (ECDSA): parameters absent; RSA's are NULL (RFC 4055).
        assert not algorithm["parameters"].isValue


def test_answer_signed_by_another_ca_is_refused(hierarchy: Hierarchy, other_hierarchy: Hierarchy) -> None:
    query = ocsp.build_request(hierarchy.intermediate, 0x1)
    # The other CA has the same subject: its answer must still not pass for this CA's.
    forged = ocsp.respond(
        ocsp.build_request(other_hierarchy.intermediate, 0x1, nonce=False).der,
        other_hierarchy.ca.issuer,
        lambda serial: ocsp.GOOD,
    )
    with pytest.raises(PKIError, match="not signed by"):
        ocsp.read_response(forged, query, hierarchy.intermediate)


def test_answer_is_checked_against_the_current_time(hierarchy: Hierarchy) -> None:
    query = ocsp.build_request(hierarchy.intermediate, 0x1)
    later = datetime.now(UTC) + ocsp.NEXT_UPDATE * 2
    with pytest.raises(PKIError, match="expired"):
        ocsp.read_response(_answer(hierarchy, query), query, hierarchy.intermediate, now=later)


# --- nonce ---------------------------------------------------------------------------------------


def test_nonce_is_echoed(hierarchy: Hierarchy) -> None:
    query = ocsp.build_request(hierarchy.intermediate, 0x1)
    response = x509_ocsp.load_der_ocsp_response(_answer(hierarchy, query))
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == query.nonce


def test_no_nonce_sent_none_echoed(hierarchy: Hierarchy) -> None:
    query = ocsp.build_request(hierarchy.intermediate, 0x1, nonce=False)
    response = x509_ocsp.load_der_ocsp_response(_answer(hierarchy, query))
    assert len(response.extensions) == 0


def test_answer_without_the_nonce_sent_is_refused(hierarchy: Hierarchy) -> None:
    query = ocsp.build_request(hierarchy.intermediate, 0x1)
    replayed = _answer(hierarchy, ocsp.build_request(hierarchy.intermediate, 0x1))
    with pytest.raises(PKIError, match="nonce"):
        ocsp.read_response(replayed, query, hierarchy.intermediate)


def test_over_long_nonce_is_malformed(hierarchy: Hierarchy) -> None:
    name_hash, key_hash = ocsp.issuer_hashes(hierarchy.intermediate, hashes.SHA1())
    der = (
        x509_ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(name_hash, key_hash, 0x1, hashes.SHA1())
        .add_extension(x509.OCSPNonce(b"\x01" * (ocsp.MAX_NONCE_BYTES + 1)), critical=False)
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    answer = ocsp.respond(der, hierarchy.ca.issuer, lambda serial: ocsp.GOOD)
    assert _status_of(answer) is x509_ocsp.OCSPResponseStatus.MALFORMED_REQUEST


# --- malformed -----------------------------------------------------------------------------------


def test_garbage_is_malformed_and_unsigned(hierarchy: Hierarchy) -> None:
    answer = ocsp.respond(b"\x30\x03\x02\x01\x00", hierarchy.ca.issuer, lambda serial: ocsp.GOOD)
    assert _status_of(answer) is x509_ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    with pytest.raises(PKIError, match="malformed_request"):
        ocsp.read_response(answer, ocsp.build_request(hierarchy.intermediate, 0x1), hierarchy.intermediate)


def test_two_cert_ids_are_malformed(hierarchy: Hierarchy) -> None:
    # RFC 5019 §2.1.1: one Request per OCSPRequest.
    single = ocsp.build_request(hierarchy.intermediate, 0x1, nonce=False).der
    request, _ = decoder.decode(single, asn1Spec=rfc6960.OCSPRequest())
    request_list = request["tbsRequest"]["requestList"]
    request_list.append(request_list[0])
    answer = ocsp.respond(encoder.encode(request), hierarchy.ca.issuer, lambda serial: ocsp.GOOD)
    assert _status_of(answer) is x509_ocsp.OCSPResponseStatus.MALFORMED_REQUEST


# --- /ca/ocsp ------------------------------------------------------------------------------------


async def _post(ca_service: CAService, der: bytes) -> bytes:
    response = await ca_service.client.post("/ca/ocsp", data=der, headers=OCSP_REQUEST)
    assert response.status == 200, await response.text()
    assert response.content_type == "application/ocsp-response"
    return await response.read()


async def test_post_answers_good_then_revoked(ca_service: CAService) -> None:
    hierarchy = ca_service.hierarchy
    leaf = hierarchy.issue("ocsp-post.cert-lab.local")
    query = ocsp.build_request(hierarchy.intermediate, leaf.serial_number)
    assert ocsp.read_response(await _post(ca_service, query.der), query, hierarchy.intermediate) == ocsp.GOOD
    hierarchy.revoke(leaf)
    query = ocsp.build_request(hierarchy.intermediate, leaf.serial_number)
    status = ocsp.read_response(await _post(ca_service, query.der), query, hierarchy.intermediate)
    assert status.status is ocsp.Status.REVOKED


@pytest.mark.parametrize("encode", [lambda b64: quote(b64, safe=""), lambda b64: b64], ids=["url-encoded", "raw"])
async def test_get_answers_base64_request_in_path(ca_service: CAService, encode: object) -> None:
    hierarchy = ca_service.hierarchy
    leaf = hierarchy.issue("ocsp-get.cert-lab.local")
    query = ocsp.build_request(hierarchy.intermediate, leaf.serial_number)
    path = encode(base64.b64encode(query.der).decode())  # type: ignore[operator]
    response = await ca_service.client.get(f"/ca/ocsp/{path}")
    assert response.status == 200, await response.text()
    assert response.content_type == "application/ocsp-response"
    assert ocsp.read_response(await response.read(), query, hierarchy.intermediate) == ocsp.GOOD


async def test_get_with_non_base64_path_is_malformed(ca_service: CAService) -> None:
    response = await ca_service.client.get("/ca/ocsp/not*base64")
    assert response.status == 200
    assert _status_of(await response.read()) is x509_ocsp.OCSPResponseStatus.MALFORMED_REQUEST


async def test_post_garbage_is_malformed_with_http_200(ca_service: CAService) -> None:
    answer = await _post(ca_service, b"not an OCSP request")
    assert _status_of(answer) is x509_ocsp.OCSPResponseStatus.MALFORMED_REQUEST


async def test_post_with_wrong_content_type_is_415(ca_service: CAService) -> None:
    query = ocsp.build_request(ca_service.hierarchy.intermediate, 0x1)
    response = await ca_service.client.post("/ca/ocsp", data=query.der, headers={"Content-Type": "text/plain"})
    assert response.status == 415
    assert "application/ocsp-request" in (await response.json())["Message"]


async def test_post_too_big_is_413(ca_service: CAService) -> None:
    response = await ca_service.client.post(
        "/ca/ocsp", data=b"\x30" * (ocsp.MAX_REQUEST_BYTES + 1), headers=OCSP_REQUEST
    )
    assert response.status == 413


async def test_awaiting_ca_answers_try_later(awaiting_ca: IntermediateCA, aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(create_app(awaiting_ca))
    response = await client.post("/ca/ocsp", data=b"\x30\x00", headers=OCSP_REQUEST)
    assert response.status == 200
    assert _status_of(await response.read()) is x509_ocsp.OCSPResponseStatus.TRY_LATER
