"""Everything labctl expects and can explain is a LabctlError.

LabctlError
├── TopologyError        lab file invalid: bad CIDR, port clash, unknown algorithm, duplicate name
├── TemplateError        missing template or undefined variable
├── RuntimeBackendError  podman unreachable or refusing
│   └── NotReadyError    a container or service missed its readiness deadline
├── PKIError             bad CSR, chain does not verify, key or algorithm not allowed
├── ESTError             an RA answered non-2xx (status_code)
├── CAError              the Intermediate CA's REST API answered non-2xx (status_code)
├── ServiceError         raised by the services' handlers (status, retry_after)
└── VerificationFailed   one or more `labctl verify` checks failed

Messages name the object, what failed and what was seen; the hint says what to do.
"""

from __future__ import annotations


class LabctlError(Exception):
    """Base of every error labctl raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class TopologyError(LabctlError):
    """The lab file is invalid."""


class TemplateError(LabctlError):
    """A template is missing or uses an undefined variable."""


class RuntimeBackendError(LabctlError):
    """The container runtime is unreachable or refused a call."""


class NotReadyError(RuntimeBackendError):
    """A container or service missed its readiness deadline."""


class PKIError(LabctlError):
    """A CSR, certificate or key is malformed or not allowed."""


class _HTTPStatusError(LabctlError):
    def __init__(self, message: str, *, status_code: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status_code = status_code


class ESTError(_HTTPStatusError):
    """An EST RA answered with an error, or could not be reached (status_code None)."""


class CAError(_HTTPStatusError):
    """The CA's REST API answered with an error, or could not be reached (status_code None)."""


class ServiceError(LabctlError):
    """Raised by service handlers; the services turn it into `<status> <reason>`."""

    def __init__(
        self,
        status: int,
        reason: str,
        *,
        retry_after: int | None = None,
        authenticate: str | None = None,
        allow: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after
        self.authenticate = authenticate
        self.allow = allow  # the methods a 405 allows (RFC 9110 section 15.5.6 requires the header)


class VerificationFailed(LabctlError):
    """One or more verification checks failed."""
