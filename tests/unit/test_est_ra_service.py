"""The EST RA in-process (RFC 7030, RFC 8951), in front of its CA over the CA's REST API:
strict in what it sends, liberal in what it accepts, and every refusal a one-line `<status> <reason>`.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

import pytest
from aiohttp import ClientResponse
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from labctl.pki.csrattrs import CsrAttribute, decode_csrattrs
from labctl.pki.issue import build_csr, common_name_subject
from labctl.pki.keys import KeyAlgorithm, PrivateKey
from labctl.pki.names import ReservedNames
from labctl.pki.pkcs7 import load_certs_only
from labctl.services.ca.app import create_app as create_ca_app
from labctl.services.ca.authority import IntermediateCA
from tests.conftest import (
    DEVICE_KEY,
    EST_USER,
    NO_ROLE_PASSWORD,
    NO_ROLE_USER,
    RENEWAL_KEY,
    basic_auth,
)
from tests.helpers import assert_has_aki_ski, assert_issued_by, key_for, small_ec_key, small_rsa_key

if TYPE_CHECKING:
    from tests.conftest import AiohttpServer, Hierarchy, RAFactory, RAService

PKCS10 = {"Content-Type": "application/pkcs10"}
ENROLL_TYPE = "application/pkcs7-mime; smime-type=certs-only"
DEVICE = "device01.cert-lab.local"
# The RA's base64 line break: LF (labctl/pki/pkcs7.py), as coreutils `base64 -d` rejects CR; RFC 8951
# receivers take either.
EST_LINE_BREAK = b"\n"

# The signature algorithm (and for EC the curve) each hierarchy asks for in csrattrs.
CSRATTRS_OID = {
    KeyAlgorithm.RSA_4096: "1.2.840.113549.1.1.12",  # sha384WithRSAEncryption
    KeyAlgorithm.EC_P384: "1.2.840.10045.4.3.3",  # ecdsa-with-SHA384
    KeyAlgorithm.ML_DSA_87: "2.16.840.1.101.3.4.3.19",  # id-ml-dsa-87
}
# A key of another hierarchy's algorithm, strong in its own right.
FOREIGN_ALGORITHM = {
    KeyAlgorithm.RSA_4096: KeyAlgorithm.EC_P384,
    KeyAlgorithm.EC_P384: KeyAlgorithm.RSA_4096,
    KeyAlgorithm.ML_DSA_87: KeyAlgorithm.EC_P384,
}


def _weak_key(algorithm: KeyAlgorithm) -> tuple[PrivateKey, str]:
    """A key of the hierarchy's family but below its strength (ML-DSA has none: RSA-1024 there)."""
    match algorithm:
        case KeyAlgorithm.RSA_4096:
            return small_rsa_key(2048), "RSA-2048"
        case KeyAlgorithm.EC_P384:
            return small_ec_key(), "EC secp256r1"
        case KeyAlgorithm.ML_DSA_87:
            return small_rsa_key(1024), "RSA-1024"


def _csr(
    algorithm: KeyAlgorithm, common_name: str = DEVICE, sans: Sequence[str] = (), *, key: PrivateKey | None = None
) -> x509.CertificateSigningRequest:
    return build_csr(key or key_for(algorithm, DEVICE_KEY), common_name_subject(common_name), sans)


def _der(csr: x509.CertificateSigningRequest) -> bytes:
    return csr.public_bytes(serialization.Encoding.DER)


def _b64(csr: x509.CertificateSigningRequest) -> bytes:
    return base64.encodebytes(_der(csr))


def _assert_est_base64(body: bytes) -> None:
    """Base64 as the RA sends it: 64-column lines, one line break between them, nothing after the last."""
    assert body, "empty body"
    lines = body.split(EST_LINE_BREAK)
    assert all(0 < len(line) <= 64 for line in lines), [len(line) for line in lines]
    assert all(len(line) == 64 for line in lines[:-1]), [len(line) for line in lines]
    assert not any(b"\r" in line or b"\n" in line for line in lines)
    base64.b64decode(b"".join(lines), validate=True)


async def _assert_error(response: ClientResponse, status: int) -> str:
    """The RA's refusals: text/plain, one line `<status> <reason>`; returns the reason."""
    text = await response.text()
    assert response.status == status, text
    assert response.content_type == "text/plain"
    assert text.endswith("\n")
    assert text.count("\n") == 1, text
    code, _, reason = text.rstrip("\n").partition(" ")
    assert code == str(status)
    assert reason.strip()
    return reason


