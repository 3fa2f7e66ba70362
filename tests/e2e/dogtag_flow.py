"""A Dogtag user's session against a lab CA, with Dogtag's own Python client (run as a script).

Run from the host against rsa and ecc (tests/integration/test_dogtag_flow.py, tests/e2e/test_dogtag_flows.py)
and from a container on the pqc network (OpenSSL 3.5 for ML-DSA TLS), with Dogtag's current client
(tests/vendor/dogtag_pki_main) importable. It imports nothing of labctl, only the client, `requests` and
`cryptography`: what it does is what a Dogtag user's script does, through the client's public API.

    python3 dogtag_flow.py URL CA_BUNDLE CERT KEY ALGORITHM MANUAL_PROFILE NAME

Prints one JSON object per step ({"step": ..., observed facts}); tests/dogtag_flows.py
assert_dogtag_semantics says what Dogtag answers each with. A refusal the session provokes is recorded
(exception class, code, message), never raised; any other error ends the script non-zero.

The session, one function per call group: server info (v1, then connect() unpinned, which picks v2);
account login; profiles and enrollment templates; DogtagRABackend.issueCertificate's exchange
(dogtagpki/pki base/est/src/main/java/org/dogtagpki/est/DogtagRABackend.java) with estServiceCert and
with the manual profile, and CertClient.enroll_cert; the agent's request operations, each on its own
pending request; certificates listed, shown, reviewed, searched; revoke-ca, hold, release,
Remove_from_CRL, revoke; the host authority, its certificate and chain; logout.
"""

from __future__ import annotations

import base64
import json
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

# In a client container the client comes as one file next to this script (tests/dogtag_flows.py).
if Path(__file__).with_name("dogtag.zip").exists():
    sys.path.insert(0, str(Path(__file__).with_name("dogtag.zip")))

import pki
import pki.account
import pki.authority
import pki.ca
import pki.cert
import pki.client
import pki.info
import pki.profile
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID


def step(name: str, **observed: Any) -> None:
    print(json.dumps({"step": name, **observed}), flush=True)


def refusal(call: Callable[[], object]) -> dict[str, Any]:
    """What a call the session expects to be refused raised: Dogtag's exception class, code and message."""
    try:
        call()
    except pki.PKIException as exc:
        return {"exception": type(exc).__name__, "code": exc.code, "message": exc.message}
    except Exception as exc:
        response = getattr(exc, "response", None)
        return {"exception": type(exc).__name__, "code": getattr(response, "status_code", None), "message": str(exc)}
    return {"exception": None, "code": None, "message": None}


# --- keys and CSRs -----------------------------------------------------------------------------


def _key(algorithm: str) -> Any:
    if algorithm == "rsa-4096":
        return rsa.generate_private_key(public_exponent=65537, key_size=4096)
    if algorithm == "ec-p384":
        return ec.generate_private_key(ec.SECP384R1())
    from cryptography.hazmat.primitives.asymmetric import mldsa  # cryptography >= 50

    return mldsa.MLDSA87PrivateKey.generate()


def _csr_b64(algorithm: str, common_name: str) -> str:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    )
    csr = builder.sign(_key(algorithm), None if algorithm == "ml-dsa-87" else hashes.SHA384())
    return base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode()


# --- server info and account -------------------------------------------------------------------


def server_info(url: str, bundle: str, cert: str, key: str) -> pki.client.PKIClient:
    """GET /pki/rest/info with a client pinned to v1, then connect() unpinned: /pki/v2/info, and v2 chosen."""
    pinned = pki.client.PKIClient(url, ca_bundle=bundle, api_version="v1")
    info = pki.info.InfoClient(pinned).get_info()
    step("info-v1", version=info.version)
    client = pki.client.PKIClient(url, ca_bundle=bundle)
    client.set_client_auth(cert, key)
    client.connect()
    step("connect", api=client.get_api_version(), version=str(client.get_server_version()))
    return client


def login(ca: pki.ca.CAClient) -> None:
    account = pki.account.AccountClient(ca).login()
    step("login", id=account.get("id"), roles=account.get("Roles"))


def logout(ca: pki.ca.CAClient) -> None:
    pki.account.AccountClient(ca).logout()
    step("logout", done=True)


# --- profiles and enrollment templates ----------------------------------------------------------


def profiles(ca: pki.ca.CAClient, manual_profile: str) -> None:
    client = pki.profile.ProfileClient(ca)
    step("profiles", ids=sorted(p.profile_id for p in client.list_profiles()))
    profile = client.get_profile(manual_profile)
    policy_sets = {s.name: len(s.policy_list) for s in profile.policy_set_list.policy_sets}
    step("profile", id=profile.profile_id, authenticator=profile.authenticator_id, policy_sets=policy_sets)


