"""The Intermediate CA's REST API: Dogtag's paths and JSON for the subset the lab uses.

Served under /ca/rest, /ca/v1 and /ca/v2 alike. Agents authenticate with a TLS client certificate
this CA issued with an agent profile, or with HTTP Basic as a password agent labctl listed in the data
dir's agents.sha256 (Dogtag: a CA user in Certificate Manager Agents; PKIClient sends its username and
password as Basic); a valid certificate wins over a password sent with it. An agent's enrollment with
an AgentCertAuth profile is issued at submit, any other waits for an agent's approval (IntermediateCA.submit). Errors are Dogtag's
PKIException JSON, so Dogtag clients raise the right exception.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from aiohttp import BasicAuth, web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from labctl import dogtag
from labctl.errors import PKIError, ServiceError
from labctl.pki.issue import certificates_pem
from labctl.pki.pkcs7 import certs_only_der
from labctl.pki.profiles import PROFILES, Profile
from labctl.services.ca.authority import (
    ANONYMOUS,
    Caller,
    CAState,
    IntermediateCA,
    RequestAction,
    RevocationReason,
)
from labctl.services.ca.events import attach_events
from labctl.services.ca.ocsp import add_ocsp_routes
from labctl.services.ca.store import CertRecord, CertStatus, RequestRecord, RequestStatus
from labctl.services.http import MAX_BODY as MAX_BODY_KEY
from labctl.services.http import PeerCertificate, error_headers, error_middleware, read_body, tls_peer_certificate

log = logging.getLogger(__name__)

AUTHORITY = web.AppKey("authority", IntermediateCA)
PEER: web.AppKey[PeerCertificate] = web.AppKey("peer_certificate")
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
    app[MAX_BODY_KEY] = MAX_BODY
    routes = [
        web.get("/ca/admin/ca/getStatus", get_status),
        web.get("/ca/ee/ca/getStatus", get_status),
        web.get("/ca/ee/ca/getCertChain", get_cert_chain),
        web.get("/ca/ee/ca/getCRL", get_crl),
        web.get("/pki/rest/info", get_info),
        web.get("/pki/v2/info", get_info),
    ]
    for prefix in dogtag.API_PREFIXES:
        routes += [
            web.get(f"{prefix}/account/login", login),
            web.get(f"{prefix}/account/logout", logout),
            web.get(f"{prefix}/certrequests/profiles", list_enrollment_templates),
            web.get(f"{prefix}/certrequests/profiles/{{profile_id}}", enrollment_template),
            web.post(f"{prefix}/certrequests", submit_request),
            web.get(f"{prefix}/certrequests/{{request_id}}", get_request),
            web.get(f"{prefix}/agent/certrequests", list_requests),
            web.get(f"{prefix}/agent/certrequests/{{request_id}}", review_request),
            web.post(f"{prefix}/agent/certrequests/{{request_id}}/approve", approve_request),
            web.post(f"{prefix}/agent/certrequests/{{request_id}}/reject", reject_request),
            *(
                web.post(f"{prefix}/agent/certrequests/{{request_id}}/{action.value}", change_request)
                for action in RequestAction
            ),
            web.get(f"{prefix}/certs", list_certs),
            web.post(f"{prefix}/certs/search", search_certs),
            web.get(f"{prefix}/certs/{{serial}}", get_cert),
            web.get(f"{prefix}/agent/certs/{{serial}}", review_cert),
            web.post(f"{prefix}/agent/certs/{{serial}}/revoke", revoke_cert),
            web.post(f"{prefix}/agent/certs/{{serial}}/revoke-ca", revoke_ca_cert),
            web.post(f"{prefix}/agent/certs/{{serial}}/unrevoke", unrevoke_cert),
            web.get(f"{prefix}/authorities", list_authorities),
            web.get(f"{prefix}/authorities/{{authority_id}}", get_authority),
            web.get(f"{prefix}/authorities/{{authority_id}}/cert", get_authority_cert),
            web.get(f"{prefix}/authorities/{{authority_id}}/chain", get_chain),
            web.get(f"{prefix}/profiles", list_profiles),
            web.get(f"{prefix}/profiles/{{profile_id}}", get_profile),
            web.get(f"{prefix}/config/cert/signing", get_signing_cert),
        ]
    app.add_routes(routes)
    add_ocsp_routes(app, authority)
    attach_events(app, authority, agent=_agent)  # labctl's extension: GET /ca/v2/labctl/events, webhooks
    return app


class DogtagError(ServiceError):
    """A ServiceError answered with a specific Dogtag exception class (e.g. CertNotFoundException)."""

    def __init__(self, status: int, reason: str, *, class_name: str) -> None:
        super().__init__(status, reason)
        self.class_name = class_name


def _json_error(exc: ServiceError) -> web.Response:
    class_name = exc.class_name if isinstance(exc, DogtagError) else None
    return web.json_response(
        dogtag.pki_exception(exc.status, exc.reason, class_name), status=exc.status, headers=error_headers(exc)
    )


@contextlib.contextmanager
def _not_found_as(class_name: str) -> Iterator[None]:
    """The authority's 404s, as the Dogtag resource in question names them."""
    try:
        yield
    except ServiceError as exc:
        if exc.status != 404 or isinstance(exc, DogtagError):
            raise
        raise DogtagError(404, exc.reason, class_name=class_name) from exc


