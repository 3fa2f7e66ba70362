"""CMC Full PKI Requests and Responses (labctl/pki/cmc.py): round trips on the lab's three key types,
and each refusal with the CMCFailInfo RFC 5272 section 6.1.4 names for it."""

from __future__ import annotations

import base64

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from pyasn1.codec.der import decoder, encoder
from pyasn1.type import univ
from pyasn1_modules import rfc4211, rfc5652, rfc6402

from labctl.errors import PKIError
from labctl.pki import cmc
from labctl.pki.issue import build_csr, common_name_subject, create_root_ca
from labctl.pki.keys import KeyAlgorithm, PrivateKey
from tests.helpers import key_for

ALGORITHMS = [KeyAlgorithm.RSA_4096, KeyAlgorithm.EC_P384, KeyAlgorithm.ML_DSA_87]
IDS = ["rsa", "ecc", "pqc"]
DEVICE = "device01.cert-lab.local"
ID_CMC_IDENTITY_PROOF_V2 = "1.3.6.1.5.5.7.7.34"  # a real CMC control this lab does not act on


def _csr(algorithm: KeyAlgorithm, index: int = 20) -> tuple[x509.CertificateSigningRequest, PrivateKey]:
    key = key_for(algorithm, index)
    return build_csr(key, common_name_subject(DEVICE)), key


def _failure(data: bytes) -> cmc.CMCFailure:
    with pytest.raises(cmc.CMCFailure) as caught:
        cmc.parse_full_pki_request(data)
    return caught.value


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=IDS)
def test_request_signed_with_its_own_key_round_trips(algorithm: KeyAlgorithm) -> None:
    csr, key = _csr(algorithm)
    request = cmc.parse_full_pki_request(cmc.build_full_pki_request(csr, key, transaction_id=42))
    assert request.body_part_id == 1
    assert request.csr == csr
    assert request.signer is None
    assert request.echo.transaction_id == encoder.encode(univ.Integer(42))


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=IDS)
def test_request_signed_by_a_certificate_names_it(algorithm: KeyAlgorithm) -> None:
    csr, _ = _csr(algorithm)
    holder = create_root_ca(key_for(algorithm, 21), "holder.cert-lab.local", days=1)
    data = cmc.build_full_pki_request(csr, holder.private_key, signer=holder.certificate)
    assert cmc.parse_full_pki_request(data).signer == holder.certificate


def test_request_is_read_from_base64() -> None:
    csr, key = _csr(KeyAlgorithm.EC_P384)
    data = base64.encodebytes(cmc.build_full_pki_request(csr, key))
    assert cmc.parse_full_pki_request(data).csr == csr


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=IDS)
def test_response_round_trips_success_and_failure(algorithm: KeyAlgorithm) -> None:
    ra = create_root_ca(key_for(algorithm, 22), "ra.cert-lab.local", days=1)
    issued = create_root_ca(key_for(algorithm, 23), DEVICE, days=1).certificate
    echo = cmc.Echo(transaction_id=encoder.encode(univ.Integer(7)))
    success = cmc.parse_full_pki_response(
        cmc.build_full_pki_response(
            key=ra.private_key, signer=ra.certificate, body_part_id=5, echo=echo, certificates=[issued]
        )
    )
    assert (success.success, success.body_list, success.certificates) == (True, (5,), (issued,))
    assert success.signer == ra.certificate
    failure = cmc.parse_full_pki_response(
        cmc.build_full_pki_response(
            key=ra.private_key,
            signer=ra.certificate,
            body_part_id=cmc.WHOLE_MESSAGE,
            failure=(cmc.FailInfo.BAD_REQUEST, "no request"),
        )
    )
    assert (failure.success, failure.fail_info, failure.status_string) == (
        False,
        cmc.FailInfo.BAD_REQUEST,
        "no request",
    )
    assert failure.certificates == ()


def _signed(pki_data: bytes, key: PrivateKey) -> bytes:
    return cmc.sign_content(pki_data, cmc.ID_CCT_PKIDATA, key)


def test_request_without_a_request_is_bad_request() -> None:
    _, key = _csr(KeyAlgorithm.EC_P384)
    failure = _failure(_signed(cmc.encode_pki_data([]), key))
    assert failure.fail_info is cmc.FailInfo.BAD_REQUEST
    assert "exactly one TaggedRequest, got 0" in failure.reason


def test_request_with_two_requests_is_bad_request() -> None:
    csr, key = _csr(KeyAlgorithm.EC_P384)
    failure = _failure(_signed(cmc.encode_pki_data([(1, csr), (2, csr)]), key))
    assert failure.fail_info is cmc.FailInfo.BAD_REQUEST
    assert "got 2" in failure.reason


def test_crmf_request_is_bad_request() -> None:
    csr, key = _csr(KeyAlgorithm.EC_P384)
    pki_data, _ = decoder.decode(cmc.encode_pki_data([(1, csr)]), asn1Spec=rfc6402.PKIData())
    crmf = rfc6402.TaggedRequest()
    crmf["crm"]["certReq"]["certReqId"] = 1
    crmf["crm"]["certReq"]["certTemplate"]["version"] = 2
    pki_data["reqSequence"][0] = crmf
    failure = _failure(_signed(encoder.encode(pki_data), key))
    assert failure.fail_info is cmc.FailInfo.BAD_REQUEST
    assert "CRMF" in failure.reason
    assert rfc4211  # the CertReqMsg the crm choice holds


