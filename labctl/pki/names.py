"""Names in certificate requests: which are valid host names, and which belong to the lab's own services.

An EST client may ask for any device name, but never for a name or address of the lab itself (its RA
and CA host names and container names, its networks, localhost and loopback): a certificate for one of
those, issued by the Intermediate CA, would let any enrolled device impersonate the lab to every
client that trusts the hierarchy. DNS names must be host names as RFC 5280 section 4.2.1.6 requires
(RFC 1035's preferred name syntax, internationalized names as IDNA A-labels, RFC 5890).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import idna
from cryptography import x509

from labctl.errors import PKIError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
LOOPBACK_NETWORKS: tuple[IPNetwork, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_MAX_NAME = 253


@dataclass(frozen=True, slots=True)
class ReservedNames:
    """Names and addresses no EST client may have in a certificate (besides loopback, unless `loopback` is off)."""

    names: frozenset[str] = frozenset()  # lower case
    networks: tuple[IPNetwork, ...] = ()
    loopback: bool = True
    _all_names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_all_names", self.names | (LOOPBACK_NAMES if self.loopback else frozenset()))

    @classmethod
    def none(cls) -> ReservedNames:
        return cls(loopback=False)

    def name_reason(self, name: str) -> str | None:
        """Why `name` (a DNS name or a common name) is the lab's, or None."""
        folded = name.lower().rstrip(".")
        if folded in self._all_names or (self.loopback and folded.endswith(".localhost")):
            return f"{name} names one of the lab's own services"
        try:
            address = ipaddress.ip_address(folded)
        except ValueError:
            return None
        return self.address_reason(address)

    def address_reason(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
        networks = (*self.networks, *(LOOPBACK_NETWORKS if self.loopback else ()))
        for network in networks:
            if address.version == network.version and address in network:
                return f"{address} is an address of the lab's own services ({network})"
        return None


def check_host_name(name: str) -> None:
    """RFC 1035 preferred name syntax, case-insensitive, with IDNA A-labels allowed (no wildcard, no trailing dot).

    Raises:
        PKIError: naming the name and what is wrong with it.
    """
    if not name or len(name) > _MAX_NAME:
        raise PKIError(f"{name!r} is not a valid host name: 1 to {_MAX_NAME} characters")
    if not name.isascii():
        raise PKIError(f"{name!r} is not a valid host name: internationalized names go as IDNA A-labels (xn--...)")
    for label in name.lower().split("."):
        if not _LABEL.match(label):
            raise PKIError(
                f"{name!r} is not a valid host name: label {label!r} must be 1 to 63 letters, digits or"
                " hyphens, not starting or ending with a hyphen"
            )
        if label.startswith("xn--"):
            try:
                idna.decode(label)
            except idna.IDNAError as exc:
                raise PKIError(f"{name!r} is not a valid host name: {label!r} is not an IDNA A-label ({exc})") from exc


def looks_like_host_name(common_name: str) -> bool:
    """A common name used as a DNS name: dotted, no spaces (how devices and servers are named here)."""
    return "." in common_name and not any(c.isspace() for c in common_name)


@dataclass(frozen=True, slots=True)
class NameProblem:
    """What is wrong with a requested name: `invalid` (not a host name) or the lab's own (`reserved`)."""

    reserved: bool
    reason: str


def requested_name_problems(
    common_names: Iterable[str], sans: Iterable[x509.GeneralName], reserved: ReservedNames
) -> list[NameProblem]:
    """Each problem of the names a request asks for (subject common names and subjectAltName entries)."""
    problems = []
    for common_name in common_names:
        if (reason := reserved.name_reason(common_name)) is not None:
            problems.append(NameProblem(True, f"subject CN {reason}"))
        elif looks_like_host_name(common_name) and not is_ip_address(common_name):
            problems.extend(_invalid(f"subject CN {common_name!r}", common_name))
    for entry in sans:
        if isinstance(entry, x509.DNSName):
            if (reason := reserved.name_reason(entry.value)) is not None:
                problems.append(NameProblem(True, f"subjectAltName {reason}"))
            else:
                problems.extend(_invalid("subjectAltName", entry.value))
        elif (
            isinstance(entry, x509.IPAddress)
            and not isinstance(entry.value, IPNetwork)
            and (reason := reserved.address_reason(entry.value)) is not None
        ):
            problems.append(NameProblem(True, f"subjectAltName {reason}"))
    return problems


def _invalid(what: str, name: str) -> list[NameProblem]:
    try:
        check_host_name(name)
    except PKIError as exc:
        return [NameProblem(False, f"{what}: {exc}")]
    return []


def is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """Comma-separated addresses or CIDRs (a bare address is its own /32 or /128).

    Raises:
        PKIError: an entry is neither.
    """
    networks = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise PKIError(f"{item!r} is not an address or network: {exc}") from exc
    return tuple(networks)