async def _issued(response: ClientResponse) -> x509.Certificate:
    """The single certificate of a 200 enrollment answer, after checking its framing."""
    body = await response.read()
    assert response.status == 200, body
    assert response.headers["Content-Type"] == ENROLL_TYPE
    assert response.headers["Content-Transfer-Encoding"] == "base64"
    assert response.headers["Content-Length"] == str(len(body))
    _assert_est_base64(body)
    certificates = load_certs_only(body)
    assert len(certificates) == 1
    return certificates[0]


async def _enroll(
    ra: RAService,
    body: bytes,
    *,
    operation: str = "simpleenroll",
    headers: dict[str, str] | None = None,
    auth: bool = True,
) -> ClientResponse:
    sent = {**PKCS10, **(basic_auth() if auth else {}), **(headers or {})}
    return await ra.client.post(ra.url(operation), data=body, headers=sent)


def _challenges(response: ClientResponse) -> list[bytes]:
    return [value for name, value in response.raw_headers if name == b"WWW-Authenticate"]


# --- cacerts and csrattrs ------------------------------------------------------------------------


async def test_cacerts_answers_base64_pkcs7_with_content_length(ra: RAService) -> None:
    response = await ra.client.get(ra.url("cacerts"))
    body = await response.read()
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/pkcs7-mime"
    assert response.headers["Content-Transfer-Encoding"] == "base64"
    assert response.headers["Content-Length"] == str(len(body))
    assert "Transfer-Encoding" not in response.headers
    _assert_est_base64(body)


async def test_cacerts_chain_includes_root(ra: RAService) -> None:
    response = await ra.client.get(ra.url("cacerts"))
    assert response.status == 200
    certificates = load_certs_only(await response.read())
    assert set(certificates) == {ra.hierarchy.intermediate, ra.hierarchy.root.certificate}


async def test_csrattrs_names_hierarchy_algorithm(ra: RAService) -> None:
    response = await ra.client.get(ra.url("csrattrs"))
    body = await response.read()
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/csrattrs"
    assert response.headers["Content-Transfer-Encoding"] == "base64"
    _assert_est_base64(body)
    attrs = decode_csrattrs(base64.b64decode(body))
    assert attrs.oids[0] == CSRATTRS_OID[ra.hierarchy.algorithm]  # then, for RSA, the key serverkeygen makes
    if ra.hierarchy.algorithm is KeyAlgorithm.EC_P384:
        assert attrs.attributes == (CsrAttribute("1.2.840.10045.2.1", ("1.3.132.0.34",)),)
    else:
        assert attrs.attributes == ()


# --- simpleenroll --------------------------------------------------------------------------------


async def test_simpleenroll_with_basic_issues_one_certificate(ra: RAService) -> None:
    csr = _csr(ra.hierarchy.algorithm, DEVICE, [DEVICE, "192.0.2.10"])
    certificate = await _issued(await _enroll(ra, _b64(csr)))
    assert_issued_by(certificate, ra.hierarchy.intermediate)
    assert_has_aki_ski(certificate)
    assert certificate.subject == csr.subject
    assert certificate.public_key() == csr.public_key()
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [DEVICE]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["192.0.2.10"]


def _crlf_wrapped(der: bytes) -> bytes:
    text = base64.b64encode(der)
    return b"\r\n".join(text[i : i + 64] for i in range(0, len(text), 64)) + b"\r\n"


BODY_ENCODINGS = {
    "lf": lambda csr: base64.encodebytes(_der(csr)),
    "crlf": lambda csr: _crlf_wrapped(_der(csr)),
    "unwrapped": lambda csr: base64.b64encode(_der(csr)),
    "pem": lambda csr: csr.public_bytes(serialization.Encoding.PEM),
}


@pytest.mark.parametrize("with_cte", [True, False], ids=["cte", "no-cte"])
@pytest.mark.parametrize("encoding", list(BODY_ENCODINGS))
async def test_simpleenroll_accepts_base64_variants(ra: RAService, encoding: str, with_cte: bool) -> None:
    csr = _csr(ra.hierarchy.algorithm, f"{encoding}.cert-lab.local")
    headers = {"Content-Transfer-Encoding": "base64"} if with_cte else {}
    certificate = await _issued(await _enroll(ra, BODY_ENCODINGS[encoding](csr), headers=headers))
    assert certificate.subject == csr.subject


