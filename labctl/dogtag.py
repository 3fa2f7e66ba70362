"""Dogtag CA REST wire format: the JSON the CA serves and its clients (EST RA, pki-cli, IoT) read.

Field names follow dogtagpki/pki's certsrv classes (CertData, CertDataInfo, CertRequestInfo,
CertEnrollmentRequest, CertReviewResponse, CertRevokeRequest, ProfileData, ProfileDataInfo,
AuthorityData, PKIException; base/common/src/main/java/com/netscape/certsrv/). IDs are "0x" hex
strings; request times are epoch milliseconds; CertData's NotBefore/NotAfter are strings.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from labctl.errors import PKIError
from labctl.pki.keys import KeyKind
from labctl.pki.profiles import KEY_USAGE_BITS, Profile

# /ca/rest/X is /ca/v1/X (Tomcat's rewrite); DogtagRABackend uses v2.
API_PREFIXES = ("/ca/rest", "/ca/v1", "/ca/v2")
AGENT_REALM = "Certificate Authority"
HOST_AUTHORITY = "host-authority"
# /pki/rest/info and /pki/v2/info: dogtagpki/pki base/common/python/pki/client.py PKIClient.connect()
# talks v2 to servers from 11.6.0 on (the v2 servlets under /ca/v2 arrived with it).
SERVER_VERSION = "11.6.0"
SERVER_NAME = "labctl Intermediate CA (Dogtag PKI REST subset)"

# The 404s Dogtag's resources throw, each its own class (certsrv/cert/CertNotFoundException.java, ...),
# which its Python client maps to pki.CertNotFoundException, pki.RequestNotFoundException, ...
CERT_NOT_FOUND = "com.netscape.certsrv.cert.CertNotFoundException"
REQUEST_NOT_FOUND = "com.netscape.certsrv.request.RequestNotFoundException"
PROFILE_NOT_FOUND = "com.netscape.certsrv.profile.ProfileNotFoundException"

# The lab CA's extensions for an RA in manual approval mode (labctl/services/est_ra/approval.py), sent
# in a CertEnrollmentRequest's Attributes: HOLD_ATTRIBUTE=HOLD_VALUE leaves an agent's request pending
# even with a profile whose authenticator is AgentCertAuth (estServiceCert), which the lab CA, as Dogtag,
# otherwise issues at submit (Profile.authenticator, labctl/pki/profiles.py; a manual profile's request
# waits for an agent either way), and REPEAT_KEY_ATTRIBUTE names the request for the repeated EST
# request, which finds it again with GET agent/certrequests?repeatKey=... Dogtag has neither.
HOLD_ATTRIBUTE = "approval"
HOLD_VALUE = "manual"
REPEAT_KEY_ATTRIBUTE = "repeatKey"

EXCEPTION_CLASSES: Mapping[int, str] = {
    400: "com.netscape.certsrv.base.BadRequestException",
    401: "com.netscape.certsrv.base.UnauthorizedException",
    403: "com.netscape.certsrv.base.ForbiddenException",
    404: "com.netscape.certsrv.base.ResourceNotFoundException",
    409: "com.netscape.certsrv.base.ConflictingOperationException",
    413: "com.netscape.certsrv.base.BadRequestException",
    415: "com.netscape.certsrv.base.BadRequestException",
    503: "com.netscape.certsrv.base.ServiceUnavailableException",
}


def pki_exception(status: int, message: str, class_name: str | None = None) -> dict[str, Any]:
    """Dogtag's PKIException JSON, which its clients turn back into the right exception class."""
    return {
        "Attributes": {"Attribute": []},
        "ClassName": class_name or EXCEPTION_CLASSES.get(status, "com.netscape.certsrv.base.PKIException"),
        "Code": status,
        "Message": message,
    }


def format_id(value: int) -> str:
    return f"0x{value:x}"


def parse_id(text: str) -> int:
    """Dogtag's RequestId/CertId parse "0x.." hex or decimal."""
    value = text.strip()
    try:
        number = int(value[2:], 16) if value.lower().startswith("0x") else int(value, 10)
    except ValueError:
        raise PKIError(f"{text!r} is not an ID (0x-prefixed hex or decimal)") from None
    if number <= 0 or number.bit_length() > 160:
        raise PKIError(f"{text!r} is out of range")
    return number


def millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def v2_time(moment: datetime) -> str:
    """CertData v2 dates: SimpleDateFormat("yyyy-MM-dd HH:mm:ss Z")."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S +0000")


def new_nonce() -> str:
    return str(secrets.randbits(63))


# --- enrollment --------------------------------------------------------------------------------


def enrollment_request(
    profile_id: str,
    csr_b64: str,
    *,
    extra_inputs: Sequence[Mapping[str, Any]] = (),
    credentials: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A CertEnrollmentRequest as DogtagRABackend fills it: certReqInputImpl with a pkcs10 request.

    `credentials` go in the request's Attributes, where Dogtag's authenticators read them (e.g. pin).
    """
    attributes = [{"name": name, "value": value} for name, value in (credentials or {}).items()]
    return {
        "ProfileID": profile_id,
        "Renewal": False,
        "Input": [
            {
                "id": "i1",
                "ClassID": "certReqInputImpl",
                "Name": "Certificate Request Input",
                "Attribute": [
                    {"name": "cert_request_type", "Value": "pkcs10"},
                    {"name": "cert_request", "Value": csr_b64},
                ],
            },
            *extra_inputs,
        ],
        "Attributes": {"Attribute": attributes},
    }


@dataclass(frozen=True, slots=True)
class EnrollmentRequest:
    profile_id: str
    csr: bytes  # as sent: base64 or PEM
    attributes: Mapping[str, str]
    credentials: Mapping[str, str]  # the request's top-level Attributes: authenticator input such as pin


def fill_enrollment_template(template: object, csr_b64: str) -> dict[str, Any]:
    """The CertEnrollmentRequest DogtagRABackend submits: the CA's template (GET certrequests/profiles/{id})
    with certReqInputImpl's cert_request_type set to pkcs10 and cert_request to the CSR
    (DogtagRABackend.issueCertificate, dogtagpki/pki base/est/src/main/java/org/dogtagpki/est/).

    Raises:
        PKIError: the template is not a CertEnrollmentRequest with a certReqInputImpl input.
    """
    if not isinstance(template, dict) or not isinstance(template.get("Input"), list):
        raise PKIError("enrollment template is not a CertEnrollmentRequest (no Input list)")
    # Copied only along the path that changes, the rest shared with the caller's template: a deep copy of
    # the whole template was ~5% of the RA's profiled time per enrollment (issue 16).
    values = {"cert_request_type": "pkcs10", "cert_request": csr_b64}
    inputs = [_filled_input(item, values) for item in template["Input"]]
    if not any(filled is not item for filled, item in zip(inputs, template["Input"], strict=True)):
        raise PKIError("enrollment template has no certReqInputImpl input")
    return {**template, "Input": inputs}


def _filled_input(item: object, values: dict[str, str]) -> object:
    """A certReqInputImpl input with its attributes named in `values` set (a copy); any other input as it is."""
    if not isinstance(item, dict) or item.get("ClassID") != "certReqInputImpl":
        return item
    attributes = item.get("Attribute", [])
    filled = [
        {**attribute, "Value": values[attribute["name"]]}
        if isinstance(attribute, dict) and attribute.get("name") in values
        else attribute
        for attribute in (attributes if isinstance(attributes, list) else [])
    ]
    return {**item, "Attribute": filled}


def parse_enrollment_request(body: object) -> EnrollmentRequest:
    """Read ProfileID and the pkcs10 request out of a CertEnrollmentRequest.

    Raises:
        PKIError: the JSON lacks a profile or a pkcs10 cert_request.
    """
    if not isinstance(body, dict):
        raise PKIError("enrollment request must be a JSON object")
    profile_id = body.get("ProfileID") or body.get("profileId")
    if not isinstance(profile_id, str) or not profile_id:
        raise PKIError("enrollment request has no ProfileID")
    attributes: dict[str, str] = {}
    inputs = body.get("Input", [])
    if not isinstance(inputs, list):
        raise PKIError("enrollment request Input must be a list")
    for item in inputs:
        for attribute in item.get("Attribute", []) if isinstance(item, dict) else []:
            if isinstance(attribute, dict) and isinstance(attribute.get("name"), str):
                value = attribute.get("Value")
                if isinstance(value, str):
                    attributes[attribute["name"]] = value
    request_type = attributes.get("cert_request_type", "pkcs10")
    if request_type.lower() != "pkcs10":
        raise PKIError(f"cert_request_type {request_type!r} is not supported (use pkcs10)")
    csr = attributes.get("cert_request", "")
    if not csr.strip():
        raise PKIError("enrollment request has no cert_request")
    return EnrollmentRequest(profile_id, csr.encode("ascii", "replace"), attributes, _credentials(body))


