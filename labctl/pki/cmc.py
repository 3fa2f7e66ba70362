"""CMC Full PKI Requests and Responses (RFC 5272, RFC 6402) as EST's fullcmc carries them (RFC 7030 section 4.3).

The subset labctl serves: a PKIData in a CMS SignedData (RFC 5652) holding exactly one PKCS#10
TaggedRequest, signed by that request's own key (signer named by SubjectKeyIdentifier, RFC 5272
section 3.2; or by a certificate holding that key) or by a certificate the caller then checks;
answered with a PKIResponse holding one CMCStatusInfoV2 in a SignedData that carries the new
certificate. Signatures: RSA PKCS#1 v1.5, ECDSA, ML-DSA-87 (RFC 9882: pure mode over the signed attributes).

Two kinds of error: PKIError when the body is not a CMS SignedData at all (nothing to answer in CMC),
CMCFailure (with its CMCFailInfo) for everything after that.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, mldsa, padding, rsa
from pyasn1.codec.der import decoder as der_decoder
from pyasn1.codec.der import encoder as der_encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import namedtype, univ
from pyasn1_modules import rfc5280, rfc5652, rfc6402

from labctl.errors import PKIError
from labctl.pki.issue import decode_base64
from labctl.pki.keys import PrivateKey
from labctl.pki.signatures import check_csr_signature

ID_CCT_PKIDATA = str(rfc6402.id_cct_PKIData)  # 1.3.6.1.5.5.7.12.2
ID_CCT_PKIRESPONSE = str(rfc6402.id_cct_PKIResponse)  # 1.3.6.1.5.5.7.12.3
_ID_SIGNED_DATA = str(rfc5652.id_signedData)
_ID_CONTENT_TYPE = str(rfc5652.id_contentType)
_ID_MESSAGE_DIGEST = str(rfc5652.id_messageDigest)
_ID_STATUS_INFO_V2 = str(rfc6402.id_cmc_statusInfoV2)
_ID_TRANSACTION_ID = str(rfc6402.id_cmc_transactionId)
_ID_SENDER_NONCE = str(rfc6402.id_cmc_senderNonce)
_ID_RECIPIENT_NONCE = str(rfc6402.id_cmc_recipientNonce)
# Controls accepted and not acted on: transactionId and senderNonce are echoed (RFC 5272 section 6.6);
# regInfo is free-form information for the server (section 6.12) that this lab has no use for.
HARMLESS_CONTROLS = frozenset({_ID_TRANSACTION_ID, _ID_SENDER_NONCE, str(rfc6402.id_cmc_regInfo)})

_DIGESTS: dict[str, type[hashes.HashAlgorithm]] = {
    "2.16.840.1.101.3.4.2.1": hashes.SHA256,
    "2.16.840.1.101.3.4.2.2": hashes.SHA384,
    "2.16.840.1.101.3.4.2.3": hashes.SHA512,
}
_DIGEST_OIDS = {
    "sha256": "2.16.840.1.101.3.4.2.1",
    "sha384": "2.16.840.1.101.3.4.2.2",
    "sha512": "2.16.840.1.101.3.4.2.3",
}
_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
_RSA_WITH = {"1.2.840.113549.1.1.11": "sha256", "1.2.840.113549.1.1.12": "sha384", "1.2.840.113549.1.1.13": "sha512"}
_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
_ECDSA_WITH = {"1.2.840.10045.4.3.2": "sha256", "1.2.840.10045.4.3.3": "sha384", "1.2.840.10045.4.3.4": "sha512"}
ID_ML_DSA_87 = "2.16.840.1.101.3.4.3.19"
# A bodyPartID of 0 names the PKIData itself (RFC 5272 section 3.2.2): what a failure of the whole message refers to,
# e.g. a signature that does not verify (section 3.2.1.3.4).
WHOLE_MESSAGE = 0


class CMCStatus(enum.IntEnum):
    """CMCStatus (RFC 5272 section 6.1.3), the values a single-request exchange ends with."""

    SUCCESS = 0
    FAILED = 2
    NO_SUPPORT = 4


class FailInfo(enum.IntEnum):
    """CMCFailInfo (RFC 5272 section 6.1.4)."""

    BAD_ALG = 0
    BAD_MESSAGE_CHECK = 1
    BAD_REQUEST = 2
    BAD_TIME = 3
    BAD_CERT_ID = 4
    UNSUPPORTED_EXT = 5
    MUST_ARCHIVE_KEYS = 6
    BAD_IDENTITY = 7
    POP_REQUIRED = 8
    POP_FAILED = 9
    NO_KEY_REUSE = 10
    INTERNAL_CA_ERROR = 11
    TRY_LATER = 12
    AUTH_DATA_FAIL = 13


class CMCFailure(PKIError):
    """A CMC request refused: answered as a PKIResponse with CMCStatus failed and this failInfo, or with
    `fail_info` None, CMCStatus noSupport (RFC 5272 section 3.2.1: a request format not processed)."""

    def __init__(self, fail_info: FailInfo | None, reason: str, *, body_part_id: int = WHOLE_MESSAGE) -> None:
        super().__init__(reason)
        self.fail_info = fail_info
        self.reason = reason
        self.body_part_id = body_part_id


@dataclass(frozen=True, slots=True)
class Echo:
    """What a response repeats from its request (RFC 5272 section 6.6): transactionId, senderNonce."""

    transaction_id: bytes | None = None  # DER of the INTEGER, as sent
    sender_nonce: bytes | None = None  # DER of the OCTET STRING, as sent


@dataclass(frozen=True, slots=True)
class FullPKIRequest:
    body_part_id: int
    csr: x509.CertificateSigningRequest
    # None: signed with the request's own key; otherwise the certificate that signed (for the caller to check).
    signer: x509.Certificate | None
    echo: Echo


@dataclass(frozen=True, slots=True)
class FullPKIResponse:
    status: CMCStatus
    fail_info: FailInfo | None
    status_string: str | None
    body_list: tuple[int, ...]
    certificates: tuple[x509.Certificate, ...]
    signer: x509.Certificate

    @property
    def success(self) -> bool:
        return self.status is CMCStatus.SUCCESS


# --- reading a request ---------------------------------------------------------------------------


def decode_transfer(data: bytes, *, what: str) -> bytes:
    """DER from EST's base64 (any wrapping, PEM armour) or DER as is (RFC 7030 section 4.3.1, RFC 8951)."""
    # DER as sent, never stripped: its last byte may be one strip() takes for whitespace (a signature's).
    if data[:1] == b"\x30":
        return data
    stripped = data.strip()
    if stripped.startswith(b"-----BEGIN"):
        stripped = b"".join(line for line in stripped.splitlines() if not line.startswith(b"-----"))
    return decode_base64(stripped, what=what)


