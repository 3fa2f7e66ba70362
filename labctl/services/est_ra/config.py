"""The RA's configuration: Dogtag EST's three files (backend.conf, authorizer.conf, realm.conf),
with Dogtag's keys, plus server.conf for the listener and TLS files. All are Java-style properties.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from labctl.errors import LabctlError, PKIError
from labctl.pki.keys import KeyAlgorithm
from labctl.pki.names import ReservedNames, parse_networks

# Written into the conf dir after every other file, by labctl, for an RA started with --wait-for-config.
READY_MARKER = ".ready"


class ConfigError(LabctlError):
    """An RA configuration file is missing, malformed or inconsistent."""


def read_properties(path: Path) -> dict[str, str]:
    """`key=value` lines; `#` and `!` start comments (java.util.Properties, without escapes)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ConfigError(f"{path}:{number}: expected key=value, got {line!r}")
        values[key.strip()] = value.strip()
    return values


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
    cert_file: Path
    key_file: Path
    trust_file: Path
    timeout_s: float


@dataclass(frozen=True, slots=True)
class AuthorizerConfig:
    """authorizer.conf: who may enroll and what."""

    role: str
    enroll_match_tls_subject_san: bool
    key_algorithm: KeyAlgorithm
    allow_basic: bool
    allow_certificate: bool
    # labctl's addition: what EST never issues (default: localhost and loopback only).
    reserved: ReservedNames = field(default_factory=ReservedNames)


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
        authorizer=_authorizer(conf_dir / "authorizer.conf"),
        realm=_realm(conf_dir / "realm.conf"),
        server=_server(conf_dir, conf_dir / "server.conf"),
    )


def _backend(base: Path, path: Path) -> BackendConfig:
    values = read_properties(path)
    url = _required(values, "url", path).rstrip("/")
    if not url.startswith(("https://", "http://")):
        raise ConfigError(f"{path}: url {url!r} must be an http(s) URL")
    if "username" in values or "password" in values or "passwordFile" in values:
        raise ConfigError(
            f"{path}: username/password agent login is not supported by the lab CA; use 'nickname' (TLS client certificate)"
        )
    nickname = _required(values, "nickname", path)
    try:
        timeout = float(values.get("timeout", "10"))
    except ValueError:
        raise ConfigError(f"{path}: timeout must be a number of seconds") from None
    return BackendConfig(
        url=url,
        profile=_required(values, "profile", path),
        cert_file=base / f"{nickname}.crt",
        key_file=base / f"{nickname}.key",
        trust_file=_resolve(base, values.get("trustFile", "ca-chain.pem")),
        timeout_s=timeout,
    )


def _authorizer(path: Path) -> AuthorizerConfig:
    values = read_properties(path)
    algorithm_text = _required(values, "keyAlgorithm", path)
    try:
        algorithm = KeyAlgorithm(algorithm_text)
    except ValueError:
        raise ConfigError(f"{path}: unknown keyAlgorithm {algorithm_text!r}") from None
    methods = {m.strip() for m in values.get("enrollAuth", "basic,certificate").split(",") if m.strip()}
    unknown = methods - {"basic", "certificate"}
    if unknown or not methods:
        raise ConfigError(f"{path}: enrollAuth must list basic and/or certificate, got {values.get('enrollAuth')!r}")
    return AuthorizerConfig(
        role=values.get("role", "EST Users"),
        # Dogtag's default is true; then a password user may only enroll its own name.
        enroll_match_tls_subject_san=_flag(values, "enrollMatchTLSSubjSAN", True, path),
        key_algorithm=algorithm,
        allow_basic="basic" in methods,
        allow_certificate="certificate" in methods,
        reserved=_reserved(values, path),
    )


def _reserved(values: Mapping[str, str], path: Path) -> ReservedNames:
    """reservedNames, reservedAddresses (comma-separated) and reserveLoopback: labctl's keys, all optional."""
    names = frozenset(n.strip().lower() for n in values.get("reservedNames", "").split(",") if n.strip())
    try:
        networks = parse_networks(values.get("reservedAddresses", ""))
    except PKIError as exc:
        raise ConfigError(f"{path}: reservedAddresses: {exc}") from None
    return ReservedNames(names, networks, loopback=_flag(values, "reserveLoopback", True, path))


def _realm(path: Path) -> tuple[RealmUser, ...]:
    """PKIInMemoryRealm: one user, `username`, `password`, comma-separated `roles`."""
    values = read_properties(path)
    roles = frozenset(r.strip() for r in values.get("roles", "Administrators").split(",") if r.strip())
    return (RealmUser(_required(values, "username", path), _required(values, "password", path), roles),)


def _server(base: Path, path: Path) -> ServerConfig:
    values = read_properties(path)
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
    return ServerConfig(
        host=values.get("host", "0.0.0.0"),
        port=port,
        chains=tuple(chains),
        client_ca_file=_resolve(base, values.get("clientCAFile", "ca-chain.pem")),
        label=values.get("label") or None,
        max_body_bytes=max_body,
    )