def _credentials(body: Mapping[str, Any]) -> dict[str, str]:
    container = body.get("Attributes")
    items = container.get("Attribute", []) if isinstance(container, dict) else []
    credentials: dict[str, str] = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            value = item.get("value", item.get("Value"))
            if isinstance(value, str):
                credentials[item["name"]] = value
    return credentials


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """The fields of a CertRequestInfo a client acts on."""

    request_id: int
    request_type: str
    status: str
    cert_id: int | None
    error: str | None


def parse_request_infos(body: object) -> list[RequestInfo]:
    """Read CertRequestInfos ({"total", "entries"}) or a single CertRequestInfo."""
    entries = body["entries"] if isinstance(body, dict) and "entries" in body else [body]
    if not isinstance(entries, list):
        raise PKIError("CertRequestInfos.entries is not a list")
    infos = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise PKIError("CertRequestInfo is not a JSON object")
        raw_id = entry.get("requestID") or entry.get("requestId") or str(entry.get("requestURL", "")).rsplit("/", 1)[-1]
        cert_id = entry.get("certId")
        infos.append(
            RequestInfo(
                request_id=parse_id(str(raw_id)),
                request_type=str(entry.get("requestType", "")),
                status=str(entry.get("requestStatus", "")),
                cert_id=parse_id(cert_id) if isinstance(cert_id, str) and cert_id else None,
                error=entry.get("errorMessage") if isinstance(entry.get("errorMessage"), str) else None,
            )
        )
    return infos


@dataclass(frozen=True, slots=True)
class CertInfo:
    """The fields of a CertData a client acts on."""

    serial: int
    status: str
    pem: bytes
    subject_dn: str
    issuer_dn: str
    revocation_reason: int | None
    profile_id: str | None = None  # the lab CA adds ProfileID to CertData


def parse_cert_data(body: object) -> CertInfo:
    if not isinstance(body, dict):
        raise PKIError("CertData is not a JSON object")
    encoded = body.get("Encoded")
    if not isinstance(encoded, str) or "BEGIN CERTIFICATE" not in encoded:
        raise PKIError("CertData has no PEM Encoded certificate")
    reason = body.get("RevocationReason")
    return CertInfo(
        serial=parse_id(str(body.get("id", ""))),
        status=str(body.get("Status", "")),
        pem=encoded.encode("ascii"),
        subject_dn=str(body.get("SubjectDN", "")),
        issuer_dn=str(body.get("IssuerDN", "")),
        revocation_reason=reason if isinstance(reason, int) else None,
        profile_id=str(body["ProfileID"]) if body.get("ProfileID") else None,
    )


def revoke_request(reason: str, *, comments: str | None = None, nonce: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"Reason": reason}
    if comments:
        body["Comments"] = comments
    if nonce:
        body["Nonce"] = nonce
    return body


def b64_single_line(der: bytes) -> str:
    return base64.b64encode(der).decode("ascii")


# --- server info -------------------------------------------------------------------------------


def server_info() -> dict[str, Any]:
    """org.dogtagpki.common.Info (base/common/src/main/java/org/dogtagpki/common/Info.java): Name, Version."""
    return {"Name": SERVER_NAME, "Version": SERVER_VERSION}


# --- profiles and enrollment templates ---------------------------------------------------------

# Dogtag's descriptor syntaxes and texts for the two inputs of its server profiles (caServerCert.cfg:
# input.i1 certReqInputImpl, input.i2 submitterInfoInputImpl); base/ca/src/main/java/com/netscape/cms/profile/input/.
_CERT_REQUEST_INPUT = (
    "i1",
    "certReqInputImpl",
    "Certificate Request Input",
    (
        ("cert_request_type", "cert_request_type", "Certificate Request Type"),
        ("cert_request", "cert_request", "Certificate Request"),
    ),
)
_SUBMITTER_INPUT = (
    "i2",
    "submitterInfoInputImpl",
    "Requestor Information",
    (
        ("requestor_name", "string", "Requestor Name"),
        ("requestor_email", "string", "Requestor Email"),
        ("requestor_phone", "string", "Requestor Phone"),
    ),
)