async def test_simpleenroll_accepts_der(ra: RAService) -> None:
    csr = _csr(ra.hierarchy.algorithm, "der.cert-lab.local")
    certificate = await _issued(await _enroll(ra, _der(csr)))
    assert certificate.subject == csr.subject


async def test_simpleenroll_accepts_chunked_body(ra: RAService) -> None:
    csr = _csr(ra.hierarchy.algorithm, "chunked.cert-lab.local")
    body = _b64(csr)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 100):
            yield body[start : start + 100]

    response = await ra.client.post(ra.url("simpleenroll"), data=chunks(), headers={**PKCS10, **basic_auth()})
    certificate = await _issued(response)
    assert certificate.subject == csr.subject


async def test_simpleenroll_with_client_certificate(ra: RAService) -> None:
    ra.peer.present(ra.hierarchy.issue("tls-client.cert-lab.local"))
    csr = _csr(ra.hierarchy.algorithm, "enrolled-by-cert.cert-lab.local")
    certificate = await _issued(await _enroll(ra, _b64(csr), auth=False))
    assert certificate.subject == csr.subject
    assert_issued_by(certificate, ra.hierarchy.intermediate)


async def test_simpleenroll_without_credentials_is_401_with_basic_challenge(ra: RAService) -> None:
    response = await _enroll(ra, _b64(_csr(ra.hierarchy.algorithm)), auth=False)
    await _assert_error(response, 401)
    assert _challenges(response) == [b'Basic realm="EST"']


async def test_simpleenroll_with_wrong_password_is_401(ra: RAService) -> None:
    response = await _enroll(ra, _b64(_csr(ra.hierarchy.algorithm)), headers=basic_auth(EST_USER, "wrong"))
    await _assert_error(response, 401)
    assert _challenges(response) == [b'Basic realm="EST"']


async def test_simpleenroll_with_unknown_user_is_401(ra: RAService) -> None:
    response = await _enroll(ra, _b64(_csr(ra.hierarchy.algorithm)), headers=basic_auth("mallory", "x"))
    await _assert_error(response, 401)


async def test_simpleenroll_with_non_basic_authorization_is_401(ra: RAService) -> None:
    response = await _enroll(ra, _b64(_csr(ra.hierarchy.algorithm)), headers={"Authorization": "Bearer abc"})
    await _assert_error(response, 401)
    assert _challenges(response) == [b'Basic realm="EST"']


async def test_simpleenroll_with_basic_disabled_is_403(make_ra: RAFactory) -> None:
    ra = await make_ra(allow_basic=False)
    response = await _enroll(ra, _b64(_csr(ra.hierarchy.algorithm)))
    assert "HTTP Basic authentication is disabled" in await _assert_error(response, 403)


async def test_simpleenroll_by_user_without_role_is_403(ra: RAService) -> None:
    response = await _enroll(ra, _b64(_csr(ra.hierarchy.algorithm)), headers=basic_auth(NO_ROLE_USER, NO_ROLE_PASSWORD))
    reason = await _assert_error(response, 403)
    assert "lacks the role 'EST Users'" in reason
    assert _challenges(response) == []


async def test_simpleenroll_with_certificate_of_another_ca_is_403(ra: RAService, other_hierarchy: Hierarchy) -> None:
    ra.peer.present(other_hierarchy.issue("tls-client.cert-lab.local"))
    response = await _enroll(ra, _b64(_csr(ra.hierarchy.algorithm)), auth=False)
    assert "was not issued by" in await _assert_error(response, 403)


async def test_simpleenroll_with_revoked_client_certificate_is_403(ra: RAService) -> None:
    certificate = ra.hierarchy.issue("revoked-client.cert-lab.local")
    ra.hierarchy.revoke(certificate)
    ra.peer.present(certificate)
    response = await _enroll(ra, _b64(_csr(ra.hierarchy.algorithm)), auth=False)
    assert "is revoked at the CA" in await _assert_error(response, 403)


@pytest.mark.parametrize("content_type", ["application/octet-stream", "text/plain", None])
async def test_simpleenroll_with_wrong_content_type_is_415(ra: RAService, content_type: str | None) -> None:
    headers = {**basic_auth(), "Content-Type": content_type or ""}
    if content_type is None:
        headers.pop("Content-Type")
    response = await ra.client.post(ra.url("simpleenroll"), data=_b64(_csr(ra.hierarchy.algorithm)), headers=headers)
    await _assert_error(response, 415)


