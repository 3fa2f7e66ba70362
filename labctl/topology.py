"""The lab model: Lab and Hierarchy values parsed once from the lab file, and validated.

Everything else (services' configuration, templates, orchestration, verify) reads this model;
no hierarchy is hard-coded anywhere else. Defaults live in the shipped lab file, labctl/lab.toml.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import string
import tomllib
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import tomli_w

from labctl.errors import LabctlError, PKIError, TopologyError
from labctl.pki.keys import KeyAlgorithm
from labctl.pki.names import ReservedNames
from labctl.pki.profiles import get_profile

DEFAULT_LAB_FILE = Path(__file__).with_name("lab.toml")

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")
_CONTAINER = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


@dataclass(frozen=True, slots=True)
class IntermediateCA:
    container: str
    common_name: str
    address: ipaddress.IPv4Address | None
    port: int
    # Dogtag's plain-HTTP ("unsecure") port: the CRL, the CA certificate and OCSP, anonymous and read-only
    # (labctl.services.ca.public). None: no such port, and certificates carry no CRL DP or AIA (labs
    # recorded before the key existed).
    http_port: int | None = None
    # Worker processes serving the CA's ports (docs/workers.md); None: auto, one per two CPUs the container
    # may use, 1 to 4 (labctl.services.workers.default_workers). Rendered into the CA's command line.
    workers: int | None = None


@dataclass(frozen=True, slots=True)
class RegistrationAuthority:
    container: str
    hostname: str
    address: ipaddress.IPv4Address | None
    port: int
    tls_profile: str
    enroll_profile: str
    # EST may issue names and addresses of the lab's own services (its RAs, CAs, networks, loopback):
    # off unless the lab file says so for this hierarchy (see labctl.pki.names).
    allow_lab_names: bool = False
    # Who approves EST enrollments: "auto" (the RA, as agent) or "manual" (a CA agent: `labctl approve`;
    # the RA answers 202 Retry-After until then, RFC 7030 section 4.2.3). Rendered into backend.conf.
    approval: str = "auto"
    # Worker processes serving the RA's port (docs/workers.md); None: auto, one per two CPUs the container
    # may use, 1 to 4 (labctl.services.workers.default_workers). Rendered into server.conf.
    workers: int | None = None


APPROVALS = ("auto", "manual")


@dataclass(frozen=True, slots=True)
class Hierarchy:
    name: str
    algorithm: KeyAlgorithm
    subnet: ipaddress.IPv4Network
    root_common_name: str
    root_validity_days: int
    intermediate_validity_days: int
    ca: IntermediateCA
    ra: RegistrationAuthority


REPORT_AFTER_S = 300.0


@dataclass(frozen=True, slots=True)
class Events:
    """The lab file's [events]: where every Intermediate CA POSTs its certificate events, and how long an
    event may stay undelivered before the CA reports it. A URL may name `{gateway}` (where the host is
    reachable from the CA: its network's gateway, see gateway()) and `{hierarchy}` (rsa, ecc, pqc)."""

    webhooks: tuple[str, ...] = ()
    report_after_s: float = REPORT_AFTER_S

    def webhook_urls(self, hierarchy: Hierarchy, *, gateway: str) -> tuple[str, ...]:
        return tuple(url.format(gateway=gateway, hierarchy=hierarchy.name) for url in self.webhooks)


@dataclass(frozen=True, slots=True)
class Lab:
    name: str
    bind_address: ipaddress.IPv4Address
    hierarchies: tuple[Hierarchy, ...]
    source: str
    events: Events = Events()

    def hierarchy(self, name: str) -> Hierarchy:
        for hierarchy in self.hierarchies:
            if hierarchy.name == name:
                return hierarchy
        known = ", ".join(h.name for h in self.hierarchies)
        raise TopologyError(f"lab {self.name!r} has no hierarchy {name!r} (it has: {known})")


def gateway(hierarchy: Hierarchy) -> ipaddress.IPv4Address:
    """The host's address on the hierarchy's network: podman gives the bridge the subnet's first host address."""
    return hierarchy.subnet.network_address + 1


def network_name(lab: Lab, hierarchy: Hierarchy) -> str:
    """The one place container-network names are made."""
    return f"{lab.name}-{hierarchy.name}"


def volume_name(lab: Lab, hierarchy: Hierarchy) -> str:
    """The one place the CA data volumes' names are made."""
    return f"{lab.name}-{hierarchy.name}-ca-data"


def iot_volume_name(lab: Lab, hierarchy: Hierarchy, common_name: str) -> str:
    """An IoT device's data volume: its key and certificate survive the client container."""
    safe = re.sub(r"[^a-zA-Z0-9_.-]", "-", common_name)[:100]
    return f"{lab.name}-{hierarchy.name}-iot-{safe}"


def container_named(lab: Lab, name: str) -> str:
    """The lab container NAME means: a container's own name, or HIERARCHY/ca, HIERARCHY/ra."""
    hierarchy, _, role = name.partition("/")
    if role in ("ca", "ra"):
        h = lab.hierarchy(hierarchy)
        return h.ca.container if role == "ca" else h.ra.container
    names = {c for h in lab.hierarchies for c in (h.ca.container, h.ra.container)}
    if name not in names:
        raise LabctlError(f"{name!r} is not a container of lab {lab.name}", hint=f"one of: {', '.join(sorted(names))}")
    return name


def renamed(lab: Lab, name: str) -> Lab:
    """The same lab under another name, so it can run beside the original on one host.

    Networks, volumes and the state dir follow from the name; container names get the name as a
    prefix, and an RA hostname label equal to the old name is replaced (est-ca.cert-lab.local
    becomes est-ca.NAME.local), so no name the two labs publish is shared.
    """
    if not _NAME.match(name):
        raise TopologyError(f"lab name {name!r} is not valid: lower-case letters, digits and '-', at most 31")
    if name == lab.name:
        return lab

    def hostname(text: str) -> str:
        return ".".join(name if label == lab.name else label for label in text.split("."))

    hierarchies = tuple(
        dataclasses.replace(
            h,
            ca=dataclasses.replace(h.ca, container=f"{name}-{h.ca.container}"),
            ra=dataclasses.replace(h.ra, container=f"{name}-{h.ra.container}", hostname=hostname(h.ra.hostname)),
        )
        for h in lab.hierarchies
    )
    moved = dataclasses.replace(lab, name=name, hierarchies=hierarchies)
    _validate(moved)  # a prefixed container name may outgrow the limit
    return moved


def with_workers(lab: Lab, *, ca: int | None, ra: int | None) -> Lab:
    """The same lab with every CA's and every RA's worker processes set (None: as `lab` has them)."""
    hierarchies = tuple(
        dataclasses.replace(
            h,
            ca=h.ca if ca is None else dataclasses.replace(h.ca, workers=ca),
            ra=h.ra if ra is None else dataclasses.replace(h.ra, workers=ra),
        )
        for h in lab.hierarchies
    )
    return dataclasses.replace(lab, hierarchies=hierarchies)


def with_subnets(lab: Lab, subnets: Sequence[ipaddress.IPv4Network]) -> Lab:
    """The same lab on other subnets; static addresses keep their host part (172.26.0.11 -> 10.90.3.11)."""
    if len(subnets) != len(lab.hierarchies):
        raise TopologyError(f"lab {lab.name} needs {len(lab.hierarchies)} subnets, got {len(subnets)}")

    def move(
        address: ipaddress.IPv4Address | None, old: ipaddress.IPv4Network, new: ipaddress.IPv4Network
    ) -> ipaddress.IPv4Address | None:
        if address is None:
            return None
        return new.network_address + (int(address) - int(old.network_address))

    hierarchies = []
    for h, subnet in zip(lab.hierarchies, subnets, strict=True):
        if subnet.prefixlen > h.subnet.prefixlen:
            raise TopologyError(f"subnet {subnet} is smaller than {h.name}'s {h.subnet}")
        hierarchies.append(
            dataclasses.replace(
                h,
                subnet=subnet,
                ca=dataclasses.replace(h.ca, address=move(h.ca.address, h.subnet, subnet)),
                ra=dataclasses.replace(h.ra, address=move(h.ra.address, h.subnet, subnet)),
            )
        )
    moved = dataclasses.replace(lab, hierarchies=tuple(hierarchies))
    _validate(moved)
    return moved


def dump_lab(lab: Lab) -> str:
    """The lab as a lab file (parse_lab(dump_lab(lab)) == lab, but for `source`)."""

    def table(h: Hierarchy) -> dict[str, Any]:
        ca: dict[str, Any] = {"container": h.ca.container, "common_name": h.ca.common_name, "port": h.ca.port}
        ra: dict[str, Any] = {
            "container": h.ra.container,
            "hostname": h.ra.hostname,
            "port": h.ra.port,
            "tls_profile": h.ra.tls_profile,
            "enroll_profile": h.ra.enroll_profile,
        }
        if h.ra.allow_lab_names:
            ra["allow_lab_names"] = True
        if h.ca.http_port is not None:
            ca["http_port"] = h.ca.http_port
        if h.ra.approval != "auto":
            ra["approval"] = h.ra.approval
        if h.ra.workers is not None:
            ra["workers"] = h.ra.workers
        if h.ca.workers is not None:
            ca["workers"] = h.ca.workers
        if h.ca.address is not None:
            ca["address"] = str(h.ca.address)
        if h.ra.address is not None:
            ra["address"] = str(h.ra.address)
        return {
            "algorithm": h.algorithm.value,
            "subnet": str(h.subnet),
            "root_common_name": h.root_common_name,
            "root_validity_days": h.root_validity_days,
            "intermediate_validity_days": h.intermediate_validity_days,
            "ca": ca,
            "ra": ra,
        }

    document: dict[str, Any] = {
        "lab": {"name": lab.name, "bind_address": str(lab.bind_address)},
        "hierarchy": {h.name: table(h) for h in lab.hierarchies},
    }
    if lab.events != Events():
        document["events"] = {"webhooks": list(lab.events.webhooks), "report_after_s": lab.events.report_after_s}
    return tomli_w.dumps(document)


def load_lab(path: Path | None = None) -> Lab:
    """Read and validate a lab file (the shipped default when path is None)."""
    source = path or DEFAULT_LAB_FILE
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise TopologyError(f"cannot read lab file {source}: {exc.strerror}") from exc
    return parse_lab(text, source=str(source))


def parse_lab(text: str, *, source: str = "<lab file>") -> Lab:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TopologyError(f"{source}: not valid TOML: {exc}") from exc
    reader = _Reader(source)
    lab_table = reader.table(data, "lab")
    name = reader.string(lab_table, "name", "lab", pattern=_NAME)
    bind = reader.ipv4(lab_table, "bind_address", "lab")
    if bind is None:
        raise TopologyError(f"{source}: lab.bind_address is required")
    reader.no_extra(lab_table, {"name", "bind_address"}, "lab")
    hierarchy_tables = reader.table(data, "hierarchy")
    reader.no_extra(data, {"lab", "hierarchy", "events"}, "")
    if not hierarchy_tables:
        raise TopologyError(f"{source}: the lab defines no hierarchy")
    hierarchies = tuple(
        _parse_hierarchy(reader, hname, reader.table(hierarchy_tables, hname, "hierarchy"))
        for hname in hierarchy_tables
    )
    events = _parse_events(reader, reader.table(data, "events")) if "events" in data else Events()
    lab = Lab(name=name, bind_address=bind, hierarchies=hierarchies, source=source, events=events)
    _validate(lab)
    return lab


def _parse_hierarchy(reader: _Reader, name: str, table: Mapping[str, Any]) -> Hierarchy:
    where = f"hierarchy.{name}"
    if not _NAME.match(name):
        raise TopologyError(f"{reader.source}: {where}: name must be lower-case letters, digits and '-'")
    algorithm_text = reader.string(table, "algorithm", where)
    try:
        algorithm = KeyAlgorithm(algorithm_text)
    except ValueError:
        known = ", ".join(a.value for a in KeyAlgorithm)
        raise TopologyError(
            f"{reader.source}: {where}: unknown algorithm {algorithm_text!r} (known: {known})"
        ) from None
    subnet_text = reader.string(table, "subnet", where)
    try:
        subnet = ipaddress.IPv4Network(subnet_text, strict=True)
    except ValueError as exc:
        raise TopologyError(f"{reader.source}: {where}: subnet {subnet_text!r} is not a valid CIDR: {exc}") from None
    ca_table = reader.table(table, "ca", where)
    ra_table = reader.table(table, "ra", where)
    ca = IntermediateCA(
        container=reader.string(ca_table, "container", f"{where}.ca", pattern=_CONTAINER),
        common_name=reader.string(ca_table, "common_name", f"{where}.ca"),
        address=reader.ipv4(ca_table, "address", f"{where}.ca"),
        port=reader.port(ca_table, "port", f"{where}.ca"),
        http_port=reader.port(ca_table, "http_port", f"{where}.ca") if "http_port" in ca_table else None,
        workers=_workers(reader, ca_table, f"{where}.ca") if "workers" in ca_table else None,
    )
    reader.no_extra(ca_table, {"container", "common_name", "address", "port", "http_port", "workers"}, f"{where}.ca")
    ra = RegistrationAuthority(
        container=reader.string(ra_table, "container", f"{where}.ra", pattern=_CONTAINER),
        hostname=reader.string(ra_table, "hostname", f"{where}.ra", pattern=_HOSTNAME),
        address=reader.ipv4(ra_table, "address", f"{where}.ra"),
        port=reader.port(ra_table, "port", f"{where}.ra"),
        tls_profile=reader.string(ra_table, "tls_profile", f"{where}.ra"),
        enroll_profile=reader.string(ra_table, "enroll_profile", f"{where}.ra"),
        allow_lab_names=reader.boolean(ra_table, "allow_lab_names", f"{where}.ra", default=False),
        approval=reader.choice(ra_table, "approval", f"{where}.ra", APPROVALS, default="auto"),
        workers=_workers(reader, ra_table, f"{where}.ra") if "workers" in ra_table else None,
    )
    reader.no_extra(
        ra_table,
        {
            "container",
            "hostname",
            "address",
            "port",
            "tls_profile",
            "enroll_profile",
            "allow_lab_names",
            "approval",
            "workers",
        },
        f"{where}.ra",
    )
    hierarchy = Hierarchy(
        name=name,
        algorithm=algorithm,
        subnet=subnet,
        root_common_name=reader.string(table, "root_common_name", where),
        root_validity_days=reader.positive_int(table, "root_validity_days", where),
        intermediate_validity_days=reader.positive_int(table, "intermediate_validity_days", where),
        ca=ca,
        ra=ra,
    )
    reader.no_extra(
        table,
        {"algorithm", "subnet", "root_common_name", "root_validity_days", "intermediate_validity_days", "ca", "ra"},
        where,
    )
    return hierarchy


# More workers than this is a typo, not a lab: each is a whole Python process.
MAX_WORKERS = 64


def _workers(reader: _Reader, table: Mapping[str, Any], where: str) -> int:
    workers = reader.positive_int(table, "workers", where)
    if workers > MAX_WORKERS:
        raise TopologyError(f"{reader.source}: {where}.workers must be at most {MAX_WORKERS}, got {workers}")
    return workers


WEBHOOK_PLACEHOLDERS = ("gateway", "hierarchy")


def _parse_events(reader: _Reader, table: Mapping[str, Any]) -> Events:
    reader.no_extra(table, {"webhooks", "report_after_s"}, "events")
    urls = table.get("webhooks", [])
    if not isinstance(urls, list) or not all(isinstance(url, str) for url in urls):
        raise TopologyError(f"{reader.source}: events.webhooks must be a list of URL strings, got {urls!r}")
    for url in urls:
        _check_webhook(reader.source, url)
    if len(set(urls)) != len(urls):
        raise TopologyError(f"{reader.source}: events.webhooks names a URL twice")
    after = table.get("report_after_s", REPORT_AFTER_S)
    if not isinstance(after, int | float) or isinstance(after, bool) or after <= 0:
        raise TopologyError(
            f"{reader.source}: events.report_after_s must be a positive number of seconds, got {after!r}"
        )
    return Events(webhooks=tuple(urls), report_after_s=float(after))


def _check_webhook(source: str, url: str) -> None:
    """An http(s) URL with a host, once its placeholders are filled in; only known placeholders."""
    where = f"{source}: events.webhooks: {url!r}"
    known = ", ".join(f"{{{name}}}" for name in WEBHOOK_PLACEHOLDERS)
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(url) if name is not None]
    except ValueError as exc:
        raise TopologyError(f"{where} has a bad placeholder ({exc}; known: {known})") from None
    unknown = [name for name in fields if name not in WEBHOOK_PLACEHOLDERS]
    if unknown:
        raise TopologyError(f"{where}: unknown placeholder {{{unknown[0]}}} (known: {known})")
    try:
        example = url.format(gateway="192.0.2.1", hierarchy="rsa")
    except (ValueError, IndexError) as exc:  # a format spec or conversion on a known name
        raise TopologyError(f"{where} has a bad placeholder ({exc}; known: {known})") from None
    parts = urllib.parse.urlsplit(example)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise TopologyError(f"{where}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TopologyError(f"{where} is not an http:// or https:// URL with a host")


def _validate(lab: Lab) -> None:
    src = lab.source
    seen_ports: dict[int, str] = {}
    seen_names: dict[str, str] = {}
    for index, hierarchy in enumerate(lab.hierarchies):
        where = f"hierarchy '{hierarchy.name}'"
        for other in lab.hierarchies[:index]:
            if hierarchy.subnet.overlaps(other.subnet):
                raise TopologyError(
                    f"{src}: {where}: subnet {hierarchy.subnet} overlaps '{other.name}' ({other.subnet})"
                )
        for role, port in _ports(hierarchy):
            owner = f"{hierarchy.name}.{role}"
            if port in seen_ports:
                raise TopologyError(f"{src}: {where}: port {port} of {owner} clashes with {seen_ports[port]}")
            seen_ports[port] = owner
        for label, value in (
            ("CA container", hierarchy.ca.container),
            ("RA container", hierarchy.ra.container),
            ("RA hostname", hierarchy.ra.hostname),
        ):
            if value in seen_names:
                raise TopologyError(f"{src}: {where}: {label} {value!r} is already used by {seen_names[value]}")
            seen_names[value] = f"{hierarchy.name} {label}"
        # The RA's agent certificate is issued to "<RA container>-agent": a CN has 64 characters at most.
        if len(hierarchy.ra.container) > 64 - len("-agent"):
            raise TopologyError(f"{src}: {where}: RA container name {hierarchy.ra.container!r} is longer than 58")
        _validate_addresses(src, hierarchy)
        _validate_profiles(src, hierarchy)


def _ports(hierarchy: Hierarchy) -> list[tuple[str, int]]:
    """(role, port) for each port the hierarchy publishes: "ca", "ca.http_port" (when set), "ra"."""
    ports = [("ca", hierarchy.ca.port), ("ra", hierarchy.ra.port)]
    if hierarchy.ca.http_port is not None:
        ports.insert(1, ("ca.http_port", hierarchy.ca.http_port))
    return ports


def published_ports(hierarchy: Hierarchy) -> list[int]:
    """Every port of the hierarchy's services on the host: the CA's TLS and plain-HTTP ports, the RA's."""
    return [port for _role, port in _ports(hierarchy)]


def _validate_addresses(src: str, hierarchy: Hierarchy) -> None:
    where = f"hierarchy '{hierarchy.name}'"
    # podman gives the bridge gateway the subnet's first host address.
    reserved = {
        hierarchy.subnet.network_address,
        hierarchy.subnet.broadcast_address,
        hierarchy.subnet.network_address + 1,
    }
    addresses: dict[ipaddress.IPv4Address, str] = {}
    for role, address in (("ca", hierarchy.ca.address), ("ra", hierarchy.ra.address)):
        if address is None:
            continue
        if address not in hierarchy.subnet:
            raise TopologyError(f"{src}: {where}: {role} address {address} is outside subnet {hierarchy.subnet}")
        if address in reserved:
            raise TopologyError(f"{src}: {where}: {role} address {address} is reserved (network, gateway or broadcast)")
        if address in addresses:
            raise TopologyError(f"{src}: {where}: {role} address {address} is already the {addresses[address]}'s")
        addresses[address] = role


def _validate_profiles(src: str, hierarchy: Hierarchy) -> None:
    where = f"hierarchy '{hierarchy.name}'"
    for key, profile_id in (("tls_profile", hierarchy.ra.tls_profile), ("enroll_profile", hierarchy.ra.enroll_profile)):
        try:
            profile = get_profile(profile_id)
        except PKIError as exc:
            raise TopologyError(f"{src}: {where}: ra.{key}: {exc}") from None
        if hierarchy.algorithm.kind not in profile.allowed_kinds:
            raise TopologyError(
                f"{src}: {where}: ra.{key} {profile_id} does not allow {hierarchy.algorithm.label} keys"
            )


_T = TypeVar("_T")


class _Reader:
    """Typed, strict access to the parsed TOML, with messages that name the file and the key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def _get(self, table: Mapping[str, Any], key: str, where: str, kind: type[_T], label: str) -> _T:
        path = f"{where}.{key}" if where else key
        if key not in table:
            raise TopologyError(f"{self.source}: {path} is required")
        value = table[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise TopologyError(f"{self.source}: {path} must be {label}, got {value!r}")
        return value

    def table(self, table: Mapping[str, Any], key: str, where: str = "") -> dict[str, Any]:
        return self._get(table, key, where, dict, "a table")

    def string(self, table: Mapping[str, Any], key: str, where: str, *, pattern: re.Pattern[str] | None = None) -> str:
        value = self._get(table, key, where, str, "a string")
        if not value.strip():
            raise TopologyError(f"{self.source}: {where}.{key} must not be empty")
        if pattern is not None and not pattern.match(value):
            raise TopologyError(f"{self.source}: {where}.{key} {value!r} is not a valid name")
        return value

    def boolean(self, table: Mapping[str, Any], key: str, where: str, *, default: bool) -> bool:
        if key not in table:
            return default
        return self._get(table, key, where, bool, "true or false")

    def choice(self, table: Mapping[str, Any], key: str, where: str, choices: Sequence[str], *, default: str) -> str:
        if key not in table:
            return default
        value = self._get(table, key, where, str, f"one of {', '.join(map(repr, choices))}")
        if value not in choices:
            raise TopologyError(
                f"{self.source}: {where}.{key} must be one of {', '.join(map(repr, choices))}, got {value!r}"
            )
        return value

    def positive_int(self, table: Mapping[str, Any], key: str, where: str) -> int:
        value = self._get(table, key, where, int, "an integer")
        if value <= 0:
            raise TopologyError(f"{self.source}: {where}.{key} must be positive, got {value}")
        return value

    def port(self, table: Mapping[str, Any], key: str, where: str) -> int:
        value = self._get(table, key, where, int, "an integer")
        if not 1 <= value <= 65535:
            raise TopologyError(f"{self.source}: {where}.{key} {value} is not a TCP port (1-65535)")
        return value

    def ipv4(self, table: Mapping[str, Any], key: str, where: str) -> ipaddress.IPv4Address | None:
        if key not in table:
            return None
        text = self._get(table, key, where, str, "an IPv4 address string")
        try:
            return ipaddress.IPv4Address(text)
        except ValueError:
            raise TopologyError(f"{self.source}: {where}.{key} {text!r} is not an IPv4 address") from None

    def no_extra(self, table: Mapping[str, Any], allowed: set[str], where: str) -> None:
        extra = sorted(set(table) - allowed)
        if extra:
            place = f"{where}: " if where else ""
            raise TopologyError(
                f"{self.source}: {place}unknown key {extra[0]!r} (allowed: {', '.join(sorted(allowed))})"
            )


def reserved_names(lab: Lab, hierarchy: Hierarchy) -> ReservedNames:
    """What an EST client of `hierarchy` may not have in a certificate: every name and network of the lab's
    services (all hierarchies': a client may trust several), and loopback; nothing if the lab file allows it."""
    if hierarchy.ra.allow_lab_names:
        return ReservedNames.none()
    names = {name.lower() for h in lab.hierarchies for name in (h.ra.hostname, h.ra.container, h.ca.container)}
    return ReservedNames(frozenset(names), tuple(h.subnet for h in lab.hierarchies))
