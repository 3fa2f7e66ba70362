"""CSRs, issuance by profile, the root and Intermediate CA certificates, CRLs and chain checks,
with the names, serials and PEM/DER/base64 readers they need.

Every certificate carries AKI and SKI (Python 3.13's strict verification demands both), a
timezone-aware validity starting a little in the past (clock skew between containers), and a
unique positive random serial of at most 20 octets (RFC 5280 section 4.1.2.2).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID

from labctl.errors import PKIError
from labctl.pki.keys import PrivateKey, check_key_strength, signature_hash
from labctl.pki.profiles import KEY_USAGE_BITS, Profile
from labctl.pki.signatures import check_csr_signature, issued_by

CLOCK_SKEW = timedelta(minutes=5)
CA_KEY_USAGE = frozenset({"key_cert_sign", "crl_sign", "digital_signature"})


@dataclass(frozen=True, slots=True)
class Issuer:
    """A CA's certificate and signing key."""

    certificate: x509.Certificate
    private_key: PrivateKey


# --- names and serials -------------------------------------------------------------------------


def common_name_subject(common_name: str, *, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def common_name_of(name: x509.Name) -> str | None:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not values:
        return None
    value = values[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def random_serial() -> int:
    """A positive serial of at most 159 bits: DER-encodes in at most 20 octets."""
    return x509.random_serial_number()


def format_serial(serial: int) -> str:
    """Dogtag writes serials and request IDs as lower-case hex with a 0x prefix."""
    return f"0x{serial:x}"


def parse_serial(text: str) -> int:
    """Parse a 0x-prefixed hex serial; PKIError explaining the prefix rule otherwise."""
    value = text.strip()
    if not value.lower().startswith("0x"):
        raise PKIError(f"serial {value!r} needs the 0x prefix (hex, as Dogtag prints it: 0x{value})")
    try:
        serial = int(value[2:], 16)
    except ValueError:
        raise PKIError(f"serial {value!r} is not a hex number") from None
    if serial <= 0 or serial.bit_length() > 160:
        raise PKIError(f"serial {value!r} is out of range (positive, at most 20 octets)")
    return serial


def general_names_for(names: Iterable[str]) -> list[x509.GeneralName]:
    """DNS names and IP addresses as SAN entries; an IP literal becomes an iPAddress entry.

    Raises:
        PKIError: a name that is not ASCII (a CN copied from a CSR may be any UTF-8).
    """
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            try:
                entries.append(x509.DNSName(name))
            except ValueError:  # non-ASCII: a dNSName takes A-labels only
                raise PKIError(f"{name!r} is neither an IP address nor an ASCII DNS name") from None
    return entries


# --- CSRs --------------------------------------------------------------------------------------


def build_csr(key: PrivateKey, subject: x509.Name, sans: Sequence[str] = ()) -> x509.CertificateSigningRequest:
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(general_names_for(sans)), critical=False)
    return builder.sign(key, signature_hash(key))


def csr_pem(csr: x509.CertificateSigningRequest) -> bytes:
    return csr.public_bytes(serialization.Encoding.PEM)


def load_csr(data: bytes) -> x509.CertificateSigningRequest:
    """Read a PKCS#10 request given as DER, PEM or bare base64 (wrapped or not); signature checked.

    Raises:
        PKIError: malformed encoding, or a signature that does not verify.
    """
    der = _pem_or_base64_to_der(data, "CERTIFICATE REQUEST")
    try:
        csr = x509.load_der_x509_csr(der)
    except (ValueError, x509.InvalidVersion) as exc:  # InvalidVersion is not a ValueError
        raise PKIError(f"not a PKCS#10 certificate request: {exc}") from exc
    check_csr_signature(csr)
    return csr


def _pem_or_base64_to_der(data: bytes, label: str) -> bytes:
    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        lines = [line for line in text.splitlines() if line and not line.startswith(b"-----")]
        text = b"".join(lines)
    elif text[:1] == b"\x30":
        return bytes(data.lstrip())  # DER: a SEQUENCE; its last bytes may be 0x20, 0x0a, ... so never rstrip
    return decode_base64(text, what=label)


def decode_base64(data: bytes, *, what: str) -> bytes:
    """Strict base64 after dropping whitespace (CR, LF, spaces: RFC 8951 lets senders wrap)."""
    compact = b"".join(data.split())
    if not compact:
        raise PKIError(f"empty {what}")
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PKIError(f"invalid base64 in {what}: {exc}") from exc


def requested_sans(csr: x509.CertificateSigningRequest) -> list[x509.GeneralName]:
    try:
        ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    except ValueError as exc:
        raise PKIError(f"CSR extension request is malformed: {exc}") from exc
    return list(ext.value)


def certificate_sans(cert: x509.Certificate) -> list[x509.GeneralName]:
    try:
        return list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        return []


# --- issuance ----------------------------------------------------------------------------------


def create_root_ca(key: PrivateKey, common_name: str, *, days: int, organization: str | None = None) -> Issuer:
    """A self-signed root that may sign one level of CA below it (path length 1)."""
    subject = common_name_subject(common_name, organization=organization)
    builder = _certificate_builder(
        subject,
        key.public_key(),
        issuer=None,
        serial=random_serial(),
        issued_at=datetime.now(UTC),
        days=days,
        constraints=x509.BasicConstraints(ca=True, path_length=1),
        key_usage=CA_KEY_USAGE,
    )
    return Issuer(builder.sign(key, signature_hash(key)), key)


def sign_intermediate(root: Issuer, csr: x509.CertificateSigningRequest, *, days: int) -> x509.Certificate:
    """The root signs an Intermediate CA's CSR: CA with path length 0, may sign certificates and CRLs."""
    public_key = csr.public_key()
    check_key_strength(public_key)
    builder = _certificate_builder(
        csr.subject,
        public_key,
        issuer=root.certificate,
        serial=random_serial(),
        issued_at=datetime.now(UTC),
        days=days,
        constraints=x509.BasicConstraints(ca=True, path_length=0),
        key_usage=CA_KEY_USAGE,
    )
    return builder.sign(root.private_key, signature_hash(root.private_key))


def check_request(csr: x509.CertificateSigningRequest, profile: Profile) -> frozenset[str]:
    """The profile's constraints on a request (Dogtag checks them at submit, before any agent sees it):
    the key usage bits it gets. PKIError when the profile does not certify this key, the key is weak, or
    the CSR has no subject."""
    public_key = csr.public_key()
    check_key_strength(public_key)
    key_usage = profile.key_usage_for(public_key)
    if len(csr.subject) == 0:
        raise PKIError("CSR has an empty subject")
    return key_usage


def issue_certificate(
    issuer: Issuer,
    csr: x509.CertificateSigningRequest,
    profile: Profile,
    *,
    serial: int,
    now: datetime | None = None,
    extensions: Sequence[x509.ExtensionType] = (),
) -> x509.Certificate:
    """Issue an end-entity certificate for a verified CSR under a profile.

    The subject comes from the CSR; the SAN is the CSR's requested SAN, plus the CN when the profile
    copies it; the validity never outlives the issuer. `extensions` are the issuer's own, added
    non-critical to every certificate it issues (its CRL distribution point and AIA).

    Raises:
        PKIError: the profile does not certify this key, the key is weak, or the CSR has no subject.
    """
    public_key = csr.public_key()
    key_usage = check_request(csr, profile)
    builder = _certificate_builder(
        csr.subject,
        public_key,
        issuer=issuer.certificate,
        serial=serial,
        issued_at=now or datetime.now(UTC),
        days=profile.validity_days,
        constraints=x509.BasicConstraints(ca=False, path_length=None),
        key_usage=key_usage,
    ).add_extension(x509.ExtendedKeyUsage(list(profile.extended_key_usage)), critical=False)
    sans = _sans_for(csr, copy_cn=profile.copy_cn_to_san)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(issuer.private_key, signature_hash(issuer.private_key))


def _certificate_builder(
    subject: x509.Name,
    public_key: CertificatePublicKeyTypes,
    *,
    issuer: x509.Certificate | None,
    serial: int,
    issued_at: datetime,
    days: int,
    constraints: x509.BasicConstraints,
    key_usage: Iterable[str],
) -> x509.CertificateBuilder:
    """What every certificate here carries: names, key, serial, validity, basic constraints, key usage, SKI, AKI.

    `issuer` None makes it self-signed. The validity starts CLOCK_SKEW before `issued_at` and never
    outlives the issuer.
    """
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    not_after = issued_at + timedelta(days=days)
    if issuer is None:  # self-signed: the AKI is its own SKI
        issuer_name, aki = subject, x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    else:
        issuer_name, aki = issuer.subject, _aki(issuer)
        not_after = min(not_after, issuer.not_valid_after_utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(issued_at - CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(constraints, critical=True)
        .add_extension(_key_usage(key_usage), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(aki, critical=False)
    )


def _sans_for(csr: x509.CertificateSigningRequest, *, copy_cn: bool) -> list[x509.GeneralName]:
    sans = requested_sans(csr)
    cn = common_name_of(csr.subject)
    if copy_cn and cn:
        for entry in general_names_for([cn]):
            if entry not in sans:
                sans.insert(0, entry)
    return sans


def _key_usage(bits: Iterable[str]) -> x509.KeyUsage:
    chosen = set(bits)
    flags = {name: name in chosen for name in KEY_USAGE_BITS}
    return x509.KeyUsage(**flags, encipher_only=False, decipher_only=False)


def _aki(issuer_certificate: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ski = issuer_certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_certificate.public_key())  # type: ignore[arg-type]
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


# --- CRLs --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RevokedEntry:
    serial: int
    revoked_at: datetime
    reason: x509.ReasonFlags


def build_crl(
    issuer: Issuer,
    revoked: Iterable[RevokedEntry],
    *,
    number: int,
    next_update: timedelta = timedelta(days=1),
    now: datetime | None = None,
) -> x509.CertificateRevocationList:
    """A full CRL: thisUpdate `now`, nextUpdate `next_update` later (RFC 5280 section 5.1.2.5), number and AKI."""
    now = now or datetime.now(UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.certificate.subject)
        .last_update(now)
        .next_update(now + next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(_aki(issuer.certificate), critical=False)
    )
    for entry in revoked:
        item = x509.RevokedCertificateBuilder().serial_number(entry.serial).revocation_date(entry.revoked_at)
        if entry.reason != x509.ReasonFlags.unspecified:
            item = item.add_extension(x509.CRLReason(entry.reason), critical=False)
        builder = builder.add_revoked_certificate(item.build())
    return builder.sign(issuer.private_key, signature_hash(issuer.private_key))


# --- chains ------------------------------------------------------------------------------------


def verify_chain(leaf: x509.Certificate, chain: Sequence[x509.Certificate], *, at: datetime | None = None) -> None:
    """Check that leaf chains through `chain` (issuers, any order) to a self-signed root in it.

    Raises:
        PKIError: naming the certificate that does not verify and why.
    """
    moment = at or datetime.now(UTC)
    by_subject = {cert.subject: cert for cert in chain}
    current = leaf
    for _ in range(len(chain) + 1):
        if not current.not_valid_before_utc <= moment <= current.not_valid_after_utc:
            raise PKIError(f"{current.subject.rfc4514_string()} is outside its validity period")
        issuer = by_subject.get(current.issuer)
        if issuer is None:
            raise PKIError(f"no issuer for {current.subject.rfc4514_string()} in the chain")
        issued_by(current, issuer)
        if issuer.subject == issuer.issuer:
            return
        current = issuer
    raise PKIError("certificate chain is too long or loops")


def load_pem_certificates(data: bytes) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise PKIError(f"not PEM certificates: {exc}") from exc


def load_der_certificate(der: bytes, *, what: str = "certificate") -> x509.Certificate:
    """A DER certificate, e.g. a TLS peer's; `what` names it in the error ("client certificate").

    Raises:
        PKIError: "<what> is unreadable: <why>".
    """
    try:
        return x509.load_der_x509_certificate(der)
    except (ValueError, x509.InvalidVersion) as exc:  # InvalidVersion is not a ValueError
        raise PKIError(f"{what} is unreadable: {exc}") from exc


def certificates_pem(certs: Iterable[x509.Certificate]) -> bytes:
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)


def sha256_fingerprint(certificate: x509.Certificate) -> str:
    """The certificate's SHA-256 fingerprint as OpenSSL prints it (`openssl x509 -fingerprint -sha256`)."""
    return ":".join(f"{byte:02X}" for byte in certificate.fingerprint(hashes.SHA256()))
