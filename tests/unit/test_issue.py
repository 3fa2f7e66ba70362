"""Issuance: root and Intermediate CAs, end-entity certificates by profile, CSRs, serials, CRLs, chains."""

from __future__ import annotations

import base64
import contextlib
import functools
import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from labctl.errors import PKIError
from labctl.pki.issue import (
    CLOCK_SKEW,
    Issuer,
    RevokedEntry,
    build_crl,
    build_csr,
    certificate_sans,
    common_name_subject,
    create_root_ca,
    csr_pem,
    format_serial,
    issue_certificate,
    load_csr,
    parse_serial,
    random_serial,
    sign_intermediate,
    verify_chain,
)
from labctl.pki.keys import KeyAlgorithm
from labctl.pki.profiles import SERVER_PROFILE_BY_KIND, get_profile
from tests.conftest import ALGORITHM_IDS, ALGORITHMS
from tests.helpers import (
    assert_has_aki_ski,
    assert_is_ca,
    assert_is_leaf,
    assert_issued_by,
    eku,
    key_for,
    key_usage_bits,
    small_rsa_key,
)

IDS = ALGORITHM_IDS
# key_for indexes: 0 root, 1 Intermediate CA (and impostor root), 2 end entity.
ROOT, INTERMEDIATE, LEAF = 0, 1, 2


@dataclass(frozen=True)
class Pki:
    algorithm: KeyAlgorithm
    root: Issuer
    intermediate: Issuer

    def csr(
        self, common_name: str = "device-1.cert-lab.local", sans: tuple[str, ...] = ()
    ) -> x509.CertificateSigningRequest:
        return build_csr(key_for(self.algorithm, LEAF), common_name_subject(common_name), sans)

    def issue(
        self, csr: x509.CertificateSigningRequest | None = None, profile_id: str | None = None
    ) -> x509.Certificate:
        profile = get_profile(profile_id or SERVER_PROFILE_BY_KIND[self.algorithm.kind])
        return issue_certificate(self.intermediate, csr or self.csr(), profile, serial=random_serial())


@functools.cache
def _pki(algorithm: KeyAlgorithm) -> Pki:
    root = create_root_ca(key_for(algorithm, ROOT), f"Test {algorithm.label} Root CA", days=3650, organization="Test")
    intermediate_key = key_for(algorithm, INTERMEDIATE)
    csr = build_csr(intermediate_key, common_name_subject(f"Test {algorithm.label} Intermediate CA"))
    intermediate = Issuer(sign_intermediate(root, csr, days=1825), intermediate_key)
    return Pki(algorithm, root, intermediate)


@pytest.fixture(params=ALGORITHMS, ids=IDS)
def pki(request: pytest.FixtureRequest) -> Pki:
    return _pki(request.param)


@functools.cache
def _leaf(algorithm: KeyAlgorithm) -> x509.Certificate:
    return _pki(algorithm).issue()


@pytest.fixture
def leaf(pki: Pki) -> x509.Certificate:
    return _leaf(pki.algorithm)


def _der(csr: x509.CertificateSigningRequest) -> bytes:
    return csr.public_bytes(serialization.Encoding.DER)


# --- root and Intermediate CA ------------------------------------------------------------------


def test_root_is_ca_with_path_length_1(pki: Pki) -> None:
    assert_is_ca(pki.root.certificate, path_length=1)


def test_root_is_self_signed(pki: Pki) -> None:
    root = pki.root.certificate
    assert root.subject == root.issuer
    root.verify_directly_issued_by(root)


def test_root_subject_has_cn_and_organization(pki: Pki) -> None:
    subject = pki.root.certificate.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == f"Test {pki.algorithm.label} Root CA"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Test"


def test_intermediate_is_ca_with_path_length_0(pki: Pki) -> None:
    assert_is_ca(pki.intermediate.certificate, path_length=0)


def test_intermediate_is_issued_by_root(pki: Pki) -> None:
    assert_issued_by(pki.intermediate.certificate, pki.root.certificate)


@pytest.mark.parametrize("which", ["root", "intermediate"])
def test_ca_key_usage_is_critical_with_cert_and_crl_sign(pki: Pki, which: str) -> None:
    cert = getattr(pki, which).certificate
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).critical
    assert key_usage_bits(cert) == {"key_cert_sign", "crl_sign", "digital_signature"}


def test_every_certificate_has_aki_and_ski(pki: Pki, leaf: x509.Certificate) -> None:
    for cert in (pki.root.certificate, pki.intermediate.certificate, leaf):
        assert_has_aki_ski(cert)


