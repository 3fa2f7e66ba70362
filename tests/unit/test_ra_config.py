"""The RA's four configuration files: parsed with Dogtag's keys, errors naming the file and the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from labctl.pki.keys import KeyAlgorithm
from labctl.render import environment, render_ra_config
from labctl.services.est_ra.__main__ import backend_auth
from labctl.services.est_ra.config import ConfigError, RAConfig, load_config
from labctl.topology import DEFAULT_LAB_FILE, dump_lab, load_lab, parse_lab, reserved_names

FILES = {
    "backend.conf": """\
# Dogtag EST backend
class=org.dogtagpki.est.DogtagRABackend
url=https://ca-ecc:8443/
profile=estServiceCert
nickname=ra-agent
timeout=2.5
""",
    "authorizer.conf": """\
class=labctl.services.est_ra.authz.Authorizer
role=EST Users
enrollMatchTLSSubjSAN=false
keyAlgorithm=ec-p384
enrollAuth=basic, certificate
""",
    "realm.conf": """\
! PKIInMemoryRealm
class=com.netscape.cms.realm.PKIInMemoryRealm
username=est-client
password=s3cret=with=equals
roles=EST Users, Auditors
""",
    "server.conf": """\
host=127.0.0.1
port=9443
certFile=tls.crt
keyFile=/etc/est/tls.key
label=ecc
maxBodyBytes=4096
""",
}


@pytest.fixture
def conf_dir(tmp_path: Path) -> Path:
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def _rewrite(conf_dir: Path, name: str, *, drop: str | None = None, add: str | None = None) -> Path:
    path = conf_dir / name
    lines = [line for line in path.read_text().splitlines() if drop is None or not line.startswith(f"{drop}=")]
    if add is not None:
        lines.append(add)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_load_config_reads_backend(conf_dir: Path) -> None:
    backend = load_config(conf_dir).backend
    assert backend.url == "https://ca-ecc:8443"
    assert backend.profile == "estServiceCert"
    assert backend.cert_file == conf_dir / "ra-agent.crt"
    assert backend.key_file == conf_dir / "ra-agent.key"
    assert backend.trust_file == conf_dir / "ca-chain.pem"
    assert backend.timeout_s == 2.5


def test_load_config_reads_authorizer(conf_dir: Path) -> None:
    authorizer = load_config(conf_dir).authorizer
    assert authorizer.role == "EST Users"
    assert authorizer.enroll_match_tls_subject_san is False
    assert authorizer.key_algorithm is KeyAlgorithm.EC_P384
    assert authorizer.allow_basic
    assert authorizer.allow_certificate


def test_load_config_reads_realm(conf_dir: Path) -> None:
    (user,) = load_config(conf_dir).realm
    assert user.username == "est-client"
    assert user.password == "s3cret=with=equals"
    assert user.roles == frozenset({"EST Users", "Auditors"})


def test_load_config_reads_server(conf_dir: Path) -> None:
    server = load_config(conf_dir).server
    assert server.host == "127.0.0.1"
    assert server.port == 9443
    assert server.chains == ((conf_dir / "tls.crt", Path("/etc/est/tls.key")),)
    assert server.client_ca_file == conf_dir / "ca-chain.pem"
    assert server.label == "ecc"
    assert server.max_body_bytes == 4096


def test_load_config_defaults_enroll_match_to_true(conf_dir: Path) -> None:
    _rewrite(conf_dir, "authorizer.conf", drop="enrollMatchTLSSubjSAN")
    assert load_config(conf_dir).authorizer.enroll_match_tls_subject_san is True


def test_load_config_reads_certificate_only_enroll_auth(conf_dir: Path) -> None:
    _rewrite(conf_dir, "authorizer.conf", drop="enrollAuth", add="enrollAuth=certificate")
    authorizer = load_config(conf_dir).authorizer
    assert not authorizer.allow_basic
    assert authorizer.allow_certificate


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("backend.conf", "url"),
        ("backend.conf", "profile"),
        ("backend.conf", "nickname"),
        ("backend.conf", "class"),
        ("authorizer.conf", "class"),
        ("realm.conf", "class"),
        ("realm.conf", "username"),
        ("realm.conf", "password"),
        ("server.conf", "certFile"),
        ("server.conf", "keyFile"),
    ],
)
def test_load_config_missing_key_names_file_and_key(conf_dir: Path, name: str, key: str) -> None:
    path = _rewrite(conf_dir, name, drop=key)
    with pytest.raises(ConfigError) as caught:
        load_config(conf_dir)
    assert str(path) in str(caught.value)
    assert f"'{key}'" in str(caught.value)


def test_load_config_reads_password_backend_without_nickname(conf_dir: Path) -> None:
    """Dogtag's installation guide: `username=est-ra-1`, `password=...`, no nickname: no client certificate."""
    _rewrite(conf_dir, "backend.conf", drop="nickname", add="username=est-ra-1")
    _rewrite(conf_dir, "backend.conf", add="password=password4ESTUser")
    config = load_config(conf_dir)
    backend = config.backend
    assert (backend.username, backend.password) == ("est-ra-1", "password4ESTUser")
    assert (backend.cert_file, backend.key_file) == (None, None)
    assert "password4ESTUser" not in repr(backend)
    # Every CA call then carries them as HTTP Basic.
    assert backend_auth(config) == ("est-ra-1", "password4ESTUser")


