"""Who may enroll, and what: HTTP Basic against the realm, TLS client certificates of this
hierarchy, the hierarchy's key policy, and the subject/SAN rules of Dogtag's authorizer.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import BasicAuth
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from labctl.errors import PKIError, ServiceError
from labctl.pki.issue import certificate_sans, load_der_certificate, requested_sans
from labctl.pki.keys import check_key_strength, describe_key, matches_algorithm
from labctl.pki.names import requested_name_problems
from labctl.pki.signatures import issued_by
from labctl.services.est_ra.config import AuthorizerConfig, RealmUser
from labctl.services.est_ra.external import AuthorizationRequest, run_external_authorizer

REALM = "EST"
CHALLENGE = f'Basic realm="{REALM}"'
# The role a certificate holder gets when authorizer.conf names none: the one Dogtag's estauthz
# requires (dogtagpki/pki base/est/bin/estauthz: ALLOWED_ROLE).
CERTIFICATE_ROLE = "EST Users"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated EST client: a realm user, or the holder of a certificate of this hierarchy."""

    name: str
    roles: frozenset[str]
    certificate: x509.Certificate | None = None


def _unauthorized(reason: str) -> ServiceError:
    return ServiceError(401, reason, authenticate=CHALLENGE)


def credentials_hint(label: str | None) -> str:
    """What a curl user adds to a request answered 401 (the body is all curl -o saves)."""
    pki_type = label or "rsa"
    return f'with curl, add -u "$(labctl credentials --pki-type {pki_type})" (the EST user and password)'


