"""Which module defines each command, and its one-line help: `labctl --help` lists the commands from
here without importing them (a command's module, with what it needs, loads only when that command runs).

tests/unit/test_cli_registry.py keeps this table and the commands the modules define the same.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Lazy:
    module: str  # under labctl.cli
    short_help: str = ""  # the command's first sentence, as `--help` lists it
    hidden: bool = False


COMMANDS: dict[str, Lazy] = {
    "approve": Lazy(
        "requests",
        "Approve pending request REQUEST_ID (0x-prefixed hex, as `labctl requests` shows it): the CA issues.",
    ),
    "bench-ceiling": Lazy("bench", hidden=True),
    "bench-enroll": Lazy("bench", hidden=True),
    "build": Lazy(
        "lifecycle",
        "Build the lab image (offline from the wheelhouse; the base bootstrapped with mmdebstrap when absent).",
    ),
    "cert-status": Lazy(
        "certificates", "Show certificate SERIAL's status (VALID, REVOKED, ...) on the hierarchy's Intermediate CA."
    ),
    "credentials": Lazy(
        "certificates", "Print the EST realm user and password of a hierarchy as user:password (for curl -u)."
    ),
    "down": Lazy("lifecycle", "Remove the lab's containers and networks (only what carries this lab's labels)."),
    "est-cacerts": Lazy(
        "est",
        "The hierarchy's CA chain from its EST RA (cacerts), as PEM; without a trust anchor, the RFC 7030 bootstrap.",
    ),
    "est-call": Lazy("in_container", hidden=True),
    "est-enroll": Lazy(
        "est",
        "Generate a key, build the CSR, enroll through the RA (simpleenroll), and save key, certificate and chain.",
    ),
    "est-fullcmc": Lazy(
        "est",
        "As est-enroll, through fullcmc: the CSR in a CMC Full PKI Request signed with the new key (RFC 7030 4.3).",
    ),
    "est-reenroll": Lazy(
        "est", "Renew with the stored key and certificate (simplereenroll, TLS client authentication)."
    ),
    "est-serverkeygen": Lazy(
        "est",
        "Have the RA generate the key (serverkeygen, RFC 7030 section 4.4) and enroll it; save key, certificate and chain.",
    ),
    "events": Lazy(
        "events", "Every issuance and revocation on the Intermediate CAs, oldest first; undelivered webhooks on stderr."
    ),
    "hosts": Lazy(
        "lifecycle",
        "Print the hosts lines that make the lab's names (RA hostnames, CA containers) resolve on this machine.",
    ),
    "iot": Lazy("iot", "The lab's IoT device client: EST first, the CA's REST API when the RA is unavailable."),
    "iot-device": Lazy("in_container", hidden=True),
    "logs": Lazy("lifecycle", "Print a lab container's log (NAME: a container, or HIERARCHY/ca, HIERARCHY/ra)."),
    "ocsp": Lazy("ocsp", "Ask the hierarchy's Intermediate CA (/ca/ocsp, RFC 6960) for certificate SERIAL's status."),
    "reject": Lazy("requests", "Reject pending request REQUEST_ID: the EST client's repeated request is answered 403."),
    "render": Lazy(
        "lifecycle",
        "Write what `up` would use, starting nothing: each RA's configuration, the Containerfile, the plan.",
    ),
    "requests": Lazy(
        "requests", "List enrollment requests on the Intermediate CAs: ID, status, submitted time, profile, subject."
    ),
    "revoke": Lazy("certificates", "Revoke certificate SERIAL (0x-prefixed hex) on the hierarchy's Intermediate CA."),
    "serve-local": Lazy(
        "serve", "Run each hierarchy's CA and EST RA as processes on 127.0.0.1, verify them, and serve until Ctrl-C."
    ),
    "status": Lazy(
        "lifecycle", "Each service: container state, health, address, port; each CA: state and certificate counts."
    ),
    "unrevoke": Lazy(
        "certificates",
        "Release certificate SERIAL from hold (revoked with certificate_hold): valid again, off the CRL.",
    ),
    "up": Lazy("lifecycle", "Build what is missing and bring the lab up, healthy (idempotent; repairs a broken lab)."),
    "verify": Lazy(
        "lifecycle", "Smoke-test the running lab end to end, per hierarchy; exit 0 only when every check passed."
    ),
    "verify-endpoint": Lazy("in_container", hidden=True),
}