def _profile_inputs(values: Mapping[str, str]) -> list[dict[str, Any]]:
    """ProfileInputs (certsrv/profile/ProfileInput.java: id, ClassID, Name, Attribute, ConfigAttribute)."""
    inputs = []
    for input_id, class_id, name, attributes in (_CERT_REQUEST_INPUT, _SUBMITTER_INPUT):
        inputs.append(
            {
                "id": input_id,
                "ClassID": class_id,
                "Name": name,
                "Attribute": [
                    {
                        "name": attribute,
                        **({"Value": values[attribute]} if attribute in values else {}),
                        "Descriptor": {"Syntax": syntax, "Description": description},
                    }
                    for attribute, syntax, description in attributes
                ],
                "ConfigAttribute": [],
            }
        )
    return inputs


def _profile_outputs() -> list[dict[str, Any]]:
    """certsrv/profile/ProfileOutput.java (id, name, classId, attributes), as caServerCert's o1 certOutputImpl."""
    return [
        {
            "id": "o1",
            "name": "Certificate Output",
            "classId": "certOutputImpl",
            "attributes": [
                {
                    "name": "pretty_cert",
                    "Descriptor": {"Syntax": "pretty_print", "Description": "Certificate Pretty Print"},
                },
                {
                    "name": "b64_cert",
                    "Descriptor": {"Syntax": "pretty_print", "Description": "Certificate Base-64 Encoded"},
                },
            ],
        }
    ]


def profile_set_id(profile: Profile) -> str:
    return f"{profile.profile_id}Set"


def _policy(
    policy_id: str,
    default: tuple[str, str, Mapping[str, str]],
    constraint: tuple[str, str, Mapping[str, str]] = ("No Constraint", "noConstraintImpl", {}),
) -> dict[str, Any]:
    """A ProfilePolicy (id, def, constraint); PolicyDefault and PolicyConstraint as Jackson writes them
    (certsrv/profile/PolicyDefault.java: name, classId, params; PolicyConstraint.java: name, classId, constraints)."""
    default_name, default_class, params = default
    constraint_name, constraint_class, values = constraint
    return {
        "id": policy_id,
        "def": {
            "name": default_name,
            "classId": default_class,
            "attributes": [],
            "params": [{"name": name, "value": value} for name, value in params.items()],
        },
        "constraint": {
            "name": constraint_name,
            "classId": constraint_class,
            "constraints": [{"name": name, "value": value} for name, value in values.items()],
        },
    }


# cryptography's key usage bit names -> Dogtag keyUsageExtDefaultImpl's parameters.
_KEY_USAGE_PARAMS = {
    "digital_signature": "keyUsageDigitalSignature",
    "content_commitment": "keyUsageNonRepudiation",
    "key_encipherment": "keyUsageKeyEncipherment",
    "data_encipherment": "keyUsageDataEncipherment",
    "key_agreement": "keyUsageKeyAgreement",
    "key_cert_sign": "keyUsageKeyCertSign",
    "crl_sign": "keyUsageCrlSign",
}
_KEY_TYPES = {KeyKind.RSA: "RSA", KeyKind.EC: "EC", KeyKind.ML_DSA: "MLDSA"}


def profile_policies(profile: Profile) -> list[dict[str, Any]]:
    """The lab profile's rules as Dogtag policies (numbered as in caServerCert.cfg's serverCertSet)."""
    bits = frozenset().union(*profile.key_usage.values())
    key_types = ",".join(_KEY_TYPES[kind] for kind in sorted(profile.allowed_kinds))
    policies = [
        _policy(
            "1",
            ("Subject Name Default", "userSubjectNameDefaultImpl", {}),
            ("Subject Name Constraint", "subjectNameConstraintImpl", {"pattern": "CN=.*"}),
        ),
        _policy(
            "2",
            ("Validity Default", "validityDefaultImpl", {"range": str(profile.validity_days), "startTime": "0"}),
            ("Validity Constraint", "validityConstraintImpl", {"range": str(profile.validity_days)}),
        ),
        _policy(
            "3",
            ("Key Default", "userKeyDefaultImpl", {}),
            ("Key Constraint", "keyConstraintImpl", {"keyType": key_types}),
        ),
        _policy("5", ("Authority Key Identifier Default", "authorityKeyIdentifierExtDefaultImpl", {})),
        _policy(
            "6",
            (
                "Key Usage Default",
                "keyUsageExtDefaultImpl",
                {"keyUsageCritical": "true"}
                | {_KEY_USAGE_PARAMS[bit]: str(bit in bits).lower() for bit in KEY_USAGE_BITS},
            ),
        ),
        _policy(
            "7",
            (
                "Extended Key Usage Extension Default",
                "extendedKeyUsageExtDefaultImpl",
                {
                    "exKeyUsageCritical": "false",
                    "exKeyUsageOIDs": ",".join(oid.dotted_string for oid in profile.extended_key_usage),
                },
            ),
        ),
        _policy("9", ("Subject Key Identifier Extension Default", "subjectKeyIdentifierExtDefaultImpl", {})),
    ]
    if profile.copy_cn_to_san:
        policies.append(
            _policy(
                "8",
                (
                    "Subject Alternative Name Extension Default",
                    "userExtensionDefaultImpl",
                    {"userExtOID": "2.5.29.17"},
                ),
            )
        )
    return policies