def _decode(der: bytes, spec: univ.Asn1Item, what: str) -> univ.Asn1Item:
    try:
        value, rest = der_decoder.decode(der, asn1Spec=spec)
    except (PyAsn1Error, ValueError, TypeError, AttributeError) as exc:
        detail = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
        raise PKIError(f"{what} is not valid DER: {detail}") from exc
    if rest:
        raise PKIError(f"{what} has {len(rest)} bytes after its end")
    return value


def _signed_data(der: bytes, what: str) -> rfc5652.SignedData:
    """The SignedData in a ContentInfo; PKIError for anything else (transport-level junk)."""
    info = _decode(der, rfc5652.ContentInfo(), f"{what} ContentInfo")
    if str(info["contentType"]) != _ID_SIGNED_DATA:
        raise PKIError(f"{what} is CMS {info['contentType']}, not SignedData")
    signed: rfc5652.SignedData = _decode(bytes(info["content"]), rfc5652.SignedData(), f"{what} SignedData")
    return signed


def _cmc_decode(der: bytes, spec: univ.Asn1Item, what: str) -> univ.Asn1Item:
    try:
        return _decode(der, spec, what)
    except PKIError as exc:
        raise CMCFailure(FailInfo.BAD_REQUEST, str(exc)) from exc


def _econtent(signed: rfc5652.SignedData, expected_type: str, what: str) -> bytes:
    encap = signed["encapContentInfo"]
    if str(encap["eContentType"]) != expected_type:
        raise CMCFailure(FailInfo.BAD_REQUEST, f"{what} carries {encap['eContentType']}, not {expected_type}")
    if not encap["eContent"].isValue:
        raise CMCFailure(FailInfo.BAD_REQUEST, f"{what} content is detached; send it inside the SignedData")
    return bytes(encap["eContent"])


