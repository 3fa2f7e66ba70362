"""Revoke a certificate and read its status (REST or OCSP) on a hierarchy's Intermediate CA, as the lab admin.

The roots are offline (their keys stay in the host state dir, no REST API), so everything an RA
issued is revoked on the Intermediate CA of the hierarchy that issued it. Used by `labctl revoke`,
`labctl cert-status`, `labctl ocsp` and scripts/pki-cli.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from labctl import dogtag
from labctl.bootstrap import admin_client
from labctl.ca_client import CAClient
from labctl.errors import CAError, LabctlError, PKIError
from labctl.pki import ocsp
from labctl.pki.issue import load_pem_certificates, parse_serial
from labctl.placement import labctl_command
from labctl.state import HierarchyState
from labctl.topology import Hierarchy, Lab

# Dogtag's revocation reason names (JSS RevocationReason) by RFC 5280 CRLReason code.
DOGTAG_REASONS: Mapping[int, str] = {
    0: "Unspecified",
    1: "Key_Compromise",
    2: "CA_Compromise",
    3: "Affiliation_Changed",
    4: "Superseded",
    5: "Cessation_of_Operation",
    6: "Certificate_Hold",
    9: "Privilege_Withdrawn",
    10: "AA_Compromise",
}
# The lab docs' snake_case names; Dogtag's own names are accepted too.
REASONS: Mapping[str, str] = {name.lower(): name for name in DOGTAG_REASONS.values()}


def parse_reason(text: str) -> str:
    """Dogtag's name for a revocation reason given as key_compromise, Key_Compromise or key-compromise.

    Raises:
        LabctlError: an unknown reason; the message lists the choices.
    """
    reason = REASONS.get(text.strip().replace("-", "_").lower())
    if reason is None:
        raise LabctlError(f"unknown revocation reason {text!r} (choose one of: {', '.join(REASONS)})")
    return reason


def reason_name(code: int | None) -> str | None:
    """Dogtag's name of an RFC 5280 reason code (None stays None)."""
    if code is None:
        return None
    return DOGTAG_REASONS.get(code, str(code))


def revoke(
    lab: Lab, state_dir: Path, hierarchy_name: str, serial_text: str, reason: str, *, config: Path | None = None
) -> dogtag.CertInfo:
    """Revoke a certificate on the hierarchy's Intermediate CA; the certificate's status afterwards.

    Args:
        config: the lab file the lab was selected with, if any: the hints' labctl commands name it.
    Raises:
        LabctlError: bad serial or reason, no admin credential, the certificate is not on this CA or
            already revoked, or the CA is unreachable.
    """
    hierarchy = lab.hierarchy(hierarchy_name)
    serial = parse_serial(serial_text)
    dogtag_reason = parse_reason(reason)
    with _client(lab, hierarchy, state_dir, config) as ca:
        try:
            return ca.revoke(serial, dogtag_reason)
        except CAError as exc:
            if exc.status_code == 400:
                # As Dogtag (RevocationProcessor.validateCertificateToRevoke), a revoked certificate is a 400
                # BadRequestException: the certificate's status, read back, tells it from a malformed request.
                raise _already_revoked(ca, exc, lab, hierarchy, serial, state_dir, config) from exc
            raise _explain(exc, lab, hierarchy, serial, state_dir, config) from exc


def unrevoke(
    lab: Lab, state_dir: Path, hierarchy_name: str, serial_text: str, *, config: Path | None = None
) -> dogtag.CertInfo:
    """Take a certificate off hold (revoked with certificate_hold) on the hierarchy's Intermediate CA: VALID
    again, off the CRL, good in OCSP; the certificate's status afterwards.

    Args:
        config: the lab file the lab was selected with, if any: the hints' labctl commands name it.
    Raises:
        LabctlError: bad serial, no admin credential, the certificate is not on this CA or not on hold,
            or the CA is unreachable.
    """
    hierarchy = lab.hierarchy(hierarchy_name)
    serial = parse_serial(serial_text)
    with _client(lab, hierarchy, state_dir, config) as ca:
        try:
            outcome = ca.unrevoke(serial)
            info = ca.certificate(serial)
        except CAError as exc:
            raise _explain(exc, lab, hierarchy, serial, state_dir, config) from exc
    if outcome.error is not None:
        # Dogtag answers a certificate not on hold with a complete request carrying the error, not an HTTP error.
        reason = reason_name(info.revocation_reason)
        revoke = labctl_command("revoke", lab.name, state_dir, config)
        raise LabctlError(
            f"certificate {dogtag.format_id(serial)} is not on hold on {_describe(hierarchy)}"
            f" (status {info.status}{f', reason {reason}' if reason else ''}); the CA said: {outcome.error}",
            hint=f"only a certificate held with `{revoke} {dogtag.format_id(serial)} --pki-type {hierarchy.name}"
            " --reason certificate_hold` can be released",
        )
    return info


def certificate_status(
    lab: Lab, state_dir: Path, hierarchy_name: str, serial_text: str, *, config: Path | None = None
) -> dogtag.CertInfo:
    """A certificate's status (VALID, REVOKED, EXPIRED, REVOKED_EXPIRED) on the hierarchy's Intermediate CA.

    Args:
        config: the lab file the lab was selected with, if any: the hints' labctl commands name it.
    Raises:
        LabctlError: bad serial, no admin credential, the certificate is not on this CA, or the CA is
            unreachable.
    """
    hierarchy = lab.hierarchy(hierarchy_name)
    serial = parse_serial(serial_text)
    with _client(lab, hierarchy, state_dir, config) as ca:
        try:
            return ca.certificate(serial)
        except CAError as exc:
            raise _explain(exc, lab, hierarchy, serial, state_dir, config) from exc


