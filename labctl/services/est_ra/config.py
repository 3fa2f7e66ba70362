"""The RA's configuration: Dogtag EST's three files (backend.conf, authorizer.conf, realm.conf),
with Dogtag's keys, plus server.conf for the listener and TLS files. All are Java-style properties.

Dogtag's files load as Dogtag ships them (dogtagpki/pki base/est/shared/backend.conf, authorizer.conf,
realm/in-memory/in-memory.conf); labctl's own keys are optional there. A `class` this RA does not
implement, or a key no class here reads, is a startup error naming the file and the key: a
misspelt key must not be ignored in silence.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from labctl.errors import LabctlError, PKIError
from labctl.pki.keys import KeyAlgorithm
from labctl.pki.names import ReservedNames, parse_networks

# RFC 7030 section 4.2.3 leaves the delay to the server; a lab agent approves within seconds.
DEFAULT_RETRY_AFTER_S = 5


class Approval(enum.StrEnum):
    """Who approves the RA's enrollments: the RA itself, as agent (auto), or a CA agent (manual)."""

    AUTO = "auto"
    MANUAL = "manual"


# Written into the conf dir after every other file, by labctl, for an RA started with --wait-for-config.
READY_MARKER = ".ready"


class ConfigError(LabctlError):
    """An RA configuration file is missing, malformed or inconsistent."""


def _property_lines(text: str) -> Iterator[tuple[int, str, str | None]]:
    """(line number, key, value) of each line that is not blank or a comment (`#`, `!`); value None for a
    line that is no key=value (java.util.Properties, without escapes)."""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        key, sep, value = line.partition("=")
        yield number, key.strip() if sep else line, value.strip() if sep else None