def parse_full_pki_request(data: bytes) -> FullPKIRequest:
    """Read and check a Full PKI Request (RFC 5272 section 3.2) given as base64 or DER.

    The signature is checked; whether a signing certificate may sign is the caller's to decide.

    Raises:
        PKIError: not base64/DER, not a CMS SignedData (no CMC answer is possible).
        CMCFailure: anything wrong inside, with the CMCFailInfo to answer with.
    """
    signed = _signed_data(decode_transfer(data, what="CMC request"), "CMC request")
    content = _econtent(signed, ID_CCT_PKIDATA, "CMC request")
    pki_data = _cmc_decode(content, rfc6402.PKIData(), "PKIData")
    echo = _check_controls(pki_data["controlSequence"])
    if len(pki_data["cmsSequence"]) or len(pki_data["otherMsgSequence"]):
        raise CMCFailure(FailInfo.BAD_REQUEST, "nested CMS content and other messages are not supported")
    body_part_id, csr = _one_pkcs10(pki_data["reqSequence"])
    signer = _check_signature(signed, content, ID_CCT_PKIDATA, csr.public_key(), _request_key_ids(csr))
    return FullPKIRequest(body_part_id, csr, signer, echo)


def _request_key_ids(csr: x509.CertificateSigningRequest) -> frozenset[bytes]:
    """The identifiers a signer using the request's own key may go by: the CSR's SKI extension, if any,
    and the key's RFC 5280 section 4.2.1.2 method (1) identifier."""
    ids = {_key_identifier(csr.public_key())}
    ids.update(e.value.digest for e in csr.extensions if isinstance(e.value, x509.SubjectKeyIdentifier))
    return frozenset(ids)


def _check_controls(controls: univ.SequenceOf) -> Echo:
    """RFC 5272 section 3.2.1.1: the final server fails the whole PKIData when a control is not
    recognized, with badRequest and that control's bodyPartID (CMC controls carry no criticality
    flag: all are critical). This RA is the final server: it passes only the PKCS#10 on."""
    transaction_id = sender_nonce = None
    for control in controls:
        oid = str(control["attrType"])
        if oid not in HARMLESS_CONTROLS:
            raise CMCFailure(
                FailInfo.BAD_REQUEST, f"unsupported CMC control {oid}", body_part_id=int(control["bodyPartID"])
            )
        values = list(control["attrValues"])
        if len(values) != 1:
            raise CMCFailure(FailInfo.BAD_REQUEST, f"CMC control {oid} needs exactly one value")
        if oid == _ID_TRANSACTION_ID:
            transaction_id = bytes(values[0])
        elif oid == _ID_SENDER_NONCE:
            sender_nonce = bytes(values[0])
    return Echo(transaction_id, sender_nonce)


def _one_pkcs10(requests: univ.SequenceOf) -> tuple[int, x509.CertificateSigningRequest]:
    if len(requests) != 1:
        raise CMCFailure(FailInfo.BAD_REQUEST, f"expected exactly one TaggedRequest, got {len(requests)}")
    request = requests[0]
    kind = request.getName()
    if kind == "crm":
        raise CMCFailure(FailInfo.BAD_REQUEST, "CRMF (crm) requests are not supported; send a PKCS#10 (tcr)")
    if kind != "tcr":
        # RFC 5272 section 3.2.1: an other request (orm) not processed is answered noSupport.
        raise CMCFailure(None, f"{kind} requests are not supported; send a PKCS#10 (tcr)")
    body_part_id = int(request["tcr"]["bodyPartID"])
    try:
        csr = x509.load_der_x509_csr(der_encoder.encode(request["tcr"]["certificationRequest"]))
        check_csr_signature(csr)
    except (ValueError, PyAsn1Error) as exc:
        raise CMCFailure(FailInfo.BAD_REQUEST, "the PKCS#10 request is malformed", body_part_id=body_part_id) from exc
    except PKIError as exc:
        raise CMCFailure(FailInfo.POP_FAILED, str(exc), body_part_id=body_part_id) from exc
    return body_part_id, csr


# --- signatures ----------------------------------------------------------------------------------


def _certificates(signed: rfc5652.SignedData) -> list[x509.Certificate]:
    found = []
    for choice in signed["certificates"]:
        if choice.getName() == "certificate":
            try:
                found.append(x509.load_der_x509_certificate(der_encoder.encode(choice["certificate"])))
            except ValueError as exc:
                raise CMCFailure(FailInfo.BAD_REQUEST, "a certificate in the SignedData is malformed") from exc
    return found