def ocsp_status(
    lab: Lab, state_dir: Path, hierarchy_name: str, serial_text: str, *, config: Path | None = None
) -> ocsp.CertStatus:
    """A certificate's OCSP status (good, revoked, unknown) from the hierarchy's Intermediate CA's /ca/ocsp.

    The request is built from the Intermediate CA's certificate and the serial (the leaf is not needed);
    the answer must be signed by that CA and carry the request's nonce. From the host for every
    hierarchy: the pqc CA's RSA compatibility TLS certificate carries the HTTPS, cryptography checks
    its ML-DSA-87 signature on the answer.

    Raises:
        LabctlError: bad serial, the lab is not up, the CA is unreachable, or its answer is unsuccessful,
            unsigned by the CA or does not match the request.
    """
    hierarchy = lab.hierarchy(hierarchy_name)
    serial = parse_serial(serial_text)
    with _client(lab, hierarchy, state_dir, config) as ca:
        issuer = load_pem_certificates(HierarchyState.of(state_dir, hierarchy).chain.read_bytes())[0]
        query = ocsp.build_request(issuer, serial)
        try:
            answer = ca.ocsp(query.der)
        except CAError as exc:
            if exc.status_code == 404:
                raise LabctlError(
                    f"{_describe(hierarchy)} serves no OCSP at /ca/ocsp",
                    hint=f"its image predates OCSP: `{labctl_command('build', lab.name, state_dir, config)}`, then up",
                ) from exc
            raise _explain(exc, lab, hierarchy, serial, state_dir, config) from exc
    try:
        return ocsp.read_response(answer, query, issuer)
    except PKIError as exc:
        raise LabctlError(f"{_describe(hierarchy)}: {exc}") from exc


def status_lines(info: dogtag.CertInfo) -> list[str]:
    """What `revoke` and `status` print for people."""
    return [
        f"serial:            {dogtag.format_id(info.serial)}",
        f"subject:           {info.subject_dn}",
        f"issuer:            {info.issuer_dn}",
        f"status:            {info.status}",
        f"revocation reason: {reason_name(info.revocation_reason) or '-'}",
    ]


def status_record(hierarchy_name: str, info: dogtag.CertInfo) -> dict[str, str | None]:
    """What `revoke` and `status` print as JSON."""
    return {
        "hierarchy": hierarchy_name,
        "serial": dogtag.format_id(info.serial),
        "subject": info.subject_dn,
        "issuer": info.issuer_dn,
        "status": info.status,
        "revocation_reason": reason_name(info.revocation_reason),
    }


def _describe(hierarchy: Hierarchy) -> str:
    return f"the {hierarchy.name} Intermediate CA ({hierarchy.ca.container})"


def _client(lab: Lab, hierarchy: Hierarchy, state_dir: Path, config: Path | None) -> CAClient:
    if not _admin_cert(state_dir, hierarchy).exists():
        others_up = any(_admin_cert(state_dir, h).exists() for h in lab.hierarchies)
        what = f"the {hierarchy.name} hierarchy of lab {lab.name!r}" if others_up else f"lab {lab.name!r}"
        raise LabctlError(
            f"{what} is not up: no lab admin credential for {hierarchy.name} in {state_dir / hierarchy.name}",
            hint=f"bring it up with `{labctl_command('up', lab.name, state_dir, config)}`",
        )
    state = HierarchyState.of(state_dir, hierarchy)
    return admin_client(hierarchy, state, f"https://127.0.0.1:{hierarchy.ca.port}")


def _admin_cert(state_dir: Path, hierarchy: Hierarchy) -> Path:
    return HierarchyState(state_dir / hierarchy.name).admin_cert  # not .of(): that makes the directory


def _explain(
    exc: CAError, lab: Lab, hierarchy: Hierarchy, serial: int, state_dir: Path, config: Path | None
) -> LabctlError:
    if exc.status_code == 404:
        others = "|".join(h.name for h in lab.hierarchies if h.name != hierarchy.name)
        return LabctlError(
            f"certificate {dogtag.format_id(serial)} not found on {_describe(hierarchy)}; EST-issued certificates"
            f" live on the Intermediate CA of the hierarchy that issued them: try --pki-type {others}"
        )
    if exc.status_code is None:
        status = labctl_command("status", lab.name, state_dir, config)
        return LabctlError(f"{exc} (is lab {lab.name!r} up? `{status}` shows it)")
    return exc


def _already_revoked(
    ca: CAClient, refusal: CAError, lab: Lab, hierarchy: Hierarchy, serial: int, state_dir: Path, config: Path | None
) -> LabctlError:
    """Why the CA refused the revocation (`refusal`, a 400): already revoked, when the certificate is."""
    try:
        info = ca.certificate(serial)
    except CAError as exc:
        return _explain(exc, lab, hierarchy, serial, state_dir, config)
    if not info.status.startswith("REVOKED"):  # REVOKED or REVOKED_EXPIRED
        return refusal
    reason = reason_name(info.revocation_reason)
    hint = None
    if reason == "Certificate_Hold":
        # As Dogtag's REST revoke, the CA refuses a held certificate; releasing it first allows another reason.
        unrevoke = labctl_command("unrevoke", lab.name, state_dir, config)
        hint = f"it is on hold: release it with `{unrevoke} {dogtag.format_id(serial)} --pki-type {hierarchy.name}`"
        hint += ", then revoke it with the reason you want"
    return LabctlError(
        f"certificate {dogtag.format_id(serial)} is already revoked on {_describe(hierarchy)}"
        f" (status {info.status}{f', reason {reason}' if reason else ''})",
        hint=hint,
    )