def read_properties(path: Path) -> dict[str, str]:
    """`key=value` lines; `#` and `!` start comments (java.util.Properties, without escapes)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    values: dict[str, str] = {}
    for number, key, value in _property_lines(text):
        if value is None:
            raise ConfigError(f"{path}:{number}: expected key=value, got {key!r}")
        values[key] = value
    return values


# The `class` each file may name, and the keys each class reads (`class` itself aside).
BACKEND_CLASS = "org.dogtagpki.est.DogtagRABackend"
LABCTL_AUTHORIZER_CLASS = "labctl.services.est_ra.authz.Authorizer"
EXTERNAL_AUTHORIZER_CLASS = "org.dogtagpki.est.ExternalProcessRequestAuthorizer"
REALM_CLASS = "com.netscape.cms.realm.PKIInMemoryRealm"
# DogtagRABackend's keys, then labctl's (trustFile, timeout, approval, retryAfter).
_BACKEND_KEYS = frozenset(
    {
        "url",
        "profile",
        "nickname",
        "username",
        "password",
        "passwordFile",
        "fullcmc.profile",
        "trustFile",
        "timeout",
        "approval",
        "retryAfter",
    }
)
_LABCTL_AUTHORIZER_KEYS = frozenset(
    {
        "role",
        "enrollMatchTLSSubjSAN",
        "enrollAuth",
        "keyAlgorithm",
        "reservedNames",
        "reservedAddresses",
        "reserveLoopback",
    }
)
_AUTHORIZER_KEYS = {
    LABCTL_AUTHORIZER_CLASS: _LABCTL_AUTHORIZER_KEYS,
    # ExternalProcessRequestAuthorizer's keys: executable, timeout (enrollMatchTLSSubjSAN is among labctl's).
    EXTERNAL_AUTHORIZER_CLASS: _LABCTL_AUTHORIZER_KEYS | {"executable", "timeout"},
}
_REALM_KEYS = frozenset({"username", "password", "roles"})
_SERVER_KEYS = frozenset(
    {
        "host",
        "port",
        "certFile",
        "keyFile",
        "compatCertFile",
        "compatKeyFile",
        "clientCAFile",
        "label",
        "maxBodyBytes",
        "workers",
    }
)
# ExternalProcessRequestAuthorizer.DEFAULT_TIMEOUT, in seconds.
DEFAULT_AUTHORIZER_TIMEOUT_S = 3


def _class(values: Mapping[str, str], path: Path, known: Sequence[str]) -> str:
    """The file's `class`: required, as in Dogtag's ESTEngine, and one this RA implements."""
    name = _required(values, "class", path)
    if name not in known:
        raise ConfigError(f"{path}: unknown class {name!r} (this RA implements {', '.join(known)})")
    return name


def _check_keys(values: Mapping[str, str], path: Path, known: frozenset[str], class_name: str | None = None) -> None:
    unknown = sorted(set(values) - known - {"class"})
    if unknown:
        reader = f" for {class_name}" if class_name else ""
        raise ConfigError(f"{path}: unknown key {unknown[0]!r}{reader}")


def _required(values: Mapping[str, str], key: str, path: Path) -> str:
    value = values.get(key, "")
    if not value:
        raise ConfigError(f"{path}: '{key}' is required")
    return value


def _flag(values: Mapping[str, str], key: str, default: bool, path: Path) -> bool:
    value = values.get(key)
    if value is None:
        return default
    if value.lower() not in ("true", "false"):
        raise ConfigError(f"{path}: '{key}' must be true or false, got {value!r}")
    return value.lower() == "true"


def _resolve(base: Path, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else base / path


@dataclass(frozen=True, slots=True)
class BackendConfig:
    """backend.conf: where the CA is and how the RA authenticates to it (DogtagRABackend's keys)."""

    url: str
    profile: str
    # Dogtag's `nickname` names a client certificate in the NSS db; here: <nickname>.crt and .key in the conf dir.
    # None without `nickname`: the RA then logs in with `username` and its password alone.
    cert_file: Path | None
    key_file: Path | None
    trust_file: Path
    timeout_s: float
    # The EST RA user of Dogtag's installation guide (est-ra-1) and its password (`password`, or read from
    # `passwordFile`): sent as HTTP Basic on every CA call, beside the `nickname` certificate when both are set.
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    # The profile fullcmc enrollments use (None: `profile`).
    fullcmc_profile: str | None = None
    # labctl's: who approves enrollments (Dogtag's DogtagRABackend always approves them itself), and
    # the Retry-After of a 202 while a CA agent has not (RFC 7030 section 4.2.3).
    approval: Approval = Approval.AUTO
    retry_after_s: int = DEFAULT_RETRY_AFTER_S


@dataclass(frozen=True, slots=True)
class ExternalAuthorizerConfig:
    """ExternalProcessRequestAuthorizer: `executable` decides each enrollment, within `timeout` seconds."""

    executable: Path
    timeout_s: int = DEFAULT_AUTHORIZER_TIMEOUT_S


@dataclass(frozen=True, slots=True)
class AuthorizerConfig:
    """authorizer.conf: who may enroll and what."""

    # The realm role a Basic user needs (None: no role check here; Dogtag leaves that to the authorizer class).
    role: str | None
    enroll_match_tls_subject_san: bool
    # None: any key check_key_strength accepts; the CA's profile has the last word.
    key_algorithm: KeyAlgorithm | None
    allow_basic: bool
    allow_certificate: bool
    # labctl's addition: what EST never issues (default: localhost and loopback only).
    reserved: ReservedNames = field(default_factory=ReservedNames)
    external: ExternalAuthorizerConfig | None = None


@dataclass(frozen=True, slots=True)
class RealmUser:
    username: str
    password: str
    roles: frozenset[str]


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str
    port: int
    chains: tuple[tuple[Path, Path], ...]
    client_ca_file: Path
    label: str | None
    max_body_bytes: int
    # Worker processes serving the port (labctl.services.workers); None ("auto"): one per CPU, capped.
    workers: int | None = None


@dataclass(frozen=True, slots=True)
class RAConfig:
    backend: BackendConfig
    authorizer: AuthorizerConfig
    realm: tuple[RealmUser, ...]
    server: ServerConfig


def load_config(conf_dir: Path) -> RAConfig:
    """Read and check the four files in the RA's configuration directory."""
    return RAConfig(
        backend=_backend(conf_dir, conf_dir / "backend.conf"),
        authorizer=_authorizer(conf_dir, conf_dir / "authorizer.conf"),
        realm=_realm(conf_dir / "realm.conf"),
        server=_server(conf_dir, conf_dir / "server.conf"),
    )


def _backend(base: Path, path: Path) -> BackendConfig:
    values = read_properties(path)
    _class(values, path, [BACKEND_CLASS])
    _check_keys(values, path, _BACKEND_KEYS, BACKEND_CLASS)
    url = _required(values, "url", path).rstrip("/")
    if not url.startswith(("https://", "http://")):
        raise ConfigError(f"{path}: url {url!r} must be an http(s) URL")
    username = values.get("username") or None
    if username is not None and not (values.get("password") or values.get("passwordFile")):
        raise ConfigError(f"{path}: 'username' needs 'password' or 'passwordFile'")
    nickname = values.get("nickname") or None
    if nickname is None and username is None:
        raise ConfigError(f"{path}: 'nickname' is required, or 'username' with 'password' or 'passwordFile'")
    try:
        timeout = float(values.get("timeout", "10"))
    except ValueError:
        raise ConfigError(f"{path}: timeout must be a number of seconds") from None
    approval, retry_after = _approval(values, path)
    return BackendConfig(
        url=url,
        profile=_required(values, "profile", path),
        cert_file=None if nickname is None else base / f"{nickname}.crt",
        key_file=None if nickname is None else base / f"{nickname}.key",
        trust_file=_resolve(base, values.get("trustFile", "ca-chain.pem")),
        timeout_s=timeout,
        username=username,
        password=None if username is None else _password(base, values, path),
        fullcmc_profile=values.get("fullcmc.profile") or None,
        approval=approval,
        retry_after_s=retry_after,
    )


def _password(base: Path, values: Mapping[str, str], path: Path) -> str:
    """`passwordFile` before `password`, as DogtagRABackend.start: a properties file whose `password` is the
    password (relative to the conf dir here; Dogtag: to its working directory)."""
    if not values.get("passwordFile"):
        return values["password"]
    password_file = _resolve(base, values["passwordFile"])
    try:
        text = password_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: 'passwordFile' {password_file}: cannot read: {exc.strerror}") from None
    # java.util.Properties' reading, for the one key: a line that is no key=value is a key without a value
    # there, so nothing here ever echoes a line of the file (it may be the bare password).
    password = ""
    for _number, key, value in _property_lines(text):
        if key == "password" and value is not None:
            password = value
    if not password:
        raise ConfigError(f"{path}: 'passwordFile' {password_file} has no 'password' property (password=...)")
    return password


def _approval(values: Mapping[str, str], path: Path) -> tuple[Approval, int]:
    """`approval` (auto or manual, default auto) and `retryAfter` (whole seconds, at least 1)."""
    text = values.get("approval") or Approval.AUTO.value
    try:
        approval = Approval(text)
    except ValueError:
        raise ConfigError(f"{path}: 'approval' must be auto or manual, got {text!r}") from None
    retry_text = values.get("retryAfter") or str(DEFAULT_RETRY_AFTER_S)
    try:
        retry_after = int(retry_text)
    except ValueError:
        raise ConfigError(f"{path}: 'retryAfter' must be whole seconds, got {retry_text!r}") from None
    if retry_after < 1:
        raise ConfigError(f"{path}: 'retryAfter' must be at least 1 second, got {retry_after}")
    return approval, retry_after


def _authorizer(base: Path, path: Path) -> AuthorizerConfig:
    values = read_properties(path)
    class_name = _class(values, path, list(_AUTHORIZER_KEYS))
    _check_keys(values, path, _AUTHORIZER_KEYS[class_name], class_name)
    algorithm: KeyAlgorithm | None = None
    if values.get("keyAlgorithm"):
        try:
            algorithm = KeyAlgorithm(values["keyAlgorithm"])
        except ValueError:
            raise ConfigError(f"{path}: unknown keyAlgorithm {values['keyAlgorithm']!r}") from None
    methods = {m.strip() for m in values.get("enrollAuth", "basic,certificate").split(",") if m.strip()}
    unknown = methods - {"basic", "certificate"}
    if unknown or not methods:
        raise ConfigError(f"{path}: enrollAuth must list basic and/or certificate, got {values.get('enrollAuth')!r}")
    return AuthorizerConfig(
        role=values.get("role") or None,
        # Dogtag's default is true; then a password user may only enroll its own name.
        enroll_match_tls_subject_san=_flag(values, "enrollMatchTLSSubjSAN", True, path),
        key_algorithm=algorithm,
        allow_basic="basic" in methods,
        allow_certificate="certificate" in methods,
        reserved=_reserved(values, path),
        external=_external(base, values, path) if class_name == EXTERNAL_AUTHORIZER_CLASS else None,
    )


def _external(base: Path, values: Mapping[str, str], path: Path) -> ExternalAuthorizerConfig:
    """ExternalProcessRequestAuthorizer's `executable` (required) and `timeout` (whole seconds, at least 1)."""
    executable = _resolve(base, _required(values, "executable", path))
    if not executable.is_file() or not os.access(executable, os.X_OK):
        raise ConfigError(f"{path}: executable {str(executable)!r} is not an executable file")
    timeout_text = values.get("timeout") or str(DEFAULT_AUTHORIZER_TIMEOUT_S)
    try:
        timeout = int(timeout_text)
    except ValueError:
        raise ConfigError(f"{path}: 'timeout' must be whole seconds, got {timeout_text!r}") from None
    if timeout < 1:
        raise ConfigError(f"{path}: 'timeout' must be at least 1 second, got {timeout}")
    return ExternalAuthorizerConfig(executable, timeout)


def _reserved(values: Mapping[str, str], path: Path) -> ReservedNames:
    """reservedNames, reservedAddresses (comma-separated) and reserveLoopback: labctl's keys, all optional."""
    names = frozenset(n.strip().lower() for n in values.get("reservedNames", "").split(",") if n.strip())
    try:
        networks = parse_networks(values.get("reservedAddresses", ""))
    except PKIError as exc:
        raise ConfigError(f"{path}: reservedAddresses: {exc}") from None
    return ReservedNames(names, networks, loopback=_flag(values, "reserveLoopback", True, path))


def _realm(path: Path) -> tuple[RealmUser, ...]:
    """PKIInMemoryRealm: one user, `username`, `password`, comma-separated `roles` (default Administrators)."""
    values = read_properties(path)
    _class(values, path, [REALM_CLASS])
    _check_keys(values, path, _REALM_KEYS, REALM_CLASS)
    roles = frozenset(r.strip() for r in values.get("roles", "Administrators").split(",") if r.strip())
    return (RealmUser(_required(values, "username", path), _required(values, "password", path), roles),)


def _server(base: Path, path: Path) -> ServerConfig:
    values = read_properties(path)
    _check_keys(values, path, _SERVER_KEYS)
    chains = [(_resolve(base, _required(values, "certFile", path)), _resolve(base, _required(values, "keyFile", path)))]
    if values.get("compatCertFile"):
        chains.append(
            (_resolve(base, values["compatCertFile"]), _resolve(base, _required(values, "compatKeyFile", path)))
        )
    try:
        port = int(values.get("port", "8443"))
        max_body = int(values.get("maxBodyBytes", str(64 * 1024)))
    except ValueError:
        raise ConfigError(f"{path}: port and maxBodyBytes must be integers") from None
    workers = _workers(values.get("workers", "auto"), path)
    if workers != 1 and port == 0:
        raise ConfigError(
            f"{path}: port 0 with workers={values.get('workers', 'auto')}: each worker would bind its own port"
        )
    return ServerConfig(
        host=values.get("host", "0.0.0.0"),
        port=port,
        chains=tuple(chains),
        client_ca_file=_resolve(base, values.get("clientCAFile", "ca-chain.pem")),
        label=values.get("label") or None,
        max_body_bytes=max_body,
        workers=workers,
    )


def _workers(text: str, path: Path) -> int | None:
    """server.conf's `workers`: "auto" (None) or a whole number from 1."""
    if text.strip() == "auto":
        return None
    try:
        workers = int(text)
    except ValueError:
        raise ConfigError(f"{path}: workers must be 'auto' or a whole number, got {text!r}") from None
    if workers < 1:
        raise ConfigError(f"{path}: workers must be at least 1, got {workers}")
    return workers
