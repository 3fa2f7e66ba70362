"""Running tests/e2e/dogtag_flow.py (a Dogtag user's session, Dogtag's current client) and reading it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from labctl.pki.profiles import SERVER_PROFILE_BY_KIND
from labctl.state import HierarchyState
from labctl.topology import Hierarchy

REPO = Path(__file__).resolve().parents[1]
FLOW = REPO / "tests" / "e2e" / "dogtag_flow.py"
VENDORED = REPO / "tests" / "vendor" / "dogtag_pki_main"
# The session's steps by name: {"connect": {"step": "connect", "api": "v2", ...}, ...}
Seen = dict[str, dict[str, object]]


def vendored_env() -> dict[str, str]:
    """This process's environment with Dogtag's current client (tests/vendor) first on PYTHONPATH."""
    path = os.pathsep.join(p for p in (str(VENDORED), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def flow_args(hierarchy: Hierarchy, url: str, bundle: str, cert: str, key: str, name: str) -> list[str]:
    manual = SERVER_PROFILE_BY_KIND[hierarchy.algorithm.kind]
    return [url, bundle, cert, key, hierarchy.algorithm.value, manual, name]


def run_from_host(hierarchy: Hierarchy, state_dir: Path, ca_url: str, name: str) -> Seen:
    """The session from this host, as the lab admin (its credential in the state dir)."""
    state = HierarchyState.of(state_dir, hierarchy)
    args = flow_args(hierarchy, ca_url, str(state.chain), str(state.admin_cert), str(state.admin_key), name)
    result = subprocess.run(
        [sys.executable, str(FLOW), *args], capture_output=True, text=True, env=vendored_env(), timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return steps(result.stdout)


def steps(output: str) -> Seen:
    seen: Seen = {}
    for line in output.splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise AssertionError(f"not one JSON step per line ({exc}): {line!r}\nwhole output:\n{output!r}") from exc
        seen[entry["step"]] = entry
    return seen


def assert_dogtag_semantics(seen: Seen, hierarchy: Hierarchy) -> None:
    """What Dogtag answers each step of tests/e2e/dogtag_flow.py with."""
    manual_profile = SERVER_PROFILE_BY_KIND[hierarchy.algorithm.kind]
    _assert_info_and_account(seen)
    _assert_profiles_and_templates(seen, manual_profile)
    _assert_enrollment_and_requests(seen, manual_profile)
    _assert_certificates(seen)
    _assert_revocation(seen)
    _assert_authorities(seen)
    _assert_refusals(seen)


def _assert_info_and_account(seen: Seen) -> None:
    # base/server-webapp/.../rest/v2/InfoServlet.java; PKIClient.connect() takes v2 from 11.6.0 on.
    assert seen["connect"]["api"] == "v2", seen["connect"]
    assert seen["info-v1"]["version"] == seen["connect"]["version"], (seen["info-v1"], seen["connect"])
    assert seen["login"]["id"] and "Certificate Manager Agents" in _list(seen["login"]["roles"]), seen["login"]
    assert seen["logout"]["done"] is True


def _assert_profiles_and_templates(seen: Seen, manual_profile: str) -> None:
    for listing in ("profiles", "templates"):
        assert {"estServiceCert", manual_profile} <= set(_list(seen[listing]["ids"])), seen[listing]
    profile = seen["profile"]
    # caServerCert.cfg & co.: auth.class_id= empty (manual approval); policies in serverCertSet.
    assert (profile["id"], profile["authenticator"]) in ((manual_profile, None), (manual_profile, "")), profile
    policy_sets = profile["policy_sets"]
    assert isinstance(policy_sets, dict) and policy_sets and all(policy_sets.values()), profile
    # certReqInputImpl and submitterInfoInputImpl (base/ca/src/main/java/com/netscape/cms/profile/input/) have
    # no configuration parameters: ConfigAttribute is empty.
    assert seen["template"] == {
        "step": "template",
        "id": manual_profile,
        "inputs": {
            "certReqInputImpl": {"attributes": ["cert_request_type", "cert_request"], "config": []},
            "submitterInfoInputImpl": {
                "attributes": ["requestor_name", "requestor_email", "requestor_phone"],
                "config": [],
            },
        },
    }, seen["template"]


def _assert_enrollment_and_requests(seen: Seen, manual_profile: str) -> None:
    ra = seen["dogtag-ra-backend"]  # estServiceCert.cfg: AgentCertAuth, issued at submit for an agent
    assert (ra["profile"], ra["submitted"], ra["status"]) == ("estServiceCert", "complete", "complete"), ra
    manual = seen["manual-profile"]  # pending whoever submits, complete once approved
    assert (manual["profile"], manual["submitted"], manual["status"]) == (manual_profile, "pending", "complete")
    shortcut = seen["enroll-cert"]  # CertClient.enroll_cert approves a pending request itself
    assert (shortcut["profile"], shortcut["status"], shortcut["cert"]) == (manual_profile, "complete", "VALID")
    listed = seen["requests-list"]  # two pages of pageSize 2, the second from start=2
    assert (listed["pages"], listed["overlap"], listed["types"]) == ([2, 2], [], ["enrollment"]), listed
    assert seen["request-show"]["status"] == "pending", seen["request-show"]
    review = seen["request-review"]
    assert review["nonce"] is True and review["profile"] == manual_profile and review["policy_sets"], review
    # RequestProcessor: update, validate, assign and unassign leave the request pending; cancel ends it.
    for action in ("update", "validate", "assign", "unassign"):
        assert seen[f"request-{action}"]["status"] == "pending", seen[f"request-{action}"]
    assert seen["request-cancel"]["status"] == "canceled", seen["request-cancel"]
    assert seen["request-reject"]["status"] == "rejected", seen["request-reject"]


def _assert_certificates(seen: Seen) -> None:
    serial = seen["manual-profile"]["serial"]
    assert seen["certs-list"]["page"] == 2, seen["certs-list"]
    assert seen["cert-show"]["status"] == "VALID", seen["cert-show"]
    assert seen["cert-review"]["nonce"] is True, seen["cert-review"]
    assert seen["search-serial"]["serials"] == [serial], seen["search-serial"]
    assert seen["search-cn"]["serials"] == [serial], seen["search-cn"]
    assert (seen["search-revoked"]["serials"], seen["search-valid"]["serials"]) == ([serial], []), seen


def _assert_revocation(seen: Seen) -> None:
    # RevocationReason 6 certificateHold (RFC 5280 section 5.3.1); Remove_from_CRL is an unrevoke
    # (rest/v2/AgentCertServlet.java revokeCert).
    assert _revocation_state(seen["hold"]) == ("revocation", "REVOKED", 6), seen["hold"]
    for released in ("release", "remove-from-crl"):
        assert _revocation_state(seen[released]) == ("unrevocation", "VALID", None), seen[released]
    revoked = seen["revoke"]  # CertRequestInfo of the revocation request; 1 keyCompromise
    answer = (revoked["request_type"], revoked["request_status"], revoked["status"], revoked["reason"])
    assert answer == ("revocation", "complete", "REVOKED", 1), revoked
    assert str(revoked["request_url"]).endswith(f"/certrequests/{revoked['request_id']}"), revoked
    assert seen["revocation-request"]["request_type"] == "revocation", seen["revocation-request"]


def _assert_authorities(seen: Seen) -> None:
    assert seen["authorities"]["host"] == [True], seen["authorities"]  # one authority: the host's, no sub-CAs
    assert seen["host-authority"] | {"step": None} == {"step": None, "listed": True, "enabled": True}
    assert seen["authority-cert"]["issued_by_it"] is True, seen["authority-cert"]
    # The Intermediate and its root, as a certs-only PKCS#7.
    assert seen["authority-chain"] | {"step": None} == {"step": None, "certificates": 2, "has_authority": True}


def _assert_refusals(seen: Seen) -> None:
    """The three calls Dogtag refuses, with its exception class, status and message
    (base/ca/src/main/java/com/netscape/cms/servlet/cert/)."""
    refused = {name: seen[name] for name in ("approve-not-pending", "revoke-revoked", "revoke-ca")}
    # RequestProcessor.processRequest: BadRequestDataException(CMS_REQUEST_NOT_PENDING) -> BadRequestException.
    not_pending = ("BadRequestException", 400, "Bad request data: Request Not In Pending State")
    assert _answer(refused["approve-not-pending"]) == not_pending, refused
    # RevocationProcessor.validateCertificateToRevoke: CA_CERTIFICATE_ALREADY_REVOKED_1 (the serial in hex, no 0x).
    hex_serial = str(seen["manual-profile"]["serial"]).removeprefix("0x")
    revoked_twice = ("BadRequestException", 400, f"certificate #{hex_serial} has already been revoked")
    assert _answer(refused["revoke-revoked"]) == revoked_twice, refused
    # The same check with revokingCACert: isSystemCertificate is true for a self-signed CA's own certificate only,
    # never for what an Intermediate holds. Dogtag's client maps no UnauthorizedException (pki.EXCEPTION_MAPPINGS):
    # revoke_ca_cert returns None; the script reads the answer itself too. Nothing is revoked.
    revoke_ca = refused["revoke-ca"]
    not_a_ca = f"Certificate {seen['dogtag-ra-backend']['serial']} is not a CA signing certificate"
    assert _answer(revoke_ca) == ("UnauthorizedException", 401, not_a_ca), revoke_ca
    assert (revoke_ca["returned"], revoke_ca["after"]) == (None, "VALID"), revoke_ca


def _revocation_state(observed: dict[str, object]) -> tuple[object, object, object]:
    return observed["request_type"], observed["status"], observed["reason"]


def _answer(observed: dict[str, object]) -> tuple[object, object, object]:
    return observed["exception"], observed["code"], observed["message"]


def _list(value: object) -> list[object]:
    assert isinstance(value, list), value
    return value


def client_zip() -> bytes:
    """Dogtag's current client (tests/vendor) and the ldap.dn stand-in, as one importable zip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for module in sorted((VENDORED / "pki").glob("*.py")):
            archive.write(module, f"pki/{module.name}")
        archive.writestr("ldap/__init__.py", "")
        archive.write(REPO / "tests" / "dogtag_ldap_dn.py", "ldap/dn.py")  # python-ldap: no wheel
    return buffer.getvalue()
