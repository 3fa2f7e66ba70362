"""Dogtag CA REST wire format: the JSON the CA serves and its clients (EST RA, pki-cli, IoT) read.

Field names follow dogtagpki/pki's certsrv classes (CertData, CertDataInfo, CertRequestInfo,
CertEnrollmentRequest, CertReviewResponse, CertRevokeRequest, PKIException). IDs are "0x" hex
strings; request times are epoch milliseconds; CertData's NotBefore/NotAfter are strings.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from labctl.errors import PKIError

# /ca/rest/X is /ca/v1/X (Tomcat's rewrite); DogtagRABackend uses v2.
API_PREFIXES = ("/ca/rest", "/ca/v1", "/ca/v2")
AGENT_REALM = "Certificate Authority"
HOST_AUTHORITY = "host-authority"

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


def pki_exception(status: int, message: str) -> dict[str, Any]:
    """Dogtag's PKIException JSON, which its Java client turns back into the right exception class."""
    return {
        "Attributes": {"Attribute": []},
        "ClassName": EXCEPTION_CLASSES.get(status, "com.netscape.certsrv.base.PKIException"),
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
    # The lab CA's extension: an issued request's certificate (PEM) in the submit answer, which saves the
    # client Dogtag's GET certs/{id}. Dogtag's own classes ignore unknown fields; clients fall back to the GET.
    certificate_pem: bytes | None = None


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
                certificate_pem=entry["certificate"].encode() if isinstance(entry.get("certificate"), str) else None,
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
