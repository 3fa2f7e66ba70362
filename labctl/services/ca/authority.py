"""The Intermediate CA itself: key and CSR, two-step install, issuance by profile, revocation, CRL.

Dogtag's external-CA install, in two steps: at first start the CA generates its signing key and
CSR inside its data dir and reports `awaiting-certificate`; the orchestrator has the offline root
sign the CSR and drops `root.crt` (and optionally `admin.csr`), then `ca.crt` last, into the data
dir. The CA checks the certificate matches its key and chains to the root, issues its own TLS
certificate(s) and the lab admin credential, and reports `running`. Its key never leaves the dir.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import hashlib
import hmac
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from labctl.errors import PKIError, ServiceError
from labctl.files import write_atomic
from labctl.pki.distribution import DistributionPoints
from labctl.pki.issue import (
    Issuer,
    RevokedEntry,
    build_crl,
    build_csr,
    certificates_pem,
    check_request,
    common_name_of,
    common_name_subject,
    create_root_ca,
    issue_certificate,
    load_csr,
    load_der_certificate,
    load_pem_certificates,
    random_serial,
    verify_chain,
)
from labctl.pki.keys import (
    KeyAlgorithm,
    PrivateKey,
    generate_private_key,
    read_private_key,
    write_private_key,
)
from labctl.pki.profiles import SERVER_PROFILE_BY_KIND, Profile, get_profile
from labctl.pki.signatures import issued_by
from labctl.services.ca.store import (
    CertRecord,
    CertStatus,
    NewRequest,
    RequestRecord,
    RequestStatus,
    SerialInUse,
    Store,
)

log = logging.getLogger(__name__)

ADMIN_PROFILE = "caAdminCert"
VERIFIED_PEERS_MAX = 256
COMPAT_TLS_PROFILE = "caServerCert"
# Dogtag rebuilds its MasterCRL every 240 minutes (base/ca/shared/conf/CS.cfg:
# ca.crl.MasterCRL.autoUpdateInterval=240) besides on revocation; its nextUpdate is a day on (build_crl).
CRL_UPDATE_INTERVAL = timedelta(minutes=240)
# In the data dir: held while a worker writes the CA's own files (IntermediateCA._exclusive).
INSTALL_LOCK = ".install.lock"
# base/ca/.../rest/v2/AgentCertRequestServlet.java postRequestOperation (v1: AgentCertRequestService.
# changeRequestState): RequestProcessor.processRequest's BadRequestDataException(CMS_REQUEST_NOT_PENDING,
# base/server/src/main/resources/UserMessages.properties) answered as a BadRequestException with this prefix.
NOT_PENDING = "Bad request data: Request Not In Pending State"


class CAState(enum.StrEnum):
    AWAITING_CERTIFICATE = "awaiting-certificate"
    RUNNING = "running"
    INSTALL_FAILED = "install-failed"


class RequestAction(enum.StrEnum):
    """The agent's actions on a pending request besides approve and reject (AgentCertRequestServlet paths)."""

    CANCEL = "cancel"
    UPDATE = "update"
    VALIDATE = "validate"
    ASSIGN = "assign"
    UNASSIGN = "unassign"


