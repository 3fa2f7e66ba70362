"""What `labctl est-cacerts / est-enroll / est-reenroll / est-serverkeygen` do: a device's key, CSR, enrollment and
renewal through its hierarchy's EST RA, with files a user can take away.

The EST exchange goes over a Transport: from the host, or (where the host's OpenSSL cannot do the
hierarchy's TLS) from a short-lived container on the hierarchy's network. Keys are made on the host
either way; cryptography handles ML-DSA-87 even where the host's TLS cannot.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography import x509

from labctl.endpoint import Endpoint
from labctl.errors import LabctlError, PKIError
from labctl.est_client import ESTClient, est_ssl_context
from labctl.files import write_atomic
from labctl.pending import ApprovalWait, StillPending, until_issued
from labctl.pki.issue import (
    build_csr,
    certificate_sans,
    certificates_pem,
    common_name_of,
    common_name_subject,
    csr_pem,
    general_names_for,
    load_csr,
    load_pem_certificates,
    requested_sans,
    sha256_fingerprint,
    verify_chain,
)
from labctl.pki.keys import KeyAlgorithm, PrivateKey, generate_private_key, read_private_key, write_private_key
from labctl.pki.names import check_host_name, is_ip_address


class Transport(Protocol):
    """One EST exchange each; the answers are parsed certificates."""

    def cacerts(self) -> list[x509.Certificate]: ...

    def simpleenroll(self, csr: x509.CertificateSigningRequest) -> x509.Certificate: ...

    def simplereenroll(self, csr: x509.CertificateSigningRequest, cert: Path, key: Path) -> x509.Certificate: ...

    def serverkeygen(self, csr: x509.CertificateSigningRequest) -> tuple[PrivateKey, x509.Certificate]: ...

    def fullcmc(self, csr: x509.CertificateSigningRequest, key: PrivateKey) -> x509.Certificate: ...


class HostTransport:
    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.trust = f"{endpoint.trust_file}"

    def _client(self, *, auth: bool, cert: Path | None = None, key: Path | None = None) -> ESTClient:
        context = est_ssl_context(self.endpoint.trust_file, cert=cert, key=key)
        credentials = (self.endpoint.username, self.endpoint.password) if auth else None
        return ESTClient(self.endpoint.ra_url, ssl_context=context, auth=credentials, trust_description=self.trust)

    def cacerts(self) -> list[x509.Certificate]:
        with self._client(auth=False) as client:
            return client.cacerts()

    def simpleenroll(self, csr: x509.CertificateSigningRequest) -> x509.Certificate:
        with self._client(auth=True) as client:
            return client.simpleenroll(csr)

    def simplereenroll(self, csr: x509.CertificateSigningRequest, cert: Path, key: Path) -> x509.Certificate:
        with self._client(auth=False, cert=cert, key=key) as client:
            return client.simplereenroll(csr)

    def serverkeygen(self, csr: x509.CertificateSigningRequest) -> tuple[PrivateKey, x509.Certificate]:
        with self._client(auth=True) as client:
            return client.serverkeygen(csr)

    def fullcmc(self, csr: x509.CertificateSigningRequest, key: PrivateKey) -> x509.Certificate:
        with self._client(auth=True) as client:
            return client.fullcmc(csr, key).certificates[0]


@dataclass(frozen=True, slots=True)
class DeviceFiles:
    key: Path
    certificate: Path
    chain: Path
    # A request still pending approval when est-enroll stopped waiting: the next est-enroll resends it.
    pending_csr: Path

    @classmethod
    def under(cls, directory: Path) -> DeviceFiles:
        return cls(
            directory / "device.key", directory / "device.crt", directory / "chain.pem", directory / "pending.csr"
        )


@dataclass(frozen=True, slots=True)
class Enrolled:
    certificate: x509.Certificate
    files: DeviceFiles
    trust_anchor: str

    @property
    def serial(self) -> str:
        return f"0x{self.certificate.serial_number:x}"


def fetch_cacerts(transport: Transport) -> list[x509.Certificate]:
    return transport.cacerts()


@dataclass(frozen=True, slots=True)
class Bootstrapped:
    """A chain fetched without a trust anchor (RFC 7030 section 4.1.1), and whether it is now the anchor."""

    chain: list[x509.Certificate]  # the Intermediate CA first, the root last
    root_fingerprint: str
    stored: bool


def bootstrap_cacerts(ra_url: str, trust_file: Path, *, store: bool) -> Bootstrapped:
    """cacerts from an RA whose TLS cannot be verified yet, for a client with no trust anchor.

    RFC 7030 section 4.1.1 lets such a client complete the handshake provisionally to fetch /cacerts,
    which it must then check out of band: the caller shows the root's fingerprint for that. The chain
    is stored as the trust anchor only when `store` (the user's explicit trust-on-first-use).

    Raises:
        PKIError: the chain is not an Intermediate CA under a self-signed root.
    """
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # nothing to verify against yet: the point of the bootstrap
    with ESTClient(ra_url, ssl_context=context, trust_description="nothing (trust bootstrap)") as client:
        served = client.cacerts()
    roots = [c for c in served if c.subject == c.issuer]
    if len(roots) != 1 or len(served) < 2:
        raise PKIError(f"cacerts from {ra_url} is not an Intermediate CA and its root ({len(served)} certificates)")
    chain = [c for c in served if c not in roots] + roots
    verify_chain(chain[0], chain)
    if store:
        write_atomic(trust_file, certificates_pem(chain))
    return Bootstrapped(chain, sha256_fingerprint(roots[0]), store)


def _device_names(common_name: str, sans: Sequence[str]) -> list[str]:
    """The CN first, then the other SANs; each checked as the RA will (400) before any key is made."""
    names = [common_name, *[s for s in sans if s != common_name]]
    for name in names:
        if not is_ip_address(name):
            check_host_name(name)
    return names


def enroll_device(
    endpoint: Endpoint,
    transport: Transport,
    *,
    common_name: str,
    sans: Sequence[str],
    out_dir: Path,
    wait: ApprovalWait | None = None,
) -> Enrolled:
    """New key of the hierarchy's algorithm, CSR (CN also in the SAN), simpleenroll; writes key (0600), cert, chain.

    With `wait`, a request pending approval (202) is repeated until issued or the bound; then the key and
    the CSR stay in `out_dir`, and the next call for the same names resends that request (RFC 7030
    section 4.2.3: the same request, so the RA finds it again) instead of making a new one.
    """
    names = _device_names(common_name, sans)
    files = DeviceFiles.under(out_dir)
    held = _pending_request(files, names)
    if held is None:
        key = generate_private_key(endpoint.hierarchy.algorithm)
        csr = build_csr(key, common_name_subject(common_name), names)
    else:
        key, csr = held
    try:
        if wait is None:
            certificate = transport.simpleenroll(csr)
        else:
            certificate = until_issued(lambda: transport.simpleenroll(csr), wait)
    except StillPending:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_private_key(files.key, key)
        write_atomic(files.pending_csr, csr_pem(csr))
        raise
    return _save_device(endpoint, transport, key, certificate, out_dir)


def serverkeygen_device(
    endpoint: Endpoint, transport: Transport, *, common_name: str, sans: Sequence[str], out_dir: Path
) -> Enrolled:
    """The RA makes the key (serverkeygen, RFC 7030 section 4.4); writes it (0600), cert, chain as est-enroll does.

    The CSR only carries the names: RFC 7030 section 4.4.1 has the server ignore its key, so a
    throwaway P-384 key signs it (cheap, and any client has one: no ML-DSA needed for pqc).
    """
    names = _device_names(common_name, sans)
    signer = generate_private_key(KeyAlgorithm.EC_P384)
    key, certificate = transport.serverkeygen(build_csr(signer, common_name_subject(common_name), names))
    return _save_device(endpoint, transport, key, certificate, out_dir)


def fullcmc_device(
    endpoint: Endpoint, transport: Transport, *, common_name: str, sans: Sequence[str], out_dir: Path
) -> Enrolled:
    """As enroll_device, through fullcmc (RFC 7030 section 4.3): the CSR in a CMC Full PKI Request signed
    with the new key; writes key (0600), cert, chain."""
    names = _device_names(common_name, sans)
    key = generate_private_key(endpoint.hierarchy.algorithm)
    certificate = transport.fullcmc(build_csr(key, common_name_subject(common_name), names), key)
    return _save_device(endpoint, transport, key, certificate, out_dir)


def _save_device(
    endpoint: Endpoint, transport: Transport, key: PrivateKey, certificate: x509.Certificate, out_dir: Path
) -> Enrolled:
    chain = transport.cacerts()
    files = DeviceFiles.under(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_private_key(files.key, key)
    write_atomic(files.certificate, certificates_pem([certificate]))
    write_atomic(files.chain, certificates_pem(chain))
    files.pending_csr.unlink(missing_ok=True)
    return Enrolled(certificate, files, str(endpoint.trust_file))


def _pending_request(
    files: DeviceFiles, names: Sequence[str]
) -> tuple[PrivateKey, x509.CertificateSigningRequest] | None:
    """The key and CSR est-enroll left pending for these same names, if any (else a new key is made)."""
    if not files.pending_csr.exists() or not files.key.exists():
        return None
    try:
        csr = load_csr(files.pending_csr.read_bytes())
        key = read_private_key(files.key)
    except PKIError:
        return None
    same = common_name_of(csr.subject) == names[0] and requested_sans(csr) == general_names_for(names)
    return (key, csr) if same and csr.public_key() == key.public_key() else None


def reenroll_device(
    endpoint: Endpoint, transport: Transport, *, out_dir: Path, wait: ApprovalWait | None = None
) -> Enrolled:
    """Renew with the stored key and certificate (TLS client auth): same subject and SAN (RFC 7030 4.2.2).

    With `wait`, a renewal pending approval (202) is repeated, the same CSR each time, until issued or the bound.
    """
    files = DeviceFiles.under(out_dir)
    if not files.key.exists() or not files.certificate.exists():
        raise LabctlError(
            f"no enrolled device in {out_dir} (device.key and device.crt)", hint="enroll first: labctl est-enroll"
        )
    current = load_pem_certificates(files.certificate.read_bytes())[0]
    key = read_private_key(files.key)
    names = [str(entry.value) for entry in certificate_sans(current)]
    csr = build_csr(key, current.subject, names)
    if wait is None:
        renewed = transport.simplereenroll(csr, files.certificate, files.key)
    else:
        renewed = until_issued(lambda: transport.simplereenroll(csr, files.certificate, files.key), wait)
    write_atomic(files.certificate, certificates_pem([renewed]))
    return Enrolled(renewed, files, str(endpoint.trust_file))
