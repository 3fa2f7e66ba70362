"""Dogtag EST's own configuration files, as Dogtag ships them, in the RA: loaded with Dogtag's meaning,
ExternalProcessRequestAuthorizer run on each enrollment, and unknown classes and keys refused at startup.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aiohttp import ClientResponse
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from labctl.pki.issue import build_csr, common_name_subject
from labctl.pki.keys import KeyAlgorithm
from labctl.pki.pkcs7 import load_certs_only
from labctl.services.est_ra.config import (
    DEFAULT_AUTHORIZER_TIMEOUT_S,
    ConfigError,
    RAConfig,
    load_config,
)
from tests.conftest import DEVICE_KEY, basic_auth
from tests.helpers import key_for

if TYPE_CHECKING:
    from tests.conftest import RAFactory, RAService

# Dogtag's files as it ships them (tests/vendor/dogtag_est_conf: dogtagpki/pki base/est/shared/ at 40cf4713),
# under the names an installed EST reads, plus labctl's server.conf.
SHIPPED = Path(__file__).resolve().parents[1] / "vendor" / "dogtag_est_conf"
DOGTAG_FILES = {
    "backend.conf": (SHIPPED / "backend.conf").read_text(),
    "authorizer.conf": (SHIPPED / "authorizer.conf").read_text(),
    "realm.conf": (SHIPPED / "realm" / "in-memory" / "in-memory.conf").read_text(),
    # labctl's own: the listener (Dogtag's is Tomcat's server.xml)
    "server.conf": """\
certFile=tls.crt
keyFile=tls.key
""",
}
DOGTAG_USER, DOGTAG_PASSWORD = "admin", "Secret.123"

# The executables, written by us. `received.json` beside each keeps what it read on stdin.
ALLOW = """\
import pathlib, sys
pathlib.Path(sys.argv[0]).with_name("received.json").write_bytes(sys.stdin.buffer.read())
"""
# Refuses a principal without the role Dogtag's default authorizer wants (as base/est/bin/estauthz does).
REFUSE_WITHOUT_ROLE = """\
import json, sys
roles = json.load(sys.stdin)["authzData"]["principal"]["roles"]
if "EST Users" not in roles:
    print(f"principal lacks the role 'EST Users' (has {', '.join(roles)})")
    print("a second line that stays out of the answer")
    sys.exit(1)