def templates(certs: pki.cert.CertClient, manual_profile: str) -> None:
    step("templates", ids=sorted(p.profile_id for p in certs.list_enrollment_templates()))
    template = certs.get_enrollment_template(manual_profile)
    inputs = {
        i.class_id: {"attributes": [a.name for a in i.attributes], "config": [a.name for a in i.config_attributes]}
        for i in template.inputs
    }
    step("template", id=template.profile_id, inputs=inputs)


# --- enrollment --------------------------------------------------------------------------------


def _submit(certs: pki.cert.CertClient, profile: str, csr_b64: str) -> pki.cert.CertRequestInfo:
    """Fill the profile's template with a PKCS#10 request and submit it, as DogtagRABackend does."""
    request = certs.get_enrollment_template(profile)
    for item in request.inputs:
        if item.class_id == "certReqInputImpl":
            for attribute in item.attributes:
                if attribute.name == "cert_request_type":
                    attribute.value = "pkcs10"
                elif attribute.name == "cert_request":
                    attribute.value = csr_b64
    [info] = certs.submit_enrollment_request(request).cert_request_info_list
    if info.error_message:
        raise SystemExit(f"{profile}: the CA refused the request: {info.error_message}")
    return info


def enroll_as_dogtag_ra_backend(ca: pki.ca.CAClient, step_name: str, profile: str, csr_b64: str) -> str:
    """DogtagRABackend.issueCertificate, call for call: login, template, submit, review and approve when
    pending, the request, the certificate. Returns the serial."""
    pki.account.AccountClient(ca).login()
    certs = pki.cert.CertClient(ca)
    info = _submit(certs, profile, csr_b64)
    submitted = info.request_status
    if submitted != "complete":
        review = certs.review_request(info.request_id)
        certs.approve_request(info.request_id, review)
        info = certs.get_request(info.request_id)
    serial = str(certs.get_cert(info.cert_id).serial_number)
    step(step_name, profile=profile, submitted=submitted, status=info.request_status, serial=serial)
    return serial


def enroll_cert(certs: pki.cert.CertClient, profile: str, csr_b64: str) -> None:
    """CertClient.enroll_cert, the client's own shortcut: the template filled, submitted, approved when pending."""
    [result] = certs.enroll_cert(profile, {"cert_request_type": "pkcs10", "cert_request": csr_b64})
    step("enroll-cert", profile=profile, status=result.request.request_status, cert=result.cert.status)


# --- the agent's request operations ------------------------------------------------------------


def requests_list_and_review(certs: pki.cert.CertClient, request_id: str) -> None:
    # Paged as Dogtag's AgentCertRequestServlet does: pageSize entries from offset start.
    first = certs.list_requests(request_type="enrollment", size=2).cert_request_info_list
    second = certs.list_requests(request_type="enrollment", from_request_id=2, size=2).cert_request_info_list
    overlap = {r.request_id for r in first} & {r.request_id for r in second}
    types = sorted({r.request_type for r in first + second})
    step("requests-list", pages=[len(first), len(second)], overlap=sorted(overlap), types=types)
    step("request-show", status=certs.get_request(request_id).request_status)
    review = certs.review_request(request_id)
    step("request-review", nonce=bool(review.nonce), profile=review.profile_id, policy_sets=len(review.policy_sets))


def request_operations(certs: pki.cert.CertClient, request_id: str) -> None:
    """update, validate, assign, unassign (the request stays pending), then cancel: each with a fresh
    review, whose nonce the CA takes once (rest/v2/AgentCertRequestServlet.java)."""
    for action in ("update", "validate", "assign", "unassign", "cancel"):
        review = certs.review_request(request_id)
        getattr(certs, f"{action}_request")(request_id, review)
        step(f"request-{action}", status=certs.get_request(request_id).request_status)


def reject_then_approve(certs: pki.cert.CertClient, request_id: str) -> None:
    certs.reject_request(request_id)  # the client reviews first for the nonce
    step("request-reject", status=certs.get_request(request_id).request_status)
    step("approve-not-pending", **refusal(lambda: certs.approve_request(request_id)))


# --- certificates ------------------------------------------------------------------------------


def _serials(infos: pki.cert.CertDataInfoCollection) -> list[str]:
    return [str(info.serial_number) for info in infos]


def certificates(certs: pki.cert.CertClient, serial: str, common_name: str) -> None:
    step("certs-list", page=len(certs.list_certs(size=2).cert_data_info_list))
    data = certs.get_cert(serial)
    step("cert-show", status=data.status, subject=data.subject_dn, profile=getattr(data, "ProfileID", None))
    step("cert-review", nonce=certs.review_cert(serial).nonce is not None)
    step("search-serial", serials=_serials(certs.list_certs(serial_from=serial, serial_to=serial)))
    step("search-cn", serials=_serials(certs.list_certs(common_name=common_name, match_exactly=True)))


def _status(certs: pki.cert.CertClient, serial: str) -> dict[str, Any]:
    data = certs.get_cert(serial)
    return {"status": data.status, "reason": getattr(data, "RevocationReason", None)}