def _other_request_pki_data(csr: x509.CertificateSigningRequest) -> bytes:
    """A PKIData whose one request is an orm (an externally defined request type)."""
    pki_data, _ = decoder.decode(cmc.encode_pki_data([(1, csr)]), asn1Spec=rfc6402.PKIData())
    other = rfc6402.TaggedRequest()
    other["orm"]["bodyPartID"] = 1
    other["orm"]["requestMessageType"] = univ.ObjectIdentifier("1.3.6.1.4.1.99999.1")
    other["orm"]["requestMessageValue"] = univ.Any(encoder.encode(univ.Null()))
    pki_data["reqSequence"][0] = other
    return bytes(encoder.encode(pki_data))


def test_other_request_is_no_support() -> None:
    """RFC 5272 section 3.2.1: an other request not processed is answered noSupport (no failInfo)."""
    csr, key = _csr(KeyAlgorithm.EC_P384)
    failure = _failure(_signed(_other_request_pki_data(csr), key))
    assert failure.fail_info is None
    ra = create_root_ca(key_for(KeyAlgorithm.EC_P384, 22), "ra.cert-lab.local", days=1)
    answer = cmc.parse_full_pki_response(
        cmc.build_full_pki_response(
            key=ra.private_key, signer=ra.certificate, body_part_id=1, failure=(None, failure.reason)
        )
    )
    assert (answer.status, answer.fail_info, answer.success) == (cmc.CMCStatus.NO_SUPPORT, None, False)


def test_unknown_control_is_bad_request() -> None:
    csr, key = _csr(KeyAlgorithm.EC_P384)
    controls = [(2, ID_CMC_IDENTITY_PROOF_V2, encoder.encode(univ.Null()))]
    failure = _failure(_signed(cmc.encode_pki_data([(1, csr)], controls), key))
    assert failure.fail_info is cmc.FailInfo.BAD_REQUEST
    assert ID_CMC_IDENTITY_PROOF_V2 in failure.reason
    assert failure.body_part_id == 2  # RFC 5272 section 3.2.1.1: the unrecognized control's


def test_signer_named_by_the_ski_extension_of_the_request() -> None:
    """RFC 5272 section 3.2: signed with the request's key, the signer is the CSR's own SKI extension."""
    key = key_for(KeyAlgorithm.EC_P384, 20)
    key_id = b"\x42" * 8  # RFC 5280 section 4.2.1.2 lets a CA pick any identifier: not the SHA-1 one
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(common_name_subject(DEVICE))
        .add_extension(x509.SubjectKeyIdentifier(key_id), critical=False)
        .sign(key, hashes.SHA384())
    )
    data = cmc.sign_content(cmc.encode_pki_data([(1, csr)]), cmc.ID_CCT_PKIDATA, key, key_id=key_id)
    assert cmc.parse_full_pki_request(data).signer is None


def test_request_signed_by_another_key_is_bad_message_check() -> None:
    csr, _ = _csr(KeyAlgorithm.EC_P384)
    _, stranger = _csr(KeyAlgorithm.EC_P384, index=24)
    failure = _failure(_signed(cmc.encode_pki_data([(1, csr)]), stranger))
    assert failure.fail_info is cmc.FailInfo.BAD_MESSAGE_CHECK


def _tampered(data: bytes, *, signature: bool) -> bytes:
    info, _ = decoder.decode(data, asn1Spec=rfc5652.ContentInfo())
    signed, _ = decoder.decode(bytes(info["content"]), asn1Spec=rfc5652.SignedData())
    if signature:
        value = bytearray(bytes(signed["signerInfos"][0]["signature"]))
        value[-1] ^= 0x01
        signed["signerInfos"][0]["signature"] = bytes(value)
    else:
        content = bytes(signed["encapContentInfo"]["eContent"])
        signed["encapContentInfo"]["eContent"] = content + encoder.encode(univ.Null())
    rebuilt = rfc5652.ContentInfo()
    rebuilt["contentType"] = rfc5652.id_signedData
    rebuilt["content"] = encoder.encode(signed)
    return bytes(encoder.encode(rebuilt))


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=IDS)
def test_bad_signature_is_bad_message_check(algorithm: KeyAlgorithm) -> None:
    csr, key = _csr(algorithm)
    failure = _failure(_tampered(cmc.build_full_pki_request(csr, key), signature=True))
    assert failure.fail_info is cmc.FailInfo.BAD_MESSAGE_CHECK
    assert "does not verify" in failure.reason
    assert failure.body_part_id == cmc.WHOLE_MESSAGE  # RFC 5272 section 3.2.1.3.4


def test_changed_content_fails_the_message_digest() -> None:
    csr, key = _csr(KeyAlgorithm.EC_P384)
    with pytest.raises(cmc.CMCFailure):
        cmc.parse_full_pki_request(_tampered(cmc.build_full_pki_request(csr, key), signature=False))


def test_signed_data_of_another_content_type_is_bad_request() -> None:
    csr, key = _csr(KeyAlgorithm.EC_P384)
    data = cmc.sign_content(cmc.encode_pki_data([(1, csr)]), cmc.ID_CCT_PKIRESPONSE, key)
    assert _failure(data).fail_info is cmc.FailInfo.BAD_REQUEST


@pytest.mark.parametrize("body", [b"not base64 at all!", base64.b64encode(b"\x30\x03\x02\x01\x01"), b"\x30\x00"])
def test_body_that_is_not_cms_is_a_plain_pki_error(body: bytes) -> None:
    with pytest.raises(PKIError) as caught:
        cmc.parse_full_pki_request(body)
    assert not isinstance(caught.value, cmc.CMCFailure)


def test_der_ending_in_a_whitespace_byte_is_kept_whole() -> None:
    # A signature's last byte may be 0x20 or 0x0a: DER is never stripped as text is.
    assert cmc.decode_transfer(b"\x30\x01\x20", what="CMC request") == b"\x30\x01\x20"