# --- helpers -----------------------------------------------------------------------------------


def _authority(request: web.Request) -> IntermediateCA:
    return request.app[AUTHORITY]


def _unauthorized(reason: str) -> ServiceError:
    """401 with a Basic challenge, as Dogtag's CA answers."""
    return ServiceError(401, reason, authenticate=f'Basic realm="{dogtag.AGENT_REALM}"')


def _caller(request: web.Request) -> Caller:
    """Who calls: a valid TLS client certificate of this CA wins; else the HTTP Basic user, when the request
    sends one (401 unless it is a listed password agent with its password); else the certificate's caller."""
    authority = _authority(request)
    caller = authority.authenticate(request.app[PEER](request))
    authorization = request.headers.get("Authorization")
    if caller.serial is not None or authorization is None:
        return caller
    authority.issuer  # noqa: B018 - 503 before install: no agent can be known yet
    try:
        credentials = BasicAuth.decode(authorization, encoding="utf-8")
    except ValueError as exc:
        raise _unauthorized(f"malformed Authorization header: {exc}") from exc
    agent = authority.authenticate_password(credentials.login, credentials.password)
    if agent is None:
        # Unknown user or wrong password alike: the answer does not tell which names exist.
        raise _unauthorized(f"wrong username or password for {credentials.login!r}")
    return agent


def _agent(request: web.Request) -> Caller:
    """The calling agent; 401 with a Basic challenge (as Dogtag) without credentials, 403 for a non-agent."""
    caller = _caller(request)
    if caller is ANONYMOUS:
        _authority(request).issuer  # noqa: B018 - 503 before install: no agent can be known yet
        raise _unauthorized("agent authentication required (TLS client certificate or HTTP Basic)")
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


async def get_info(request: web.Request) -> web.Response:
    """/pki/rest/info and /pki/v2/info (base/server-webapp/.../rest/v2/InfoServlet.java): no authentication."""
    return web.json_response(dogtag.server_info())


async def get_chain(request: web.Request) -> web.Response:
    """Certs-only PKCS#7 of the CA chain: PEM when asked for application/x-pem-file, else DER."""
    _check_authority(request)
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


def _profile(profile_id: str) -> Profile:
    profile = PROFILES.get(profile_id)
    if profile is None:
        raise DogtagError(404, f"Profile ID {profile_id} not found", class_name=dogtag.PROFILE_NOT_FOUND)
    return profile


