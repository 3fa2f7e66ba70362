"""The Intermediate CA's REST API: Dogtag's paths and JSON for the subset the lab uses.

Served under /ca/rest, /ca/v1 and /ca/v2 alike. Agents authenticate with a TLS client certificate
this CA issued with an agent profile; their enrollments are issued at once, anyone else's stay
pending. Errors are Dogtag's PKIException JSON, so Dogtag clients raise the right exception.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from labctl import dogtag
from labctl.errors import PKIError, ServiceError
from labctl.pki.issue import certificates_pem
from labctl.pki.pkcs7 import certs_only_der
from labctl.pki.profiles import PROFILES
from labctl.services.ca.authority import ANONYMOUS, Caller, CAState, IntermediateCA, RevocationReason
from labctl.services.ca.store import CertRecord, CertStatus, RequestRecord, RequestStatus
from labctl.services.http import MAX_BODY as MAX_BODY_KEY
from labctl.services.http import PeerCertificate, error_headers, error_middleware, read_body, tls_peer_certificate

log = logging.getLogger(__name__)

AUTHORITY = web.AppKey("authority", IntermediateCA)
PEER: web.AppKey[PeerCertificate] = web.AppKey("peer_certificate")
NONCES: web.AppKey[dict[int, str]] = web.AppKey("nonces")
TLS_READY: web.AppKey[Callable[[], bool]] = web.AppKey("tls_ready")
MAX_BODY = 256 * 1024


def create_app(
    authority: IntermediateCA,
    *,
    peer_certificate: PeerCertificate = tls_peer_certificate,
    tls_ready: Callable[[], bool] = lambda: True,
) -> web.Application:
    """The CA's aiohttp application.

    Args:
        peer_certificate: how to read the TLS client certificate (the seam in-process tests use).
        tls_ready: whether the listener already serves the CA-issued TLS certificate; until then an
            installed CA reports "starting", so nobody connects expecting the new certificate too early.
    """
    app = web.Application(middlewares=[error_middleware(_json_error)], client_max_size=MAX_BODY)
    app[AUTHORITY] = authority
    app[PEER] = peer_certificate
    app[TLS_READY] = tls_ready
    app[NONCES] = {}
    app[MAX_BODY_KEY] = MAX_BODY
    routes = [
        web.get("/ca/admin/ca/getStatus", get_status),
        web.get("/ca/ee/ca/getStatus", get_status),
        web.get("/ca/ee/ca/getCertChain", get_cert_chain),
        web.get("/ca/ee/ca/getCRL", get_crl),
    ]
    for prefix in dogtag.API_PREFIXES:
        routes += [
            web.get(f"{prefix}/account/login", login),
            web.get(f"{prefix}/account/logout", logout),
            web.get(f"{prefix}/certrequests/profiles/{{profile_id}}", enrollment_template),
            web.post(f"{prefix}/certrequests", submit_request),
            web.get(f"{prefix}/certrequests/{{request_id}}", get_request),
            web.get(f"{prefix}/agent/certrequests", list_requests),
            web.get(f"{prefix}/agent/certrequests/{{request_id}}", review_request),
            web.post(f"{prefix}/agent/certrequests/{{request_id}}/approve", approve_request),
            web.post(f"{prefix}/agent/certrequests/{{request_id}}/reject", reject_request),
            web.get(f"{prefix}/certs", list_certs),
            web.post(f"{prefix}/certs/search", search_certs),
            web.get(f"{prefix}/certs/{{serial}}", get_cert),
            web.get(f"{prefix}/agent/certs/{{serial}}", get_cert),
            web.post(f"{prefix}/agent/certs/{{serial}}/revoke", revoke_cert),
            web.get(f"{prefix}/authorities/{dogtag.HOST_AUTHORITY}/chain", get_chain),
            web.get(f"{prefix}/config/cert/signing", get_signing_cert),
        ]
    app.add_routes(routes)
    return app


def _json_error(exc: ServiceError) -> web.Response:
    return web.json_response(
        dogtag.pki_exception(exc.status, exc.reason), status=exc.status, headers=error_headers(exc)
    )


# --- helpers -----------------------------------------------------------------------------------


def _authority(request: web.Request) -> IntermediateCA:
    return request.app[AUTHORITY]


def _caller(request: web.Request) -> Caller:
    return _authority(request).authenticate(request.app[PEER](request))


def _agent(request: web.Request) -> Caller:
    """The calling agent; 401 with a Basic challenge (as Dogtag) without credentials, 403 for a non-agent."""
    caller = _caller(request)
    if caller is ANONYMOUS:
        raise ServiceError(
            401,
            "agent authentication required (TLS client certificate)",
            authenticate=f'Basic realm="{dogtag.AGENT_REALM}"',
        )
    if not caller.is_agent:
        raise ServiceError(403, f"{caller.name} is not an agent of this CA")
    return caller


def _id(request: web.Request, key: str) -> int:
    try:
        return dogtag.parse_id(request.match_info[key])
    except PKIError as exc:
        raise ServiceError(400, str(exc)) from exc


async def _json_body(request: web.Request) -> Any:
    if request.content_type not in ("application/json", "application/octet-stream", "text/plain", ""):
        raise ServiceError(415, f"expected application/json, got {request.content_type}")
    raw = await read_body(request)
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ServiceError(400, f"malformed JSON: {exc}") from exc


def _base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}{request.path.split('/ca/', 1)[0]}/ca/{request.path.split('/')[2]}"


# --- status, chain, CRL ------------------------------------------------------------------------


async def get_status(request: web.Request) -> web.Response:
    """Dogtag 11 JSON form; Status: awaiting-certificate, install-failed, starting, running."""
    authority = _authority(request)
    authority.try_install()
    status = authority.state.value
    if authority.state is CAState.RUNNING and not request.app[TLS_READY]():
        status = "starting"
    response: dict[str, Any] = {"State": "1", "Type": "CA", "Status": status, "Version": "11.10"}
    if authority.state is CAState.RUNNING:
        response["Counts"] = authority.store.counts()
    if authority.install_error:
        response["Error"] = authority.install_error
    return web.json_response({"Response": response})


async def get_chain(request: web.Request) -> web.Response:
    """Certs-only PKCS#7 of the CA chain: PEM when asked for application/x-pem-file, else DER."""
    der = certs_only_der(_authority(request).chain)
    if "application/x-pem-file" in request.headers.get("Accept", ""):
        text = dogtag.b64_single_line(der)
        body = "-----BEGIN PKCS7-----\n" + "\n".join(text[i : i + 64] for i in range(0, len(text), 64))
        return web.Response(text=body + "\n-----END PKCS7-----\n", content_type="application/x-pem-file")
    return web.Response(body=der, content_type="application/pkcs7-mime")


