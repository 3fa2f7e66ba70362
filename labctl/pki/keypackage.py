"""A server-generated private key for EST serverkeygen (RFC 7030 section 4.4.2): as a plain PKCS#8
PrivateKeyInfo, or encrypted for a client's certificate as CMS EnvelopedData (RFC 5652 section 6)
of an AsymmetricKeyPackage (RFC 5958).

Recipients: RSA by key transport (RSAES-OAEP with SHA-256, RFC 8017 / RFC 4055), EC by
ephemeral-static ECDH (RFC 5753 section 3.1, X9.63 KDF with SHA-384, AES-256 key wrap). Content is
AES-256-CBC. Both are what `openssl cms -decrypt -inkey client.key -recip client.crt` reads. ML-DSA
keys only sign: they cannot be a recipient.
"""

from __future__ import annotations

import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, keywrap, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from pyasn1.codec.der import decoder, encoder
from pyasn1.type import univ
from pyasn1_modules import rfc4055, rfc5280, rfc5652, rfc5753, rfc5958

from labctl.errors import PKIError
from labctl.pki.keys import PrivateKey, describe_key

ID_CT_KP_A_KEY_PACKAGE = univ.ObjectIdentifier("2.16.840.1.101.2.1.2.78.5")  # RFC 5958 section 3
ID_AES256_CBC = univ.ObjectIdentifier("2.16.840.1.101.3.4.1.42")  # RFC 3565
ID_AES256_WRAP = univ.ObjectIdentifier("2.16.840.1.101.3.4.1.45")  # RFC 3565
ID_EC_PUBLIC_KEY = univ.ObjectIdentifier("1.2.840.10045.2.1")
# dhSinglePass-stdDH-sha384kdf-scheme (RFC 5753 section 7.1.4): P-384 keys get a SHA-384 KDF.
ECDH_SHA384_KDF = univ.ObjectIdentifier("1.3.132.1.11.2")
CEK_BYTES = 32  # AES-256


def private_key_info(key: PrivateKey) -> bytes:
    """PKCS#8 PrivateKeyInfo DER (RFC 5208 / RFC 5958 v1). For ML-DSA, cryptography writes the 32-byte
    seed form of RFC 9881 section 6 (`[0] seed`), which OpenSSL 3.5 reads and every other form derives from."""
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def asymmetric_key_package(key: PrivateKey) -> bytes:
    """AsymmetricKeyPackage DER: a SEQUENCE of one OneAsymmetricKey, the PKCS#8 key (RFC 5958 section 2)."""
    one_key, _ = decoder.decode(private_key_info(key), asn1Spec=rfc5958.OneAsymmetricKey())
    package = rfc5958.AsymmetricKeyPackage()
    package.append(one_key)
    return bytes(encoder.encode(package))


def check_recipient(certificate: x509.Certificate) -> None:
    """A certificate the key can be encrypted for: RSA or EC (PKIError with the reason otherwise)."""
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise PKIError(f"a {describe_key(public_key)} key only signs: it cannot decrypt the generated key")