def _profile_infos(request: web.Request, url: Callable[[str], str]) -> web.Response:
    """ProfileDataInfos ({total, entries}), paged by start and size."""
    start, size = _start(request), _page_size(request, "size")
    profiles = list(PROFILES.values())
    entries = [dogtag.profile_info(p, url(p.profile_id)) for p in profiles[start : start + size]]
    return web.json_response({"total": len(profiles), "entries": entries})


async def list_enrollment_templates(request: web.Request) -> web.Response:
    """GET certrequests/profiles (base/ca/.../rest/v2/CertRequestServlet.java, path "profiles")."""
    base = _base_url(request)
    return _profile_infos(request, lambda profile_id: f"{base}/certrequests/profiles/{profile_id}")


async def enrollment_template(request: web.Request) -> web.Response:
    return web.json_response(dogtag.enrollment_template(_profile(request.match_info["profile_id"])))


async def list_profiles(request: web.Request) -> web.Response:
    """GET profiles (base/ca/.../rest/v2/ProfileServlet.java); Dogtag's Python client logs in first."""
    base = _base_url(request)
    return _profile_infos(request, lambda profile_id: f"{base}/profiles/{profile_id}")


async def get_profile(request: web.Request) -> web.Response:
    profile = _profile(request.match_info["profile_id"])
    return web.json_response(dogtag.profile_data(profile, f"{_base_url(request)}/profiles/{profile.profile_id}"))


async def submit_request(request: web.Request) -> web.Response:
    body = await _json_body(request)
    try:
        enrollment = dogtag.parse_enrollment_request(body)
    except PKIError as exc:
        raise ServiceError(400, str(exc)) from exc
    authority = _authority(request)
    attributes = enrollment.credentials
    record = authority.submit(
        enrollment.csr,
        enrollment.profile_id,
        _caller(request),
        bootstrap_credential=attributes.get("pin"),
        hold=attributes.get(dogtag.HOLD_ATTRIBUTE) == dogtag.HOLD_VALUE,
        repeat_key=attributes.get(dogtag.REPEAT_KEY_ATTRIBUTE) or None,
    )
    # CertRequestInfos, as Dogtag's: an issued request names its certId; the certificate is GET certs/{id}.
    return web.json_response({"total": 1, "entries": [_request_info(request, record)]})


def _get_request(request: web.Request) -> RequestRecord:
    request_id = _id(request, "request_id")
    with _not_found_as(dogtag.REQUEST_NOT_FOUND):
        return _authority(request).get_request(request_id)


async def get_request(request: web.Request) -> web.Response:
    return web.json_response(_request_info(request, _get_request(request)))


async def list_requests(request: web.Request) -> web.Response:
    """GET agent/certrequests: requestState, requestType, start, pageSize (rest/v2/AgentCertRequestServlet.java)."""
    caller = _agent(request)
    repeat_key = request.query.get(dogtag.REPEAT_KEY_ATTRIBUTE)
    if repeat_key:
        # The lab's look-up for an RA in manual approval mode (dogtag.REPEAT_KEY_ATTRIBUTE): 0 or 1 entries.
        held = _authority(request).find_held(repeat_key, caller)
        entries = [] if held is None else [_request_info(request, held)]
        return web.json_response({"total": len(entries), "entries": entries})
    state = request.query.get("requestState")
    try:
        status = RequestStatus(state) if state else None
    except ValueError:
        known = ", ".join(s.value for s in RequestStatus)
        raise ServiceError(400, f"unknown requestState {state!r} (known: {known})") from None
    # Filter in the query, not after the page: pending requests must not hide behind completed ones.
    total, records = _authority(request).store.list_requests(
        status=status,
        request_type=request.query.get("requestType") or None,
        limit=_page_size(request, "pageSize"),
        start=_start(request),
    )
    entries = [_request_info(request, r) for r in records]
    return web.json_response({"total": total, "entries": entries})