async def get_cert_chain(request: web.Request) -> web.Response:
    der = certs_only_der(_authority(request).chain)
    return web.json_response({"Response": {"Status": "0", "ChainBase64": dogtag.b64_single_line(der)}})


async def get_signing_cert(request: web.Request) -> web.Response:
    authority = _authority(request)
    certificate = authority.issuer.certificate
    body = {
        "id": dogtag.format_id(certificate.serial_number),
        "IssuerDN": certificate.issuer.rfc4514_string(),
        "SubjectDN": certificate.subject.rfc4514_string(),
        "NotBefore": dogtag.v2_time(certificate.not_valid_before_utc),
        "NotAfter": dogtag.v2_time(certificate.not_valid_after_utc),
        "Encoded": certificate.public_bytes(serialization.Encoding.PEM).decode(),
        "PKCS7CertChain": dogtag.b64_single_line(certs_only_der(authority.chain)),
    }
    return web.json_response(body)


async def get_crl(request: web.Request) -> web.Response:
    der = _authority(request).crl_der()
    return web.Response(
        body=der,
        content_type="application/pkix-crl",
        headers={"Content-Disposition": "attachment; filename=MasterCRL.crl"},
    )


# --- accounts ----------------------------------------------------------------------------------


async def login(request: web.Request) -> web.Response:
    caller = _agent(request)
    return web.json_response({"id": caller.name, "FullName": caller.name, "Roles": ["Certificate Manager Agents"]})