def test_root_aki_equals_its_own_ski(pki: Pki) -> None:
    root = pki.root.certificate
    aki = root.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest


def test_child_aki_equals_issuer_ski(pki: Pki, leaf: x509.Certificate) -> None:
    for child, parent in ((pki.intermediate.certificate, pki.root.certificate), (leaf, pki.intermediate.certificate)):
        aki = child.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        ski = parent.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        assert aki.key_identifier == ski.digest


def test_validity_is_timezone_aware_and_current(pki: Pki, leaf: x509.Certificate) -> None:
    now = datetime.now(UTC)
    for cert in (pki.root.certificate, pki.intermediate.certificate, leaf):
        assert cert.not_valid_before_utc.tzinfo is not None
        assert cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def test_intermediate_never_outlives_root(pki: Pki) -> None:
    short_root = create_root_ca(key_for(pki.algorithm, ROOT), "Short Root", days=5)
    csr = build_csr(key_for(pki.algorithm, INTERMEDIATE), common_name_subject("Long Intermediate"))
    intermediate = sign_intermediate(short_root, csr, days=1825)
    assert intermediate.not_valid_after_utc == short_root.certificate.not_valid_after_utc


def test_sign_intermediate_refuses_weak_key() -> None:
    root = _pki(KeyAlgorithm.EC_P384).root
    csr = build_csr(small_rsa_key(1024), common_name_subject("Weak Intermediate"))
    with pytest.raises(PKIError, match="RSA-1024 is too weak"):
        sign_intermediate(root, csr, days=10)


# --- end-entity certificates -------------------------------------------------------------------


def test_leaf_is_not_a_ca(leaf: x509.Certificate) -> None:
    assert_is_leaf(leaf)


def test_leaf_is_issued_by_intermediate(pki: Pki, leaf: x509.Certificate) -> None:
    assert_issued_by(leaf, pki.intermediate.certificate)


def test_leaf_key_usage_follows_server_profile(pki: Pki, leaf: x509.Certificate) -> None:
    profile = get_profile(SERVER_PROFILE_BY_KIND[pki.algorithm.kind])
    assert key_usage_bits(leaf) == set(profile.key_usage[pki.algorithm.kind])
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).critical


def test_leaf_keeps_csr_subject_and_key(pki: Pki, leaf: x509.Certificate) -> None:
    assert leaf.subject == common_name_subject("device-1.cert-lab.local")
    assert leaf.public_key() == key_for(pki.algorithm, LEAF).public_key()


def test_leaf_serial_is_the_one_given(pki: Pki) -> None:
    serial = random_serial()
    cert = issue_certificate(pki.intermediate, pki.csr(), get_profile("estServiceCert"), serial=serial)
    assert cert.serial_number == serial


def test_leaf_validity_starts_clock_skew_before_issuance(pki: Pki) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    cert = issue_certificate(
        pki.intermediate, pki.csr(), get_profile("estServiceCert"), serial=random_serial(), now=now
    )
    assert cert.not_valid_before_utc == now - CLOCK_SKEW
    assert cert.not_valid_after_utc == now + timedelta(days=90)


def test_leaf_never_outlives_issuer(pki: Pki) -> None:
    csr = build_csr(key_for(pki.algorithm, INTERMEDIATE), common_name_subject("Short Intermediate"))
    short = Issuer(sign_intermediate(pki.root, csr, days=10), key_for(pki.algorithm, INTERMEDIATE))
    cert = issue_certificate(short, pki.csr(), get_profile("estServiceCert"), serial=random_serial())
    assert cert.not_valid_after_utc == short.certificate.not_valid_after_utc


@pytest.mark.parametrize(
    ("profile_id", "expected"),
    [
        ("estServiceCert", {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}),
        ("estRAAgentCert", {ExtendedKeyUsageOID.CLIENT_AUTH}),
        ("caAdminCert", {ExtendedKeyUsageOID.CLIENT_AUTH}),
    ],
)
def test_eku_follows_profile(pki: Pki, profile_id: str, expected: set[x509.ObjectIdentifier]) -> None:
    assert eku(pki.issue(profile_id=profile_id)) == expected


def test_server_profile_eku_is_server_and_client_auth(leaf: x509.Certificate) -> None:
    assert eku(leaf) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}


def test_cn_is_copied_into_san(leaf: x509.Certificate) -> None:
    assert certificate_sans(leaf) == [x509.DNSName("device-1.cert-lab.local")]