class Authorizer:
    def __init__(
        self,
        config: AuthorizerConfig,
        realm: Sequence[RealmUser],
        issuer: x509.Certificate,
        *,
        hint: str = credentials_hint(None),
    ) -> None:
        self.config = config
        self._users = {user.username: user for user in realm}
        self._issuer = issuer
        self._hint = hint

    @property
    def issuer(self) -> x509.Certificate:
        """The Intermediate CA certificate this RA enrolls under."""
        return self._issuer

    # --- authentication ------------------------------------------------------------------------

    def authenticate_enroll(self, authorization: str | None, peer_der: bytes | None) -> Principal:
        """simpleenroll: HTTP Basic or a TLS client certificate, as authorizer.conf allows.

        Valid Basic credentials win; otherwise a presented certificate must be this hierarchy's
        and current (403 when it is not); with neither, 401 and the Basic challenge.
        """
        if authorization is not None and self.config.allow_basic:
            return self._basic(authorization)
        if peer_der is not None and self.config.allow_certificate:
            return self._certificate(peer_der)
        if authorization is not None:
            raise ServiceError(403, "HTTP Basic authentication is disabled for enrollment here")
        raise _unauthorized(f"authentication required (HTTP Basic or TLS client certificate): {self._hint}")

    def authenticate_reenroll(self, authorization: str | None, peer_der: bytes | None) -> Principal:
        """simplereenroll: the TLS client certificate being renewed alone authenticates (RFC 7030 section 4.2.2)."""
        if peer_der is None:
            if authorization is not None:
                raise ServiceError(403, "simplereenroll needs the TLS client certificate being renewed")
            raise _unauthorized("simplereenroll needs the TLS client certificate being renewed")
        return self._certificate(peer_der)

    def _basic(self, header: str) -> Principal:
        try:
            credentials = BasicAuth.decode(header)
        except ValueError as exc:
            raise _unauthorized(f"malformed Authorization header: {exc}") from exc
        user = self._users.get(credentials.login)
        # Compare even for unknown users, so timing does not tell which names exist.
        expected = user.password if user else "\0unknown-user"
        if not hmac.compare_digest(credentials.password.encode(), expected.encode()) or user is None:
            raise _unauthorized("wrong username or password")
        if self.config.role is not None and self.config.role not in user.roles:
            raise ServiceError(403, f"user {user.username} lacks the role '{self.config.role}'")
        return Principal(user.username, user.roles)

    def check_certificate(self, certificate: x509.Certificate) -> Principal:
        """A certificate presented other than in TLS (a fullcmc request's CMS signer): this hierarchy's and current."""
        return self._certificate(certificate.public_bytes(serialization.Encoding.DER))

    def _certificate(self, peer_der: bytes) -> Principal:
        try:
            certificate = load_der_certificate(peer_der, what="client certificate")
        except PKIError as exc:
            raise ServiceError(403, str(exc)) from exc
        try:
            issued_by(certificate, self._issuer)
        except PKIError as exc:
            raise ServiceError(403, f"client certificate {exc}") from exc
        subject = certificate.subject.rfc4514_string()
        now = datetime.now(UTC)
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise ServiceError(403, f"client certificate {subject} is expired or not yet valid")
        return Principal(subject, frozenset({self.config.role or CERTIFICATE_ROLE}), certificate)

    # --- policy --------------------------------------------------------------------------------

    def check_csr_policy(self, csr: x509.CertificateSigningRequest) -> None:
        """The CSR's key must be strong enough and, with keyAlgorithm, this hierarchy's algorithm (403 otherwise)."""
        public_key = csr.public_key()
        try:
            check_key_strength(public_key)
        except PKIError as exc:
            raise ServiceError(403, str(exc)) from exc
        if self.config.key_algorithm is None:
            return
        if not matches_algorithm(public_key, self.config.key_algorithm):
            raise ServiceError(
                403,
                f"CSR key is {describe_key(public_key)}; this hierarchy enrolls {self.config.key_algorithm.label} keys only",
            )

    def check_names(self, csr: x509.CertificateSigningRequest) -> None:
        """labctl's enrollment policy (labctl.pki.names): 403 for a name or address of the lab's own
        services, 400 for a DNS name (or a common name used as one) that is not a valid host name."""
        common_names = [str(a.value) for a in csr.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
        problems = requested_name_problems(common_names, requested_sans(csr), self.config.reserved)
        if problems:
            first = next((p for p in problems if p.reserved), problems[0])
            raise ServiceError(403 if first.reserved else 400, first.reason)

    def check_enroll(self, principal: Principal, csr: x509.CertificateSigningRequest) -> None:
        """Dogtag's enrollMatchTLSSubjSAN: a certificate holder may only enroll its own subject and SAN;
        a password user only its own name."""
        if not self.config.enroll_match_tls_subject_san:
            return
        if principal.certificate is not None:
            if csr.subject != principal.certificate.subject:
                raise ServiceError(403, "CSR subject does not match the client certificate")
            wanted, held = requested_sans(csr), certificate_sans(principal.certificate)
            if wanted and set(wanted) != set(held):
                raise ServiceError(403, "CSR subjectAltName does not match the client certificate")
            return
        names = [attr.value for attr in csr.subject if attr.oid in (x509.NameOID.COMMON_NAME, x509.NameOID.USER_ID)]
        if not names or str(names[0]).lower() != principal.name.lower():
            raise ServiceError(403, f"CSR subject does not match user identity {principal.name}")
        for entry in requested_sans(csr):
            if str(entry.value).lower() != principal.name.lower():
                raise ServiceError(
                    403, f"CSR subjectAltName {entry.value} does not match user identity {principal.name}"
                )

    async def authorize(
        self,
        operation: str,
        principal: Principal,
        csr: x509.CertificateSigningRequest,
        *,
        remote_addr: str,
        label: str | None,
    ) -> None:
        """ExternalProcessRequestAuthorizer (authorizer.conf `executable`): after every check above, the
        executable has the last word; without one, nothing more to ask."""
        if self.config.external is None:
            return
        request = AuthorizationRequest(
            operation=operation,
            principal_name=principal.name,
            roles=principal.roles,
            remote_addr=remote_addr,
            label=label,
            client_certificate=principal.certificate,
            csr=csr,
            to_be_renewed=principal.certificate if operation == "simplereenroll" else None,
        )
        await run_external_authorizer(self.config.external, request)

    def check_reenroll(self, principal: Principal, csr: x509.CertificateSigningRequest) -> None:
        """RFC 7030 section 4.2.2: subject and subjectAltName must equal the certificate being renewed."""
        assert principal.certificate is not None
        if csr.subject != principal.certificate.subject:
            raise ServiceError(
                403,
                f"re-enrollment may not change the subject ({principal.certificate.subject.rfc4514_string()}"
                f" -> {csr.subject.rfc4514_string()})",
            )
        if set(requested_sans(csr)) != set(certificate_sans(principal.certificate)):
            raise ServiceError(403, "re-enrollment may not change the subjectAltName")