async def logout(request: web.Request) -> web.Response:
    return web.Response(status=204)


# --- requests ----------------------------------------------------------------------------------


async def enrollment_template(request: web.Request) -> web.Response:
    profile_id = request.match_info["profile_id"]
    if profile_id not in PROFILES:
        raise ServiceError(404, f"profile {profile_id} not found")
    template = dogtag.enrollment_request(profile_id, "")
    return web.json_response(template)


async def submit_request(request: web.Request) -> web.Response:
    body = await _json_body(request)
    try:
        enrollment = dogtag.parse_enrollment_request(body)
    except PKIError as exc:
        raise ServiceError(400, str(exc)) from exc
    authority = _authority(request)
    record = authority.submit(
        enrollment.csr, enrollment.profile_id, _caller(request), bootstrap_credential=enrollment.credentials.get("pin")
    )
    info = _request_info(request, record)
    if record.serial is not None:
        # See dogtag.RequestInfo.certificate_pem: one round trip instead of two for the RA.
        info["certificate"] = certificates_pem([authority.certificate_of(record)]).decode()
    return web.json_response({"total": 1, "entries": [info]})


async def get_request(request: web.Request) -> web.Response:
    record = _authority(request).get_request(_id(request, "request_id"))
    return web.json_response(_request_info(request, record))


async def list_requests(request: web.Request) -> web.Response:
    _agent(request)
    state = request.query.get("requestState")
    try:
        status = RequestStatus(state) if state else None
    except ValueError:
        known = ", ".join(s.value for s in RequestStatus)
        raise ServiceError(400, f"unknown requestState {state!r} (known: {known})") from None
    # Filter in the query, not after the page: pending requests must not hide behind completed ones.
    records = _authority(request).store.list_requests(status=status, limit=_size(request))
    entries = [_request_info(request, r) for r in records]
    return web.json_response({"total": len(entries), "entries": entries})


async def review_request(request: web.Request) -> web.Response:
    _agent(request)
    record = _authority(request).get_request(_id(request, "request_id"))
    nonce = dogtag.new_nonce()
    request.app[NONCES][record.request_id] = nonce
    review = dogtag.enrollment_request(record.profile_id, "")
    review.update(
        {
            "nonce": nonce,
            "requestId": dogtag.format_id(record.request_id),
            "requestType": record.request_type,
            "requestStatus": record.status.value,
            "requestOwner": record.requester,
            "profileName": record.profile_id,
        }
    )
    return web.json_response(review)


async def approve_request(request: web.Request) -> web.Response:
    caller = _agent(request)
    request_id = _id(request, "request_id")
    _check_nonce(request, request_id, await _json_body(request))
    _authority(request).approve(request_id, caller)
    return web.Response(status=204)


async def reject_request(request: web.Request) -> web.Response:
    caller = _agent(request)
    request_id = _id(request, "request_id")
    _check_nonce(request, request_id, await _json_body(request))
    _authority(request).reject(request_id, caller)
    return web.Response(status=204)


def _check_nonce(request: web.Request, request_id: int, body: Any) -> None:
    """Dogtag replays the review's nonce on approve; a stale or foreign one is refused."""
    sent = body.get("nonce") if isinstance(body, dict) else None
    expected = request.app[NONCES].pop(request_id, None)
    if sent is not None and sent != expected:
        raise ServiceError(400, f"nonce does not match the last review of request 0x{request_id:x}")


def _request_info(request: web.Request, record: RequestRecord) -> dict[str, Any]:
    base = _base_url(request)
    info: dict[str, Any] = {
        "requestID": dogtag.format_id(record.request_id),
        "requestType": record.request_type,
        "requestStatus": record.status.value,
        "requestURL": f"{base}/certrequests/{dogtag.format_id(record.request_id)}",
        "certRequestType": "pkcs10",
        "operationResult": "error" if record.error else "success",
        "creationTime": dogtag.millis(record.created_at),
        "modificationTime": dogtag.millis(record.updated_at),
    }
    if record.serial is not None:
        info["certId"] = dogtag.format_id(record.serial)
        info["certURL"] = f"{base}/certs/{dogtag.format_id(record.serial)}"
    if record.error:
        info["errorMessage"] = record.error
    return info


