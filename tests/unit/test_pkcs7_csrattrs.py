"""Certs-only PKCS#7 as EST carries it, RFC 7030 CSR attributes, and Dogtag wire-format helpers."""

from __future__ import annotations

import base64
import contextlib
import functools
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from hypothesis import given, settings
from hypothesis import strategies as st

from labctl import dogtag
from labctl.errors import PKIError
from labctl.pki.csrattrs import CsrAttribute, CsrAttrs, decode_csrattrs, encode_csrattrs
from labctl.pki.issue import Issuer, build_csr, common_name_subject, create_root_ca, sign_intermediate
from labctl.pki.keys import KeyAlgorithm
from labctl.pki.pkcs7 import BASE64_COLUMNS, certs_only_base64, certs_only_der, load_certs_only, wrap_base64
from tests.helpers import key_for

ALGORITHMS = [KeyAlgorithm.RSA_4096, KeyAlgorithm.EC_P384, KeyAlgorithm.ML_DSA_87]
IDS = ["rsa", "ecc", "pqc"]
# pkcs7.py separates base64 lines with LF (commit e1a1ecb: coreutils `base64 -d` rejects CR).
LINE_BREAK = b"\n"
# Fuzzed input may make cryptography warn (BER fallback, negative serial) before it raises or
# parses; a warning is not an exception in production, so the properties ignore these two.
IGNORE_BER_FALLBACK = pytest.mark.filterwarnings("ignore:PKCS#7 certificates could not be parsed as DER:UserWarning")
IGNORE_DEPRECATION = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")


@functools.cache
def _chain(algorithm: KeyAlgorithm) -> tuple[x509.Certificate, ...]:
    """Intermediate then root, as /cacerts serves them."""
    root = create_root_ca(key_for(algorithm, 0), f"P7 {algorithm.label} Root", days=365)
    csr = build_csr(key_for(algorithm, 1), common_name_subject(f"P7 {algorithm.label} Intermediate"))
    intermediate = Issuer(sign_intermediate(root, csr, days=180), key_for(algorithm, 1))
    return (intermediate.certificate, root.certificate)


@pytest.fixture(params=ALGORITHMS, ids=IDS)
def chain(request: pytest.FixtureRequest) -> list[x509.Certificate]:
    return list(_chain(request.param))


def _same(loaded: list[x509.Certificate], expected: list[x509.Certificate]) -> bool:
    der = serialization.Encoding.DER
    return sorted(c.public_bytes(der) for c in loaded) == sorted(c.public_bytes(der) for c in expected)


# --- PKCS#7 ------------------------------------------------------------------------------------


def test_certs_only_der_round_trips(chain: list[x509.Certificate]) -> None:
    assert _same(load_certs_only(certs_only_der(chain)), chain)


def test_certs_only_base64_round_trips(chain: list[x509.Certificate]) -> None:
    assert _same(load_certs_only(certs_only_base64(chain)), chain)


def test_certs_only_single_certificate_round_trips(chain: list[x509.Certificate]) -> None:
    assert _same(load_certs_only(certs_only_der(chain[:1])), chain[:1])


def test_certs_only_der_refuses_empty_list() -> None:
    with pytest.raises(PKIError, match="at least one certificate"):
        certs_only_der([])


def test_certs_only_base64_is_wrap_of_der(chain: list[x509.Certificate]) -> None:
    assert certs_only_base64(chain) == wrap_base64(certs_only_der(chain))