@pytest.mark.parametrize("relative", [True, False], ids=["relative", "absolute"])
def test_load_config_reads_password_file_trimmed(conf_dir: Path, relative: bool) -> None:
    """DogtagRABackend.start: passwordFile is a properties file; its `password` property is the password."""
    (conf_dir / "est-ra-1.password").write_text("# the EST RA user's\n  password =  s3cret-token \n\n")
    name = "est-ra-1.password" if relative else str(conf_dir / "est-ra-1.password")
    _rewrite(conf_dir, "backend.conf", drop="nickname", add="username=est-ra-1")
    # passwordFile wins over password, as in DogtagRABackend.
    _rewrite(conf_dir, "backend.conf", add="password=ignored")
    _rewrite(conf_dir, "backend.conf", add=f"passwordFile={name}")
    backend = load_config(conf_dir).backend
    assert (backend.username, backend.password, backend.cert_file) == ("est-ra-1", "s3cret-token", None)


def test_load_config_missing_password_file_names_file_and_key(conf_dir: Path) -> None:
    _rewrite(conf_dir, "backend.conf", drop="nickname", add="username=est-ra-1")
    path = _rewrite(conf_dir, "backend.conf", add="passwordFile=est-ra-1.password")
    with pytest.raises(ConfigError) as caught:
        load_config(conf_dir)
    message = str(caught.value)
    assert message.startswith(f"{path}: 'passwordFile' {conf_dir / 'est-ra-1.password'}: cannot read")
    assert "\n" not in message


def test_load_config_password_file_without_password_property_echoes_nothing(conf_dir: Path) -> None:
    (conf_dir / "pw").write_text("bare-secret-token\n")
    _rewrite(conf_dir, "backend.conf", drop="nickname", add="username=est-ra-1")
    path = _rewrite(conf_dir, "backend.conf", add="passwordFile=pw")
    with pytest.raises(
        ConfigError, match=re.escape(f"{path}: 'passwordFile' {conf_dir / 'pw'} has no 'password'")
    ) as caught:
        load_config(conf_dir)
    assert "bare-secret-token" not in str(caught.value)


def test_load_config_without_nickname_or_username_is_refused(conf_dir: Path) -> None:
    path = _rewrite(conf_dir, "backend.conf", drop="nickname")
    with pytest.raises(ConfigError, match=re.escape(f"{path}: 'nickname' is required, or 'username' with")):
        load_config(conf_dir)