def profile_info(profile: Profile, url: str) -> dict[str, Any]:
    """certsrv/profile/ProfileDataInfo.java: the entries of ProfileDataInfos."""
    return {
        "profileId": profile.profile_id,
        "profileName": profile.description,
        "profileDescription": profile.description,
        "profileURL": url,
        "profileVisible": True,
        "profileEnable": True,
        "profileEnableBy": "admin",
    }


def enrollment_template(profile: Profile) -> dict[str, Any]:
    """GET certrequests/profiles/{id}: a CertEnrollmentRequest with the profile's inputs, values empty."""
    return _enrollment_body(profile, {})


def _enrollment_body(profile: Profile, values: Mapping[str, str]) -> dict[str, Any]:
    """certsrv/cert/CertEnrollmentRequest.java: ProfileID, Renewal, Input, Output, Attributes."""
    return {
        "ProfileID": profile.profile_id,
        "Renewal": False,
        "Input": _profile_inputs(values),
        "Output": [],
        "Attributes": {"Attribute": []},
    }


def review_response(profile: Profile, *, csr_b64: str, nonce: str, extra: Mapping[str, Any]) -> dict[str, Any]:
    """A CertReviewResponse (certsrv/cert/CertReviewResponse.java): the request's inputs, its profile's
    ProfilePolicySet (a list of {policies}), the nonce and the request*/profile* fields in `extra`."""
    return {
        **_enrollment_body(profile, {"cert_request_type": "pkcs10", "cert_request": csr_b64}),
        "ProfilePolicySet": [{"policies": profile_policies(profile)}],
        "nonce": nonce,
        "profileSetId": profile_set_id(profile),
        "profileIsVisible": "true",
        "profileDescription": profile.description,
        **extra,
    }


def profile_data(profile: Profile, url: str) -> dict[str, Any]:
    """GET profiles/{id}: ProfileData as Jackson writes it (certsrv/profile/ProfileData.java: id, classId,
    name, ..., inputs, outputs, policySets {set id: [ProfilePolicy]}).

    Plus the same content under the JAXB-era names Dogtag's Python client reads (pki/profile.py
    Profile.from_json: Input, Output, PolicySets {PolicySet: [{id, value}]}): see README, Dogtag compatibility.
    """
    inputs, outputs, policies = _profile_inputs({}), _profile_outputs(), profile_policies(profile)
    set_id = profile_set_id(profile)
    return {
        "id": profile.profile_id,
        "classId": "caEnrollImpl",
        "name": profile.description,
        "description": profile.description,
        "enabled": True,
        "visible": profile.visible,
        "enabledBy": "admin",
        "authenticatorId": profile.authenticator or "",  # ProfileData.authenticatorId: auth.instance_id
        "authzAcl": "",
        "renewal": False,
        "xmlOutput": False,
        "inputs": inputs,
        "outputs": outputs,
        "policySets": {set_id: policies},
        "Input": inputs,
        "Output": outputs,
        "PolicySets": {"PolicySet": [{"id": set_id, "value": policies}]},
        "link": {"rel": "self", "href": url, "type": "application/json"},
    }


# --- authorities -------------------------------------------------------------------------------


def authority_id(certificate: x509.Certificate) -> str:
    """A stable AuthorityID for the CA: Dogtag draws a random UUID at install; ours derives from the certificate."""
    digest = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def authority_data(certificate: x509.Certificate, *, description: str) -> dict[str, Any]:
    """certsrv/authority/AuthorityData.java as Jackson writes it: the host authority has no parentID."""
    return {
        "isHostAuthority": True,
        "id": authority_id(certificate),
        "issuerDN": certificate.issuer.rfc4514_string(),
        "serial": certificate.serial_number,
        "dn": certificate.subject.rfc4514_string(),
        "enabled": True,
        "description": description,
        "ready": True,
    }