@pytest.mark.parametrize("size", [0, 1, 47, 48, 49, 96, 1000, 4099])
def test_wrap_base64_lines_are_at_most_64_columns_with_no_trailing_newline(size: int) -> None:
    der = (bytes(range(256)) * (size // 256 + 1))[:size]
    wrapped = wrap_base64(der)
    assert not wrapped.endswith((b"\n", b"\r"))
    lines = wrapped.split(LINE_BREAK)
    assert all(len(line) <= BASE64_COLUMNS for line in lines)
    assert all(len(line) == BASE64_COLUMNS for line in lines[:-1])
    assert base64.b64decode(b"".join(lines)) == der


@pytest.mark.parametrize("size", [49, 1000])
def test_wrap_base64_separates_lines_with_lf_only(size: int) -> None:
    wrapped = wrap_base64(bytes(size))
    assert b"\r" not in wrapped
    assert wrapped.count(LINE_BREAK) == (len(base64.b64encode(bytes(size))) - 1) // BASE64_COLUMNS


def test_wrap_base64_of_real_pkcs7_has_several_lines(chain: list[x509.Certificate]) -> None:
    assert certs_only_base64(chain).count(LINE_BREAK) >= 2


def _b64_lines(der: bytes, separator: bytes) -> bytes:
    text = base64.b64encode(der)
    return separator.join(text[i : i + 64] for i in range(0, len(text), 64)) + separator


def test_load_certs_only_accepts_base64_with_lf(chain: list[x509.Certificate]) -> None:
    assert _same(load_certs_only(_b64_lines(certs_only_der(chain), b"\n")), chain)


def test_load_certs_only_accepts_base64_with_crlf_and_trailing_newline(chain: list[x509.Certificate]) -> None:
    assert _same(load_certs_only(_b64_lines(certs_only_der(chain), b"\r\n")), chain)


def test_load_certs_only_accepts_unwrapped_base64(chain: list[x509.Certificate]) -> None:
    assert _same(load_certs_only(base64.b64encode(certs_only_der(chain))), chain)


def test_load_certs_only_accepts_76_column_mime_base64(chain: list[x509.Certificate]) -> None:
    assert _same(load_certs_only(base64.encodebytes(certs_only_der(chain))), chain)


def test_load_certs_only_accepts_pem_pkcs7_armour(chain: list[x509.Certificate]) -> None:
    pem = b"-----BEGIN PKCS7-----\n" + _b64_lines(certs_only_der(chain), b"\n") + b"-----END PKCS7-----\n"
    assert _same(load_certs_only(pem), chain)


def test_load_certs_only_accepts_cryptography_pem_output(chain: list[x509.Certificate]) -> None:
    pem = pkcs7.serialize_certificates(chain, serialization.Encoding.PEM)
    assert pem.startswith(b"-----BEGIN PKCS7-----")
    assert _same(load_certs_only(pem), chain)


@pytest.mark.parametrize(
    "data",
    [b"", b"\r\n", b"not base64 at all!", base64.b64encode(b"hello world"), b"\x30\x03\x02\x01\x01"],
    ids=["empty", "blank", "not-base64", "base64-of-text", "der-not-pkcs7"],
)
def test_load_certs_only_rejects_garbage(data: bytes) -> None:
    with pytest.raises(PKIError):
        load_certs_only(data)


def test_load_certs_only_rejects_truncated_der(chain: list[x509.Certificate]) -> None:
    der = certs_only_der(chain)
    with pytest.raises(PKIError, match="not a certs-only PKCS#7"):
        load_certs_only(der[: len(der) - 10])


def test_load_certs_only_rejects_pkcs7_data_content_with_pki_error() -> None:
    # ContentInfo { id-data, [0] OCTET STRING "x" }: valid PKCS#7, but not SignedData.
    der = bytes.fromhex("301006092a864886f70d010701a0030401") + b"x"
    with pytest.raises(PKIError):
        load_certs_only(der)


def test_load_certs_only_rejects_certificate_with_bad_version_with_pki_error(chain: list[x509.Certificate]) -> None:
    der = certs_only_der(chain)
    v3 = b"\xa0\x03\x02\x01\x02"  # [0] EXPLICIT Version v3
    position = der.index(v3)
    bad = der[:position] + b"\xa0\x03\x02\x01\x01" + der[position + len(v3) :]  # v2: not supported
    with pytest.raises(PKIError, match="not a certs-only PKCS#7"):
        load_certs_only(bad)


def test_load_certs_only_accepts_der_with_trailing_newline(chain: list[x509.Certificate]) -> None:
    # A certs-only SignedData always ends with its empty signerInfos SET (31 00), so stripping is safe.
    der = certs_only_der(chain)
    assert der.endswith(b"\x31\x00")
    assert _same(load_certs_only(der + b"\r\n"), chain)


@IGNORE_BER_FALLBACK
@IGNORE_DEPRECATION
@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512))
def test_load_certs_only_on_arbitrary_bytes_raises_only_pki_error(data: bytes) -> None:
    with contextlib.suppress(PKIError):
        load_certs_only(data)


@IGNORE_BER_FALLBACK
@IGNORE_DEPRECATION
@settings(max_examples=100, deadline=None)
@given(st.data())
def test_load_certs_only_on_mutated_pkcs7_raises_only_pki_error(data: st.DataObject) -> None:
    der = bytearray(certs_only_der(list(_chain(KeyAlgorithm.EC_P384))))
    position = data.draw(st.integers(min_value=0, max_value=len(der) - 1))
    der[position] = data.draw(st.integers(min_value=0, max_value=255))
    with contextlib.suppress(PKIError):
        load_certs_only(bytes(der))


