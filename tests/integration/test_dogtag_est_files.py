"""Enrolling through the lab's EST RA configured with the files Dogtag ships (tests/vendor/dogtag_est_conf:
dogtagpki/pki base/est/shared/backend.conf, authorizer.conf, realm/in-memory/in-memory.conf at 40cf4713),
its ExternalProcessRequestAuthorizer included, against the ecc CA running as a process.

The files are filled in only where Dogtag's installation guide says to (docs/installation/est/
installing-est-pki-server.adoc): backend.conf's `url`, the EST RA account's credential, and authorizer.conf's
`executable`. The credential is `nickname`, the guide's TLS client certificate form ("leave out username and
password"): the RA reads it as <nickname>.crt/.key in its conf dir, here the agent credential `labctl up`
issued for the ecc RA. A second RA takes the guide's password form instead: `username=est-ra-1` and
`passwordFile=` the est-ra-1.password labctl wrote into the ecc RA's state dir (the CA knows the user from
the agents.sha256 labctl wrote into its data dir), no `nickname` and no client certificate. server.conf (the
listener) is labctl's own; Dogtag's is Tomcat's server.xml.

The executable is this test's: it reads Dogtag's JSON on stdin (ExternalProcessRequestAuthorizer.Data)
and exits 0 when the CSR names an allowed CN, 1 otherwise. The realm is the shipped one (admin, Secret.123)
and enrollMatchTLSSubjSAN keeps Dogtag's default (true), so the password user enrolls its own name only: as
CN=admin, which the executable allows, or as UID=admin (ESTRequestAuthorizer.ensureCSRMatchesToBeCert takes
either), which has no allowed CN and is refused: 403 with the executable's first line (README).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from labctl.clients import host_admin
from labctl.endpoint import Endpoint
from labctl.est_client import ESTClient
from labctl.local import LocalLab
from labctl.pki.issue import build_csr, certificate_sans, common_name_subject, load_pem_certificates
from labctl.pki.keys import KeyAlgorithm, PrivateKey, generate_private_key, write_private_key
from labctl.pki.pkcs7 import load_certs_only
from labctl.ports import free_ports
from labctl.readiness import wait_until
from labctl.render import AGENT_NICKNAME
from labctl.state import EST_RA_USER, HierarchyState
from labctl.verify import AdminFactory
from tests.helpers import assert_issued_by

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DOGTAG_FILES = REPO / "tests" / "vendor" / "dogtag_est_conf"
# The shipped realm (base/est/shared/realm/in-memory/in-memory.conf).
USER, PASSWORD = "admin", "Secret.123"
ALLOWED_CN = USER

ESTAUTHZ = f"""\
#!{sys.executable}
# The test's request authorizer: Dogtag's JSON on stdin; exit 0 for a CSR naming CN={ALLOWED_CN}, else 1.
import base64, json, pathlib, sys
from cryptography import x509
data = json.load(sys.stdin)
csr = x509.load_der_x509_csr(base64.b64decode(data["csr"]))
names = [str(a.value) for a in csr.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
seen = {{"operation": data["operation"], "principal": data["authzData"]["principal"]["name"], "cn": names}}
with open(pathlib.Path(sys.argv[0]).with_name("authz.jsonl"), "a") as log:
    log.write(json.dumps(seen) + "\\n")
if {ALLOWED_CN!r} not in names:
    print(f"no allowed CN in {{csr.subject.rfc4514_string()}}")
    sys.exit(1)
"""


@dataclass(frozen=True, slots=True)
class DogtagRA:
    url: str
    trust: Path
    authz_log: Path
    admin: AdminFactory


@dataclass(frozen=True, slots=True)
class Enrolled:
    key: PrivateKey
    certificate: x509.Certificate


def _fill_in(text: str, key: str, value: str) -> str:
    """Set `key` in its own line, or in a line added at the end: the installation guide's edit, nothing more."""
    lines = text.splitlines()
    entry = f"{key}={value}"
    if any(line.startswith(f"{key}=") for line in lines):
        return "\n".join(entry if line.startswith(f"{key}=") else line for line in lines) + "\n"
    return "\n".join([*lines, entry]) + "\n"


def _write_conf_dir(
    conf: Path, endpoint: Endpoint, ra_state: Path, executable: Path, port: int, **credential: str
) -> None:
    """Dogtag's files filled in as the guide says; `credential`: backend.conf's lines for the EST RA account
    (default: the agent certificate's nickname)."""
    backend = _fill_in((DOGTAG_FILES / "backend.conf").read_text(), "url", endpoint.ca_url)
    for key, value in (credential or {"nickname": AGENT_NICKNAME}).items():
        backend = _fill_in(backend, key, value)
    (conf / "backend.conf").write_text(backend)
    authorizer = _fill_in((DOGTAG_FILES / "authorizer.conf").read_text(), "executable", str(executable))
    (conf / "authorizer.conf").write_text(authorizer)
    # pki-server est: the realm's file goes to conf/est/realm.conf as it is.
    shutil.copyfile(DOGTAG_FILES / "realm" / "in-memory" / "in-memory.conf", conf / "realm.conf")
    # The RA's TLS credential and the CA chain (trustFile, clientCAFile defaults); the agent certificate for a nickname.
    names = ["tls.crt", "tls.key", "ca-chain.pem"]
    if "nickname" in (credential or {"nickname": AGENT_NICKNAME}):
        names += [f"{AGENT_NICKNAME}.crt", f"{AGENT_NICKNAME}.key"]
    for name in names:
        shutil.copy2(ra_state / name, conf / name)
    (conf / "server.conf").write_text(f"host=127.0.0.1\nport={port}\ncertFile=tls.crt\nkeyFile=tls.key\n")


def _wait_ready(process: subprocess.Popen[bytes], url: str, trust: Path, log: Path) -> None:
    context = ssl.create_default_context(cafile=str(trust))

    def probe() -> tuple[bool | None, str]:
        if process.poll() is not None:
            pytest.fail(f"the RA exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            status = httpx.get(f"{url}/.well-known/est/cacerts", verify=context, timeout=5).status_code
        except httpx.TransportError as exc:
            return None, str(exc)
        return (True, "200") if status == 200 else (None, f"status {status}")

    wait_until(probe, what="RA with Dogtag's files", timeout=60, diagnose=lambda: log.read_text()[-3000:])


@contextlib.contextmanager
def _dogtag_ra(
    local_lab: tuple[LocalLab, dict[str, Endpoint], Path], root: Path, **credential: str
) -> Iterator[DogtagRA]:
    """An RA process started from Dogtag's files in root/conf, in front of the ecc CA; stopped on exit."""
    _, endpoints, state = local_lab
    endpoint = endpoints["ecc"]
    conf = root / "conf"
    conf.mkdir()
    executable = root / "estauthz"
    executable.write_text(ESTAUTHZ)
    executable.chmod(0o755)
    [port] = free_ports(1)
    ra_state = HierarchyState.of(state, endpoint.hierarchy).ra_dir
    _write_conf_dir(conf, endpoint, ra_state, executable, port, **credential)
    url, log = f"https://127.0.0.1:{port}", root / "ra.log"
    command = [sys.executable, "-m", "labctl.services.est_ra", "--conf-dir", str(conf)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    try:
        _wait_ready(process, url, conf / "ca-chain.pem", log)
        yield DogtagRA(url, conf / "ca-chain.pem", root / "authz.jsonl", host_admin(state, endpoint))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def dogtag_ra(
    local_lab: tuple[LocalLab, dict[str, Endpoint], Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DogtagRA]:
    with _dogtag_ra(local_lab, tmp_path_factory.mktemp("dogtag-est")) as ra:
        yield ra


@pytest.fixture(scope="module")
def password_ra(
    local_lab: tuple[LocalLab, dict[str, Endpoint], Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DogtagRA]:
    """The guide's password form: username=est-ra-1 and passwordFile= the file labctl wrote, no nickname."""
    _, endpoints, state = local_lab
    password_file = HierarchyState.of(state, endpoints["ecc"].hierarchy).est_ra_password_file
    root = tmp_path_factory.mktemp("dogtag-est-password")
    with _dogtag_ra(local_lab, root, username=EST_RA_USER, passwordFile=str(password_file)) as ra:
        yield ra


def _curl(
    ra: DogtagRA, operation: str, csr: x509.CertificateSigningRequest, cwd: Path, *auth: str
) -> tuple[str, bytes]:
    """POST the CSR as the README's curl recipe does: (HTTP status, body)."""
    (cwd / "csr.b64").write_bytes(base64.encodebytes(csr.public_bytes(serialization.Encoding.DER)))
    command = [
        "curl", "-sS", "--cacert", str(ra.trust), *auth, "-H", "Content-Type: application/pkcs10",
        "--data-binary", "@csr.b64", "-o", "answer", "-w", "%{http_code}", f"{ra.url}/.well-known/est/{operation}",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=True)
    return result.stdout, (cwd / "answer").read_bytes()


def _authorized(ra: DogtagRA) -> list[dict[str, object]]:
    """What the executable was asked, in order."""
    return [json.loads(line) for line in ra.authz_log.read_text().splitlines()] if ra.authz_log.exists() else []


def _intermediate(ra: DogtagRA) -> x509.Certificate:
    return load_pem_certificates(ra.trust.read_bytes())[0]


@pytest.fixture(scope="module")
def enrolled(dogtag_ra: DogtagRA, tmp_path_factory: pytest.TempPathFactory) -> Enrolled:
    """simpleenroll as the realm's user, CN=admin: what the executable allows."""
    key = generate_private_key(KeyAlgorithm.EC_P384)
    csr = build_csr(key, common_name_subject(ALLOWED_CN))
    status, body = _curl(dogtag_ra, "simpleenroll", csr, tmp_path_factory.mktemp("enroll"), "-u", f"{USER}:{PASSWORD}")
    assert status == "200", body
    [certificate] = load_certs_only(body)
    return Enrolled(key, certificate)


def test_allowed_simpleenroll_is_issued_by_the_ca(dogtag_ra: DogtagRA, enrolled: Enrolled) -> None:
    assert enrolled.certificate.subject == common_name_subject(ALLOWED_CN)
    assert_issued_by(enrolled.certificate, _intermediate(dogtag_ra))
    with dogtag_ra.admin() as ca:
        held = ca.certificate(enrolled.certificate.serial_number)
    # backend.conf's profile, as shipped: estServiceCert.
    assert (held.status, held.profile_id) == ("VALID", "estServiceCert")
    assert {"operation": "simpleenroll", "principal": USER, "cn": [ALLOWED_CN]} in _authorized(dogtag_ra)


def test_refused_simpleenroll_is_403_and_reaches_no_ca(dogtag_ra: DogtagRA, tmp_path: Path) -> None:
    csr = build_csr(generate_private_key(KeyAlgorithm.EC_P384), x509.Name([x509.NameAttribute(NameOID.USER_ID, USER)]))
    with dogtag_ra.admin() as ca:
        before = [r.request_id for r in ca.requests()]
        status, body = _curl(dogtag_ra, "simpleenroll", csr, tmp_path, "-u", f"{USER}:{PASSWORD}")
        after = [r.request_id for r in ca.requests()]
    # ExternalProcessRequestAuthorizer: a non-zero exit is ForbiddenException(stdout); the RA answers its first line.
    assert (status, body) == ("403", b"403 no allowed CN in UID=admin\n")
    assert after == before  # no request, so no certificate, at the CA
    assert _authorized(dogtag_ra)[-1] == {"operation": "simpleenroll", "principal": USER, "cn": []}


def test_simplereenroll_with_the_certificate_is_issued(dogtag_ra: DogtagRA, enrolled: Enrolled, tmp_path: Path) -> None:
    key = generate_private_key(KeyAlgorithm.EC_P384)
    # RFC 7030 section 4.2.2: the renewal keeps the subject and subjectAltName (the CA's profile added the CN as a SAN).
    sans = [str(name.value) for name in certificate_sans(enrolled.certificate)]
    csr = build_csr(key, enrolled.certificate.subject, sans)
    write_private_key(tmp_path / "device.key", enrolled.key)
    (tmp_path / "device.crt").write_bytes(enrolled.certificate.public_bytes(serialization.Encoding.PEM))
    status, body = _curl(dogtag_ra, "simplereenroll", csr, tmp_path, "--cert", "device.crt", "--key", "device.key")
    assert status == "200", body
    [renewed] = load_certs_only(body)
    assert renewed.subject == enrolled.certificate.subject
    assert renewed.serial_number != enrolled.certificate.serial_number
    assert_issued_by(renewed, _intermediate(dogtag_ra))
    principal = enrolled.certificate.subject.rfc4514_string()
    assert _authorized(dogtag_ra)[-1] == {"operation": "simplereenroll", "principal": principal, "cn": [ALLOWED_CN]}


def test_fullcmc_enrolls_with_the_shipped_fullcmc_profile(dogtag_ra: DogtagRA) -> None:
    """backend.conf as shipped names fullcmc.profile=estFullcmcDeviceCert (Dogtag's upgrade 11.9.0
    02-EnableESTFullCMC.py adds it): a fullcmc request through this RA is issued with that profile."""
    key = generate_private_key(KeyAlgorithm.EC_P384)
    csr = build_csr(key, common_name_subject(ALLOWED_CN))
    context = ssl.create_default_context(cafile=str(dogtag_ra.trust))
    with ESTClient(dogtag_ra.url, ssl_context=context, auth=(USER, PASSWORD)) as client:
        response = client.fullcmc(csr, key)
    [certificate] = response.certificates
    assert certificate.subject == common_name_subject(ALLOWED_CN)
    assert_issued_by(certificate, _intermediate(dogtag_ra))
    with dogtag_ra.admin() as ca:
        held = ca.certificate(certificate.serial_number)
    assert (held.status, held.profile_id) == ("VALID", "estFullcmcDeviceCert")
    assert _authorized(dogtag_ra)[-1]["operation"] == "fullcmc"


def test_password_backend_simpleenroll_is_issued_by_the_ca(password_ra: DogtagRA, tmp_path: Path) -> None:
    """The RA logs in to the CA as est-ra-1 with HTTP Basic (no client certificate): issued, VALID at the CA."""
    backend = (password_ra.trust.parent / "backend.conf").read_text()
    assert "nickname=" not in backend and f"username={EST_RA_USER}" in backend
    assert not (password_ra.trust.parent / f"{AGENT_NICKNAME}.crt").exists()
    key = generate_private_key(KeyAlgorithm.EC_P384)
    csr = build_csr(key, common_name_subject(ALLOWED_CN))
    status, body = _curl(password_ra, "simpleenroll", csr, tmp_path, "-u", f"{USER}:{PASSWORD}")
    assert status == "200", body
    [certificate] = load_certs_only(body)
    assert certificate.subject == common_name_subject(ALLOWED_CN)
    assert_issued_by(certificate, _intermediate(password_ra))
    with password_ra.admin() as ca:
        held = ca.certificate(certificate.serial_number)
    assert (held.status, held.profile_id) == ("VALID", "estServiceCert")
    assert _authorized(password_ra)[-1] == {"operation": "simpleenroll", "principal": USER, "cn": [ALLOWED_CN]}