@pytest.mark.parametrize("body", [b"", b"\r\n  \r\n"], ids=["empty", "blank"])
async def test_simpleenroll_with_empty_body_is_400(ra: RAService, body: bytes) -> None:
    assert "empty request body" in await _assert_error(await _enroll(ra, body), 400)


async def test_simpleenroll_with_invalid_base64_is_400(ra: RAService) -> None:
    assert "invalid base64" in await _assert_error(await _enroll(ra, b"MIIB$$not*base64!!"), 400)


async def test_simpleenroll_with_base64_of_garbage_is_400(ra: RAService) -> None:
    body = base64.encodebytes(b"this is not a certificate request" * 4)
    assert "not a PKCS#10" in await _assert_error(await _enroll(ra, body), 400)


async def test_simpleenroll_with_bad_signature_is_400(ra: RAService) -> None:
    der = bytearray(_der(_csr(ra.hierarchy.algorithm)))
    der[-1] ^= 0x01  # the last byte is the signature's
    assert "signature does not verify" in await _assert_error(await _enroll(ra, base64.encodebytes(bytes(der))), 400)


async def test_simpleenroll_with_wrong_algorithm_is_403(ra: RAService) -> None:
    key = key_for(FOREIGN_ALGORITHM[ra.hierarchy.algorithm], DEVICE_KEY)
    reason = await _assert_error(await _enroll(ra, _b64(_csr(ra.hierarchy.algorithm, key=key))), 403)
    assert f"enrolls {ra.hierarchy.algorithm.label} keys only" in reason


async def test_simpleenroll_with_weak_key_is_403(ra: RAService) -> None:
    key, description = _weak_key(ra.hierarchy.algorithm)
    reason = await _assert_error(await _enroll(ra, _b64(_csr(ra.hierarchy.algorithm, key=key))), 403)
    assert description in reason


async def test_simpleenroll_over_body_limit_is_413(make_ra: RAFactory) -> None:
    ra = await make_ra(max_body=128)
    response = await _enroll(ra, _b64(_csr(ra.hierarchy.algorithm)))
    assert "over 128 bytes" in await _assert_error(response, 413)


# --- routing -------------------------------------------------------------------------------------


async def test_unknown_operation_is_404(ra: RAService) -> None:
    await _assert_error(await ra.client.get("/.well-known/est/no-such-operation"), 404)


@pytest.mark.parametrize(
    ("method", "operation"),
    [("GET", "simpleenroll"), ("PUT", "simplereenroll"), ("POST", "cacerts"), ("DELETE", "csrattrs")],
)
async def test_wrong_method_is_405(ra: RAService, method: str, operation: str) -> None:
    await _assert_error(await ra.client.request(method, ra.url(operation), headers=basic_auth()), 405)


@pytest.mark.parametrize(("operation", "allowed"), [("simpleenroll", "POST"), ("cacerts", "GET")])
async def test_405_names_the_allowed_method(ra: RAService, operation: str, allowed: str) -> None:
    response = await ra.client.request("PUT", ra.url(operation))
    assert response.status == 405
    assert response.headers["Allow"] == allowed


async def test_unknown_label_is_404(make_ra: RAFactory) -> None:
    ra = await make_ra(label="ecc")
    await _assert_error(await ra.client.get("/.well-known/est/rsa/cacerts"), 404)


async def test_label_is_404_when_none_configured(ra: RAService) -> None:
    await _assert_error(await ra.client.get("/.well-known/est/ecc/cacerts"), 404)


async def test_configured_label_serves_est(make_ra: RAFactory) -> None:
    ra = await make_ra(label="lab")
    cacerts = await ra.client.get("/.well-known/est/lab/cacerts")
    assert cacerts.status == 200
    assert len(load_certs_only(await cacerts.read())) == 2
    certificate = await _issued(await _enroll(ra, _b64(_csr(ra.hierarchy.algorithm, "labelled.cert-lab.local"))))
    assert_issued_by(certificate, ra.hierarchy.intermediate)


# --- simplereenroll ------------------------------------------------------------------------------


async def test_simplereenroll_renews_with_same_subject_and_new_serial(ra: RAService) -> None:
    algorithm = ra.hierarchy.algorithm
    name = "renew.cert-lab.local"
    original = await _issued(await _enroll(ra, _b64(_csr(algorithm, name, [name]))))
    ra.peer.present(original)
    renewal_csr = _csr(algorithm, name, [name], key=key_for(algorithm, RENEWAL_KEY))
    renewed = await _issued(await _enroll(ra, _b64(renewal_csr), operation="simplereenroll", auth=False))
    assert renewed.subject == original.subject
    assert renewed.serial_number != original.serial_number
    assert renewed.public_key() == renewal_csr.public_key()
    assert_issued_by(renewed, ra.hierarchy.intermediate)