# --- csrattrs ----------------------------------------------------------------------------------


def test_empty_csrattrs_encodes_to_empty_sequence() -> None:
    assert encode_csrattrs(CsrAttrs()) == bytes.fromhex("3000")


def test_empty_sequence_decodes_to_empty_csrattrs() -> None:
    assert decode_csrattrs(bytes.fromhex("3000")) == CsrAttrs()


@pytest.mark.parametrize(
    "attrs",
    [
        CsrAttrs(oids=("1.2.840.113549.1.9.7",)),
        CsrAttrs(attributes=(CsrAttribute("1.2.840.10045.2.1", ("1.3.132.0.34",)),)),
        CsrAttrs(
            oids=("1.2.840.113549.1.9.7", "2.16.840.1.101.3.4.3.19"),
            attributes=(
                CsrAttribute("1.2.840.10045.2.1", ("1.3.132.0.34",)),
                CsrAttribute("1.2.840.113549.1.9.14", ("1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2")),
            ),
        ),
    ],
    ids=["oid-only", "attribute-only", "mixed"],
)
def test_csrattrs_round_trip(attrs: CsrAttrs) -> None:
    assert decode_csrattrs(encode_csrattrs(attrs)) == attrs


def test_csrattrs_encoding_is_der_of_rfc7030_example_shape() -> None:
    der = encode_csrattrs(CsrAttrs(attributes=(CsrAttribute("1.2.840.10045.2.1", ("1.3.132.0.34",)),)))
    # SEQUENCE { SEQUENCE { OID ecPublicKey, SET { OID secp384r1 } } }
    assert der == bytes.fromhex("3014301206072a8648ce3d0201310706052b81040022")


@pytest.mark.parametrize(
    "der",
    [b"", b"\x30", b"\x31\x00", b"\x04\x00", b"\x30\x00\x00"],
    ids=["empty", "truncated", "set-not-sequence", "octet-string", "trailing-byte"],
)
def test_decode_csrattrs_rejects_malformed(der: bytes) -> None:
    with pytest.raises(PKIError):
        decode_csrattrs(der)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=128))
def test_decode_csrattrs_on_arbitrary_bytes_raises_only_pki_error(data: bytes) -> None:
    with contextlib.suppress(PKIError):
        decode_csrattrs(data)


_OID = st.builds(
    lambda first, second, rest: ".".join(map(str, [first, second, *rest])),
    st.integers(0, 2),
    st.integers(0, 39),
    st.lists(st.integers(0, 2**32), max_size=5),
)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(_OID, max_size=4),
    st.lists(st.builds(CsrAttribute, _OID, st.lists(_OID, min_size=1, max_size=3).map(tuple)), max_size=3),
)
def test_csrattrs_round_trip_property(oids: list[str], attributes: list[CsrAttribute]) -> None:
    attrs = CsrAttrs(tuple(oids), tuple(attributes))
    decoded = decode_csrattrs(encode_csrattrs(attrs))
    assert decoded.oids == attrs.oids
    # A SET OF is DER-sorted, so compare attribute values as sets.
    assert [(a.oid, sorted(a.values)) for a in decoded.attributes] == [
        (a.oid, sorted(a.values)) for a in attrs.attributes
    ]


# --- dogtag ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0x1f", 31), ("0X1F", 31), ("31", 31), (" 0xa \n", 10), ("1", 1)],
    ids=["hex", "upper-hex", "decimal", "whitespace", "one"],
)
def test_parse_id_reads_hex_and_decimal(text: str, expected: int) -> None:
    assert dogtag.parse_id(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "0x", "abc", "0xzz", "1f", "12.5", "None"],
    ids=["empty", "bare-prefix", "letters", "bad-hex", "hex-without-prefix", "float", "none"],
)
def test_parse_id_rejects_junk(text: str) -> None:
    with pytest.raises(PKIError, match="is not an ID"):
        dogtag.parse_id(text)


@pytest.mark.parametrize("text", ["0", "0x0", "-5", "0x" + "f" * 41], ids=["zero", "hex-zero", "negative", "too-big"])
def test_parse_id_rejects_out_of_range(text: str) -> None:
    with pytest.raises(PKIError, match="out of range"):
        dogtag.parse_id(text)