async def review_request(request: web.Request) -> web.Response:
    """A CertReviewResponse: the request as submitted, its profile's policies, and a nonce for approve/reject."""
    _agent(request)
    record = _get_request(request)
    nonce = dogtag.new_nonce()
    # In the store, not in this process: with several workers the approve may reach another one.
    _authority(request).store.put_nonce("request", str(record.request_id), nonce)
    csr_b64 = dogtag.b64_single_line(record.csr_der) if record.csr_der else ""
    review = dogtag.review_response(
        _profile(record.profile_id),
        csr_b64=csr_b64,
        nonce=nonce,
        extra={
            "requestId": dogtag.format_id(record.request_id),
            "requestType": record.request_type,
            "requestStatus": record.status.value,
            "requestOwner": record.requester,
            "requestCreationTime": str(dogtag.millis(record.created_at)),
            "requestModificationTime": str(dogtag.millis(record.updated_at)),
            "profileName": record.profile_id,
        },
    )
    return web.json_response(review)


async def approve_request(request: web.Request) -> web.Response:
    caller = _agent(request)
    request_id = _id(request, "request_id")
    _check_nonce(request, request_id, await _json_body(request))
    with _not_found_as(dogtag.REQUEST_NOT_FOUND):
        _authority(request).approve(request_id, caller)
    return web.Response(status=204)


async def reject_request(request: web.Request) -> web.Response:
    caller = _agent(request)
    request_id = _id(request, "request_id")
    _check_nonce(request, request_id, await _json_body(request))
    with _not_found_as(dogtag.REQUEST_NOT_FOUND):
        _authority(request).reject(request_id, caller)
    return web.Response(status=204)


async def change_request(request: web.Request) -> web.Response:
    """POST agent/certrequests/{id}/cancel, /update, /validate, /assign, /unassign with the review: 204
    (rest/v2/AgentCertRequestServlet.java postRequestOperation)."""
    caller = _agent(request)
    request_id = _id(request, "request_id")
    action = RequestAction(request.path.rsplit("/", 1)[1])
    _check_nonce(request, request_id, await _json_body(request))
    with _not_found_as(dogtag.REQUEST_NOT_FOUND):
        _authority(request).change_request(request_id, action, caller)
    return web.Response(status=204)


def _check_nonce(request: web.Request, request_id: int, body: Any) -> None:
    """Dogtag replays the review's nonce on approve; a stale or foreign one is refused."""
    sent = body.get("nonce") if isinstance(body, dict) else None
    expected = _authority(request).store.take_nonce("request", str(request_id))
    if sent is not None and sent != expected:
        raise ServiceError(400, f"nonce does not match the last review of request 0x{request_id:x}")


def _request_info(request: web.Request, record: RequestRecord) -> dict[str, Any]:
    base = _base_url(request)
    info: dict[str, Any] = {
        "requestID": dogtag.format_id(record.request_id),
        "requestType": record.request_type,
        "requestStatus": record.status.value,
        "requestURL": f"{base}/certrequests/{dogtag.format_id(record.request_id)}",
        "operationResult": "error" if record.error else "success",
        "creationTime": dogtag.millis(record.created_at),
        "modificationTime": dogtag.millis(record.updated_at),
    }
    if record.request_type == "enrollment":
        info["certRequestType"] = "pkcs10"
    # CertRequestInfoFactory.create: certId for an issued certificate or a revocation, not an unrevocation.
    if record.serial is not None and record.request_type != "unrevocation":
        info["certId"] = dogtag.format_id(record.serial)
        info["certURL"] = f"{base}/certs/{dogtag.format_id(record.serial)}"
    if record.error:
        info["errorMessage"] = record.error
    return info


# --- certificates ------------------------------------------------------------------------------


def _get_certificate(request: web.Request) -> CertRecord:
    serial = _id(request, "serial")
    with _not_found_as(dogtag.CERT_NOT_FOUND):
        return _authority(request).get_certificate(serial)


