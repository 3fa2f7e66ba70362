"""Bring one hierarchy's PKI to life, whatever runs the services (local processes or containers).

1. The offline root: created once in the host state dir, key 0600, never copied anywhere.
2. Dogtag's two-step install: read the CA's CSR from its data dir, have the root sign it, drop
   root.crt and the lab admin CSR, then ca.crt last (the CA activates on it).
3. Once the CA runs: fetch the admin credential, give the CA the IoT bootstrap credential's digest and
   its password agent (est-ra-1), and as admin have the CA issue the RA's TLS
   certificate(s) with the hierarchy's server profile and the RA's agent credential.
4. Render the RA's configuration from the templates.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from labctl.ca_client import CAClient, ca_ssl_context, issued_by_check
from labctl.ca_files import AGENTS_FILE, CAFiles
from labctl.errors import LabctlError, PKIError
from labctl.files import write_atomic, write_secret
from labctl.pki.issue import (
    Issuer,
    build_csr,
    certificate_sans,
    certificates_pem,
    common_name_subject,
    create_root_ca,
    csr_pem,
    general_names_for,
    load_csr,
    load_pem_certificates,
    sign_intermediate,
    verify_chain,
)
from labctl.pki.keys import KeyAlgorithm, PrivateKey, generate_private_key, read_private_key, write_private_key
from labctl.pki.names import ReservedNames
from labctl.pki.signatures import issued_by
from labctl.render import AGENT_NICKNAME, render_ra_config
from labctl.state import EST_RA_USER, HierarchyState
from labctl.tls import host_supports_tls
from labctl.topology import Hierarchy

log = logging.getLogger(__name__)

AGENT_PROFILE = "estRAAgentCert"
COMPAT_TLS_PROFILE = "caServerCert"
# Renew a credential that has less than this left.
RENEW_BEFORE = timedelta(days=7)


def admin_key_algorithm(hierarchy: Hierarchy) -> KeyAlgorithm:
    """The lab admin authenticates from the host: RSA where the host cannot sign TLS with the hierarchy's keys."""
    return hierarchy.algorithm if host_supports_tls(hierarchy.algorithm) else KeyAlgorithm.RSA_4096


# --- 1. root -----------------------------------------------------------------------------------


def ensure_root(hierarchy: Hierarchy, state: HierarchyState) -> Issuer:
    """Load the hierarchy's root, or create it at first use."""
    if state.root_key.exists() and state.root_cert.exists():
        return Issuer(
            load_pem_certificates(state.root_cert.read_bytes())[0], read_private_key(state.root_key, own=True)
        )
    key = generate_private_key(hierarchy.algorithm)
    root = create_root_ca(key, hierarchy.root_common_name, days=hierarchy.root_validity_days)
    write_private_key(state.root_key, key)
    write_atomic(state.root_cert, certificates_pem([root.certificate]))
    log.info("%s: created root CA %s", hierarchy.name, hierarchy.root_common_name)
    return root


# --- 2. install --------------------------------------------------------------------------------


def install_intermediate(hierarchy: Hierarchy, state: HierarchyState, files: CAFiles) -> bool:
    """Sign the waiting CA's CSR with the root and install it; False when it already was installed.

    Raises:
        PKIError: no CSR yet, or the CSR does not verify.
    """
    root = ensure_root(hierarchy, state)
    installed = files.read("ca.crt")
    if installed is not None:
        if _chains_to(load_pem_certificates(installed)[0], root):
            return False
        raise LabctlError(
            f"{hierarchy.ca.container}'s data holds a CA certificate from another root than {state.root_cert}"
            " (was the state dir reset?)",
            hint="labctl down --volumes removes the old CA data; then labctl up starts afresh",
        )
    csr_data = files.read("ca.csr")
    if csr_data is None:
        raise PKIError(f"{hierarchy.ca.container} has not written its CSR yet")
    csr = load_csr(csr_data)
    certificate = sign_intermediate(root, csr, days=hierarchy.intermediate_validity_days)
    admin_key = generate_private_key(admin_key_algorithm(hierarchy))
    write_private_key(state.admin_key, admin_key)
    state.admin_cert.unlink(missing_ok=True)
    files.write("root.crt", certificates_pem([root.certificate]))
    files.write("admin.csr", csr_pem(build_csr(admin_key, common_name_subject(f"{hierarchy.name}-lab-admin"))))
    files.write("ca.crt", certificates_pem([certificate]))  # last: the CA activates on it
    write_atomic(state.chain, certificates_pem([certificate, root.certificate]))
    log.info("%s: root signed %s", hierarchy.name, csr.subject.rfc4514_string())
    return True