@given(st.integers(min_value=1, max_value=2**160 - 1))
@settings(max_examples=100, deadline=None)
def test_format_id_round_trips_through_parse_id(value: int) -> None:
    assert dogtag.parse_id(dogtag.format_id(value)) == value


def test_enrollment_request_round_trips() -> None:
    body = dogtag.enrollment_request("estServiceCert", "MIIB...")
    parsed = dogtag.parse_enrollment_request(body)
    assert parsed.profile_id == "estServiceCert"
    assert parsed.csr == b"MIIB..."
    assert parsed.attributes["cert_request_type"] == "pkcs10"


def test_parse_enrollment_request_accepts_lowercase_profile_id_key() -> None:
    body = dogtag.enrollment_request("caServerCert", "MIIB")
    body["profileId"] = body.pop("ProfileID")
    assert dogtag.parse_enrollment_request(body).profile_id == "caServerCert"


@pytest.mark.parametrize("body", [None, [], "x"], ids=["null", "list", "string"])
def test_parse_enrollment_request_refuses_non_object(body: object) -> None:
    with pytest.raises(PKIError, match="must be a JSON object"):
        dogtag.parse_enrollment_request(body)


@pytest.mark.parametrize("profile", [None, "", 7], ids=["missing", "empty", "not-a-string"])
def test_parse_enrollment_request_refuses_missing_profile_id(profile: object) -> None:
    body: dict[str, Any] = dogtag.enrollment_request("estServiceCert", "MIIB")
    if profile is None:
        del body["ProfileID"]
    else:
        body["ProfileID"] = profile
    with pytest.raises(PKIError, match="has no ProfileID"):
        dogtag.parse_enrollment_request(body)


@pytest.mark.parametrize("csr", [None, "", "   "], ids=["missing", "empty", "blank"])
def test_parse_enrollment_request_refuses_missing_cert_request(csr: str | None) -> None:
    body = dogtag.enrollment_request("estServiceCert", csr or "")
    if csr is None:
        attributes = body["Input"][0]["Attribute"]
        body["Input"][0]["Attribute"] = [a for a in attributes if a["name"] != "cert_request"]
    with pytest.raises(PKIError, match="has no cert_request"):
        dogtag.parse_enrollment_request(body)


@pytest.mark.parametrize("request_type", ["crmf", "cmc"])
def test_parse_enrollment_request_refuses_other_cert_request_type(request_type: str) -> None:
    body = dogtag.enrollment_request("estServiceCert", "MIIB")
    body["Input"][0]["Attribute"][0]["Value"] = request_type
    with pytest.raises(PKIError, match=f"cert_request_type '{request_type}' is not supported"):
        dogtag.parse_enrollment_request(body)


def test_parse_enrollment_request_refuses_non_list_input() -> None:
    body = dogtag.enrollment_request("estServiceCert", "MIIB")
    body["Input"] = {"id": "i1"}
    with pytest.raises(PKIError, match="Input must be a list"):
        dogtag.parse_enrollment_request(body)


def test_parse_request_infos_reads_entries() -> None:
    body = {
        "total": 1,
        "entries": [
            {"requestID": "0x1a", "requestType": "enrollment", "requestStatus": "complete", "certId": "0xbeef"}
        ],
    }
    [info] = dogtag.parse_request_infos(body)
    assert (info.request_id, info.status, info.cert_id, info.error) == (0x1A, "complete", 0xBEEF, None)


def test_parse_request_infos_reads_id_from_request_url() -> None:
    [info] = dogtag.parse_request_infos(
        {"requestURL": "https://ca/ca/rest/certrequests/0x2b", "requestStatus": "pending"}
    )
    assert info.request_id == 0x2B
    assert info.cert_id is None


def test_parse_cert_data_refuses_missing_pem() -> None:
    with pytest.raises(PKIError, match="no PEM Encoded certificate"):
        dogtag.parse_cert_data({"id": "0x1", "Encoded": "MIIB"})


def test_pki_exception_uses_dogtag_class_names() -> None:
    body = dogtag.pki_exception(404, "no such request")
    assert body["ClassName"] == "com.netscape.certsrv.base.ResourceNotFoundException"
    assert (body["Code"], body["Message"]) == (404, "no such request")
    assert dogtag.pki_exception(418, "teapot")["ClassName"] == "com.netscape.certsrv.base.PKIException"


def test_v2_time_is_utc_with_offset() -> None:
    assert dogtag.v2_time(datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)) == "2025-03-04 05:06:07 +0000"
