"""A CA agent's side of manual approval: list a hierarchy's enrollment requests, approve or reject one.

As Dogtag's `pki ca-cert-request-find / -review / -approve / -reject` do it: list agent/certrequests,
review a request (its CSR, profile, and the nonce), and hand the review back to approve or reject.
The lab admin credential is the agent, as for `labctl revoke` (labctl/revocation.py); for the pqc
hierarchy the CA serves the host an RSA compatibility certificate (labctl/bootstrap.py admin_client).
Used by `labctl requests`, `labctl approve` and `labctl reject`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from labctl import dogtag
from labctl.bootstrap import admin_client
from labctl.ca_client import CAClient
from labctl.errors import CAError, LabctlError, PKIError
from labctl.placement import labctl_command
from labctl.state import HierarchyState
from labctl.topology import Hierarchy, Lab


@dataclass(frozen=True, slots=True)
class RequestSummary:
    """One enrollment request as an agent reviews it."""

    hierarchy: str
    request_id: int
    status: str
    subject: str
    profile_id: str
    submitted: datetime | None
    requester: str
    cert_id: int | None = None

    def as_record(self) -> dict[str, str | None]:
        """What `labctl requests --json` prints per request."""
        return {
            "hierarchy": self.hierarchy,
            "id": dogtag.format_id(self.request_id),
            "status": self.status,
            "subject": self.subject,
            "profile": self.profile_id,
            "submitted": self.submitted.isoformat(timespec="seconds") if self.submitted else None,
            "requester": self.requester,
            "certificate": dogtag.format_id(self.cert_id) if self.cert_id is not None else None,
        }


def list_requests(
    lab: Lab, state_dir: Path, hierarchy_names: Iterable[str], *, pending_only: bool, config: Path | None = None
) -> list[RequestSummary]:
    """The enrollment requests on each hierarchy's Intermediate CA, oldest first (only pending ones if asked).

    Raises:
        LabctlError: an unknown hierarchy, no admin credential (the lab is not up), the CA unreachable.
    """
    summaries: list[RequestSummary] = []
    for name in hierarchy_names:
        hierarchy = lab.hierarchy(name)
        with _client(lab, hierarchy, state_dir, config) as ca:
            try:
                infos = ca.requests(status="pending" if pending_only else None)
                summaries += [_summary(hierarchy, info, ca.review(info.request_id)) for info in infos]
            except CAError as exc:
                raise _explain(exc, lab, hierarchy, state_dir, config) from exc
    return summaries


def decide(
    lab: Lab, state_dir: Path, hierarchy_name: str, id_text: str, action: str, *, config: Path | None = None
) -> RequestSummary:
    """Approve (action "approve") or reject ("reject") a pending request; the request afterwards.

    Raises:
        LabctlError: a malformed or unknown ID, a request no longer pending, no admin credential, the
            CA unreachable.
    """
    hierarchy = lab.hierarchy(hierarchy_name)
    try:
        request_id = dogtag.parse_id(id_text)
    except PKIError as exc:
        raise LabctlError(f"request ID {id_text!r}: {exc}", hint="`labctl requests --pending` lists them") from exc
    with _client(lab, hierarchy, state_dir, config) as ca:
        try:
            review = ca.review(request_id)
            if review.get("requestStatus") != "pending":
                raise _not_pending(_summary_of(ca, hierarchy, request_id), action)
            ca.decide(request_id, review, action)
            return _summary_of(ca, hierarchy, request_id)
        except CAError as exc:
            if exc.status_code == 400:
                # Decided by someone else since the review: Dogtag answers 400 BadRequestException "Bad request
                # data: Request Not In Pending State"; the request's status, read back, tells it from another 400.
                summary = _summary_of(ca, hierarchy, request_id)
                if summary.status != "pending":
                    raise _not_pending(summary, action) from exc
            if exc.status_code == 404:
                raise LabctlError(
                    f"request {dogtag.format_id(request_id)} not found on {_describe(hierarchy)}",
                    hint=f"`labctl requests --pki-type {hierarchy.name}` lists its requests",
                ) from exc
            raise _explain(exc, lab, hierarchy, state_dir, config) from exc


def summary_lines(summaries: Sequence[RequestSummary]) -> list[str]:
    """A table for people: hierarchy, ID, status, submitted, profile, subject (and certificate once issued)."""
    if not summaries:
        return ["no requests"]
    lines = [f"{'HIERARCHY':<9} {'ID':<8} {'STATUS':<9} {'SUBMITTED':<25} {'PROFILE':<16} SUBJECT"]
    for s in summaries:
        submitted = s.submitted.isoformat(timespec="seconds") if s.submitted else "-"
        issued = f" (certificate {dogtag.format_id(s.cert_id)})" if s.cert_id is not None else ""
        lines.append(
            f"{s.hierarchy:<9} {dogtag.format_id(s.request_id):<8} {s.status:<9} {submitted:<25}"
            f" {s.profile_id:<16} {s.subject}{issued}"
        )
    return lines


def decision_line(summary: RequestSummary, action: str) -> str:
    """What `labctl approve` and `labctl reject` print."""
    request = f"request {dogtag.format_id(summary.request_id)} ({summary.subject})"
    where = f"on the {summary.hierarchy} Intermediate CA"
    if action == "reject":
        return f"{request} rejected {where}; the EST client's repeated request is answered 403"
    issued = f": certificate {dogtag.format_id(summary.cert_id)}" if summary.cert_id is not None else ""
    return f"{request} approved {where}{issued}; the EST client gets it by repeating its request"


# --- helpers -------------------------------------------------------------------------------------


def _summary_of(ca: CAClient, hierarchy: Hierarchy, request_id: int) -> RequestSummary:
    return _summary(hierarchy, ca.request_info(request_id), ca.review(request_id))


def _summary(hierarchy: Hierarchy, info: dogtag.RequestInfo, review: dict[str, Any]) -> RequestSummary:
    """A request from its CertRequestInfo and its CertReviewResponse (the CSR's subject, the profile, times)."""
    created = str(review.get("requestCreationTime") or "")
    submitted = datetime.fromtimestamp(int(created) / 1000, UTC) if created.isdigit() else None
    return RequestSummary(
        hierarchy=hierarchy.name,
        request_id=info.request_id,
        status=info.status,
        subject=_csr_subject(review),
        profile_id=str(review.get("ProfileID") or review.get("profileName") or "-"),
        submitted=submitted,
        requester=str(review.get("requestOwner") or "-"),
        cert_id=info.cert_id,
    )


def _csr_subject(review: dict[str, Any]) -> str:
    """The subject of the CSR in the review's certReqInputImpl input ("-" when it cannot be read)."""
    for item in review.get("Input", []) if isinstance(review.get("Input"), list) else []:
        for attribute in item.get("Attribute", []) if isinstance(item, dict) else []:
            if isinstance(attribute, dict) and attribute.get("name") == "cert_request":
                try:
                    der = base64.b64decode(str(attribute.get("Value", "")), validate=False)
                    return x509.load_der_x509_csr(der).subject.rfc4514_string()
                except (ValueError, binascii.Error):
                    return "-"
    return "-"


def _not_pending(summary: RequestSummary, action: str) -> LabctlError:
    already = {"complete": "already approved", "rejected": "already rejected", "canceled": "canceled"}
    state = already.get(summary.status, summary.status)
    issued = f", certificate {dogtag.format_id(summary.cert_id)}" if summary.cert_id is not None else ""
    return LabctlError(
        f"cannot {action} request {dogtag.format_id(summary.request_id)}: it is {state}"
        f" ({summary.subject}{issued}) on the {summary.hierarchy} Intermediate CA"
    )


def _describe(hierarchy: Hierarchy) -> str:
    return f"the {hierarchy.name} Intermediate CA ({hierarchy.ca.container})"


def _client(lab: Lab, hierarchy: Hierarchy, state_dir: Path, config: Path | None) -> CAClient:
    """The lab admin's client for the hierarchy's CA; a LabctlError naming `labctl up` when it is not up."""
    state = HierarchyState(state_dir / hierarchy.name)  # not .of(): that makes the directory
    if not state.admin_cert.exists():
        raise LabctlError(
            f"the {hierarchy.name} hierarchy of lab {lab.name!r} is not up: no lab admin credential in {state.root}",
            hint=f"bring it up with `{labctl_command('up', lab.name, state_dir, config)}`",
        )
    return admin_client(hierarchy, HierarchyState.of(state_dir, hierarchy), f"https://127.0.0.1:{hierarchy.ca.port}")


def _explain(exc: CAError, lab: Lab, hierarchy: Hierarchy, state_dir: Path, config: Path | None) -> LabctlError:
    if exc.status_code is None:
        status = labctl_command("status", lab.name, state_dir, config)
        return LabctlError(f"{exc} (is lab {lab.name!r} up? `{status}` shows it)")
    return exc
