"""Certificate profiles as data, modelled on Dogtag's (base/ca/shared/profiles/ca/*.cfg).

A profile says which key families it certifies, with which key usage for each, which extended key
usages, for how long, and whether the issued certificate makes its holder an agent of the CA.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from labctl.errors import PKIError
from labctl.pki.keys import KeyKind, describe_key, key_kind

# Key usage bit names as cryptography's x509.KeyUsage takes them.
DIGITAL_SIGNATURE = "digital_signature"
KEY_ENCIPHERMENT = "key_encipherment"
DATA_ENCIPHERMENT = "data_encipherment"
KEY_AGREEMENT = "key_agreement"
KEY_USAGE_BITS = (
    DIGITAL_SIGNATURE,
    "content_commitment",
    KEY_ENCIPHERMENT,
    DATA_ENCIPHERMENT,
    KEY_AGREEMENT,
    "key_cert_sign",
    "crl_sign",
)

SERVER_AND_CLIENT = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)
CLIENT_ONLY = (ExtendedKeyUsageOID.CLIENT_AUTH,)

# Dogtag's authenticator that takes the submitter's TLS client certificate as an agent's (CMS AgentCertAuth).
AGENT_CERT_AUTH = "AgentCertAuth"
# Dogtag's authenticator of EST fullcmc requests (estFullcmcDeviceCert.cfg: auth.instance_id=CMCAuthForEST):
# Dogtag's CA checks the CMC signature; the lab's RA checks it and submits the PKCS#10 inside as its agent.
CMC_AUTH_FOR_EST = "CMCAuthForEST"
# The authenticators under which an agent's request is issued at submit (the others leave it pending).
ISSUED_AT_SUBMIT_FOR_AGENTS = frozenset({AGENT_CERT_AUTH, CMC_AUTH_FOR_EST})

_RSA_KU = frozenset({DIGITAL_SIGNATURE, KEY_ENCIPHERMENT})
# Dogtag estServiceCert: digitalSignature, keyEncipherment, keyAgreement; each family keeps the bits it can use.
_EC_KU = frozenset({DIGITAL_SIGNATURE, KEY_AGREEMENT})
# RFC 9881: an ML-DSA certificate's key usage holds signature bits only.
_MLDSA_KU = frozenset({DIGITAL_SIGNATURE})
# The lab's device and credential profiles certify all three families, each with the bits it can use.
_EVERY_FAMILY_KU: Mapping[KeyKind, frozenset[str]] = MappingProxyType(
    {KeyKind.RSA: _RSA_KU, KeyKind.EC: _EC_KU, KeyKind.ML_DSA: _MLDSA_KU}
)


@dataclass(frozen=True, slots=True)
class Profile:
    """One enrollment profile: what it certifies and what it puts in the certificate."""

    profile_id: str
    description: str
    key_usage: Mapping[KeyKind, frozenset[str]]
    extended_key_usage: tuple[ObjectIdentifier, ...]
    validity_days: int
    # Dogtag's server profiles copy the subject CN into the SAN (SubjectAltNameExtDefault with $request.req_subject_name.cn$).
    copy_cn_to_san: bool = True
    # Certificates of an agent profile authenticate their holder as a CA agent (Dogtag: member of "Certificate Manager Agents").
    grants_agent: bool = False
    # Dogtag's auth.instance_id: AGENT_CERT_AUTH issues an agent's request at submit (estServiceCert.cfg,
    # caAgentServerCert.cfg); None is Dogtag's empty auth.class_id (caServerCert.cfg: "Manual ... Enrollment"):
    # every request, an agent's too, stays pending until an agent reviews and approves it. Anyone but an
    # agent always waits for one.
    authenticator: str | None = None
    # Also issued at once for a request carrying the CA's device bootstrap credential (Dogtag: PIN-based enrollment).
    accepts_bootstrap_credential: bool = False
    # Dogtag's `visible`: false for profiles only a subsystem uses (estFullcmcDeviceCert.cfg).
    visible: bool = True
    allowed_kinds: frozenset[KeyKind] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed_kinds", frozenset(self.key_usage))
        for bits in self.key_usage.values():
            unknown = bits - set(KEY_USAGE_BITS)
            if unknown:
                raise ValueError(f"profile {self.profile_id}: unknown key usage {sorted(unknown)}")

    @property
    def issues_agents_at_submit(self) -> bool:
        """Whether an agent's request is issued at submit (else it waits for an agent's approval)."""
        return self.authenticator in ISSUED_AT_SUBMIT_FOR_AGENTS

    def key_usage_for(self, public_key: object) -> frozenset[str]:
        """The key usage bits for this key; PKIError when the profile does not certify its family."""
        kind = key_kind(public_key)
        if kind not in self.key_usage:
            allowed = ", ".join(sorted(self.allowed_kinds))
            raise PKIError(
                f"profile {self.profile_id} does not allow {describe_key(public_key)} keys (allows {allowed})"
            )
        return self.key_usage[kind]


def _profiles(*items: Profile) -> Mapping[str, Profile]:
    return MappingProxyType({p.profile_id: p for p in items})


PROFILES: Mapping[str, Profile] = _profiles(
    Profile(
        "caServerCert",
        "Server certificate, RSA keys (Dogtag caServerCert)",
        {KeyKind.RSA: frozenset({DIGITAL_SIGNATURE, KEY_ENCIPHERMENT, DATA_ENCIPHERMENT})},
        SERVER_AND_CLIENT,
        720,
    ),
    Profile(
        "caECServerCert",
        "Server certificate, EC keys (Dogtag caECServerCert)",
        {KeyKind.EC: frozenset({DIGITAL_SIGNATURE, KEY_AGREEMENT})},
        SERVER_AND_CLIENT,
        720,
    ),
    Profile(
        "caMLDSAServerCert",
        "Server certificate, ML-DSA keys (RFC 9881: digitalSignature only)",
        {KeyKind.ML_DSA: frozenset({DIGITAL_SIGNATURE})},
        SERVER_AND_CLIENT,
        720,
    ),
    Profile(
        "estServiceCert",
        # Dogtag's estServiceCert certifies RSA only; the lab enrolls all three families through it.
        "Device certificate enrolled through EST (Dogtag EST's default profile, 90 days)",
        _EVERY_FAMILY_KU,
        SERVER_AND_CLIENT,
        90,
        authenticator=AGENT_CERT_AUTH,  # estServiceCert.cfg: auth.instance_id=AgentCertAuth
    ),
    Profile(
        "estFullcmcDeviceCert",
        # base/ca/shared/profiles/ca/estFullcmcDeviceCert.cfg, the profile Dogtag's shipped EST backend.conf
        # names as fullcmc.profile: clientAuth, 180 days, keyEncipherment with digitalSignature. Dogtag's
        # certifies RSA only; the lab enrolls all three families through it, as through estServiceCert.
        "Device certificate enrolled through EST fullcmc (Dogtag estFullcmcDeviceCert, 180 days)",
        _EVERY_FAMILY_KU,
        CLIENT_ONLY,
        180,
        authenticator=CMC_AUTH_FOR_EST,
        visible=False,
    ),
    Profile(
        "caIoTDeviceCert",
        "IoT device identity, enrolled directly at the CA when the RA is unavailable (bootstrap credential)",
        _EVERY_FAMILY_KU,
        CLIENT_ONLY,
        365,
        accepts_bootstrap_credential=True,
        authenticator=AGENT_CERT_AUTH,  # the lab's: as Dogtag's agent profiles (caAgentServerCert.cfg)
    ),
    Profile(
        "estRAAgentCert",
        # Dogtag maps such a certificate to an EST RA user in "Certificate Manager Agents".
        "Agent credential: the EST RA's identity towards its CA",
        _EVERY_FAMILY_KU,
        CLIENT_ONLY,
        720,
        copy_cn_to_san=False,
        grants_agent=True,
        authenticator=AGENT_CERT_AUTH,  # the lab's: an agent (labctl up) issues the RA's at once
    ),
    Profile(
        "caAdminCert",
        "Lab administrator credential, issued at CA installation (Dogtag caAdminCert)",
        _EVERY_FAMILY_KU,
        CLIENT_ONLY,
        720,
        copy_cn_to_san=False,
        grants_agent=True,
        # Dogtag's caAdminCert.cfg uses TokenAuth (installation only); the lab issues it at install, not over REST.
        authenticator=AGENT_CERT_AUTH,
    ),
)

# The server profile of each key family: the RA's TLS certificate and the CA's own use it.
SERVER_PROFILE_BY_KIND: Mapping[KeyKind, str] = MappingProxyType(
    {KeyKind.RSA: "caServerCert", KeyKind.EC: "caECServerCert", KeyKind.ML_DSA: "caMLDSAServerCert"}
)


def get_profile(profile_id: str) -> Profile:
    """Look a profile up by its Dogtag ID; PKIError naming the known ones otherwise."""
    try:
        return PROFILES[profile_id]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise PKIError(f"unknown profile {profile_id!r} (known: {known})") from None