def _key_identifier(public_key: object) -> bytes:
    return x509.SubjectKeyIdentifier.from_public_key(public_key).digest  # type: ignore[arg-type]


def _same_key(a: object, b: object) -> bool:
    der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return bool(a.public_bytes(*der) == b.public_bytes(*der))  # type: ignore[attr-defined]


def _check_signature(
    signed: rfc5652.SignedData,
    content: bytes,
    content_type: str,
    own_key: object | None,
    own_ids: frozenset[bytes] = frozenset(),
) -> x509.Certificate | None:
    """Check the one SignerInfo: signed attributes (RFC 5652 section 5.3, 5.4), then the signature.

    Returns None when the signer is `own_key` (the request's key), else the signing certificate.
    """
    infos = list(signed["signerInfos"])
    if len(infos) != 1:
        raise CMCFailure(FailInfo.BAD_MESSAGE_CHECK, f"expected one signer, got {len(infos)}")
    info = infos[0]
    certificate, public_key = _signer(info["sid"], _certificates(signed), own_key, own_ids)
    digest_oid = str(info["digestAlgorithm"]["algorithm"])
    digest = _DIGESTS.get(digest_oid)
    if digest is None:
        raise CMCFailure(FailInfo.BAD_ALG, f"digest algorithm {digest_oid} is not supported")
    if not info["signedAttrs"].isValue:
        # RFC 5652 section 5.3: signed attributes are required when the content is not id-data.
        raise CMCFailure(FailInfo.BAD_MESSAGE_CHECK, "the signature has no signed attributes")
    attributes = {str(a["attrType"]): list(a["attrValues"]) for a in info["signedAttrs"]}
    _require_attribute(attributes, _ID_CONTENT_TYPE, der_encoder.encode(univ.ObjectIdentifier(content_type)))
    hasher = hashes.Hash(digest())
    hasher.update(content)
    _require_attribute(attributes, _ID_MESSAGE_DIGEST, der_encoder.encode(univ.OctetString(hasher.finalize())))
    # RFC 5652 section 5.4: the signature covers the DER of the attributes with a SET OF tag.
    signed_bytes = b"\x31" + der_encoder.encode(info["signedAttrs"])[1:]
    _verify(public_key, str(info["signatureAlgorithm"]["algorithm"]), digest(), bytes(info["signature"]), signed_bytes)
    return certificate


def _require_attribute(attributes: dict[str, list[univ.Any]], oid: str, expected: bytes) -> None:
    values = attributes.get(oid)
    name = "content-type" if oid == _ID_CONTENT_TYPE else "message-digest"
    if values is None or len(values) != 1:
        raise CMCFailure(FailInfo.BAD_MESSAGE_CHECK, f"the signature needs exactly one {name} attribute")
    if bytes(values[0]) != expected:
        raise CMCFailure(FailInfo.BAD_MESSAGE_CHECK, f"the signed {name} attribute does not match the content")


def _signer(
    sid: rfc5652.SignerIdentifier,
    certificates: Sequence[x509.Certificate],
    own_key: object | None,
    own_ids: frozenset[bytes],
) -> tuple[x509.Certificate | None, object]:
    """Who signed: the request's own key, or a certificate carried in the SignedData.

    RFC 5272 section 3.2: signed with the request's key, the signer is named by subjectKeyIdentifier,
    the SKI extension of the request. Taken as liberally as clients send it: `openssl req` puts no SKI
    in a CSR, so the key's RFC 5280 section 4.2.1.2 (1) identifier is taken too, and so is a
    certificate holding the request's key (`openssl cms -sign` needs a throwaway self-signed one).
    """
    if sid.getName() == "subjectKeyIdentifier":
        key_id = bytes(sid["subjectKeyIdentifier"])
        if own_key is not None and key_id in own_ids:
            return None, own_key
        matches = [c for c in certificates if _ski(c) == key_id]
    else:
        issuer_serial = sid["issuerAndSerialNumber"]
        serial = int(issuer_serial["serialNumber"])
        issuer_der = der_encoder.encode(issuer_serial["issuer"])
        matches = [c for c in certificates if c.serial_number == serial and c.issuer.public_bytes() == issuer_der]
    if not matches:
        raise CMCFailure(
            FailInfo.BAD_MESSAGE_CHECK, "the signer is neither the request's key nor a certificate sent with it"
        )
    certificate = matches[0]
    public_key = certificate.public_key()
    if own_key is not None and _same_key(public_key, own_key):
        return None, own_key
    return certificate, public_key