def collect_admin_credential(hierarchy: Hierarchy, state: HierarchyState, files: CAFiles) -> None:
    """Copy the admin certificate the running CA issued at install into the host state."""
    pem = files.read("admin.crt")
    if pem is None:
        raise PKIError(f"{hierarchy.ca.container} is running but issued no admin credential (admin.crt)")
    write_atomic(state.admin_cert, pem)
    ca_cert = files.read("ca.crt")
    if ca_cert is not None:
        root = load_pem_certificates(state.root_cert.read_bytes())
        write_atomic(state.chain, certificates_pem([load_pem_certificates(ca_cert)[0], *root]))


def install_bootstrap_credential(state: HierarchyState, files: CAFiles) -> bool:
    """Give the CA the SHA-256 of the hierarchy's IoT bootstrap credential; True when it changed."""
    digest = hashlib.sha256(state.bootstrap_credential().encode()).hexdigest()
    data = f"{digest}\n".encode()
    if files.read("bootstrap.sha256") == data:
        return False
    files.write("bootstrap.sha256", data)
    return True


def install_agent_passwords(state: HierarchyState, files: CAFiles) -> bool:
    """Give the CA its password agents (agents.sha256: `username sha256hex(password)` per line): the EST RA
    user of Dogtag's installation guide, whose password stays in the RA's state dir; True when it changed."""
    digest = hashlib.sha256(state.est_ra_password().encode()).hexdigest()
    data = f"{EST_RA_USER} {digest}\n".encode()
    if files.read(AGENTS_FILE) == data:
        return False
    files.write(AGENTS_FILE, data)
    return True


def admin_client(hierarchy: Hierarchy, state: HierarchyState, url: str, *, hostname: str = "127.0.0.1") -> CAClient:
    """The lab admin's REST client for a hierarchy's CA, verifying the CA's TLS certificate.

    Where the host's OpenSSL cannot verify the hierarchy's signatures (ML-DSA), the CA serves an RSA
    compatibility certificate; the handshake then verifies nothing and cryptography checks the peer.
    """
    if host_supports_tls(hierarchy.algorithm):
        return CAClient(url, ssl_context=ca_ssl_context(state.chain, cert=state.admin_cert, key=state.admin_key))
    intermediate = load_pem_certificates(state.chain.read_bytes())[0]
    context = ca_ssl_context(None, cert=state.admin_cert, key=state.admin_key, unrated_signatures=True)
    return CAClient(url, ssl_context=context, peer_check=issued_by_check(intermediate, hostname))


# --- 3. RA credentials -------------------------------------------------------------------------