def test_ip_cn_becomes_ip_address_san(pki: Pki) -> None:
    cert = pki.issue(pki.csr("172.26.0.20"))
    assert certificate_sans(cert) == [x509.IPAddress(ipaddress.ip_address("172.26.0.20"))]


def test_requested_sans_are_kept_after_the_cn(pki: Pki) -> None:
    cert = pki.issue(pki.csr("device-1.cert-lab.local", ("alt.cert-lab.local", "10.0.0.5")))
    assert certificate_sans(cert) == [
        x509.DNSName("device-1.cert-lab.local"),
        x509.DNSName("alt.cert-lab.local"),
        x509.IPAddress(ipaddress.ip_address("10.0.0.5")),
    ]


def test_cn_already_in_requested_sans_is_not_duplicated(pki: Pki) -> None:
    cert = pki.issue(pki.csr("device-1.cert-lab.local", ("alt.cert-lab.local", "device-1.cert-lab.local")))
    assert certificate_sans(cert) == [x509.DNSName("alt.cert-lab.local"), x509.DNSName("device-1.cert-lab.local")]


def test_agent_profile_does_not_copy_cn_into_san(pki: Pki) -> None:
    cert = pki.issue(pki.csr("est-ra-agent"), profile_id="estRAAgentCert")
    assert certificate_sans(cert) == []


def test_issue_refuses_key_family_the_profile_does_not_allow(pki: Pki) -> None:
    others = [a for a in ALGORITHMS if a is not pki.algorithm]
    profile = get_profile(SERVER_PROFILE_BY_KIND[others[0].kind])
    with pytest.raises(PKIError, match=f"profile {profile.profile_id} does not allow"):
        issue_certificate(pki.intermediate, pki.csr(), profile, serial=random_serial())


def test_issue_refuses_weak_rsa_key(pki: Pki) -> None:
    csr = build_csr(small_rsa_key(1024), common_name_subject("weak.cert-lab.local"))
    with pytest.raises(PKIError, match="RSA-1024 is too weak"):
        issue_certificate(pki.intermediate, csr, get_profile("estServiceCert"), serial=random_serial())


def test_issue_refuses_empty_subject(pki: Pki) -> None:
    csr = build_csr(key_for(pki.algorithm, LEAF), x509.Name([]))
    with pytest.raises(PKIError, match="empty subject"):
        issue_certificate(pki.intermediate, csr, get_profile("estServiceCert"), serial=random_serial())


def test_issue_refuses_non_ascii_cn_it_cannot_copy_into_san_with_pki_error(pki: Pki) -> None:
    # A UTF8String CN is legal in a CSR; copying it into a dNSName is not, and must be refused as
    # a PKIError (a profile constraint) rather than escape as a ValueError.
    with pytest.raises(PKIError, match=re.escape("café.cert-lab.local")):
        pki.issue(pki.csr("café.cert-lab.local"))


# --- serials -----------------------------------------------------------------------------------