async def test_simplereenroll_rejects_changed_subject(ra: RAService) -> None:
    name = "keep-subject.cert-lab.local"
    ra.peer.present(ra.hierarchy.issue(name, sans=[name]))
    csr = _csr(ra.hierarchy.algorithm, "other-subject.cert-lab.local", [name])
    response = await _enroll(ra, _b64(csr), operation="simplereenroll", auth=False)
    assert "may not change the subject" in await _assert_error(response, 403)


async def test_simplereenroll_rejects_changed_san(ra: RAService) -> None:
    name = "keep-san.cert-lab.local"
    ra.peer.present(ra.hierarchy.issue(name, sans=[name]))
    csr = _csr(ra.hierarchy.algorithm, name, [name, "extra.cert-lab.local"])
    response = await _enroll(ra, _b64(csr), operation="simplereenroll", auth=False)
    assert "may not change the subjectAltName" in await _assert_error(response, 403)


async def test_simplereenroll_without_certificate_is_401(ra: RAService) -> None:
    response = await _enroll(ra, _b64(_csr(ra.hierarchy.algorithm)), operation="simplereenroll", auth=False)
    await _assert_error(response, 401)
    assert _challenges(response) == [b'Basic realm="EST"']


async def test_simplereenroll_with_basic_only_is_403(ra: RAService) -> None:
    response = await _enroll(ra, _b64(_csr(ra.hierarchy.algorithm)), operation="simplereenroll")
    assert "needs the TLS client certificate" in await _assert_error(response, 403)


async def test_simplereenroll_with_certificate_of_another_ca_is_403(ra: RAService, other_hierarchy: Hierarchy) -> None:
    name = "foreign.cert-lab.local"
    ra.peer.present(other_hierarchy.issue(name, sans=[name]))
    response = await _enroll(
        ra, _b64(_csr(ra.hierarchy.algorithm, name, [name])), operation="simplereenroll", auth=False
    )
    assert "was not issued by" in await _assert_error(response, 403)


async def test_simplereenroll_with_revoked_certificate_is_403(ra: RAService) -> None:
    name = "revoked-renewal.cert-lab.local"
    certificate = ra.hierarchy.issue(name, sans=[name])
    ra.hierarchy.revoke(certificate)
    ra.peer.present(certificate)
    response = await _enroll(
        ra, _b64(_csr(ra.hierarchy.algorithm, name, [name])), operation="simplereenroll", auth=False
    )
    assert "is revoked at the CA" in await _assert_error(response, 403)


# --- the CA behind the RA ------------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["cacerts", "simpleenroll"])
async def test_ca_unreachable_is_503_with_retry_after(make_ra: RAFactory, closed_port_url: str, operation: str) -> None:
    ra = await make_ra(ca_url=closed_port_url, timeout_s=2)
    if operation == "cacerts":
        response = await ra.client.get(ra.url("cacerts"))
    else:
        response = await _enroll(ra, _b64(_csr(ra.hierarchy.algorithm)))
    assert "CA unreachable" in await _assert_error(response, 503)
    assert response.headers["Retry-After"] == "10"


@pytest.mark.parametrize("operation", ["cacerts", "simpleenroll"])
async def test_ca_not_installed_is_503_with_retry_after(
    make_ra: RAFactory, awaiting_ca: IntermediateCA, aiohttp_server: AiohttpServer, operation: str
) -> None:
    server = await aiohttp_server(create_ca_app(awaiting_ca))
    ra = await make_ra(ca_url=str(server.make_url("")).rstrip("/"))
    if operation == "cacerts":
        response = await ra.client.get(ra.url("cacerts"))
    else:
        response = await _enroll(ra, _b64(_csr(ra.hierarchy.algorithm)))
    assert "CA is not ready" in await _assert_error(response, 503)
    assert response.headers["Retry-After"] == "10"


# --- enrollMatchTLSSubjSAN -----------------------------------------------------------------------


async def test_enroll_match_lets_user_enroll_own_name(make_ra: RAFactory) -> None:
    ra = await make_ra(enroll_match=True)
    certificate = await _issued(await _enroll(ra, _b64(_csr(ra.hierarchy.algorithm, EST_USER))))
    assert certificate.subject == common_name_subject(EST_USER)