def _ski(certificate: x509.Certificate) -> bytes | None:
    try:
        return certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None


def _verify(public_key: object, algorithm: str, digest: hashes.HashAlgorithm, signature: bytes, data: bytes) -> None:
    try:
        if isinstance(public_key, rsa.RSAPublicKey) and algorithm in (_RSA_ENCRYPTION, *_RSA_WITH):
            public_key.verify(signature, data, padding.PKCS1v15(), _hash_for(algorithm, _RSA_WITH, digest))
        elif isinstance(public_key, ec.EllipticCurvePublicKey) and algorithm in (_EC_PUBLIC_KEY, *_ECDSA_WITH):
            public_key.verify(signature, data, ec.ECDSA(_hash_for(algorithm, _ECDSA_WITH, digest)))
        elif isinstance(public_key, mldsa.MLDSA87PublicKey) and algorithm == ID_ML_DSA_87:
            public_key.verify(signature, data)
        else:
            raise CMCFailure(FailInfo.BAD_ALG, f"signature algorithm {algorithm} does not fit the signer's key")
    except InvalidSignature as exc:
        raise CMCFailure(FailInfo.BAD_MESSAGE_CHECK, "the CMS signature does not verify") from exc
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise CMCFailure(FailInfo.BAD_ALG, f"signature algorithm {algorithm} cannot be checked: {exc}") from exc


def _hash_for(algorithm: str, table: dict[str, str], digest: hashes.HashAlgorithm) -> hashes.HashAlgorithm:
    """The hash a `<hash>With<key>` algorithm names; a bare key OID (rsaEncryption) uses the SignerInfo's digest."""
    name = table.get(algorithm)
    return digest if name is None else _DIGESTS[_DIGEST_OIDS[name]]()


# --- writing -------------------------------------------------------------------------------------


def _digest_for(key: PrivateKey) -> hashes.HashAlgorithm:
    # RFC 9882 section 3.3: SHA-512 with ML-DSA-87; SHA-384 with the lab's RSA-4096 and P-384 keys.
    return hashes.SHA512() if isinstance(key, mldsa.MLDSA87PrivateKey) else hashes.SHA384()


def _signature_oid(key: PrivateKey) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "1.2.840.113549.1.1.12"  # sha384WithRSAEncryption (RFC 5754 section 3.2)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "1.2.840.10045.4.3.3"  # ecdsa-with-SHA384
    return ID_ML_DSA_87  # RFC 9882 section 3.2: parameters absent


def _sign(key: PrivateKey, data: bytes) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA384())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA384()))
    return key.sign(data)


def _algorithm(oid: str) -> rfc5280.AlgorithmIdentifier:
    identifier = rfc5280.AlgorithmIdentifier()
    identifier["algorithm"] = univ.ObjectIdentifier(oid)
    return identifier


def _attribute(oid: str, value_der: bytes) -> rfc5652.Attribute:
    attribute = rfc5652.Attribute()
    attribute["attrType"] = univ.ObjectIdentifier(oid)
    attribute["attrValues"].append(univ.Any(value_der))
    return attribute