def test_load_config_reads_password_backend_beside_nickname(conf_dir: Path) -> None:
    _rewrite(conf_dir, "backend.conf", add="username=est-ra-1")
    _rewrite(conf_dir, "backend.conf", add="password=Secret.123")
    config = load_config(conf_dir)
    assert (config.backend.username, config.backend.password) == ("est-ra-1", "Secret.123")
    assert config.backend.cert_file == conf_dir / "ra-agent.crt"
    assert backend_auth(config) == ("est-ra-1", "Secret.123")  # Basic beside the certificate, as Dogtag


def test_nickname_backend_sends_no_basic(conf_dir: Path) -> None:
    assert backend_auth(load_config(conf_dir)) is None


def test_load_config_refuses_username_without_password(conf_dir: Path) -> None:
    path = _rewrite(conf_dir, "backend.conf", add="username=est-ra-1")
    with pytest.raises(ConfigError, match=re.escape(f"{path}: 'username' needs 'password' or 'passwordFile'")):
        load_config(conf_dir)


@pytest.mark.parametrize("value", ["password", "basic,kerberos", ",", ""])
def test_load_config_rejects_bad_enroll_auth(conf_dir: Path, value: str) -> None:
    path = _rewrite(conf_dir, "authorizer.conf", drop="enrollAuth", add=f"enrollAuth={value}")
    with pytest.raises(ConfigError) as caught:
        load_config(conf_dir)
    assert str(path) in str(caught.value)
    assert "enrollAuth" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "key", "value", "message"),
    [
        ("authorizer.conf", "enrollMatchTLSSubjSAN", "yes", "'enrollMatchTLSSubjSAN' must be true or false"),
        ("authorizer.conf", "keyAlgorithm", "rsa-1024", "unknown keyAlgorithm 'rsa-1024'"),
        ("backend.conf", "url", "ldap://ca:389", "must be an http"),
        ("server.conf", "port", "https", "port"),
    ],
    ids=["non-boolean-flag", "unknown-key-algorithm", "non-http-url", "non-integer-port"],
)
def test_load_config_rejects_a_bad_value_naming_file_and_key(
    conf_dir: Path, name: str, key: str, value: str, message: str
) -> None:
    path = _rewrite(conf_dir, name, drop=key, add=f"{key}={value}")
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        load_config(conf_dir)
    assert str(path) in str(caught.value)


def test_load_config_names_line_without_equals(conf_dir: Path) -> None:
    path = _rewrite(conf_dir, "realm.conf", add="roles EST Users")
    with pytest.raises(ConfigError, match=re.escape(f"{path}:6: expected key=value")):
        load_config(conf_dir)


def test_load_config_names_missing_file(conf_dir: Path) -> None:
    (conf_dir / "server.conf").unlink()
    with pytest.raises(ConfigError, match=r"cannot read .*server\.conf"):
        load_config(conf_dir)


def test_authorizer_without_labctl_keys_reserves_loopback_only(conf_dir: Path) -> None:
    reserved = load_config(conf_dir).authorizer.reserved
    assert (reserved.names, reserved.networks, reserved.loopback) == (frozenset(), (), True)
    assert reserved.name_reason("localhost") is not None


def _load_rendered(conf_dir: Path, name: str, *, compat_tls: bool = False) -> RAConfig:
    """labctl's own rendered files for hierarchy `name`, loaded as the RA loads them."""
    lab = load_lab()
    hierarchy = lab.hierarchy(name)
    files = render_ra_config(
        hierarchy, ca_url="https://ca:8443", username="u", password="p", compat_tls=compat_tls,
        reserved=reserved_names(lab, hierarchy),
    )  # fmt: skip
    for path, text in files.items():
        (conf_dir / path).write_text(text)
    return load_config(conf_dir)


@pytest.mark.parametrize("name", ["rsa", "ecc", "pqc"])
def test_rendered_files_load_with_labctl_authorizer(tmp_path: Path, name: str) -> None:
    config = _load_rendered(tmp_path, name, compat_tls=True)
    assert config.authorizer.key_algorithm is load_lab().hierarchy(name).algorithm
    assert config.authorizer.external is None
    assert config.backend.fullcmc_profile == config.backend.profile


