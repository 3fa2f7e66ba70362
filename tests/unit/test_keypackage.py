"""The serverkeygen key package (RFC 5958) and its CMS envelope (RFC 5652 section 6), read back with pyasn1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from pyasn1.codec.der import decoder
from pyasn1_modules import rfc5652, rfc5958

from labctl.errors import PKIError
from labctl.pki.keypackage import (
    ID_CT_KP_A_KEY_PACKAGE,
    asymmetric_key_package,
    envelop_key_package,
    private_key_info,
)
from labctl.pki.keys import KeyAlgorithm, PrivateKey, signature_hash
from tests.helpers import key_for


def _certificate(key: PrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "client.cert-lab.local")])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
    )
    return builder.sign(key, signature_hash(key))


def test_key_package_holds_the_pkcs8_key() -> None:
    key = key_for(KeyAlgorithm.EC_P384, 40)
    package, rest = decoder.decode(asymmetric_key_package(key), asn1Spec=rfc5958.AsymmetricKeyPackage())
    assert not rest
    assert len(package) == 1
    assert str(package[0]["privateKeyAlgorithm"]["algorithm"]) == "1.2.840.10045.2.1"  # id-ecPublicKey


@pytest.mark.parametrize(
    ("algorithm", "choice"), [(KeyAlgorithm.RSA_4096, "ktri"), (KeyAlgorithm.EC_P384, "kari")], ids=["rsa", "ecc"]
)
def test_envelope_names_the_recipient_by_its_key_identifier(algorithm: KeyAlgorithm, choice: str) -> None:
    recipient = _certificate(key_for(algorithm, 41))
    der = envelop_key_package(key_for(KeyAlgorithm.EC_P384, 40), recipient, b"\x07" * 20)
    content_info, _ = decoder.decode(der, asn1Spec=rfc5652.ContentInfo())
    assert content_info["contentType"] == rfc5652.id_envelopedData
    enveloped, _ = decoder.decode(content_info["content"], asn1Spec=rfc5652.EnvelopedData())
    assert enveloped["version"] == 2
    assert enveloped["encryptedContentInfo"]["contentType"] == ID_CT_KP_A_KEY_PACKAGE
    [info] = list(enveloped["recipientInfos"])
    assert info.getName() == choice
    if choice == "ktri":
        assert bytes(info["ktri"]["rid"]["subjectKeyIdentifier"]) == b"\x07" * 20
    else:
        [encrypted] = list(info["kari"]["recipientEncryptedKeys"])
        assert bytes(encrypted["rid"]["rKeyId"]["subjectKeyIdentifier"]) == b"\x07" * 20
    assert private_key_info(key_for(KeyAlgorithm.EC_P384, 40)) not in der


def test_an_ml_dsa_certificate_cannot_be_a_recipient() -> None:
    recipient = _certificate(key_for(KeyAlgorithm.ML_DSA_87, 41))
    with pytest.raises(PKIError, match="only signs"):
        envelop_key_package(key_for(KeyAlgorithm.EC_P384, 40), recipient, b"\x07" * 20)
