"""An EST client waiting out manual approval (RFC 7030 section 4.2.3): the RA answers 202 Accepted with
Retry-After; the client repeats the same request after that delay until it gets the certificate, a
refusal, or its own bound runs out. Used by `labctl est-enroll` and `labctl verify`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from labctl.errors import ESTError, LabctlError
from labctl.readiness import Clock, SystemClock

# The bound on waiting (est-enroll --wait), and the delay when the RA gives no usable Retry-After.
DEFAULT_WAIT_S = 60
DEFAULT_RETRY_AFTER_S = 10
# The lab RA's 202 line names the CA's request (labctl/services/est_ra/approval.py Pending.reason).
_REQUEST_ID = re.compile(r"\(request (0x[0-9a-fA-F]+)\)")

T = TypeVar("T")


class PendingApproval(ESTError):
    """202 Accepted: the RA holds the request for an agent; repeat the same request after retry_after_s."""

    def __init__(self, message: str, *, retry_after_s: int, request_id: str | None) -> None:
        super().__init__(message, status_code=202)
        self.retry_after_s = retry_after_s
        self.request_id = request_id

    @classmethod
    def from_answer(cls, message: str, retry_after: str | None) -> PendingApproval:
        """From the 202's reason line and its Retry-After header (delay-seconds; an HTTP-date is not used here)."""
        text = (retry_after or "").strip()
        seconds = int(text) if text.isdigit() else DEFAULT_RETRY_AFTER_S
        found = _REQUEST_ID.search(message)
        return cls(message, retry_after_s=max(1, seconds), request_id=found.group(1) if found else None)


class StillPending(LabctlError):
    """The bound on waiting ran out while the request was still pending approval."""


PendingNotice = Callable[[PendingApproval, float, float], None]


@dataclass(frozen=True, slots=True)
class ApprovalWait:
    """How long to wait for an approval, and whom to tell.

    on_pending: told (pending, seconds until the next try, seconds left) before each wait.
    approve_command: the command that approves a request ID, for the timeout's hint.
    """

    wait_s: float
    on_pending: PendingNotice
    approve_command: Callable[[str], str]
    clock: Clock = field(default_factory=SystemClock)


def until_issued(attempt: Callable[[], T], wait: ApprovalWait) -> T:
    """Repeat `attempt` (the same request each time) while it is pending approval, at most wait.wait_s seconds.

    Raises:
        StillPending: still pending when the bound runs out; the hint names the approve command.
        ESTError: any other refusal (403 once rejected), from `attempt`.
    """
    clock, wait_s = wait.clock, wait.wait_s
    deadline = clock.monotonic() + wait_s
    while True:
        try:
            return attempt()
        except PendingApproval as pending:
            left = deadline - clock.monotonic()
            if left <= 0:
                request = pending.request_id or "the request"
                raise StillPending(
                    f"{request} still pending approval at the CA after waiting {wait_s:g} s",
                    hint=f"an agent approves it with `{wait.approve_command(request)}`; then repeat this command"
                    " (it resends the same request) or give it longer with --wait SECONDS",
                ) from pending
            delay = min(float(pending.retry_after_s), left)
            wait.on_pending(pending, delay, left)
            clock.sleep(delay)