class RevocationReason(enum.Enum):
    """Dogtag's revocation reason names (JSS RevocationReason) and their RFC 5280 codes."""

    Unspecified = (0, x509.ReasonFlags.unspecified)
    Key_Compromise = (1, x509.ReasonFlags.key_compromise)
    CA_Compromise = (2, x509.ReasonFlags.ca_compromise)
    Affiliation_Changed = (3, x509.ReasonFlags.affiliation_changed)
    Superseded = (4, x509.ReasonFlags.superseded)
    Cessation_of_Operation = (5, x509.ReasonFlags.cessation_of_operation)
    Certificate_Hold = (6, x509.ReasonFlags.certificate_hold)
    # Not a revocation: a revoke with it takes the certificate off hold (AgentCertService.revokeCert).
    Remove_from_CRL = (8, x509.ReasonFlags.remove_from_crl)
    Privilege_Withdrawn = (9, x509.ReasonFlags.privilege_withdrawn)
    AA_Compromise = (10, x509.ReasonFlags.aa_compromise)

    @property
    def code(self) -> int:
        return self.value[0]

    @property
    def flag(self) -> x509.ReasonFlags:
        return self.value[1]

    @classmethod
    def parse(cls, text: str) -> RevocationReason:
        """Case-insensitive, like JSS; accepts key_compromise, Key_Compromise, or the numeric code."""
        wanted = text.strip().replace("-", "_").lower()
        for reason in cls:
            if reason.name.lower() == wanted or str(reason.code) == wanted:
                return reason
        known = ", ".join(reason.name for reason in cls)
        raise ServiceError(400, f"unknown revocation reason {text!r} (known: {known})")


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: an agent authenticated by TLS client certificate (`serial` is its certificate's) or by
    password (HTTP Basic, no serial), a certificate holder that is no agent, or anonymous."""

    name: str
    is_agent: bool = False
    serial: int | None = None


ANONYMOUS = Caller("anonymous")
# The CA's password agents (Dogtag: CA users in "Certificate Manager Agents" with a password): one
# `username sha256hex(password)` per line, written by labctl at install (labctl/bootstrap.py
# install_agent_passwords; labctl/ca_files.py names the file alike).
AGENTS_FILE = "agents.sha256"


@dataclass(frozen=True, slots=True)
class CAConfig:
    data_dir: Path
    algorithm: KeyAlgorithm
    common_name: str
    # DNS names and IPs for the CA's own TLS certificate (container name, localhost, 127.0.0.1, ...).
    tls_names: tuple[str, ...] = ("localhost", "127.0.0.1")
    # Also serve an RSA-keyed TLS certificate (issued by this CA) to clients that cannot do the CA's algorithm.
    tls_compat_rsa: bool = False
    # Its plain-HTTP URLs (CRL, OCSP, CA chain): in every certificate it issues. None: no CRL DP, no AIA.
    distribution: DistributionPoints | None = None
    # The lab's name for this CA's hierarchy (rsa, ecc, pqc): events carry it.
    hierarchy: str = ""
    # Webhook receivers every event is POSTed to (labctl/services/ca/webhooks.py), and how long an event
    # may stay undelivered before it is reported.
    webhooks: tuple[str, ...] = ()
    events_report_after_s: float = 300.0
    # Whether this process delivers the events to the webhooks: with several workers one does (each reads
    # the shared outbox; two would send every event twice).
    deliver_events: bool = True


@dataclass(slots=True)
class TLSMaterial:
    """(certificate chain PEM path, key path) pairs the HTTPS server loads, most preferred first."""

    chains: list[tuple[Path, Path]] = field(default_factory=list)
    client_ca: Path | None = None


class IntermediateCA:
    """One Intermediate CA, backed by its data dir. Not thread-safe: the service runs one event loop."""

    def __init__(self, config: CAConfig) -> None:
        self.config = config
        self.dir = config.data_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o700)
        with self._exclusive():
            self._key = self._load_or_create_key()
            self._ensure_csr()
        self.store = Store(self.dir / "ca.db")
        self.state = CAState.AWAITING_CERTIFICATE
        self.install_error: str | None = None
        self._installed_mtime: float | None = None
        self._issuer: Issuer | None = None
        self._chain: list[x509.Certificate] = []
        self._verified_peers: dict[bytes, x509.Certificate] = {}
        self._extensions = config.distribution.extensions() if config.distribution is not None else ()

    # --- files ---------------------------------------------------------------------------------

    @property
    def key_path(self) -> Path:
        return self.dir / "ca.key"

    @property
    def csr_path(self) -> Path:
        return self.dir / "ca.csr"

    @property
    def cert_path(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def root_path(self) -> Path:
        return self.dir / "root.crt"

    @property
    def chain_path(self) -> Path:
        return self.dir / "chain.pem"

    def _load_or_create_key(self) -> PrivateKey:
        if self.key_path.exists():
            return read_private_key(self.key_path, own=True)  # generated here, 0600 on its volume
        key = generate_private_key(self.config.algorithm)
        write_private_key(self.key_path, key)
        log.info("generated %s signing key in %s", self.config.algorithm.label, self.key_path)
        return key

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One worker at a time (docs/workers.md) creates the CA's key and CSR, installs its certificate
        and issues its own TLS certificates: the first writes them, the others then find them."""
        with (self.dir / INSTALL_LOCK).open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
            yield

    def _ensure_csr(self) -> None:
        if not self.csr_path.exists():
            csr = build_csr(self._key, common_name_subject(self.config.common_name))
            write_atomic(self.csr_path, csr.public_bytes(serialization.Encoding.PEM))

    # --- install -------------------------------------------------------------------------------

    def try_install(self) -> bool:
        """Activate once `ca.crt` is present and valid; True when the CA is running.

        Called at start-up and polled while awaiting the certificate. A bad certificate leaves the CA
        in `install-failed` with the reason, until a new file replaces it.
        """
        if self.state is CAState.RUNNING:
            return True
        if not self.cert_path.exists():
            return False
        mtime = self.cert_path.stat().st_mtime
        if self.state is CAState.INSTALL_FAILED and mtime == self._installed_mtime:
            return False
        try:
            load_pem_certificates(self.cert_path.read_bytes())
        except PKIError:
            return False  # still being written (copied in from outside): look again at the next poll
        self._installed_mtime = mtime
        try:
            with self._exclusive():
                self._activate()
        except PKIError as exc:
            self.state = CAState.INSTALL_FAILED
            self.install_error = str(exc)
            log.error("CA certificate install failed: %s", exc)
            return False
        self.state = CAState.RUNNING
        self.install_error = None
        log.info("CA %s running", self._issuer.certificate.subject.rfc4514_string() if self._issuer else "?")
        return True

    def _activate(self) -> None:
        certificate = load_pem_certificates(self.cert_path.read_bytes())[0]
        if not self.root_path.exists():
            raise PKIError(f"{self.root_path} is missing: install needs the root certificate")
        roots = load_pem_certificates(self.root_path.read_bytes())
        if _spki(certificate.public_key()) != _spki(self._key.public_key()):
            raise PKIError("installed certificate does not match the CA's signing key")
        try:
            constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            constraints = None
        if constraints is None or not constraints.ca:
            raise PKIError("installed certificate is not a CA certificate (basicConstraints CA:TRUE missing)")
        verify_chain(certificate, [certificate, *roots])
        self._issuer = Issuer(certificate, self._key)
        self._chain = [certificate, *roots]
        write_atomic(self.chain_path, certificates_pem(self._chain))
        self._issue_admin_credential()

    def _issue_admin_credential(self) -> None:
        admin_csr, admin_crt = self.dir / "admin.csr", self.dir / "admin.crt"
        if not admin_csr.exists() or admin_crt.exists():
            return
        record = self._enroll_now(load_csr(admin_csr.read_bytes()), get_profile(ADMIN_PROFILE), requester="installer")
        write_atomic(admin_crt, self.certificate_of(record).public_bytes(serialization.Encoding.PEM))
        log.info("issued lab admin credential 0x%x", record.serial)

    def tls_material(self) -> TLSMaterial:
        """The CA's own TLS certificates: issued by itself once running, self-signed before."""
        with self._exclusive():
            return self._tls_material()

    def _tls_material(self) -> TLSMaterial:
        names = self.config.tls_names
        main = self._tls_chain("tls", self.config.algorithm, SERVER_PROFILE_BY_KIND[self.config.algorithm.kind], names)
        chains = [main]
        if self.config.tls_compat_rsa and self.config.algorithm is not KeyAlgorithm.RSA_4096:
            chains.append(self._tls_chain("tls-compat", KeyAlgorithm.RSA_4096, COMPAT_TLS_PROFILE, names))
        return TLSMaterial(chains, self.chain_path if self.state is CAState.RUNNING else None)

    def _tls_chain(
        self, stem: str, algorithm: KeyAlgorithm, profile_id: str, names: Sequence[str]
    ) -> tuple[Path, Path]:
        key_path, cert_path = self.dir / f"{stem}.key", self.dir / f"{stem}.crt"
        key = read_private_key(key_path, own=True) if key_path.exists() else None
        if key is None:
            key = generate_private_key(algorithm)
            write_private_key(key_path, key)
        if self._issuer is None:
            chain = [_self_signed(key, names)]
        elif cert_path.exists() and _issued_and_current(load_pem_certificates(cert_path.read_bytes())[0], self._issuer):
            return cert_path, key_path
        else:
            csr = build_csr(key, common_name_subject(names[0]), names)
            record = self._enroll_now(csr, get_profile(profile_id), requester="installer")
            chain = [self.certificate_of(record), self._issuer.certificate]
        write_atomic(cert_path, certificates_pem(chain))
        return cert_path, key_path

    # --- state ---------------------------------------------------------------------------------

    @property
    def issuer(self) -> Issuer:
        if self._issuer is None:
            raise ServiceError(503, f"CA is {self.state.value}, not running", retry_after=5)
        return self._issuer

    @property
    def chain(self) -> list[x509.Certificate]:
        """The CA certificate first, then the root."""
        self.issuer  # noqa: B018 - raises 503 before install
        return list(self._chain)

    def csr_pem(self) -> bytes:
        return self.csr_path.read_bytes()

    # --- authentication ------------------------------------------------------------------------

    def authenticate(self, peer_der: bytes | None) -> Caller:
        """Map a TLS client certificate to a caller: an agent when this CA issued it with an agent profile.

        The TLS layer already checked the signature chain and proof of possession; here we check it is
        ours, current, not revoked, and an agent credential (Dogtag: member of Certificate Manager Agents).
        """
        if peer_der is None or self._issuer is None:
            return ANONYMOUS
        certificate = self._verified_peers.get(peer_der)
        if certificate is None:
            try:
                certificate = load_der_certificate(peer_der, what="client certificate")
                issued_by(certificate, self._issuer.certificate)
            except PKIError as exc:
                log.info("anonymous caller: %s", exc)
                return ANONYMOUS
            # The RA presents the same credential on every request: verify its signature once. Its status
            # is still read from the database on every call below, so a revocation takes effect at once.
            if len(self._verified_peers) >= VERIFIED_PEERS_MAX:
                self._verified_peers.pop(next(iter(self._verified_peers)))
            self._verified_peers[peer_der] = certificate
        record = self.store.get_certificate(certificate.serial_number)
        name = common_name_of(certificate.subject) or certificate.subject.rfc4514_string()
        now = datetime.now(UTC)
        if (
            record is None
            or record.der != peer_der
            or record.status is not CertStatus.VALID
            or not record.not_before <= now <= record.not_after
        ):
            return Caller(name)
        return Caller(name, is_agent=record.is_agent, serial=record.serial)

    def authenticate_password(self, username: str, password: str) -> Caller | None:
        """The agent `username` when its password's SHA-256 is listed for it in AGENTS_FILE; None otherwise.

        The passwords are random tokens labctl made (32 bytes), so a plain SHA-256 is enough.
        """
        path = self.dir / AGENTS_FILE
        if not username or not path.exists():
            return None
        offered = f"{username} {hashlib.sha256(password.encode()).hexdigest()}".encode()
        known = [
            " ".join(line.split()).encode() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
        ]
        if not _listed(offered, [line for line in known if line]):
            return None
        # No serial: a password agent has no certificate, so an agent certificate's revocation does not apply;
        # removing its line from AGENTS_FILE takes its agent rights away.
        return Caller(username, is_agent=True)

    # --- enrollment ----------------------------------------------------------------------------

    def submit(
        self,
        csr_data: bytes,
        profile_id: str,
        caller: Caller,
        *,
        bootstrap_credential: str | None = None,
        hold: bool = False,
        repeat_key: str | None = None,
    ) -> RequestRecord:
        """An enrollment request: issued at once for an agent with a profile whose authenticator is
        AgentCertAuth (Dogtag's estServiceCert) or CMCAuthForEST (estFullcmcDeviceCert), or for a profile
        that accepts the device bootstrap credential when the request carries a valid one; pending otherwise, an agent's request with a manual profile
        (caServerCert) included, as in Dogtag: an agent reviews and approves it.

        Args:
            hold: an agent asks to leave the request pending for another agent's approval (the RA in
                manual approval mode: Dogtag's DogtagRABackend without its approve step).
            repeat_key: an agent's key for the request (agents only): a request already held under it
                is answered instead of a new one, so a repeated EST request is never issued twice.
        Raises:
            ServiceError: 400 for a malformed CSR or unknown profile; 403 for a repeat key from a
                non-agent; 503 before install.
        """
        self.issuer  # noqa: B018 - 503 before install
        if repeat_key is not None:
            if not caller.is_agent:
                raise ServiceError(403, f"{caller.name} is not an agent of this CA: repeatKey is for agents")
            known = self.store.request_for_key(repeat_key)
            if known is not None:
                return known
        try:
            profile = get_profile(profile_id)
            csr = load_csr(csr_data)
        except PKIError as exc:
            raise ServiceError(400, str(exc)) from exc
        if not hold and profile.accepts_bootstrap_credential and self._valid_bootstrap(bootstrap_credential):
            return self._enroll_now(csr, profile, requester=f"bootstrap:{caller.name}")
        if hold or not caller.is_agent or not profile.issues_agents_at_submit:
            try:
                check_request(csr, profile)  # Dogtag's profile constraints run at submit: reject now, not at approval
            except PKIError as exc:
                return self._rejected(csr, profile, caller.name, exc)
            return self._hold(csr, profile_id, caller, repeat_key)
        return self._enroll_now(csr, profile, requester=caller.name)

    def _hold(
        self, csr: x509.CertificateSigningRequest, profile_id: str, caller: Caller, repeat_key: str | None
    ) -> RequestRecord:
        subject = csr.subject.rfc4514_string()
        if repeat_key is None:
            request_id = self.store.add_request(
                request_type="enrollment",
                profile_id=profile_id,
                csr_der=_der(csr),
                subject=subject,
                status=RequestStatus.PENDING,
                requester=caller.name,
            )
        else:
            request_id = self.store.add_held_request(
                repeat_key, profile_id=profile_id, csr_der=_der(csr), subject=subject, requester=caller.name
            )
        log.info("request 0x%x (%s, %s) pending agent approval", request_id, profile_id, subject)
        return self._request(request_id)

    def find_held(self, repeat_key: str, caller: Caller) -> RequestRecord | None:
        """The request an agent holds under `repeat_key`, if any."""
        self._require_agent(caller)
        return self.store.request_for_key(repeat_key)

    def _valid_bootstrap(self, credential: str | None) -> bool:
        """The credential's SHA-256 is in bootstrap.sha256 (one per line), written by labctl at install."""
        path = self.dir / "bootstrap.sha256"
        if not credential or not path.exists():
            return False
        offered = hashlib.sha256(credential.encode()).hexdigest().encode()
        return _listed(
            offered, [digest.encode() for digest in path.read_text(encoding="ascii", errors="replace").split()]
        )

    def approve(self, request_id: int, caller: Caller) -> RequestRecord:
        """Issue a pending request (Dogtag's approve). Raises ServiceError 400 NOT_PENDING, 403, 404."""
        record = self._pending(request_id, caller)
        assert record.csr_der is not None  # only enrollment requests are ever pending
        csr = x509.load_der_x509_csr(record.csr_der)
        return self._issue(request_id, csr, get_profile(record.profile_id))

    def reject(self, request_id: int, caller: Caller) -> RequestRecord:
        """Reject a pending request (Dogtag's reject). Raises ServiceError 400 NOT_PENDING, 403, 404."""
        self._pending(request_id, caller)
        self.store.set_request_status(request_id, RequestStatus.REJECTED, error=f"rejected by {caller.name}")
        return self._request(request_id)

    def change_request(self, request_id: int, action: RequestAction, caller: Caller) -> RequestRecord:
        """An agent's cancel, update, validate, assign or unassign of a pending request
        (base/ca/.../cms/servlet/cert/RequestProcessor.java processRequest).

        Cancel makes it canceled; the others leave it pending: update and assign/unassign only touch its
        modification time (the lab keeps no edited values and no assigned owner), validate writes nothing.

        Raises:
            ServiceError: 400 NOT_PENDING; 403 for a non-agent; 404 unknown.
        """
        self._pending(request_id, caller)
        if action is RequestAction.CANCEL:
            self.store.set_request_status(request_id, RequestStatus.CANCELED, error=f"canceled by {caller.name}")
            log.info("request 0x%x canceled by %s", request_id, caller.name)
        elif action is not RequestAction.VALIDATE:
            self.store.set_request_status(request_id, RequestStatus.PENDING)
        return self._request(request_id)

    def _pending(self, request_id: int, caller: Caller) -> RequestRecord:
        """The request an agent acts on, when it is still pending: every one of Dogtag's request operations
        (approve, reject, cancel, update, validate, assign, unassign) refuses any other alike.

        Raises:
            ServiceError: 400 NOT_PENDING, as Dogtag (BadRequestException); 403 for a non-agent; 404 unknown.
        """
        self._require_agent(caller)
        record = self.get_request(request_id)
        if record.status is not RequestStatus.PENDING:
            raise ServiceError(400, NOT_PENDING)
        return record

    def _enroll_now(self, csr: x509.CertificateSigningRequest, profile: Profile, *, requester: str) -> RequestRecord:
        """Issue at once: the request is recorded complete with its certificate, in one transaction."""
        new_request = NewRequest(_der(csr), csr.subject.rfc4514_string(), requester)
        return self._issue(None, csr, profile, new_request=new_request)

    def _issue(
        self,
        request_id: int | None,
        csr: x509.CertificateSigningRequest,
        profile: Profile,
        *,
        new_request: NewRequest | None = None,
    ) -> RequestRecord:
        """Sign and record; a profile refusing the key marks the request rejected (Dogtag), with the reason."""
        issuer = self.issuer
        try:
            for _attempt in range(5):
                serial = random_serial()
                certificate = issue_certificate(issuer, csr, profile, serial=serial, extensions=self._extensions)
                try:
                    recorded = self.store.add_certificate(
                        serial=serial,
                        request_id=request_id,
                        profile_id=profile.profile_id,
                        subject=certificate.subject.rfc4514_string(),
                        issuer=certificate.issuer.rfc4514_string(),
                        der=certificate.public_bytes(serialization.Encoding.DER),
                        not_before=certificate.not_valid_before_utc,
                        not_after=certificate.not_valid_after_utc,
                        is_agent=profile.grants_agent,
                        new_request=new_request,
                    )
                except SerialInUse:
                    continue
                log.info("issued 0x%x %s (%s)", serial, certificate.subject.rfc4514_string(), profile.profile_id)
                assert recorded is not None
                return self._request(recorded)
            raise ServiceError(500, "could not draw an unused serial number")
        except PKIError as exc:
            if request_id is None:
                assert new_request is not None
                return self._rejected(csr, profile, new_request.requester, exc)
            self.store.set_request_status(request_id, RequestStatus.REJECTED, error=str(exc))
            log.info("request 0x%x rejected: %s", request_id, exc)
            return self._request(request_id)

    def _rejected(
        self, csr: x509.CertificateSigningRequest, profile: Profile, requester: str, exc: PKIError
    ) -> RequestRecord:
        """A new request the profile refuses: recorded rejected with the reason (Dogtag's errorMessage)."""
        request_id = self.store.add_request(
            request_type="enrollment",
            profile_id=profile.profile_id,
            csr_der=_der(csr),
            subject=csr.subject.rfc4514_string(),
            status=RequestStatus.REJECTED,
            requester=requester,
            error=str(exc),
        )
        log.info("request 0x%x rejected: %s", request_id, exc)
        return self._request(request_id)

    # --- look-ups ------------------------------------------------------------------------------

    def get_request(self, request_id: int) -> RequestRecord:
        record = self.store.get_request(request_id)
        if record is None:
            raise ServiceError(404, f"request 0x{request_id:x} not found")
        return record

    def _request(self, request_id: int) -> RequestRecord:
        return self.get_request(request_id)

    def get_certificate(self, serial: int) -> CertRecord:
        record = self.store.get_certificate(serial)
        if record is None:
            raise ServiceError(404, f"certificate 0x{serial:x} not found on this CA ({self.config.common_name})")
        return record

    def certificate_of(self, request: RequestRecord) -> x509.Certificate:
        if request.serial is None:
            raise ServiceError(409, f"request 0x{request.request_id:x} has no certificate ({request.status.value})")
        return x509.load_der_x509_certificate(self.get_certificate(request.serial).der)

    # --- revocation ----------------------------------------------------------------------------

    def revoke(
        self, serial: int, reason: RevocationReason, caller: Caller, *, revoking_ca_cert: bool = False
    ) -> tuple[CertRecord, int]:
        """Revoke a certificate this CA issued and regenerate the CRL (Dogtag's revoke, or its revoke-ca
        with `revoking_ca_cert`).

        Returns:
            The certificate as revoked, and the revocation request's ID (Dogtag records a revocation
            as a request of its own).
        Raises:
            ServiceError: as _validate_certificate_to_revoke; 403 for a non-agent; 404 unknown.
        """
        self._require_agent(caller)
        if reason is RevocationReason.Remove_from_CRL:
            raise ServiceError(400, "Remove_from_CRL is no revocation: unrevoke the certificate")
        record = self.get_certificate(serial)
        self._validate_certificate_to_revoke(record, revoking_ca_cert=revoking_ca_cert)
        request_id = self.store.revoke(serial, reason=reason.name, revoked_by=caller.name, reason_code=reason.code)
        if request_id is None:  # revoked by another call since the look-up
            raise ServiceError(400, _already_revoked(serial))
        self.crl_der()  # the revocation changed what a CRL lists (the store's trigger counted it)
        log.info("revoked 0x%x (%s) by %s", serial, reason.name, caller.name)
        return self.get_certificate(serial), request_id

    def _validate_certificate_to_revoke(self, record: CertRecord, *, revoking_ca_cert: bool) -> None:
        """Dogtag's checks before a revocation, in its order, for an agent (who may revoke any subject's):
        base/ca/.../cms/servlet/cert/RevocationProcessor.java validateCertificateToRevoke.

        Raises:
            ServiceError: 401 (Dogtag's UnauthorizedException) when revoke targets the CA's signing
                certificate or revoke-ca targets anything else; 400 when it is revoked already, held included
                (only Dogtag's CMC revocation turns a hold into another reason).
        """
        is_ca_cert = self._is_system_certificate(record.serial)
        if is_ca_cert != revoking_ca_cert:
            what = "is a" if is_ca_cert else "is not a"
            raise ServiceError(401, f"Certificate 0x{record.serial:x} {what} CA signing certificate")
        if record.status is CertStatus.REVOKED:
            raise ServiceError(400, _already_revoked(record.serial))

    def _is_system_certificate(self, serial: int) -> bool:
        """RevocationProcessor.isSystemCertificate: the CA's own signing certificate, when self-signed. The
        lab's CAs are Intermediates (the Root issued theirs, and it is in no CA's repository): never."""
        certificate = self.issuer.certificate
        return certificate.serial_number == serial and certificate.subject == certificate.issuer

    def unrevoke(self, serial: int, caller: Caller) -> tuple[bool, int]:
        """Take a certificate off hold (Dogtag's unrevoke): VALID again, off the CRL, good in OCSP.

        A certificate not on hold is left as it is; as in Dogtag, that is no HTTP error but a complete
        unrevocation request with an error (base/ca/.../ca/CAService.java unrevokeCert, ServiceUnrevoke.java).

        Returns:
            Whether it was released, and the unrevocation request's ID.
        """
        self._require_agent(caller)
        self.get_certificate(serial)  # 404 first, as Dogtag's getCertData
        # base/server/src/main/resources/UserMessages.properties: CMS_CA_UNREVOKE_FAILED.
        outcome = self.store.release(
            serial,
            released_by=caller.name,
            reason=RevocationReason.Certificate_Hold.name,
            error="One or more certificates could not be unrevoked",
        )
        if outcome is None:
            raise ServiceError(404, f"certificate 0x{serial:x} not found on this CA ({self.config.common_name})")
        request_id, released = outcome
        if released:
            self.crl_der()
            log.info("released 0x%x from hold by %s", serial, caller.name)
        else:
            log.info("unrevoke of 0x%x by %s refused: not on hold", serial, caller.name)
        return released, request_id

    def crl_der(self, *, now: datetime | None = None) -> bytes:
        """The current full CRL: regenerated after every revocation, and when older than CRL_UPDATE_INTERVAL
        (so the one served never passes its nextUpdate); kept in the store, so every worker serves the
        same one with the same number (docs/workers.md), and on disk."""
        moment = now or datetime.now(UTC)
        issuer = self.issuer
        fingerprint = issuer.certificate.fingerprint(hashes.SHA256()).hex()
        built_after = moment - CRL_UPDATE_INTERVAL
        current = self.store.current_crl(issuer=fingerprint, built_after=built_after)
        if current is not None:
            return current

        def build(revoked: list[CertRecord], number: int) -> bytes:
            entries = [
                RevokedEntry(
                    rec.serial,
                    rec.revoked_at or moment,
                    RevocationReason[rec.revocation_reason or "Unspecified"].flag,
                )
                for rec in revoked
            ]
            return build_crl(issuer, entries, number=number, now=moment).public_bytes(serialization.Encoding.DER)

        der, built = self.store.rebuild_crl(issuer=fingerprint, built_after=built_after, at=moment, build=build)
        if built:
            write_atomic(self.dir / "crl.der", der)
        return der

    def _require_agent(self, caller: Caller) -> None:
        if not caller.is_agent:
            raise ServiceError(403, f"{caller.name} is not an agent of this CA")


def _listed(offered: bytes, known: list[bytes]) -> bool:
    """Whether `offered` is one of `known` (a credential's digest): compared with each, without stopping early,
    so timing tells neither which entry nor how much of it matched."""
    return any([hmac.compare_digest(offered, entry) for entry in known])


def _already_revoked(serial: int) -> str:
    """base/server/src/main/resources/LogMessages.properties CA_CERTIFICATE_ALREADY_REVOKED_1, with the serial
    as RevocationProcessor formats it: BigInteger.toString(16), lower-case hex without 0x."""
    return f"certificate #{serial:x} has already been revoked"


def _spki(public_key: object) -> bytes:
    return public_key.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _der(csr: x509.CertificateSigningRequest) -> bytes:
    return csr.public_bytes(serialization.Encoding.DER)


def _issued_and_current(certificate: x509.Certificate, issuer: Issuer) -> bool:
    try:
        issued_by(certificate, issuer.certificate)
    except PKIError:
        return False
    return certificate.not_valid_after_utc > datetime.now(UTC)


def _self_signed(key: PrivateKey, names: Sequence[str]) -> x509.Certificate:
    """A stand-in TLS certificate while the CA awaits its own (nothing secret is served then)."""
    # A fixed CN: the container's name plus a note outgrew X.520's 64 characters for long lab names.
    return create_root_ca(key, "labctl CA awaiting its certificate", days=2).certificate
