"""EST serverkeygen in-process (RFC 7030 section 4.4, RFC 8951): the RA makes the key, the CA
certifies it, the answer is multipart/mixed (key, then certificate); every refusal issues nothing."""

from __future__ import annotations

import asyncio
import base64
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ObjectIdentifier

from labctl.pki.csrattrs import decode_csrattrs
from labctl.pki.issue import certificate_sans, certificates_pem, common_name_subject, general_names_for
from labctl.pki.keys import KeyAlgorithm, PrivateKey, matches_algorithm, private_key_pem
from labctl.pki.multipart import Part, parse_multipart
from labctl.pki.pkcs7 import load_certs_only
from labctl.services.est_ra import serverkeygen as serverkeygen_module
from labctl.services.est_ra.config import AuthorizerConfig
from labctl.services.est_ra.serverkeygen import ASYMMETRIC_DECRYPT_KEY_IDENTIFIER, DECRYPT_KEY_IDENTIFIER
from tests.conftest import DEFAULT_LAB_RESERVED, EST_ROLE, basic_auth
from tests.helpers import assert_issued_by, key_for, small_ec_key

if TYPE_CHECKING:
    from aiohttp import ClientResponse

    from tests.conftest import RAFactory, RAService

DEVICE = "keygen01.cert-lab.local"
PKCS10 = {"Content-Type": "application/pkcs10"}
ML_DSA_87_OID = "2.16.840.1.101.3.4.3.19"
CLIENT_KEY = 22
T = TypeVar("T")


