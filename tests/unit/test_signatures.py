"""Signature checks: issued_by, check_csr_signature, crl_signed_by, and load_der_certificate's errors."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from labctl.errors import PKIError
from labctl.pki.issue import (
    Issuer,
    build_crl,
    build_csr,
    common_name_subject,
    create_root_ca,
    load_der_certificate,
    sign_intermediate,
)
from labctl.pki.keys import KeyAlgorithm
from labctl.pki.signatures import check_csr_signature, crl_signed_by, issued_by
from tests.conftest import ALGORITHM_IDS, ALGORITHMS
from tests.helpers import key_for

ROOT_NAME = "Signatures Root CA"


@dataclass(frozen=True)
class Pki:
    root: Issuer
    intermediate: Issuer
    # Same subject as root, another key: what a forged chain would present.
    impostor: Issuer


@functools.cache
def _pki(algorithm: KeyAlgorithm) -> Pki:
    root = create_root_ca(key_for(algorithm, 0), ROOT_NAME, days=30)
    key = key_for(algorithm, 1)
    intermediate = Issuer(
        sign_intermediate(root, build_csr(key, common_name_subject("Signatures Sub CA")), days=10), key
    )
    impostor = create_root_ca(key_for(algorithm, 2), ROOT_NAME, days=30)
    return Pki(root, intermediate, impostor)


@pytest.fixture(params=ALGORITHMS, ids=ALGORITHM_IDS)
def pki(request: pytest.FixtureRequest) -> Pki:
    return _pki(request.param)


# --- issued_by ---------------------------------------------------------------------------------


def test_issued_by_accepts_the_issuers_certificate(pki: Pki) -> None:
    issued_by(pki.intermediate.certificate, pki.root.certificate)


def test_issued_by_accepts_a_self_signed_root(pki: Pki) -> None:
    issued_by(pki.root.certificate, pki.root.certificate)


def test_issued_by_another_ca_names_both_and_the_issuer_it_names(pki: Pki) -> None:
    other = _pki(KeyAlgorithm.EC_P384).intermediate.certificate
    with pytest.raises(PKIError) as info:
        issued_by(pki.intermediate.certificate, other)
    assert str(info.value) == (
        "CN=Signatures Sub CA was not issued by CN=Signatures Sub CA: it names issuer CN=Signatures Root CA"
    )


def test_issued_by_same_name_other_key_says_the_signature_does_not_verify(pki: Pki) -> None:
    with pytest.raises(PKIError) as info:
        issued_by(pki.intermediate.certificate, pki.impostor.certificate)
    assert str(info.value) == (
        "CN=Signatures Sub CA was not issued by CN=Signatures Root CA: the signature does not verify"
    )
    assert isinstance(info.value.__cause__, InvalidSignature)


def test_issued_by_issuer_of_another_key_type_is_a_pki_error() -> None:
    # Same issuer name, RSA key: cryptography raises ValueError (algorithm does not fit the key type).
    ecc_intermediate = _pki(KeyAlgorithm.EC_P384).intermediate.certificate
    rsa_root = _pki(KeyAlgorithm.RSA_4096).root.certificate
    with pytest.raises(PKIError, match=re.escape("was not issued by CN=Signatures Root CA: ")) as info:
        issued_by(ecc_intermediate, rsa_root)
    assert isinstance(info.value.__cause__, ValueError)
    assert "\n" not in str(info.value)


# --- check_csr_signature -----------------------------------------------------------------------


def _csr_der(algorithm: KeyAlgorithm) -> bytes:
    csr = build_csr(key_for(algorithm, 3), common_name_subject("device.cert-lab.local"))
    return csr.public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=ALGORITHM_IDS)
def test_check_csr_signature_accepts_a_signed_csr(algorithm: KeyAlgorithm) -> None:
    check_csr_signature(x509.load_der_x509_csr(_csr_der(algorithm)))


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=ALGORITHM_IDS)
def test_check_csr_signature_rejects_a_bad_signature(algorithm: KeyAlgorithm) -> None:
    der = _csr_der(algorithm)
    # The signature BIT STRING ends the DER: flipping a bit of its last byte keeps the encoding valid.
    tampered = x509.load_der_x509_csr(der[:-1] + bytes([der[-1] ^ 0x01]))
    with pytest.raises(PKIError, match=re.escape("CSR signature does not verify (proof of possession failed)")):
        check_csr_signature(tampered)


# --- crl_signed_by -----------------------------------------------------------------------------


def test_crl_signed_by_accepts_the_issuers_crl(pki: Pki) -> None:
    crl_signed_by(build_crl(pki.root, [], number=1), pki.root.certificate)


def test_crl_signed_by_another_key_names_both(pki: Pki) -> None:
    with pytest.raises(PKIError) as info:
        crl_signed_by(build_crl(pki.impostor, [], number=1), pki.root.certificate)
    assert str(info.value) == (
        "CRL of CN=Signatures Root CA is not signed by CN=Signatures Root CA: the signature does not verify"
    )


def test_crl_signed_by_another_ca_says_the_names_differ(pki: Pki) -> None:
    with pytest.raises(PKIError, match="CRL of CN=Signatures Root CA is not signed by CN=Signatures Sub CA"):
        crl_signed_by(build_crl(pki.root, [], number=1), pki.intermediate.certificate)


# --- load_der_certificate ----------------------------------------------------------------------


def test_load_der_certificate_names_what_it_was_reading() -> None:
    with pytest.raises(PKIError, match=r"^client certificate is unreadable: "):
        load_der_certificate(b"\x30\x03\x02\x01\x00", what="client certificate")