async def get_cert(request: web.Request) -> web.Response:
    return web.json_response(_cert_data(_authority(request), _get_certificate(request)))


async def review_cert(request: web.Request) -> web.Response:
    """GET agent/certs/{id}: CertData plus the Nonce a revocation hands back (rest/v2/AgentCertServlet.java)."""
    _agent(request)
    record = _get_certificate(request)
    data = _cert_data(_authority(request), record)
    nonce = int(dogtag.new_nonce())  # certsrv/cert/CertData.java: Long nonce
    _authority(request).store.put_nonce("cert", f"{record.serial:x}", str(nonce))
    data["Nonce"] = nonce
    return web.json_response(data)


async def list_certs(request: web.Request) -> web.Response:
    status = _status_filter(request.query.get("status"))
    return _cert_infos(request, status=status, subject=None)


async def search_certs(request: web.Request) -> web.Response:
    """POST certs/search with a CertSearchRequest (certsrv/cert/CertSearchRequest.java): commonName (a
    substring, or the whole CN with matchExactly), serialFrom/serialTo (0x hex or decimal), status."""
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise ServiceError(400, "search request must be a JSON object")
    subject = body.get("commonName") if body.get("subjectInUse", True) else None
    if not isinstance(subject, str) or not subject:
        subject = None
    exact = body.get("matchExactly") in (True, "true", "True")
    serials = [_serial_bound(body, key) for key in ("serialFrom", "serialTo")]
    return _cert_infos(
        request,
        status=_status_filter(body.get("status")),
        subject=None if exact else subject,
        common_name=subject if exact else None,
        serial_from=serials[0],
        serial_to=serials[1],
    )