# --- certificates ------------------------------------------------------------------------------


async def get_cert(request: web.Request) -> web.Response:
    authority = _authority(request)
    record = authority.get_certificate(_id(request, "serial"))
    return web.json_response(_cert_data(authority, record))


async def list_certs(request: web.Request) -> web.Response:
    status = _status_filter(request.query.get("status"))
    return _cert_infos(request, status=status, subject=None)


async def search_certs(request: web.Request) -> web.Response:
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise ServiceError(400, "search request must be a JSON object")
    subject = body.get("commonName") if body.get("subjectInUse", True) else None
    status = _status_filter(body.get("status"))
    return _cert_infos(request, status=status, subject=subject if isinstance(subject, str) else None)


def _status_filter(value: object) -> CertStatus | None:
    if value in (None, ""):
        return None
    try:
        return CertStatus(str(value).upper())
    except ValueError:
        raise ServiceError(400, f"unknown status {value!r} (VALID or REVOKED)") from None


def _size(request: web.Request) -> int:
    try:
        return max(1, min(int(request.query.get("size", "20")), 1000))
    except ValueError:
        raise ServiceError(400, "size must be an integer") from None


def _cert_infos(request: web.Request, *, status: CertStatus | None, subject: str | None) -> web.Response:
    try:
        start = max(0, int(request.query.get("start", "0")))
    except ValueError:
        raise ServiceError(400, "start must be an integer") from None
    total, records = _authority(request).store.list_certificates(
        status=status, subject_contains=subject, limit=_size(request), start=start
    )
    entries = [
        {
            "id": dogtag.format_id(r.serial),
            "SubjectDN": r.subject,
            "IssuerDN": r.issuer,
            "Status": _status_of(r),
            "Type": "X.509",
            "Version": 3,
            "NotValidBefore": dogtag.millis(r.not_before),
            "NotValidAfter": dogtag.millis(r.not_after),
            "IssuedOn": dogtag.millis(r.issued_at),
            "ProfileID": r.profile_id,
            **({"RevokedOn": dogtag.millis(r.revoked_at), "RevokedBy": r.revoked_by} if r.revoked_at else {}),
        }
        for r in records
    ]
    return web.json_response({"total": total, "entries": entries})


def _status_of(record: CertRecord) -> str:
    expired = record.not_after < datetime.now(UTC)
    if record.status is CertStatus.REVOKED:
        return "REVOKED_EXPIRED" if expired else "REVOKED"
    return "EXPIRED" if expired else "VALID"


def _cert_data(authority: IntermediateCA, record: CertRecord) -> dict[str, Any]:
    certificate = x509.load_der_x509_certificate(record.der)
    data: dict[str, Any] = {
        "id": dogtag.format_id(record.serial),
        "IssuerDN": record.issuer,
        "SubjectDN": record.subject,
        "Encoded": certificates_pem([certificate]).decode(),
        "PKCS7CertChain": dogtag.b64_single_line(certs_only_der([certificate, *authority.chain])),
        "NotBefore": dogtag.v2_time(record.not_before),
        "NotAfter": dogtag.v2_time(record.not_after),
        "Status": _status_of(record),
        "ProfileID": record.profile_id,
    }
    if record.revoked_at is not None:
        data["RevokedOn"] = dogtag.millis(record.revoked_at)
        data["RevokedBy"] = record.revoked_by
        data["RevocationReason"] = RevocationReason[record.revocation_reason or "Unspecified"].code
    return data


async def revoke_cert(request: web.Request) -> web.Response:
    caller = _agent(request)
    serial = _id(request, "serial")
    body = await _json_body(request)
    reason_text = body.get("Reason", "Unspecified") if isinstance(body, dict) else "Unspecified"
    reason = RevocationReason.parse(str(reason_text))
    record = _authority(request).revoke(serial, reason, caller)
    now = dogtag.millis(datetime.now(UTC))
    return web.json_response(
        {
            "requestType": "revocation",
            "requestStatus": "complete",
            "certId": dogtag.format_id(record.serial),
            "operationResult": "success",
            "creationTime": now,
            "modificationTime": now,
        }
    )
