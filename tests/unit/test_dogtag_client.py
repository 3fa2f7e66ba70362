"""Dogtag's own Python client (dogtag-pki, the `pki` package) against the lab CA, over real HTTPS on 127.0.0.1.

The CA serves in a thread (its own event loop) with the TLS certificate it issued itself and asks for
client certificates; the client presents the lab admin credential (caAdminCert) and trusts the CA chain.
PyPI's newest dogtag-pki (11.2.1) has no PKIClient: it speaks v1 (/ca/rest) through PKIConnection.
Dogtag's current client (dogtagpki/pki base/common/python/pki) adds PKIClient, connect() and v2; the
v2 cases run when that client is the one imported: tests/unit/test_dogtag_client_main.py runs this module
again with a copy of it (tests/vendor/dogtag_pki_main) first on PYTHONPATH.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pki  # dogtag-pki (test extra): a missing client fails the run, it does not skip
import pki.authority
import pki.cert
import pki.client
import pki.info
import pki.profile
import pytest
from aiohttp import web
from cryptography import x509

from labctl.dogtag import SERVER_VERSION, authority_id
from labctl.pki.issue import build_csr, certificates_pem, common_name_subject, csr_pem
from labctl.pki.keys import KeyAlgorithm, write_private_key
from labctl.pki.profiles import SERVER_PROFILE_BY_KIND
from labctl.services.ca.app import create_app
from labctl.services.ca.authority import AGENTS_FILE
from labctl.services.http import TLSSite, app_runner, server_ssl_context, tls_peer_certificate
from tests.conftest import DEVICE_KEY, Hierarchy
from tests.helpers import key_for

HAS_PKI_CLIENT = hasattr(pki.client, "PKIClient")  # Dogtag's current client; PyPI's 11.2.1 lacks it
if HAS_PKI_CLIENT:
    import pki.ca
# dogtag-pki 11.2.1's SSLContextAdapter builds its context with ssl.PROTOCOL_TLS (deprecated since 3.10).
pytestmark = pytest.mark.filterwarnings("ignore:ssl.PROTOCOL_TLS is deprecated:DeprecationWarning")
ADMIN_KEY = 30
APIS = [
    "v1",
    pytest.param(
        "v2",
        marks=pytest.mark.skipif(not HAS_PKI_CLIENT, reason="this dogtag-pki has no PKIClient (v2): PyPI's is 11.2.1"),
    ),
]


@pytest.fixture(scope="session", params=[KeyAlgorithm.RSA_4096, KeyAlgorithm.EC_P384], ids=["rsa", "ecc"])
def algorithm(request: pytest.FixtureRequest) -> KeyAlgorithm:
    """RSA and ECC: the host's OpenSSL 3.0 (which requests uses) cannot do TLS with ML-DSA."""
    return request.param  # type: ignore[no-any-return]


@dataclass
class Served:
    url: str
    port: int
    chain: Path  # the CA chain: the client's ca_bundle
    admin_cert: Path
    admin_key: Path


class _ServerThread(threading.Thread):
    """The CA app on 127.0.0.1 (a free port) with TLS, in its own event loop."""

    def __init__(self, hierarchy: Hierarchy) -> None:
        super().__init__(daemon=True)
        self.hierarchy = hierarchy
        self.loop = asyncio.new_event_loop()
        self.started = threading.Event()
        self.port = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            runner = self.loop.run_until_complete(self._start())
        except BaseException as exc:
            self.error = exc
            self.started.set()
            return
        self.started.set()
        self.loop.run_forever()
        self.loop.run_until_complete(runner.cleanup())
        # TLS transports finish closing (close_notify) on later loop turns: let them, then abort what is
        # still open (a slow machine may not have exchanged close_notify yet), or it leaks past the loop
        # and its ResourceWarning fails whichever test runs when it is collected.
        self.loop.run_until_complete(asyncio.sleep(0.2))
        for transport in _open_transports(self.loop):
            transport.abort()
        self.loop.run_until_complete(asyncio.sleep(0))  # abort closes the socket on the next loop turn
        self.loop.close()

    async def _start(self) -> web.AppRunner:
        material = self.hierarchy.ca.tls_material()
        runner = app_runner(create_app(self.hierarchy.ca, peer_certificate=tls_peer_certificate))
        await runner.setup()
        context = server_ssl_context(material.chains, client_ca=material.client_ca)
        site = TLSSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        self.port = site.port
        return runner

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.join(timeout=10)