def sign_content(
    content: bytes,
    content_type: str,
    key: PrivateKey,
    *,
    signer: x509.Certificate | None = None,
    certificates: Sequence[x509.Certificate] = (),
    key_id: bytes | None = None,
) -> bytes:
    """A DER ContentInfo: SignedData over `content`, signed by `key` with signed attributes (RFC 5652 section 5).

    The signer is named by `signer`'s issuer and serial number, or without one by `key_id` (default:
    the key's RFC 5280 identifier), as RFC 5272 section 3.2 names a request signed with its own key.
    """
    digest = _digest_for(key)
    hasher = hashes.Hash(digest)
    hasher.update(content)
    info = rfc5652.SignerInfo()
    if signer is None:
        info["version"] = 3
        info["sid"]["subjectKeyIdentifier"] = key_id or _key_identifier(key.public_key())
    else:
        info["version"] = 1
        tbs = _decode(signer.public_bytes(serialization.Encoding.DER), rfc5280.Certificate(), "certificate")
        info["sid"]["issuerAndSerialNumber"]["issuer"] = tbs["tbsCertificate"]["issuer"]
        info["sid"]["issuerAndSerialNumber"]["serialNumber"] = signer.serial_number
    info["digestAlgorithm"] = _algorithm(_DIGEST_OIDS[digest.name])
    info["signedAttrs"].append(_attribute(_ID_CONTENT_TYPE, der_encoder.encode(univ.ObjectIdentifier(content_type))))
    info["signedAttrs"].append(_attribute(_ID_MESSAGE_DIGEST, der_encoder.encode(univ.OctetString(hasher.finalize()))))
    info["signatureAlgorithm"] = _algorithm(_signature_oid(key))
    info["signature"] = _sign(key, b"\x31" + der_encoder.encode(info["signedAttrs"])[1:])

    signed = rfc5652.SignedData()
    signed["version"] = 3  # RFC 5652 section 5.1: eContentType is not id-data
    signed["digestAlgorithms"].append(_algorithm(_DIGEST_OIDS[digest.name]))
    signed["encapContentInfo"]["eContentType"] = univ.ObjectIdentifier(content_type)
    signed["encapContentInfo"]["eContent"] = content
    for certificate in certificates:
        choice = rfc5652.CertificateChoices()
        choice["certificate"] = _decode(
            certificate.public_bytes(serialization.Encoding.DER), rfc5280.Certificate(), "certificate"
        )
        signed["certificates"].append(choice)
    signed["signerInfos"].append(info)
    content_info = rfc5652.ContentInfo()
    content_info["contentType"] = rfc5652.id_signedData
    content_info["content"] = der_encoder.encode(signed)
    return bytes(der_encoder.encode(content_info))


def _tagged_attribute(body_part_id: int, oid: str, value_der: bytes) -> rfc6402.TaggedAttribute:
    attribute = rfc6402.TaggedAttribute()
    attribute["bodyPartID"] = body_part_id
    attribute["attrType"] = univ.ObjectIdentifier(oid)
    attribute["attrValues"].append(univ.Any(value_der))
    return attribute


def encode_pki_data(
    csrs: Sequence[tuple[int, x509.CertificateSigningRequest]],
    controls: Sequence[tuple[int, str, bytes]] = (),
) -> bytes:
    """DER PKIData: `controls` (bodyPartID, OID, DER value) and one tcr TaggedRequest per (bodyPartID, CSR)."""
    pki_data = rfc6402.PKIData()
    pki_data["controlSequence"].clear()
    pki_data["reqSequence"].clear()
    for body_part_id, oid, value in controls:
        pki_data["controlSequence"].append(_tagged_attribute(body_part_id, oid, value))
    for body_part_id, csr in csrs:
        request = rfc6402.TaggedRequest()
        request["tcr"]["bodyPartID"] = body_part_id
        request["tcr"]["certificationRequest"] = _decode(
            csr.public_bytes(serialization.Encoding.DER), rfc6402.CertificationRequest(), "CSR"
        )
        pki_data["reqSequence"].append(request)
    # pyasn1: an untouched SEQUENCE OF has no value; clear() makes it a valid empty one (all are required).
    pki_data["cmsSequence"].clear()
    pki_data["otherMsgSequence"].clear()
    return bytes(der_encoder.encode(pki_data))


def build_full_pki_request(
    csr: x509.CertificateSigningRequest,
    key: PrivateKey,
    *,
    signer: x509.Certificate | None = None,
    transaction_id: int | None = None,
) -> bytes:
    """A DER Full PKI Request for one CSR (bodyPartID 1), signed by `key` (the CSR's, or `signer`'s)."""
    controls = []
    if transaction_id is not None:
        controls.append((2, _ID_TRANSACTION_ID, der_encoder.encode(univ.Integer(transaction_id))))
    content = encode_pki_data([(1, csr)], controls)
    extra = [signer] if signer is not None else []
    return sign_content(content, ID_CCT_PKIDATA, key, signer=signer, certificates=extra)