def envelop_key_package(key: PrivateKey, recipient: x509.Certificate, key_identifier: bytes) -> bytes:
    """ContentInfo(EnvelopedData) DER holding the AsymmetricKeyPackage of `key`, for `recipient`,
    which is named by `key_identifier` (its subjectKeyIdentifier, as RFC 7030 section 4.4.1.2 names it)."""
    check_recipient(recipient)
    content_key = os.urandom(CEK_BYTES)
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    plain = padder.update(asymmetric_key_package(key)) + padder.finalize()
    encryptor = Cipher(algorithms.AES(content_key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(plain) + encryptor.finalize()

    enveloped = rfc5652.EnvelopedData()
    # RFC 5652 section 6.1: version 2 when a RecipientInfo is not version 0 (an SKI rid, or kari).
    enveloped["version"] = 2
    enveloped["recipientInfos"].append(_recipient_info(recipient.public_key(), key_identifier, content_key))
    info = enveloped["encryptedContentInfo"]
    info["contentType"] = ID_CT_KP_A_KEY_PACKAGE  # RFC 7030 section 4.4.2
    info["contentEncryptionAlgorithm"]["algorithm"] = ID_AES256_CBC
    info["contentEncryptionAlgorithm"]["parameters"] = univ.OctetString(iv)
    info["encryptedContent"] = ciphertext

    content_info = rfc5652.ContentInfo()
    content_info["contentType"] = rfc5652.id_envelopedData
    content_info["content"] = enveloped
    return bytes(encoder.encode(content_info))


def _recipient_info(public_key: object, key_identifier: bytes, content_key: bytes) -> rfc5652.RecipientInfo:
    info = rfc5652.RecipientInfo()
    if isinstance(public_key, rsa.RSAPublicKey):
        _key_transport(info["ktri"], public_key, key_identifier, content_key)
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        _key_agreement(info["kari"], public_key, key_identifier, content_key)
    return info


def _key_transport(
    ktri: rfc5652.KeyTransRecipientInfo, public_key: rsa.RSAPublicKey, key_identifier: bytes, content_key: bytes
) -> None:
    """RFC 5652 section 6.2.1, with RSAES-OAEP SHA-256 (RFC 8017; parameters as RFC 4055 section 4.1 names them)."""
    ktri["version"] = 2  # the rid is a subjectKeyIdentifier
    ktri["rid"]["subjectKeyIdentifier"] = key_identifier
    ktri["keyEncryptionAlgorithm"]["algorithm"] = rfc4055.id_RSAES_OAEP
    ktri["keyEncryptionAlgorithm"]["parameters"] = rfc4055.rSAES_OAEP_SHA256_Params
    oaep = asym_padding.OAEP(mgf=asym_padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    ktri["encryptedKey"] = public_key.encrypt(content_key, oaep)


def _key_agreement(
    kari: rfc5652.KeyAgreeRecipientInfo,
    public_key: ec.EllipticCurvePublicKey,
    key_identifier: bytes,
    content_key: bytes,
) -> None:
    """RFC 5753 section 3.1.1: an ephemeral key on the recipient's curve; KEK = X9.63 KDF of the shared
    secret with ECC-CMS-SharedInfo; the content key AES-wrapped (RFC 3394) under it."""
    ephemeral = ec.generate_private_key(public_key.curve)
    wrap = rfc5280.AlgorithmIdentifier()
    wrap["algorithm"] = ID_AES256_WRAP  # AES wrap: parameters absent (RFC 5753 section 7.2)
    shared_info = rfc5753.ECC_CMS_SharedInfo()
    shared_info["keyInfo"] = wrap
    shared_info["suppPubInfo"] = (CEK_BYTES * 8).to_bytes(4, "big")  # KEK length in bits
    kek = X963KDF(hashes.SHA384(), CEK_BYTES, bytes(encoder.encode(shared_info))).derive(
        ephemeral.exchange(ec.ECDH(), public_key)
    )

    kari["version"] = 3
    originator = kari["originator"]["originatorKey"]
    originator["algorithm"]["algorithm"] = ID_EC_PUBLIC_KEY  # parameters absent: the recipient's curve
    point = ephemeral.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    originator["publicKey"] = univ.BitString.fromOctetString(point)
    kari["keyEncryptionAlgorithm"]["algorithm"] = ECDH_SHA384_KDF
    kari["keyEncryptionAlgorithm"]["parameters"] = wrap
    encrypted = rfc5652.RecipientEncryptedKey()
    encrypted["rid"]["rKeyId"]["subjectKeyIdentifier"] = key_identifier
    encrypted["encryptedKey"] = keywrap.aes_key_wrap(kek, content_key)
    kari["recipientEncryptedKeys"].append(encrypted)