def _serial_bound(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value in (None, ""):
        return None
    try:
        return dogtag.parse_id(str(value))
    except PKIError as exc:
        raise ServiceError(400, f"{key}: {exc}") from exc


def _status_filter(value: object) -> CertStatus | None:
    if value in (None, ""):
        return None
    try:
        return CertStatus(str(value).upper())
    except ValueError:
        raise ServiceError(400, f"unknown status {value!r} (VALID or REVOKED)") from None


def _page_size(request: web.Request, name: str) -> int:
    """The page size: Dogtag reads `size` on certs and profiles, `pageSize` on agent/certrequests
    (labctl's older callers sent `size` there: still read when `pageSize` is absent)."""
    text = request.query.get(name) or request.query.get("size") or "20"
    try:
        return max(1, min(int(text), 1000))
    except ValueError:
        raise ServiceError(400, f"{name} must be an integer") from None


def _start(request: web.Request) -> int:
    try:
        return max(0, int(request.query.get("start") or "0"))
    except ValueError:
        raise ServiceError(400, "start must be an integer") from None


def _cert_infos(
    request: web.Request,
    *,
    status: CertStatus | None,
    subject: str | None,
    common_name: str | None = None,
    serial_from: int | None = None,
    serial_to: int | None = None,
) -> web.Response:
    total, records = _authority(request).store.list_certificates(
        status=status,
        subject_contains=subject,
        common_name=common_name,
        serial_from=serial_from,
        serial_to=serial_to,
        limit=_page_size(request, "size"),
        start=_start(request),
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
    """POST agent/certs/{id}/revoke with a CertRevokeRequest; answers the revocation's CertRequestInfo
    (certsrv/cert/CertRequestInfo.java: requestID, requestURL, requestType "revocation", certId)."""
    return await _revoke(request, revoking_ca_cert=False)


async def revoke_ca_cert(request: web.Request) -> web.Response:
    """POST agent/certs/{id}/revoke-ca (Dogtag's CertClient.revoke_ca_cert): revoke's flow for the CA's own
    signing certificate. On the lab's Intermediates every certificate it holds is answered 401 "is not a CA
    signing certificate" (IntermediateCA._validate_certificate_to_revoke); Remove_from_CRL still unrevokes."""
    return await _revoke(request, revoking_ca_cert=True)


async def _revoke(request: web.Request, *, revoking_ca_cert: bool) -> web.Response:
    """Dogtag's order (base/ca/.../rest/v2/AgentCertServlet.java revokeCert; v1 AgentCertService.revokeCert):
    an unknown certificate is a 404 first, Remove_from_CRL is an unrevoke, then the nonce, then
    RevocationProcessor.validateCertificateToRevoke (in IntermediateCA.revoke)."""
    caller = _agent(request)
    serial = _id(request, "serial")
    body = await _json_body(request)
    body = body if isinstance(body, dict) else {}
    _get_certificate(request)  # CertNotFoundException before anything else
    reason = RevocationReason.parse(str(body.get("Reason", "Unspecified")))
    if reason is RevocationReason.Remove_from_CRL:
        # AgentCertServlet.revokeCert: "if (revReason == RevocationReason.REMOVE_FROM_CRL) return unrevokeCert(...)".
        return _unrevoke(request, caller, serial)
    sent = body.get("Nonce")
    expected = _authority(request).store.take_nonce("cert", f"{serial:x}")
    if sent is not None and str(sent) != str(expected):
        raise ServiceError(400, f"Nonce does not match the last review of certificate 0x{serial:x}")
    authority = _authority(request)
    with _not_found_as(dogtag.CERT_NOT_FOUND):
        # Dogtag records a revocation as a request of its own; GET certrequests/{requestID} finds it.
        _record, request_id = authority.revoke(serial, reason, caller, revoking_ca_cert=revoking_ca_cert)
    return web.json_response(_request_info(request, authority.get_request(request_id)))


async def unrevoke_cert(request: web.Request) -> web.Response:
    """POST agent/certs/{id}/unrevoke (no body): takes a held certificate off hold; answers the unrevocation's
    CertRequestInfo, requestType "unrevocation" (rest/v2/AgentCertServlet.java unrevokeCert). A certificate
    not on hold is no HTTP error in Dogtag either: operationResult "error" with its errorMessage."""
    return _unrevoke(request, _agent(request), _id(request, "serial"))


def _unrevoke(request: web.Request, caller: Caller, serial: int) -> web.Response:
    authority = _authority(request)
    with _not_found_as(dogtag.CERT_NOT_FOUND):
        _released, request_id = authority.unrevoke(serial, caller)
    return web.json_response(_request_info(request, authority.get_request(request_id)))


# --- authorities -------------------------------------------------------------------------------


def _check_authority(request: web.Request) -> None:
    """The one authority: by its ID or as host-authority (AuthorityRepository.getCA's alias)."""
    wanted = request.match_info.get("authority_id", dogtag.HOST_AUTHORITY)
    certificate = _authority(request).issuer.certificate
    if wanted not in (dogtag.HOST_AUTHORITY, dogtag.authority_id(certificate)):
        raise ServiceError(404, f"CA {wanted} not found")


def _authority_data(request: web.Request) -> dict[str, Any]:
    authority = _authority(request)
    return dogtag.authority_data(authority.issuer.certificate, description=authority.config.common_name)


async def list_authorities(request: web.Request) -> web.Response:
    """GET authorities: a JSON list of AuthorityData (rest/v2/AuthorityServlet.java findCAs)."""
    return web.json_response([_authority_data(request)])


async def get_authority(request: web.Request) -> web.Response:
    _check_authority(request)
    return web.json_response(_authority_data(request))


async def get_authority_cert(request: web.Request) -> web.Response:
    """The authority's signing certificate: PEM for application/x-pem-file, else DER (application/pkix-cert)."""
    _check_authority(request)
    certificate = _authority(request).issuer.certificate
    if "application/x-pem-file" in request.headers.get("Accept", ""):
        return web.Response(text=certificates_pem([certificate]).decode(), content_type="application/x-pem-file")
    return web.Response(body=certificate.public_bytes(serialization.Encoding.DER), content_type="application/pkix-cert")