def _csr(
    common_name: str = DEVICE,
    sans: Sequence[str] = (DEVICE,),
    *,
    attributes: Sequence[tuple[ObjectIdentifier, bytes, _ASN1Type]] = (),
) -> bytes:
    """A base64 CSR; its key is any the client has (P-256 here: section 4.4.1, the server ignores it)."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(common_name_subject(common_name))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(general_names_for(sans)), critical=False)
    for oid, value, tag in attributes:
        builder = builder.add_attribute(oid, value, _tag=tag)
    csr = builder.sign(small_ec_key(), hashes.SHA256())
    return base64.encodebytes(csr.public_bytes(serialization.Encoding.DER))


def _issued_total(ra: RAService) -> int:
    counts = ra.hierarchy.ca.store.counts()
    return sum(value for name, value in counts.items() if name != "PENDING_REQUESTS")


async def _serverkeygen(ra: RAService, body: bytes, *, auth: bool = True) -> ClientResponse:
    headers = {**PKCS10, **(basic_auth() if auth else {})}
    return await ra.client.post(ra.url("serverkeygen"), data=body, headers=headers)


async def _parts(response: ClientResponse) -> list[Part]:
    body = await response.read()
    assert response.status == 200, body
    assert response.headers["Content-Type"].startswith("multipart/mixed; boundary=")
    parts = parse_multipart(response.headers["Content-Type"], body)
    assert [p.content_type.split(";")[0] for p in parts] == ["application/pkcs8", "application/pkcs7-mime"]
    assert parts[1].content_type == "application/pkcs7-mime; smime-type=certs-only"
    return parts


async def _refused(ra: RAService, response: ClientResponse, status: int, before: int) -> str:
    text = await response.text()
    assert response.status == status, text
    assert text.count("\n") == 1, text
    assert _issued_total(ra) == before, "a refused serverkeygen request was issued a certificate"
    return text


# --- the answer ------------------------------------------------------------------------------------


async def test_serverkeygen_answers_a_new_key_and_its_certificate(ra: RAService) -> None:
    before = _issued_total(ra)
    parts = await _parts(await _serverkeygen(ra, _csr()))
    key = serialization.load_der_private_key(parts[0].content, password=None)
    certificates = load_certs_only(parts[1].content)
    assert len(certificates) == 1
    certificate = certificates[0]
    assert matches_algorithm(key.public_key(), ra.hierarchy.algorithm)
    assert certificate.public_key() == key.public_key()
    assert certificate.subject == common_name_subject(DEVICE)
    assert set(certificate_sans(certificate)) == set(general_names_for([DEVICE]))
    assert_issued_by(certificate, ra.hierarchy.intermediate)
    assert _issued_total(ra) == before + 1


async def test_serverkeygen_makes_a_new_key_each_time(ra: RAService) -> None:
    first = await _parts(await _serverkeygen(ra, _csr()))
    second = await _parts(await _serverkeygen(ra, _csr()))
    assert first[0].content != second[0].content


async def test_serverkeygen_parts_are_base64_with_crlf_delimiters(ra: RAService) -> None:
    response = await _serverkeygen(ra, _csr())
    body = await response.read()
    boundary = response.headers["Content-Type"].split("boundary=", 1)[1]
    assert body.startswith(f"--{boundary}\r\n".encode())
    assert body.endswith(f"--{boundary}--\r\n".encode())
    assert body.count(b"Content-Transfer-Encoding: base64\r\n") == 2


async def test_ml_dsa_key_is_pkcs8_seed_form(ra: RAService) -> None:
    """RFC 9881 section 6: ML-DSA-87 PrivateKeyInfo holding the 32-byte seed ([0] IMPLICIT OCTET STRING)."""
    if ra.hierarchy.algorithm is not KeyAlgorithm.ML_DSA_87:
        pytest.skip("ML-DSA hierarchy only")
    der = (await _parts(await _serverkeygen(ra, _csr())))[0].content
    assert len(der) == 54
    assert bytes.fromhex("0609608648016503040313") in der  # the id-ml-dsa-87 OID
    assert der[-34:-32] == b"\x80\x20"  # the seed choice, 32 octets, at the end


async def test_serverkeygen_with_client_certificate(ra: RAService) -> None:
    _, client_certificate = _client_certificate(ra)
    ra.peer.present(client_certificate)
    parts = await _parts(await _serverkeygen(ra, _csr(), auth=False))
    assert load_certs_only(parts[1].content)[0].subject == common_name_subject(DEVICE)
    assert parts[0].content_type == "application/pkcs8"


async def test_csrattrs_names_the_key_serverkeygen_makes(ra: RAService) -> None:
    response = await ra.client.get(ra.url("csrattrs"))
    attrs = decode_csrattrs(base64.b64decode(await response.read()))
    expected = {
        KeyAlgorithm.RSA_4096: "1.2.840.113549.1.1.1" in attrs.oids,  # rsaEncryption
        KeyAlgorithm.EC_P384: any(a.values == ("1.3.132.0.34",) for a in attrs.attributes),  # secp384r1
        KeyAlgorithm.ML_DSA_87: ML_DSA_87_OID in attrs.oids,
    }
    assert expected[ra.hierarchy.algorithm], attrs


# --- encrypted keys (section 4.4.1.2) --------------------------------------------------------------


def _client_certificate(ra: RAService) -> tuple[PrivateKey, x509.Certificate]:
    key = key_for(ra.hierarchy.algorithm, CLIENT_KEY)
    return key, ra.hierarchy.issue("tls-client.cert-lab.local", key=key, sans=["tls-client.cert-lab.local"])


def _ski(certificate: x509.Certificate) -> bytes:
    return certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest


def _asymmetric(identifier: bytes) -> list[tuple[ObjectIdentifier, bytes, _ASN1Type]]:
    return [(ASYMMETRIC_DECRYPT_KEY_IDENTIFIER, identifier, _ASN1Type.OctetString)]


def _openssl_decrypt(tmp_path: Path, enveloped: bytes, key: PrivateKey, certificate: x509.Certificate) -> bytes:
    (tmp_path / "key.p7m").write_bytes(enveloped)
    (tmp_path / "client.key").write_bytes(private_key_pem(key))
    (tmp_path / "client.crt").write_bytes(certificates_pem([certificate]))
    subprocess.run(
        ["openssl", "cms", "-decrypt", "-inform", "DER", "-in", "key.p7m", "-inkey", "client.key",
         "-recip", "client.crt", "-out", "package.der"],
        cwd=tmp_path, check=True, capture_output=True,
    )  # fmt: skip
    return (tmp_path / "package.der").read_bytes()


async def test_serverkeygen_encrypts_the_key_for_the_client_certificate(ra: RAService, tmp_path: Path) -> None:
    client_key, client_certificate = _client_certificate(ra)
    ra.peer.present(client_certificate)
    response = await _serverkeygen(ra, _csr(attributes=_asymmetric(_ski(client_certificate))), auth=False)
    if ra.hierarchy.algorithm is KeyAlgorithm.ML_DSA_87:
        assert "only signs" in await response.text()
        assert response.status == 400
        return
    body = await response.read()
    assert response.status == 200, body
    parts = parse_multipart(response.headers["Content-Type"], body)
    assert parts[0].content_type == "application/pkcs7-mime; smime-type=server-generated-key"
    assert b"-----BEGIN" not in parts[0].content and b"PRIVATE" not in parts[0].content
    if shutil.which("openssl") is None:
        pytest.skip("no openssl on this host")
    package = _openssl_decrypt(tmp_path, parts[0].content, client_key, client_certificate)
    # AsymmetricKeyPackage (RFC 5958): a SEQUENCE of one OneAsymmetricKey, here the PKCS#8 key.
    header = 2 + (package[1] & 0x7F if package[1] & 0x80 else 0)
    key = serialization.load_der_private_key(package[header:], password=None)
    assert key.public_key() == load_certs_only(parts[1].content)[0].public_key()


async def test_decrypt_key_identifier_of_another_key_is_400(ra: RAService) -> None:
    _, client_certificate = _client_certificate(ra)
    ra.peer.present(client_certificate)
    before = _issued_total(ra)
    response = await _serverkeygen(ra, _csr(attributes=_asymmetric(b"\x01" * 20)), auth=False)
    assert "names no key this RA knows" in await _refused(ra, response, 400, before)


async def test_asymmetric_decrypt_key_identifier_without_client_certificate_is_400(ra: RAService) -> None:
    before = _issued_total(ra)
    response = await _serverkeygen(ra, _csr(attributes=_asymmetric(b"\x01" * 20)))
    assert "needs TLS client authentication" in await _refused(ra, response, 400, before)


async def test_symmetric_decrypt_key_identifier_is_400(ra: RAService) -> None:
    before = _issued_total(ra)
    body = _csr(attributes=[(DECRYPT_KEY_IDENTIFIER, b"\x02" * 16, _ASN1Type.OctetString)])
    response = await _serverkeygen(ra, body)
    assert "symmetric key" in await _refused(ra, response, 400, before)


@pytest.mark.parametrize("oid", ["1.2.840.113549.1.9.16.2.99", "1.3.6.1.4.1.55555.1"])
async def test_unknown_csr_attribute_is_400(ra: RAService, oid: str) -> None:
    before = _issued_total(ra)
    body = _csr(attributes=[(ObjectIdentifier(oid), b"x", _ASN1Type.UTF8String)])
    response = await _serverkeygen(ra, body)
    assert oid in await _refused(ra, response, 400, before)


# --- bad input: nothing issued ---------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["application/octet-stream", "text/plain"])
async def test_serverkeygen_with_wrong_content_type_is_415(ra: RAService, content_type: str) -> None:
    before = _issued_total(ra)
    headers = {"Content-Type": content_type, **basic_auth()}
    response = await ra.client.post(ra.url("serverkeygen"), data=_csr(), headers=headers)
    await _refused(ra, response, 415, before)


@pytest.mark.parametrize("body", [b"", b"not base64!", base64.encodebytes(b"\x30\x03\x02\x01\x00")])
async def test_serverkeygen_with_malformed_csr_is_400(ra: RAService, body: bytes) -> None:
    before = _issued_total(ra)
    await _refused(ra, await _serverkeygen(ra, body), 400, before)


async def test_serverkeygen_with_bad_signature_is_400(ra: RAService) -> None:
    der = bytearray(base64.b64decode(_csr()))
    der[-5] ^= 0xFF
    before = _issued_total(ra)
    await _refused(ra, await _serverkeygen(ra, base64.encodebytes(bytes(der))), 400, before)


@pytest.mark.parametrize(
    ("common_name", "sans"),
    [("est-ca.cert-lab.local", ["est-ca.cert-lab.local"]), (DEVICE, [DEVICE, "127.0.0.1"]), ("localhost", [])],
    ids=["ra-host", "loopback", "localhost"],
)
async def test_serverkeygen_for_a_lab_service_name_is_403(ra: RAService, common_name: str, sans: list[str]) -> None:
    before = _issued_total(ra)
    await _refused(ra, await _serverkeygen(ra, _csr(common_name, sans)), 403, before)


async def test_serverkeygen_without_credentials_is_401(ra: RAService) -> None:
    before = _issued_total(ra)
    await _refused(ra, await _serverkeygen(ra, _csr(), auth=False), 401, before)


async def test_serverkeygen_takes_post_only(ra: RAService) -> None:
    response = await ra.client.get(ra.url("serverkeygen"))
    assert response.status == 405
    assert response.headers["Allow"] == "POST"


async def test_serverkeygen_key_is_not_logged(ra: RAService, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    parts = await _parts(await _serverkeygen(ra, _csr()))
    encoded = base64.b64encode(parts[0].content).decode()
    assert "serverkeygen for" in caplog.text
    assert encoded[:40] not in caplog.text and "PRIVATE KEY" not in caplog.text


async def test_without_key_algorithm_the_key_is_of_the_cas_algorithm(make_ra: RAFactory) -> None:
    """Dogtag's authorizer.conf without keyAlgorithm: the RA makes keys of its CA's algorithm."""
    config = AuthorizerConfig(EST_ROLE, False, None, True, True, DEFAULT_LAB_RESERVED)
    ra = await make_ra(authorizer=config)
    parts = await _parts(await _serverkeygen(ra, _csr()))
    key = serialization.load_der_private_key(parts[0].content, password=None)
    assert matches_algorithm(key.public_key(), ra.hierarchy.algorithm)


async def test_enroll_match_holds_for_serverkeygen(make_ra: RAFactory) -> None:
    """enrollMatchTLSSubjSAN: a password user may only have a key made for its own name."""
    ra = await make_ra(enroll_match=True)
    before = _issued_total(ra)
    response = await _serverkeygen(ra, _csr())
    assert "does not match user identity" in await _refused(ra, response, 403, before)


async def test_key_generation_runs_off_the_event_loop(ra: RAService, monkeypatch: pytest.MonkeyPatch) -> None:
    """RSA-4096 generation takes up to a second: it runs in a worker thread, not on the loop."""
    threads: list[str] = []
    to_thread = asyncio.to_thread

    async def recording(function: Callable[..., T], *args: object) -> T:
        threads.append(function.__name__)
        return await to_thread(function, *args)

    monkeypatch.setattr(f"{serverkeygen_module.__name__}.asyncio.to_thread", recording)
    await _parts(await _serverkeygen(ra, _csr()))
    assert threads == ["_generate"]