"""


def _write_executable(directory: Path, name: str, text: str, *, interpreter: str = sys.executable) -> Path:
    path = directory / name
    path.write_text(f"#!{interpreter}\n{text}")
    path.chmod(0o755)
    return path


def _write_dogtag_files(conf_dir: Path, *, executable: Path | None = None, **extra: str) -> Path:
    """Dogtag's files plus what pkispawn adds on a security-domain install: the agent certificate's
    `nickname` (base/server/python/pki/server/deployment/__init__.py configure_est_backend) and
    `executable` (est_authorizer_exec_path). `extra` adds lines: {"backend.conf": "timeout=2"}."""
    for name, text in DOGTAG_FILES.items():
        (conf_dir / name).write_text(text)
    _append(conf_dir / "backend.conf", "nickname=ra-agent")
    if executable is not None:
        _append(conf_dir / "authorizer.conf", f"executable={executable}")
    for name, line in extra.items():
        _append(conf_dir / name.replace("_", "."), line)
    return conf_dir


def _append(path: Path, line: str) -> None:
    text = path.read_text()
    path.write_text(f"{text}{'' if text.endswith(chr(10)) else chr(10)}{line}\n")


@pytest.fixture
def allow(tmp_path: Path) -> Path:
    return _write_executable(tmp_path, "allow", ALLOW)


def _load(tmp_path: Path, executable: Path, **extra: str) -> RAConfig:
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir(exist_ok=True)
    return load_config(_write_dogtag_files(conf_dir, executable=executable, **extra))


# --- loading ---------------------------------------------------------------------------------------


def test_dogtag_backend_conf_loads_with_fullcmc_profile_read(tmp_path: Path, allow: Path) -> None:
    backend = _load(tmp_path, allow).backend
    assert (backend.url, backend.profile) == ("https://fedora:8443", "estServiceCert")
    assert backend.cert_file is not None and backend.cert_file.name == "ra-agent.crt"
    assert backend.fullcmc_profile == "estFullcmcDeviceCert"


def test_dogtag_authorizer_conf_loads_with_dogtag_defaults(tmp_path: Path, allow: Path) -> None:
    authorizer = _load(tmp_path, allow).authorizer
    assert authorizer.external is not None
    assert authorizer.external.executable == allow
    assert authorizer.external.timeout_s == DEFAULT_AUTHORIZER_TIMEOUT_S == 3
    assert authorizer.enroll_match_tls_subject_san is True
    # labctl's keys absent: any strong key, no role check of the RA's own, Basic and certificate.
    assert (authorizer.key_algorithm, authorizer.role) == (None, None)
    assert authorizer.allow_basic and authorizer.allow_certificate


def test_dogtag_realm_conf_loads(tmp_path: Path, allow: Path) -> None:
    (user,) = _load(tmp_path, allow).realm
    assert (user.username, user.password, user.roles) == (DOGTAG_USER, DOGTAG_PASSWORD, frozenset({"estclient"}))


def test_dogtag_authorizer_reads_timeout(tmp_path: Path, allow: Path) -> None:
    authorizer = _load(tmp_path, allow, authorizer_conf="timeout=10").authorizer
    assert authorizer.external is not None and authorizer.external.timeout_s == 10


@pytest.mark.parametrize("value", ["0", "1.5", "soon"])
def test_dogtag_authorizer_refuses_bad_timeout(tmp_path: Path, allow: Path, value: str) -> None:
    with pytest.raises(ConfigError, match=r"authorizer\.conf: 'timeout' must be"):
        _load(tmp_path, allow, authorizer_conf=f"timeout={value}")


def test_dogtag_authorizer_names_missing_executable(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-estauthz"
    with pytest.raises(ConfigError, match=re.escape(f"executable '{missing}' is not an executable file")):
        _load(tmp_path, missing)


def test_dogtag_backend_without_credentials_needs_nickname_or_username(tmp_path: Path) -> None:
    (tmp_path / "backend.conf").write_text(DOGTAG_FILES["backend.conf"])
    for name in ("authorizer.conf", "realm.conf", "server.conf"):
        (tmp_path / name).write_text("")
    with pytest.raises(ConfigError, match=re.escape(f"{tmp_path / 'backend.conf'}: 'nickname' is required")):
        load_config(tmp_path)


@pytest.mark.parametrize(
    ("name", "line", "message"),
    [
        ("backend.conf", "class=org.dogtagpki.est.DogtagCABackend", "unknown class 'org.dogtagpki.est.DogtagCABackend'"),
        ("authorizer.conf", "class=org.example.MyAuthorizer", "unknown class 'org.example.MyAuthorizer'"),
        ("realm.conf", "class=com.netscape.cms.realm.PKILDAPRealm", "unknown class 'com.netscape.cms.realm.PKILDAPRealm'"),
    ],
    ids=["backend", "authorizer", "realm"],
)  # fmt: skip
def test_unknown_class_is_a_startup_error(tmp_path: Path, allow: Path, name: str, line: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, allow, **{name.replace(".", "_"): line})
    assert str(caught.value).startswith(f"{tmp_path / 'conf' / name}: {message}")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("backend.conf", "fullcmc.profle"),
        ("authorizer.conf", "enrollMatchTLSSubjectSAN"),
        ("realm.conf", "role"),
        ("server.conf", "listenPort"),
    ],
)
def test_unknown_key_is_a_startup_error(tmp_path: Path, allow: Path, name: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, allow, **{name.replace(".", "_"): f"{key}=x"})
    assert str(caught.value).startswith(f"{tmp_path / 'conf' / name}: unknown key '{key}'")


def test_executable_is_unknown_to_labctl_authorizer(tmp_path: Path, allow: Path) -> None:
    conf_dir = _write_dogtag_files(tmp_path, executable=allow)
    (conf_dir / "authorizer.conf").write_text(f"class=labctl.services.est_ra.authz.Authorizer\nexecutable={allow}\n")
    with pytest.raises(
        ConfigError, match=re.escape("unknown key 'executable' for labctl.services.est_ra.authz.Authorizer")
    ):
        load_config(conf_dir)


# --- ExternalProcessRequestAuthorizer in the RA -------------------------------------------------------


async def _dogtag_ra(make_ra: RAFactory, tmp_path: Path, executable: Path, **extra: str) -> RAService:
    config = _load(tmp_path, executable, **extra)
    return await make_ra(authorizer=config.authorizer, realm=config.realm)


def _admin_csr(algorithm: KeyAlgorithm) -> x509.CertificateSigningRequest:
    # enrollMatchTLSSubjSAN (Dogtag's default, true): a password user enrolls its own name only.
    return build_csr(key_for(algorithm, DEVICE_KEY), common_name_subject(DOGTAG_USER), ())


async def _post(
    ra: RAService, csr: x509.CertificateSigningRequest, operation: str = "simpleenroll", **headers: str
) -> ClientResponse:
    body = base64.encodebytes(csr.public_bytes(serialization.Encoding.DER))
    return await ra.client.post(ra.url(operation), data=body, headers={"Content-Type": "application/pkcs10", **headers})


async def test_external_authorizer_allows_and_receives_dogtag_json(
    make_ra: RAFactory, tmp_path: Path, allow: Path
) -> None:
    ra = await _dogtag_ra(make_ra, tmp_path, allow)
    csr = _admin_csr(ra.hierarchy.algorithm)
    response = await _post(ra, csr, **basic_auth(DOGTAG_USER, DOGTAG_PASSWORD))
    assert response.status == 200, await response.text()
    (issued,) = load_certs_only(await response.read())
    assert issued.subject == csr.subject
    received = json.loads((tmp_path / "received.json").read_bytes())
    assert received == {
        "operation": "simpleenroll",
        "authzData": {"remoteAddr": "127.0.0.1", "principal": {"name": "admin", "roles": ["estclient"]}},
        "csr": base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode(),
    }


async def test_external_authorizer_gets_certificate_and_label_on_reenroll(
    make_ra: RAFactory, tmp_path: Path, allow: Path
) -> None:
    ra = await _dogtag_ra(make_ra, tmp_path, allow)
    csr = _admin_csr(ra.hierarchy.algorithm)
    (issued,) = load_certs_only(await (await _post(ra, csr, **basic_auth(DOGTAG_USER, DOGTAG_PASSWORD))).read())
    ra.peer.present(issued)
    # The CA's profile put the CN in the SAN; RFC 7030 section 4.2.2 wants the renewal CSR to repeat it.
    renewal = build_csr(key_for(ra.hierarchy.algorithm, DEVICE_KEY), issued.subject, [DOGTAG_USER])
    response = await _post(ra, renewal, "simplereenroll")
    assert response.status == 200, await response.text()
    received = json.loads((tmp_path / "received.json").read_bytes())
    issued_b64 = base64.b64encode(issued.public_bytes(serialization.Encoding.DER)).decode()
    assert received["operation"] == "simplereenroll"
    assert received["authzData"]["principal"] == {"name": issued.subject.rfc4514_string(), "roles": ["EST Users"]}
    assert received["authzData"]["clientCertChain"] == [issued_b64]
    assert received["toBeRenewed"] == issued_b64


async def test_external_authorizer_receives_url_label(make_ra: RAFactory, tmp_path: Path, allow: Path) -> None:
    config = _load(tmp_path, allow)
    ra = await make_ra(authorizer=config.authorizer, realm=config.realm, label="ecc")
    response = await _post(ra, _admin_csr(ra.hierarchy.algorithm), **basic_auth(DOGTAG_USER, DOGTAG_PASSWORD))
    assert response.status == 200, await response.text()
    assert json.loads((tmp_path / "received.json").read_bytes())["authzData"]["label"] == "ecc"


async def test_external_authorizer_refusal_is_403_with_its_first_line(make_ra: RAFactory, tmp_path: Path) -> None:
    refuse = _write_executable(tmp_path, "refuse", REFUSE_WITHOUT_ROLE)
    ra = await _dogtag_ra(make_ra, tmp_path, refuse)
    response = await _post(ra, _admin_csr(ra.hierarchy.algorithm), **basic_auth(DOGTAG_USER, DOGTAG_PASSWORD))
    assert response.status == 403
    assert await response.text() == "403 principal lacks the role 'EST Users' (has estclient)\n"


async def test_external_authorizer_silent_refusal_names_exit_status(make_ra: RAFactory, tmp_path: Path) -> None:
    refuse = _write_executable(tmp_path, "refuse", "exit 7\n", interpreter="/bin/sh")
    ra = await _dogtag_ra(make_ra, tmp_path, refuse)
    response = await _post(ra, _admin_csr(ra.hierarchy.algorithm), **basic_auth(DOGTAG_USER, DOGTAG_PASSWORD))
    assert await response.text() == "403 refused by request authorizer refuse (exit status 7)\n"


async def test_external_authorizer_that_hangs_is_killed_and_refused(make_ra: RAFactory, tmp_path: Path) -> None:
    # A shell waiting on a child: the whole process group goes, or the child would hold the pipes open.
    hang = _write_executable(tmp_path, "hang", "sleep 600\n", interpreter="/bin/sh")
    ra = await _dogtag_ra(make_ra, tmp_path, hang, authorizer_conf="timeout=1")
    response = await _post(ra, _admin_csr(ra.hierarchy.algorithm), **basic_auth(DOGTAG_USER, DOGTAG_PASSWORD))
    assert response.status == 500
    assert await response.text() == "500 request validation timed out: hang ran longer than 1 s\n"


async def test_enroll_match_refuses_other_name_before_the_executable(
    make_ra: RAFactory, tmp_path: Path, allow: Path
) -> None:
    ra = await _dogtag_ra(make_ra, tmp_path, allow)
    csr = build_csr(key_for(ra.hierarchy.algorithm, DEVICE_KEY), common_name_subject("someone-else"), ())
    response = await _post(ra, csr, **basic_auth(DOGTAG_USER, DOGTAG_PASSWORD))
    assert response.status == 403
    assert "does not match user identity admin" in await response.text()
    assert not (tmp_path / "received.json").exists()


async def test_dogtag_authorizer_csrattrs_asks_for_nothing(make_ra: RAFactory, tmp_path: Path, allow: Path) -> None:
    ra = await _dogtag_ra(make_ra, tmp_path, allow)
    response = await ra.client.get(ra.url("csrattrs"))
    assert response.status == 204