def revoke_ca(certs: pki.cert.CertClient, serial: str) -> None:
    """revoke_ca_cert on an end-entity certificate. Dogtag answers 401 UnauthorizedException, which its client
    maps to no exception (absent from pki.EXCEPTION_MAPPINGS): handle_exceptions swallows the HTTPError and
    revoke_ca_cert returns None. So the answer itself is read too, sent on the client's own session."""
    returned = certs.revoke_ca_cert(serial, "Key_Compromise")
    connection = certs.connection
    url = f"{connection.rootURI}/ca/{certs.pki_client.get_api_path()}/agent/certs/{serial}/revoke-ca"
    body = {"Nonce": certs.review_cert(serial).nonce, "Reason": "Key_Compromise"}  # Dogtag checks the nonce first
    answer = connection.session.post(url, json=body, headers={"Accept": "application/json"})
    error = answer.json() if answer.headers.get("Content-Type", "").startswith("application/json") else {}
    step(
        "revoke-ca",
        returned=None if returned is None else type(returned).__name__,
        exception=str(error.get("ClassName", "")).rsplit(".", 1)[-1] or None,
        code=answer.status_code,
        message=error.get("Message"),
        after=certs.get_cert(serial).status,
    )


def revocation(certs: pki.cert.CertClient, serial: str) -> None:
    """hold, release, hold and Remove_from_CRL, revoke, revoke again."""
    held = certs.hold_cert(serial)
    step("hold", request_type=held.request_type, **_status(certs, serial))
    released = certs.unrevoke_cert(serial)
    step("release", request_type=released.request_type, **_status(certs, serial))
    certs.hold_cert(serial)
    removed = certs.revoke_cert(serial, "Remove_from_CRL")
    step("remove-from-crl", request_type=removed.request_type, **_status(certs, serial))
    revoked = certs.revoke_cert(serial, "Key_Compromise")  # a CertRequestInfo, the revocation's request
    answer = {"request_type": revoked.request_type, "request_status": revoked.request_status}
    step("revoke", request_id=revoked.request_id, request_url=revoked.request_url, **answer, **_status(certs, serial))
    step("revocation-request", request_type=certs.get_request(revoked.request_id).request_type)
    step("revoke-revoked", **refusal(lambda: certs.revoke_cert(serial, "Key_Compromise")))
    for status in ("REVOKED", "VALID"):
        found = certs.list_certs(serial_from=serial, serial_to=serial, status=status)
        step(f"search-{status.lower()}", serials=_serials(found))


# --- authorities -------------------------------------------------------------------------------


def authorities(ca: pki.ca.CAClient, issued: x509.Certificate) -> None:
    client = pki.authority.AuthorityClient(ca)
    listed = list(client.list_cas())
    step("authorities", count=len(listed), host=[bool(a.is_host_authority) for a in listed])
    host = client.get_ca("host-authority")
    step("host-authority", listed=host.aid in [a.aid for a in listed], enabled=bool(host.enabled))
    certificate = x509.load_pem_x509_certificate(client.get_cert(host.aid, "PEM").encode())
    step("authority-cert", issued_by_it=issued.issuer == certificate.subject)
    chain = pkcs7.load_pem_pkcs7_certificates(client.get_chain(host.aid, "PEM").encode())
    step("authority-chain", certificates=len(chain), has_authority=certificate in chain)


def main(url: str, bundle: str, cert: str, key: str, algorithm: str, manual_profile: str, name: str) -> int:
    client = server_info(url, bundle, cert, key)
    ca = pki.ca.CAClient(client)
    certs = pki.cert.CertClient(ca)
    login(ca)
    profiles(ca, manual_profile)
    templates(certs, manual_profile)
    run = f"{secrets.token_hex(3)}.{name}"  # a CN of this run alone, so matchExactly finds one certificate
    ra_serial = enroll_as_dogtag_ra_backend(ca, "dogtag-ra-backend", "estServiceCert", _csr_b64(algorithm, f"ra-{run}"))
    common_name = f"manual-{run}"
    serial = enroll_as_dogtag_ra_backend(ca, "manual-profile", manual_profile, _csr_b64(algorithm, common_name))
    enroll_cert(certs, manual_profile, _csr_b64(algorithm, f"shortcut-{run}"))
    edited = _submit(certs, manual_profile, _csr_b64(algorithm, f"edited-{run}")).request_id
    rejected = _submit(certs, manual_profile, _csr_b64(algorithm, f"rejected-{run}")).request_id
    requests_list_and_review(certs, edited)
    request_operations(certs, edited)
    reject_then_approve(certs, rejected)
    certificates(certs, serial, common_name)
    issued = x509.load_pem_x509_certificate(certs.get_cert(serial).encoded.encode())
    revoke_ca(certs, ra_serial)
    revocation(certs, serial)
    authorities(ca, issued)
    logout(ca)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