def _open_transports(loop: asyncio.AbstractEventLoop) -> list[asyncio.Transport]:
    """The loop's socket transports not closed yet (asyncio keeps no list of them: gc does)."""
    return [
        item
        for item in gc.get_objects()
        if isinstance(item, asyncio.Transport)
        and getattr(item, "_loop", None) is loop
        and getattr(item, "_sock", None) is not None
    ]


@pytest.fixture(scope="module")
def served(hierarchy: Hierarchy, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp(f"dogtag-{hierarchy.algorithm.value}")
    admin_key = key_for(hierarchy.algorithm, ADMIN_KEY)
    admin = hierarchy.issue("lab-admin", key=admin_key, profile="caAdminCert")
    (directory / "admin.crt").write_bytes(certificates_pem([admin]))
    write_private_key(directory / "admin.key", admin_key)
    server = _ServerThread(hierarchy)
    server.start()
    assert server.started.wait(60), "CA server did not start"
    if server.error is not None:
        raise server.error
    try:
        yield Served(
            f"https://127.0.0.1:{server.port}",
            server.port,
            hierarchy.ca.chain_path,
            directory / "admin.crt",
            directory / "admin.key",
        )
    finally:
        server.stop()


@dataclass
class Dogtag:
    """Dogtag's client objects for one API version, as its documentation builds them."""

    certs: Any
    profiles: Any
    authorities: Any
    pki_client: Any = None

    def close(self) -> None:
        self.certs.connection.session.close()


_OPENED: list[Dogtag] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    """Each test's client sessions closed at its end (requests keeps connections alive)."""
    yield
    while _OPENED:
        _OPENED.pop().close()


def _dogtag(
    served: Served, api: str | None, *, authenticated: bool = True, password: tuple[str, str] | None = None
) -> Dogtag:
    """`password`: a username and password instead of the admin certificate (Dogtag's `authenticate`)."""
    dogtag = _build(served, api, authenticated=authenticated and password is None)
    if password is not None:
        (dogtag.pki_client or dogtag.certs.connection).authenticate(*password)
    _OPENED.append(dogtag)
    return dogtag


def _build(served: Served, api: str | None, *, authenticated: bool) -> Dogtag:
    if HAS_PKI_CLIENT:
        client = pki.client.PKIClient(served.url, ca_bundle=str(served.chain), api_version=api)
        if authenticated:
            client.set_client_auth(str(served.admin_cert), str(served.admin_key))
        parent = pki.ca.CAClient(client)
        return Dogtag(
            pki.cert.CertClient(parent),
            pki.profile.ProfileClient(parent),
            pki.authority.AuthorityClient(parent),
            client,
        )
    assert api in (None, "v1"), "PyPI's dogtag-pki speaks v1 only"
    connection = pki.client.PKIConnection("https", "127.0.0.1", str(served.port), cert_paths=str(served.chain))
    if authenticated:
        connection.set_authentication_cert(str(served.admin_cert), str(served.admin_key))
    return Dogtag(
        pki.cert.CertClient(connection),
        pki.profile.ProfileClient(connection),
        pki.authority.AuthorityClient(connection),
    )


def _server_profile(hierarchy: Hierarchy) -> str:
    return SERVER_PROFILE_BY_KIND[hierarchy.algorithm.kind]


def _csr(hierarchy: Hierarchy, common_name: str) -> str:
    return csr_pem(build_csr(key_for(hierarchy.algorithm, DEVICE_KEY), common_name_subject(common_name))).decode()


def _enroll(dogtag: Dogtag, hierarchy: Hierarchy, common_name: str) -> Any:
    inputs = {"cert_request_type": "pkcs10", "cert_request": _csr(hierarchy, common_name)}
    results = dogtag.certs.enroll_cert(_server_profile(hierarchy), inputs)
    assert len(results) == 1
    return results[0]


# --- server info ---------------------------------------------------------------------------------


@pytest.mark.skipif(not HAS_PKI_CLIENT, reason="PKIClient.connect() is in Dogtag's current client only")
def test_connect_picks_v2(served: Served) -> None:
    dogtag = _dogtag(served, None)
    dogtag.pki_client.connect()
    assert dogtag.pki_client.get_api_version() == "v2"
    assert str(dogtag.pki_client.get_server_version()) == SERVER_VERSION


@pytest.mark.parametrize("api", APIS)
def test_info_reports_version(served: Served, api: str) -> None:
    if HAS_PKI_CLIENT:
        dogtag = _dogtag(served, api)
        info = dogtag.pki_client.get_info()
        assert dogtag.pki_client.get_api_path() == ("rest" if api == "v1" else "v2")
    else:
        connection = _dogtag(served, "v1").certs.connection
        info = pki.info.InfoClient(connection).get_info()
    assert info.version == SERVER_VERSION


# --- enrollment templates and enrollment ------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
def test_list_enrollment_templates_names_server_profiles(served: Served, hierarchy: Hierarchy, api: str) -> None:
    templates = _dogtag(served, api).certs.list_enrollment_templates()
    ids = {template.profile_id for template in templates}
    assert {"caServerCert", "caECServerCert", "estServiceCert"} <= ids
    assert all(template.profile_url.endswith(f"/certrequests/profiles/{template.profile_id}") for template in templates)


@pytest.mark.parametrize("api", APIS)
def test_enrollment_template_has_inputs_with_config_attributes(served: Served, hierarchy: Hierarchy, api: str) -> None:
    template = _dogtag(served, api).certs.get_enrollment_template(_server_profile(hierarchy))
    names = {attribute.name for item in template.inputs for attribute in item.attributes}
    assert {"cert_request_type", "cert_request", "requestor_name"} <= names
    assert all(item.config_attributes == [] for item in template.inputs)


@pytest.mark.parametrize(("profile", "status"), [("server", "pending"), ("estServiceCert", "complete")])
@pytest.mark.parametrize("api", APIS)
def test_an_agents_request_waits_for_approval_where_the_profile_says_so(
    served: Served, hierarchy: Hierarchy, api: str, profile: str, status: str
) -> None:
    """Dogtag's approval semantics: caServerCert.cfg (auth.class_id empty, "Manual Server Certificate
    Enrollment") holds an agent's request too; estServiceCert.cfg (auth.instance_id=AgentCertAuth) issues it."""
    dogtag = _dogtag(served, api)
    profile_id = _server_profile(hierarchy) if profile == "server" else profile
    request = dogtag.certs.create_enrollment_request(
        profile_id,
        {"cert_request_type": "pkcs10", "cert_request": _csr(hierarchy, f"dogtag-{profile}-{api}.cert-lab.local")},
    )
    [info] = dogtag.certs.submit_enrollment_request(request).cert_request_info_list
    assert info.request_status == status
    assert dogtag.certs.get_enrollment_template(profile_id) is not None


@pytest.mark.parametrize("api", APIS)
def test_enroll_cert_as_agent_approves_and_issues(served: Served, hierarchy: Hierarchy, api: str) -> None:
    """enroll_cert: submit, then (a manual profile) approve as the agent, then the certificate."""
    result = _enroll(_dogtag(served, api), hierarchy, f"dogtag-enroll-{api}.cert-lab.local")
    assert result.request.request_status == "complete"
    certificate = x509.load_pem_x509_certificate(result.cert.encoded.encode())
    assert certificate.issuer == hierarchy.intermediate.subject
    assert result.cert.serial_number == f"0x{certificate.serial_number:x}"


@pytest.mark.parametrize("api", APIS)
def test_enroll_cert_as_password_agent(served: Served, hierarchy: Hierarchy, api: str) -> None:
    """Dogtag's client with a username and password (HTTP Basic), no certificate: a password agent labctl
    listed in agents.sha256 submits and approves, as a certificate agent does."""
    agents = hierarchy.ca.dir / AGENTS_FILE
    agents.write_text(f"est-ra-1 {hashlib.sha256(b'password4ESTUser').hexdigest()}\n")
    try:
        dogtag = _dogtag(served, api, password=("est-ra-1", "password4ESTUser"))
        result = _enroll(dogtag, hierarchy, f"dogtag-password-agent-{api}.cert-lab.local")
    finally:
        agents.unlink()
    assert result.request.request_status == "complete"
    certificate = x509.load_pem_x509_certificate(result.cert.encoded.encode())
    assert certificate.issuer == hierarchy.intermediate.subject


@pytest.mark.parametrize("api", APIS)
def test_pending_request_reviewed_and_approved(served: Served, hierarchy: Hierarchy, api: str) -> None:
    anonymous, agent = _dogtag(served, api, authenticated=False), _dogtag(served, api)
    request = anonymous.certs.create_enrollment_request(
        _server_profile(hierarchy),
        {"cert_request_type": "pkcs10", "cert_request": _csr(hierarchy, f"dogtag-pending-{api}.cert-lab.local")},
    )
    [info] = anonymous.certs.submit_enrollment_request(request).cert_request_info_list
    assert info.request_status == "pending"
    review = agent.certs.review_request(info.request_id)
    assert review.nonce
    assert review.policy_sets and review.policy_sets[0].policies
    agent.certs.approve_request(info.request_id, review)
    done = agent.certs.get_request(info.request_id)
    assert done.request_status == "complete"
    assert agent.certs.get_cert(done.cert_id).status == "VALID"


def _pending(served: Served, hierarchy: Hierarchy, api: str, common_name: str) -> str:
    """A pending request's ID, submitted anonymously (so the CA holds it for an agent)."""
    anonymous = _dogtag(served, api, authenticated=False)
    request = anonymous.certs.create_enrollment_request(
        _server_profile(hierarchy), {"cert_request_type": "pkcs10", "cert_request": _csr(hierarchy, common_name)}
    )
    [info] = anonymous.certs.submit_enrollment_request(request).cert_request_info_list
    assert info.request_status == "pending"
    return str(info.request_id)


@pytest.mark.parametrize("api", APIS)
def test_cancel_request_makes_it_canceled(served: Served, hierarchy: Hierarchy, api: str) -> None:
    agent = _dogtag(served, api)
    request_id = _pending(served, hierarchy, api, f"dogtag-cancel-{api}.cert-lab.local")
    agent.certs.cancel_request(request_id)
    assert agent.certs.get_request(request_id).request_status == "canceled"


@pytest.mark.parametrize("action", ["update", "validate", "assign", "unassign"])
@pytest.mark.parametrize("api", APIS)
def test_request_action_keeps_it_pending(served: Served, hierarchy: Hierarchy, api: str, action: str) -> None:
    agent = _dogtag(served, api)
    request_id = _pending(served, hierarchy, api, f"dogtag-{action}-{api}.cert-lab.local")
    getattr(agent.certs, f"{action}_request")(request_id, agent.certs.review_request(request_id))
    assert agent.certs.get_request(request_id).request_status == "pending"
    agent.certs.approve_request(request_id)  # still approvable afterwards
    assert agent.certs.get_request(request_id).request_status == "complete"


@pytest.mark.parametrize("action", ["cancel", "update", "validate", "assign", "unassign"])
@pytest.mark.parametrize("api", APIS)
def test_request_action_on_completed_request_is_bad_request(
    served: Served, hierarchy: Hierarchy, api: str, action: str
) -> None:
    agent = _dogtag(served, api)
    request_id = _pending(served, hierarchy, api, f"dogtag-done-{action}-{api}.cert-lab.local")
    agent.certs.approve_request(request_id)
    review = agent.certs.review_request(request_id)
    # AgentCertRequestServlet: BadRequestDataException("Request Not In Pending State") -> BadRequestException.
    with pytest.raises(pki.BadRequestException, match="Request Not In Pending State"):
        getattr(agent.certs, f"{action}_request")(request_id, review)
    assert agent.certs.get_request(request_id).request_status == "complete"


@pytest.mark.parametrize("decided", ["approve", "reject"])
@pytest.mark.parametrize("api", APIS)
def test_approve_of_a_decided_request_is_bad_request(
    served: Served, hierarchy: Hierarchy, api: str, decided: str
) -> None:
    agent = _dogtag(served, api)
    request_id = _pending(served, hierarchy, api, f"dogtag-decided-{decided}-{api}.cert-lab.local")
    getattr(agent.certs, f"{decided}_request")(request_id)
    status = agent.certs.get_request(request_id).request_status
    # RequestProcessor.processRequest: BadRequestDataException(CMS_REQUEST_NOT_PENDING) -> BadRequestException.
    with pytest.raises(pki.BadRequestException, match=r"^Bad request data: Request Not In Pending State$"):
        agent.certs.approve_request(request_id)
    assert agent.certs.get_request(request_id).request_status == status


@pytest.mark.parametrize("api", APIS)
def test_list_requests_pages_with_page_size(served: Served, hierarchy: Hierarchy, api: str) -> None:
    dogtag = _dogtag(served, api)
    _enroll(dogtag, hierarchy, f"dogtag-page-{api}.cert-lab.local")
    page = dogtag.certs.list_requests(size=1)
    assert len(page.cert_request_info_list) == 1


# --- certificates, review and revocation ----------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
def test_review_cert_has_nonce(served: Served, hierarchy: Hierarchy, api: str) -> None:
    dogtag = _dogtag(served, api)
    result = _enroll(dogtag, hierarchy, f"dogtag-review-{api}.cert-lab.local")
    data = dogtag.certs.review_cert(result.cert.serial_number)
    assert isinstance(data.nonce, int)


@pytest.mark.parametrize("api", APIS)
def test_revoke_cert_answers_request_info(served: Served, hierarchy: Hierarchy, api: str) -> None:
    dogtag = _dogtag(served, api)
    serial = _enroll(dogtag, hierarchy, f"dogtag-revoke-{api}.cert-lab.local").cert.serial_number
    info = dogtag.certs.revoke_cert(serial, "Key_Compromise")
    assert (info.request_type, info.request_status) == ("revocation", "complete")
    assert info.request_url.endswith(f"/certrequests/{info.request_id}")
    assert dogtag.certs.get_cert(serial).status == "REVOKED"
    assert dogtag.certs.get_request(info.request_id).cert_id == serial


@pytest.mark.parametrize("api", APIS)
def test_hold_cert_is_revoked_with_certificate_hold(served: Served, hierarchy: Hierarchy, api: str) -> None:
    dogtag = _dogtag(served, api)
    serial = _enroll(dogtag, hierarchy, f"dogtag-hold-{api}.cert-lab.local").cert.serial_number
    info = dogtag.certs.hold_cert(serial)
    assert (info.request_type, info.request_status, info.operation_result) == ("revocation", "complete", "success")
    data = dogtag.certs.get_cert(serial)
    assert (data.status, data.RevocationReason) == ("REVOKED", 6)  # CertData.from_json keeps unknown keys


@pytest.mark.parametrize("api", APIS)
def test_unrevoke_releases_a_held_cert(served: Served, hierarchy: Hierarchy, api: str) -> None:
    dogtag = _dogtag(served, api)
    serial = _enroll(dogtag, hierarchy, f"dogtag-release-{api}.cert-lab.local").cert.serial_number
    dogtag.certs.hold_cert(serial)
    info = dogtag.certs.unrevoke_cert(serial)
    assert (info.request_type, info.request_status, info.operation_result) == ("unrevocation", "complete", "success")
    assert info.request_url.endswith(f"/certrequests/{info.request_id}")
    data = dogtag.certs.get_cert(serial)
    assert data.status == "VALID"
    assert not hasattr(data, "RevocationReason")
    crl = x509.load_der_x509_crl(hierarchy.ca.crl_der())
    assert crl.get_revoked_certificate_by_serial_number(int(serial, 16)) is None


@pytest.mark.parametrize("api", APIS)
def test_revoke_with_remove_from_crl_releases(served: Served, hierarchy: Hierarchy, api: str) -> None:
    dogtag = _dogtag(served, api)
    serial = _enroll(dogtag, hierarchy, f"dogtag-remove-{api}.cert-lab.local").cert.serial_number
    dogtag.certs.hold_cert(serial)
    info = dogtag.certs.revoke_cert(serial, "Remove_from_CRL")
    assert (info.request_type, info.operation_result) == ("unrevocation", "success")
    assert dogtag.certs.get_cert(serial).status == "VALID"


@pytest.mark.parametrize("reason", ["Key_Compromise", None], ids=["revoked", "valid"])
@pytest.mark.parametrize("api", APIS)
def test_unrevoke_of_a_cert_not_on_hold_is_an_error_result(
    served: Served, hierarchy: Hierarchy, api: str, reason: str | None
) -> None:
    dogtag = _dogtag(served, api)
    serial = _enroll(dogtag, hierarchy, f"dogtag-not-held-{reason}-{api}.cert-lab.local").cert.serial_number
    if reason:
        dogtag.certs.revoke_cert(serial, reason)
    # As Dogtag (CAService.unrevokeCert, ServiceUnrevoke): no HTTP error, a complete request with the error.
    info = dogtag.certs.unrevoke_cert(serial)
    assert (info.request_status, info.operation_result) == ("complete", "error")
    assert info.error_message == "One or more certificates could not be unrevoked"
    assert dogtag.certs.get_cert(serial).status == ("REVOKED" if reason else "VALID")


@pytest.mark.parametrize("api", APIS)
def test_hold_then_key_compromise_after_release(served: Served, hierarchy: Hierarchy, api: str) -> None:
    """Dogtag's REST revoke refuses a held certificate (RevocationProcessor.validateCertificateToRevoke: any
    REVOKED status); release it, then revoke it with the other reason."""
    dogtag = _dogtag(served, api)
    serial = _enroll(dogtag, hierarchy, f"dogtag-hold-kc-{api}.cert-lab.local").cert.serial_number
    dogtag.certs.hold_cert(serial)
    with pytest.raises(pki.PKIException):
        dogtag.certs.revoke_cert(serial, "Key_Compromise")
    dogtag.certs.unrevoke_cert(serial)
    dogtag.certs.revoke_cert(serial, "Key_Compromise")
    data = dogtag.certs.get_cert(serial)
    assert (data.status, data.RevocationReason) == ("REVOKED", 1)


@pytest.mark.parametrize("api", APIS)
def test_revoke_of_a_revoked_cert_is_bad_request(served: Served, hierarchy: Hierarchy, api: str) -> None:
    dogtag = _dogtag(served, api)
    serial = _enroll(dogtag, hierarchy, f"dogtag-revoke-twice-{api}.cert-lab.local").cert.serial_number
    dogtag.certs.revoke_cert(serial, "Key_Compromise")
    # RevocationProcessor.validateCertificateToRevoke: CA_CERTIFICATE_ALREADY_REVOKED_1, BigInteger.toString(16).
    with pytest.raises(pki.BadRequestException, match=f"^certificate #{serial.removeprefix('0x')} has already been"):
        dogtag.certs.revoke_cert(serial, "Superseded")
    data = dogtag.certs.get_cert(serial)
    assert (data.status, data.RevocationReason) == ("REVOKED", 1)


@pytest.mark.parametrize("api", APIS)
def test_revoke_ca_cert_on_an_intermediate_is_refused(served: Served, hierarchy: Hierarchy, api: str) -> None:
    """RevocationProcessor.validateCertificateToRevoke(revokingCACert=true): 401 UnauthorizedException "is not
    a CA signing certificate" for every certificate an Intermediate holds. Dogtag's client (11.2.1 and current)
    maps no UnauthorizedException (absent from pki.EXCEPTION_MAPPINGS): handle_exceptions swallows the
    HTTPError and revoke_ca_cert returns None, as it would against Dogtag."""
    assert "com.netscape.certsrv.base.UnauthorizedException" not in pki.EXCEPTION_MAPPINGS
    dogtag = _dogtag(served, api)
    serial = _enroll(dogtag, hierarchy, f"dogtag-revoke-ca-{api}.cert-lab.local").cert.serial_number
    assert dogtag.certs.revoke_ca_cert(serial, "CA_Compromise") is None
    assert dogtag.certs.get_cert(serial).status == "VALID"
    answer = _post(
        dogtag, f"/ca/{'rest' if api == 'v1' else 'v2'}/agent/certs/{serial}/revoke-ca", {"Reason": "Unspecified"}
    )
    assert answer.status_code == 401
    assert answer.json()["ClassName"] == "com.netscape.certsrv.base.UnauthorizedException"
    assert answer.json()["Message"] == f"Certificate {serial} is not a CA signing certificate"
    assert dogtag.certs.get_cert(serial).status == "VALID"


@pytest.mark.parametrize("api", APIS)
def test_revoke_ca_cert_of_an_unknown_cert_is_cert_not_found(served: Served, api: str) -> None:
    with pytest.raises(pki.CertNotFoundException):
        _dogtag(served, api).certs.revoke_ca_cert("0x1", "CA_Compromise", nonce=1)


@pytest.mark.parametrize("api", APIS)
def test_revoke_ca_cert_with_remove_from_crl_releases(served: Served, hierarchy: Hierarchy, api: str) -> None:
    dogtag = _dogtag(served, api)
    serial = _enroll(dogtag, hierarchy, f"dogtag-revoke-ca-remove-{api}.cert-lab.local").cert.serial_number
    dogtag.certs.hold_cert(serial)
    info = dogtag.certs.revoke_ca_cert(serial, "Remove_from_CRL")
    assert (info.request_type, info.operation_result) == ("unrevocation", "success")
    assert dogtag.certs.get_cert(serial).status == "VALID"


def _post(dogtag: Dogtag, path: str, body: dict[str, Any]) -> Any:
    """A POST on the client's own session (its TLS client credential and trust), for the answer itself."""
    connection = dogtag.certs.connection
    url = f"{connection.rootURI}{path}"
    return connection.session.post(url, json=body, headers={"Accept": "application/json"})


@pytest.mark.parametrize("api", APIS)
def test_unrevoke_unknown_cert_is_cert_not_found(served: Served, api: str) -> None:
    with pytest.raises(pki.CertNotFoundException):
        _dogtag(served, api).certs.unrevoke_cert("0x1")


@pytest.mark.parametrize("api", APIS)
def test_unknown_cert_is_cert_not_found(served: Served, api: str) -> None:
    with pytest.raises(pki.CertNotFoundException):
        _dogtag(served, api).certs.get_cert("0x1")


@pytest.mark.parametrize("api", APIS)
def test_unknown_request_is_request_not_found(served: Served, api: str) -> None:
    with pytest.raises(pki.RequestNotFoundException):
        _dogtag(served, api).certs.get_request("0x7fffffff")


@pytest.mark.parametrize("api", APIS)
def test_search_by_serial_range(served: Served, hierarchy: Hierarchy, api: str) -> None:
    dogtag = _dogtag(served, api)
    serial = _enroll(dogtag, hierarchy, f"dogtag-range-{api}.cert-lab.local").cert.serial_number
    found = dogtag.certs.list_certs(serial_from=serial, serial_to=serial)
    assert [info.serial_number for info in found] == [serial]


@pytest.mark.parametrize("api", APIS)
def test_search_match_exactly_wants_the_whole_common_name(served: Served, hierarchy: Hierarchy, api: str) -> None:
    dogtag = _dogtag(served, api)
    name = f"dogtag-exact-{api}.cert-lab.local"
    _enroll(dogtag, hierarchy, name)
    assert len(list(dogtag.certs.list_certs(common_name=name, match_exactly=True))) == 1
    assert list(dogtag.certs.list_certs(common_name=name[:-1], match_exactly=True)) == []
    assert len(list(dogtag.certs.list_certs(common_name=name[:-1]))) == 1


# --- authorities and profiles ----------------------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
def test_list_authorities_has_the_host_authority(served: Served, hierarchy: Hierarchy, api: str) -> None:
    [authority] = _dogtag(served, api).authorities.list_cas().ca_list
    assert authority.is_host_authority is True
    assert authority.aid == authority_id(hierarchy.intermediate)
    assert authority.dn == hierarchy.intermediate.subject.rfc4514_string()


@pytest.mark.parametrize("api", APIS)
def test_host_authority_alias(served: Served, hierarchy: Hierarchy, api: str) -> None:
    authority = _dogtag(served, api).authorities.get_ca("host-authority")
    assert authority.aid == authority_id(hierarchy.intermediate)


@pytest.mark.parametrize("api", APIS)
def test_list_profiles(served: Served, api: str) -> None:
    profiles = _dogtag(served, api).profiles.list_profiles()
    assert "caServerCert" in {profile.profile_id for profile in profiles}


@pytest.mark.parametrize("api", APIS)
def test_get_profile_has_policy_set(served: Served, hierarchy: Hierarchy, api: str) -> None:
    profile_id = _server_profile(hierarchy)
    profile = _dogtag(served, api).profiles.get_profile(profile_id)
    assert profile.profile_id == profile_id
    [policy_set] = profile.policy_set_list.policy_sets
    assert {policy.policy_id for policy in policy_set.policy_list} >= {"1", "2", "6", "7"}