def test_random_serials_are_positive_at_most_20_octets_and_unique() -> None:
    serials = [random_serial() for _ in range(200)]
    assert all(serial > 0 for serial in serials)
    assert all((serial.bit_length() + 8) // 8 <= 20 for serial in serials)  # DER INTEGER with sign bit
    assert len(set(serials)) == 200


def test_issued_serials_are_unique(pki: Pki) -> None:
    serials = {pki.issue().serial_number for _ in range(3)}
    assert len(serials) == 3


@pytest.mark.parametrize("text", ["0x1f", "0X1F", " 0x1f\n"], ids=["lower", "upper", "whitespace"])
def test_parse_serial_reads_0x_hex(text: str) -> None:
    assert parse_serial(text) == 0x1F


@pytest.mark.parametrize("text", ["31", "1f", ""], ids=["decimal", "bare-hex", "empty"])
def test_parse_serial_requires_0x_prefix(text: str) -> None:
    with pytest.raises(PKIError, match="needs the 0x prefix"):
        parse_serial(text)


@pytest.mark.parametrize("text", ["0x", "0xzz", "0x1g"], ids=["nothing", "letters", "trailing-junk"])
def test_parse_serial_rejects_non_hex(text: str) -> None:
    with pytest.raises(PKIError, match="is not a hex number"):
        parse_serial(text)


@pytest.mark.parametrize("text", ["0x0", "0x-1", "0x1" + "0" * 40], ids=["zero", "negative", "21-octets"])
def test_parse_serial_rejects_out_of_range(text: str) -> None:
    with pytest.raises(PKIError, match="out of range"):
        parse_serial(text)


@given(st.integers(min_value=1, max_value=2**159 - 1))
@settings(max_examples=100, deadline=None)
def test_format_serial_round_trips_through_parse_serial(serial: int) -> None:
    text = format_serial(serial)
    assert text.startswith("0x")
    assert text == text.lower()
    assert parse_serial(text) == serial


# --- CSRs --------------------------------------------------------------------------------------


@functools.cache
def _csr_der(algorithm: KeyAlgorithm) -> bytes:
    return _der(_pki(algorithm).csr("device-1.cert-lab.local", ("alt.cert-lab.local",)))


@pytest.fixture
def csr_der(pki: Pki) -> bytes:
    return _csr_der(pki.algorithm)


def test_load_csr_accepts_der(csr_der: bytes) -> None:
    assert _der(load_csr(csr_der)) == csr_der


def test_load_csr_accepts_pem(csr_der: bytes) -> None:
    pem = csr_pem(x509.load_der_x509_csr(csr_der))
    assert pem.startswith(b"-----BEGIN CERTIFICATE REQUEST-----")
    assert _der(load_csr(pem)) == csr_der


def test_load_csr_accepts_base64_wrapped_at_64_with_crlf(csr_der: bytes) -> None:
    text = base64.b64encode(csr_der)
    wrapped = b"\r\n".join(text[i : i + 64] for i in range(0, len(text), 64)) + b"\r\n"
    assert b"\r\n" in wrapped
    assert _der(load_csr(wrapped)) == csr_der


def test_load_csr_accepts_base64_unwrapped(csr_der: bytes) -> None:
    assert _der(load_csr(base64.b64encode(csr_der))) == csr_der


def test_load_csr_rejects_garbage_base64() -> None:
    with pytest.raises(PKIError, match="invalid base64"):
        load_csr(b"this is *not* base64!")


def test_load_csr_rejects_base64_of_garbage() -> None:
    with pytest.raises(PKIError, match="not a PKCS#10 certificate request"):
        load_csr(base64.b64encode(b"\x01\x02 hello, not DER"))


def test_load_csr_rejects_truncated_der(csr_der: bytes) -> None:
    with pytest.raises(PKIError, match="not a PKCS#10 certificate request"):
        load_csr(csr_der[: len(csr_der) // 2])


@pytest.mark.parametrize("data", [b"", b"  \r\n"], ids=["empty", "whitespace"])
def test_load_csr_rejects_empty_input(data: bytes) -> None:
    with pytest.raises(PKIError, match="empty"):
        load_csr(data)


def test_load_csr_rejects_tampered_signature(csr_der: bytes) -> None:
    # The signature BIT STRING is the last element of the DER; flip a bit in its final byte.
    tampered = csr_der[:-1] + bytes([csr_der[-1] ^ 0x01])
    with pytest.raises(PKIError, match="signature does not verify"):
        load_csr(tampered)


WHITESPACE_BYTES = b" \t\n\r\x0b\x0c"


@functools.cache
def _csr_der_ending_in_whitespace_byte() -> bytes:
    """An ECDSA CSR whose signature's last byte is a whitespace value (about 1 in 40 signatures)."""
    key = key_for(KeyAlgorithm.EC_P384, LEAF)
    for index in range(5000):
        der = _der(build_csr(key, common_name_subject(f"ws-{index}.cert-lab.local")))
        if der[-1] in WHITESPACE_BYTES:
            return der
    raise AssertionError("no ECDSA signature ended in a whitespace byte in 5000 tries")


def test_load_csr_accepts_der_whose_last_byte_is_whitespace() -> None:
    der = _csr_der_ending_in_whitespace_byte()
    assert _der(load_csr(der)) == der


def test_load_csr_rejects_bad_version_with_pki_error(csr_der: bytes) -> None:
    # CertificationRequestInfo.version is INTEGER 0 (02 01 00) right after the two SEQUENCE headers.
    position = csr_der.index(b"\x02\x01\x00")
    bad = csr_der[:position] + b"\x02\x01\x05" + csr_der[position + 3 :]
    with pytest.raises(PKIError, match="not a PKCS#10 certificate request"):
        load_csr(bad)


@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")  # fuzzed input may warn
@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512))
def test_load_csr_on_arbitrary_bytes_raises_only_pki_error(data: bytes) -> None:
    with contextlib.suppress(PKIError):
        load_csr(data)


@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")  # fuzzed input may warn
@settings(max_examples=100, deadline=None)
@given(st.data())
def test_load_csr_on_mutated_csr_raises_only_pki_error(data: st.DataObject) -> None:
    der = bytearray(_csr_der(KeyAlgorithm.EC_P384))
    position = data.draw(st.integers(min_value=0, max_value=len(der) - 1))
    der[position] = data.draw(st.integers(min_value=0, max_value=255))
    with contextlib.suppress(PKIError):
        load_csr(bytes(der))


# --- chains ------------------------------------------------------------------------------------


def test_verify_chain_passes_good_chain(pki: Pki, leaf: x509.Certificate) -> None:
    verify_chain(leaf, [pki.intermediate.certificate, pki.root.certificate])


def test_verify_chain_accepts_chain_in_any_order(pki: Pki, leaf: x509.Certificate) -> None:
    verify_chain(leaf, [pki.root.certificate, pki.intermediate.certificate])


def test_verify_chain_passes_intermediate_to_root(pki: Pki) -> None:
    verify_chain(pki.intermediate.certificate, [pki.root.certificate])


def test_verify_chain_fails_for_wrong_issuer_naming_the_cert(pki: Pki, leaf: x509.Certificate) -> None:
    # An impostor root with the same name but another key.
    impostor = create_root_ca(
        key_for(pki.algorithm, INTERMEDIATE), f"Test {pki.algorithm.label} Root CA", days=30, organization="Test"
    )
    assert impostor.certificate.subject == pki.root.certificate.subject
    with pytest.raises(PKIError) as info:
        verify_chain(leaf, [pki.intermediate.certificate, impostor.certificate])
    message = str(info.value)
    assert pki.intermediate.certificate.subject.rfc4514_string() in message
    assert "was not issued by" in message


def test_verify_chain_fails_when_issuer_is_missing_naming_the_cert(pki: Pki, leaf: x509.Certificate) -> None:
    with pytest.raises(PKIError, match=re.escape("no issuer for CN=device-1.cert-lab.local")):
        verify_chain(leaf, [pki.root.certificate])


def test_verify_chain_fails_outside_validity(pki: Pki, leaf: x509.Certificate) -> None:
    later = leaf.not_valid_after_utc + timedelta(days=1)
    with pytest.raises(PKIError, match=re.escape("CN=device-1.cert-lab.local is outside its validity period")):
        verify_chain(leaf, [pki.intermediate.certificate, pki.root.certificate], at=later)


# --- CRLs --------------------------------------------------------------------------------------


def test_build_crl_lists_revoked_serials_with_reasons(pki: Pki) -> None:
    revoked_at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    entries = [
        RevokedEntry(0x1001, revoked_at, x509.ReasonFlags.key_compromise),
        RevokedEntry(0x1002, revoked_at, x509.ReasonFlags.superseded),
    ]
    crl = build_crl(pki.intermediate, entries, number=7)
    assert crl.issuer == pki.intermediate.certificate.subject
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 7
    for entry in entries:
        listed = crl.get_revoked_certificate_by_serial_number(entry.serial)
        assert listed is not None
        assert listed.revocation_date_utc == revoked_at
        assert listed.extensions.get_extension_for_class(x509.CRLReason).value.reason is entry.reason
    assert len(crl) == 2


def test_build_crl_omits_reason_extension_for_unspecified(pki: Pki) -> None:
    crl = build_crl(pki.intermediate, [RevokedEntry(0x2002, datetime.now(UTC), x509.ReasonFlags.unspecified)], number=1)
    listed = crl.get_revoked_certificate_by_serial_number(0x2002)
    assert listed is not None
    with pytest.raises(x509.ExtensionNotFound):
        listed.extensions.get_extension_for_class(x509.CRLReason)


def test_build_crl_verifies_with_issuer_key(pki: Pki) -> None:
    crl = build_crl(pki.intermediate, [], number=1)
    assert crl.is_signature_valid(pki.intermediate.certificate.public_key())  # type: ignore[arg-type]


def test_build_crl_does_not_verify_with_another_key(pki: Pki) -> None:
    crl = build_crl(pki.intermediate, [], number=1)
    assert not crl.is_signature_valid(pki.root.certificate.public_key())  # type: ignore[arg-type]


def test_build_crl_carries_issuer_aki_and_next_update(pki: Pki) -> None:
    crl = build_crl(pki.intermediate, [], number=1, next_update=timedelta(hours=6))
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = pki.intermediate.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert crl.next_update_utc is not None
    assert crl.next_update_utc - crl.last_update_utc == timedelta(hours=6)