def issue_ra_credentials(
    hierarchy: Hierarchy, state: HierarchyState, ca: CAClient, *, tls_names: Sequence[str], compat_tls: bool
) -> bool:
    """The RA's TLS certificate (server profile; plus an RSA one for compat) and agent credential, in ra/.

    Returns:
        True when anything was issued or removed; False when all were still good.
    """
    ra = state.ra_dir
    ra.mkdir(parents=True, exist_ok=True)
    intermediate = load_pem_certificates(state.chain.read_bytes())[0]
    subject = common_name_subject(hierarchy.ra.hostname)
    changed = _ensure_credential(
        ca, ra / "tls", hierarchy.algorithm, hierarchy.ra.tls_profile, subject, tls_names, intermediate
    )
    if compat_tls:
        changed |= _ensure_credential(
            ca, ra / "tls-compat", KeyAlgorithm.RSA_4096, COMPAT_TLS_PROFILE, subject, tls_names, intermediate
        )
    else:
        for suffix in (".crt", ".key"):
            stale = ra / f"tls-compat{suffix}"
            changed |= stale.exists()
            stale.unlink(missing_ok=True)
    agent_subject = common_name_subject(f"{hierarchy.ra.container}-agent")
    changed |= _ensure_credential(
        ca, ra / AGENT_NICKNAME, hierarchy.algorithm, AGENT_PROFILE, agent_subject, (), intermediate
    )
    changed |= _write_if_changed(ra / "ca-chain.pem", state.chain.read_bytes())
    return changed


def _ensure_credential(
    ca: CAClient,
    stem: Path,
    algorithm: KeyAlgorithm,
    profile_id: str,
    subject: x509.Name,
    names: Sequence[str],
    intermediate: x509.Certificate,
) -> bool:
    """Issue the credential at stem.crt/.key unless a current one is there; True when issued."""
    cert_path, key_path = stem.with_suffix(".crt"), stem.with_suffix(".key")
    if cert_path.exists() and key_path.exists() and _still_good(cert_path, key_path, intermediate, names):
        return False
    key = generate_private_key(algorithm)
    certificate = ca.enroll(build_csr(key, subject, names), profile_id)
    write_private_key(key_path, key)
    write_atomic(cert_path, certificates_pem([certificate, intermediate]))
    log.info("issued %s 0x%x (%s)", cert_path.name, certificate.serial_number, profile_id)
    return True


def _still_good(cert_path: Path, key_path: Path, intermediate: x509.Certificate, names: Sequence[str]) -> bool:
    certificate = load_pem_certificates(cert_path.read_bytes())[0]
    try:
        issued_by(certificate, intermediate)
    except PKIError:
        return False
    # The key is written before its certificate: a run stopped between the two leaves a new key next
    # to the old certificate, which the RA could not serve. (Our own key: a public-key match is the
    # check that matters here, not RSA's slow consistency check.)
    if not _same_public_key(certificate, read_private_key(key_path, own=True)):
        return False
    if certificate.not_valid_after_utc - datetime.now(UTC) < RENEW_BEFORE:
        return False
    return set(general_names_for(names)) <= set(certificate_sans(certificate))


# --- 4. RA configuration -----------------------------------------------------------------------


def write_ra_config(
    hierarchy: Hierarchy,
    state: HierarchyState,
    *,
    ca_url: str,
    compat_tls: bool,
    listen_host: str,
    reserved: ReservedNames,
) -> bool:
    """Render the RA's configuration into ra/; True when any file changed."""
    username, password = state.est_credentials()
    files = render_ra_config(
        hierarchy,
        ca_url=ca_url,
        username=username,
        password=password,
        compat_tls=compat_tls,
        listen_host=listen_host,
        reserved=reserved,
    )
    changed = False
    for name, text in files.items():
        data = text.encode()
        target = state.ra_dir / name
        if not target.exists() or target.read_bytes() != data:
            write_secret(target, data)  # realm.conf holds a password
            changed = True
    return changed


def _write_if_changed(path: Path, data: bytes) -> bool:
    if path.exists() and path.read_bytes() == data:
        return False
    write_atomic(path, data)
    return True


def _same_public_key(certificate: x509.Certificate, key: PrivateKey) -> bool:
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return certificate.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)


def _chains_to(certificate: x509.Certificate, root: Issuer) -> bool:
    try:
        verify_chain(certificate, [root.certificate])
    except PKIError:
        return False
    return True