def test_rendered_authorizer_reserves_every_service_of_the_lab(tmp_path: Path) -> None:
    reserved = _load_rendered(tmp_path, "ecc").authorizer.reserved
    assert {"est-ca.cert-lab.local", "dogtag-pq-intermediate-ca", "dogtag-ecc-est-ca"} <= reserved.names
    assert {str(n) for n in reserved.networks} == {"172.26.0.0/24", "172.27.0.0/24", "172.28.0.0/24"}
    assert reserved.loopback


def test_lab_file_allow_lab_names_reserves_nothing() -> None:
    text = (Path(__file__).resolve().parents[2] / "labctl" / "lab.toml").read_text()
    text = text.replace(
        'enroll_profile = "estServiceCert"\n', 'enroll_profile = "estServiceCert"\nallow_lab_names = true\n', 1
    )
    lab = parse_lab(text)
    reserved = reserved_names(lab, lab.hierarchy("rsa"))
    assert reserved.name_reason("est-ca.cert-lab.local") is None and reserved.name_reason("127.0.0.1") is None
    assert reserved_names(lab, lab.hierarchy("ecc")).name_reason("est-ca.cert-lab.local") is not None
    assert parse_lab(dump_lab(lab)).hierarchy("rsa").ra.allow_lab_names


def test_load_config_rejects_bad_reserved_address(conf_dir: Path) -> None:
    _rewrite(conf_dir, "authorizer.conf", add="reservedAddresses=10.0.0.0/33")
    with pytest.raises(ConfigError, match=re.escape("reservedAddresses: '10.0.0.0/33'")):
        load_config(conf_dir)


def test_templates_compile_once_per_process() -> None:
    # A no-op `up` renders every hierarchy's RA configuration: one environment keeps the compiled templates.
    assert environment() is environment()


# --- workers (docs/workers.md) ---------------------------------------------------------------------


def test_workers_default_to_auto(conf_dir: Path) -> None:
    assert load_config(conf_dir).server.workers is None


@pytest.mark.parametrize(("text", "workers"), [("auto", None), ("1", 1), ("4", 4)])
def test_workers_is_auto_or_a_count(conf_dir: Path, text: str, workers: int | None) -> None:
    _rewrite(conf_dir, "server.conf", add=f"workers={text}")
    assert load_config(conf_dir).server.workers == workers


@pytest.mark.parametrize(("text", "message"), [("0", "at least 1, got 0"), ("two", "'auto' or a whole number")])
def test_bad_workers_name_the_file(conf_dir: Path, text: str, message: str) -> None:
    path = _rewrite(conf_dir, "server.conf", add=f"workers={text}")
    with pytest.raises(ConfigError, match=re.escape(f"{path}: workers must be")) as info:
        load_config(conf_dir)
    assert message in str(info.value)


def test_several_workers_need_a_fixed_port(conf_dir: Path) -> None:
    _rewrite(conf_dir, "server.conf", drop="port", add="port=0")
    _rewrite(conf_dir, "server.conf", add="workers=2")
    with pytest.raises(ConfigError, match="port 0 with workers=2"):
        load_config(conf_dir)


@pytest.mark.parametrize(("line", "workers"), [("", None), ("workers = 3\n", 3)])
def test_lab_file_workers_reach_server_conf(tmp_path: Path, line: str, workers: int | None) -> None:
    lab = parse_lab(DEFAULT_LAB_FILE.read_text().replace("port = 8466\n", f"port = 8466\n{line}"))
    hierarchy = lab.hierarchy("ecc")
    files = render_ra_config(
        hierarchy, ca_url="https://ca:8443", username="u", password="p", compat_tls=False,
        reserved=reserved_names(lab, hierarchy),
    )  # fmt: skip
    assert f"\nworkers={workers or 'auto'}\n" in files["server.conf"]
    for path, content in files.items():
        (tmp_path / path).write_text(content)
    assert load_config(tmp_path).server.workers == workers