async def test_enroll_match_rejects_other_common_name(make_ra: RAFactory) -> None:
    ra = await make_ra(enroll_match=True)
    response = await _enroll(ra, _b64(_csr(ra.hierarchy.algorithm, "someone-else")))
    assert f"does not match user identity {EST_USER}" in await _assert_error(response, 403)


async def test_enroll_match_rejects_other_san(make_ra: RAFactory) -> None:
    ra = await make_ra(enroll_match=True)
    response = await _enroll(ra, _b64(_csr(ra.hierarchy.algorithm, EST_USER, [EST_USER, "other.cert-lab.local"])))
    assert "subjectAltName other.cert-lab.local" in await _assert_error(response, 403)


# --- labctl's enrollment policy: no certificate for the lab's own services, valid host names only ----


@pytest.mark.parametrize(
    ("common_name", "sans"),
    [
        ("est-ca.cert-lab.local", ["est-ca.cert-lab.local"]),  # the rsa RA's host name
        ("device01.cert-lab.local", ["device01.cert-lab.local", "dogtag-intermediate-ca"]),  # a CA container
        ("device01.cert-lab.local", ["ECC-EST-CA.cert-lab.local"]),  # another hierarchy's RA, any case
        ("device01.cert-lab.local", ["127.0.0.1"]),
        ("device01.cert-lab.local", ["172.27.0.18"]),  # the pqc network
        ("device01.cert-lab.local", ["::1"]),
        ("localhost", []),
        ("device01.cert-lab.local", ["printer.localhost"]),
    ],
    ids=[
        "ra-host",
        "ca-container",
        "other-ra-any-case",
        "loopback",
        "lab-network",
        "ipv6-loopback",
        "cn",
        "dot-localhost",
    ],
)
async def test_simpleenroll_for_a_lab_service_name_is_403(ra: RAService, common_name: str, sans: list[str]) -> None:
    response = await _enroll(ra, _b64(_csr(ra.hierarchy.algorithm, common_name, sans)))
    assert "the lab's own services" in await _assert_error(response, 403)


@pytest.mark.parametrize(
    ("common_name", "sans", "reason"),
    [
        ("bad name!", ["bad name!"], "'bad name!' is not a valid host name"),
        ("device01.cert-lab.local", ["-dash.cert-lab.local"], "label '-dash'"),
        ("device01.cert-lab.local", ["*.cert-lab.local"], "label '*'"),
        ("device01.cert-lab.local", ["xn--zz.cert-lab.local"], "not an IDNA A-label"),
        ("gerät.cert-lab.local", [], "IDNA A-labels"),
        ("device_01.cert-lab.local", [], "subject CN 'device_01.cert-lab.local'"),
        ("device01..cert-lab.local", [], "label ''"),
    ],
    ids=["space", "leading-hyphen", "wildcard", "bad-a-label", "u-label", "cn-underscore", "cn-empty-label"],
)
async def test_simpleenroll_with_an_invalid_host_name_is_400(
    ra: RAService, common_name: str, sans: list[str], reason: str
) -> None:
    response = await _enroll(ra, _b64(_csr(ra.hierarchy.algorithm, common_name, sans)))
    assert reason in await _assert_error(response, 400)


async def test_simpleenroll_with_valid_names_and_an_a_label_is_issued(ra: RAService) -> None:
    names = ["device01.cert-lab.local", "xn--bcher-kva.example", "10.0.0.7"]
    certificate = await _issued(await _enroll(ra, _b64(_csr(ra.hierarchy.algorithm, "Device 01 (lab)", names))))
    assert certificate.subject == common_name_subject("Device 01 (lab)")  # not a DNS name: any text


async def test_lab_file_may_allow_lab_service_names(make_ra: RAFactory) -> None:
    ra = await make_ra(reserved=ReservedNames.none())
    csr = _csr(ra.hierarchy.algorithm, "est-ca.cert-lab.local", ["est-ca.cert-lab.local", "127.0.0.1"])
    certificate = await _issued(await _enroll(ra, _b64(csr)))
    assert certificate.subject == csr.subject


async def test_401_tells_a_curl_user_what_to_add(ra: RAService) -> None:
    response = await _enroll(ra, _b64(_csr(ra.hierarchy.algorithm)), auth=False)
    assert '-u "$(labctl credentials --pki-type' in await _assert_error(response, 401)