def build_full_pki_response(
    *,
    key: PrivateKey,
    signer: x509.Certificate,
    body_part_id: int,
    echo: Echo = Echo(),
    certificates: Sequence[x509.Certificate] = (),
    failure: tuple[FailInfo | None, str] | None = None,
) -> bytes:
    """A DER Full PKI Response (RFC 5272 section 4.2): CMCStatusInfoV2 success for `body_part_id` with the
    certificates carried in the SignedData, or `failure` (failInfo, statusString): failed with that
    failInfo, or noSupport when it is None."""
    status = rfc6402.CMCStatusInfoV2()
    reference = rfc6402.BodyPartReference()
    reference["bodyPartID"] = body_part_id
    if failure is None:
        status["cMCStatus"] = int(CMCStatus.SUCCESS)
        status["bodyList"].append(reference)
    else:
        fail_info, reason = failure
        status["cMCStatus"] = int(CMCStatus.FAILED if fail_info is not None else CMCStatus.NO_SUPPORT)
        status["bodyList"].append(reference)
        status["statusString"] = reason[:256]
        if fail_info is not None:
            status["otherInfo"]["failInfo"] = int(fail_info)
    response = rfc6402.PKIResponse()
    response["controlSequence"].append(_tagged_attribute(1, _ID_STATUS_INFO_V2, der_encoder.encode(status)))
    if echo.transaction_id is not None:
        response["controlSequence"].append(_tagged_attribute(2, _ID_TRANSACTION_ID, echo.transaction_id))
    if echo.sender_nonce is not None:
        response["controlSequence"].append(_tagged_attribute(3, _ID_RECIPIENT_NONCE, echo.sender_nonce))
    response["cmsSequence"].clear()
    response["otherMsgSequence"].clear()
    content = bytes(der_encoder.encode(response))
    return sign_content(content, ID_CCT_PKIRESPONSE, key, signer=signer, certificates=[*certificates, signer])


# --- reading a response (the client's side) -------------------------------------------------------


class _StatusInfoV2(univ.Sequence):  # type: ignore[misc]
    """CMCStatusInfoV2 for decoding: pyasn1-modules' OtherStatusInfo choice holds two untagged SEQUENCEs
    (pendInfo, extendedFailInfo), which no decoder can tell apart; labctl reads failInfo and pendInfo."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("cMCStatus", rfc6402.CMCStatus()),
        namedtype.NamedType("bodyList", univ.SequenceOf(componentType=rfc6402.BodyPartReference())),
        namedtype.OptionalNamedType("statusString", rfc6402.char.UTF8String()),
        namedtype.OptionalNamedType(
            "otherInfo",
            univ.Choice(
                componentType=namedtype.NamedTypes(
                    namedtype.NamedType("failInfo", rfc6402.CMCFailInfo()),
                    namedtype.NamedType("pendInfo", rfc6402.PendInfo()),
                )
            ),
        ),
    )


def parse_full_pki_response(data: bytes) -> FullPKIResponse:
    """Read a Full PKI Response (base64 or DER), checking its signature against the certificate it names.

    Whether that certificate is one to trust is the caller's to check (its chain).

    Raises:
        PKIError: malformed, unsigned, or the signature does not verify.
    """
    signed = _signed_data(decode_transfer(data, what="CMC response"), "CMC response")
    content = _econtent(signed, ID_CCT_PKIRESPONSE, "CMC response")
    signer = _check_signature(signed, content, ID_CCT_PKIRESPONSE, None)
    assert signer is not None  # no own key given: _signer returns a certificate
    response = _cmc_decode(content, rfc6402.PKIResponse(), "PKIResponse")
    for control in response["controlSequence"]:
        if str(control["attrType"]) != _ID_STATUS_INFO_V2:
            continue
        status = _cmc_decode(bytes(control["attrValues"][0]), _StatusInfoV2(), "CMCStatusInfoV2")
        try:
            cmc_status = CMCStatus(int(status["cMCStatus"]))
            fail_info = None
            if status["otherInfo"].isValue and status["otherInfo"].getName() == "failInfo":
                fail_info = FailInfo(int(status["otherInfo"]["failInfo"]))
        except ValueError as exc:
            raise PKIError(f"CMC response status not understood: {exc}") from exc
        certificates = tuple(c for c in _certificates(signed) if c != signer)
        return FullPKIResponse(
            status=cmc_status,
            fail_info=fail_info,
            status_string=str(status["statusString"]) if status["statusString"].isValue else None,
            body_list=tuple(int(ref["bodyPartID"]) for ref in status["bodyList"] if ref.getName() == "bodyPartID"),
            certificates=certificates,
            signer=signer,
        )
    raise PKIError("CMC response has no CMCStatusInfoV2")
