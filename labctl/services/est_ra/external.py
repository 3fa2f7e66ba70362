"""Dogtag's ExternalProcessRequestAuthorizer: an executable decides each enrollment.

It gets one JSON object on stdin; exit status 0 allows, anything else refuses (403, with the first
line of its stdout as the reason, as Dogtag answers ForbiddenException(stdout)). It runs at most
`timeout` seconds: then it is killed with its process group and the request is refused, never a hang.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import signal
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from labctl.errors import ServiceError
from labctl.services.est_ra.config import ExternalAuthorizerConfig

log = logging.getLogger(__name__)

# Longest reason taken from the executable's stdout into the one-line answer.
MAX_REASON_CHARS = 200


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """What the executable is told: Dogtag's ExternalProcessRequestAuthorizer.Data."""

    operation: str  # "simpleenroll", "simplereenroll" or "serverkeygen"
    principal_name: str
    roles: frozenset[str]
    remote_addr: str
    label: str | None
    client_certificate: x509.Certificate | None
    csr: x509.CertificateSigningRequest
    to_be_renewed: x509.Certificate | None = None

    def to_json(self) -> bytes:
        """Dogtag's JSON, field for field.

        dogtagpki/pki base/est/src/main/java/org/dogtagpki/est/ExternalProcessRequestAuthorizer.java:
        Data (operation, authzData, csr, toBeRenewed only when renewing) and
        ESTRequestAuthorizationDataSerializer (remoteAddr, label only with one, principal {name, roles},
        clientCertChain only with a TLS client certificate); DER as single-line base64.
        """
        authz: dict[str, object] = {"remoteAddr": self.remote_addr}
        if self.label is not None:
            authz["label"] = self.label
        authz["principal"] = {"name": self.principal_name, "roles": sorted(self.roles)}
        if self.client_certificate is not None:
            # The chain the client presented; the TLS layer here hands over its leaf only.
            authz["clientCertChain"] = [_b64(self.client_certificate.public_bytes(serialization.Encoding.DER))]
        data: dict[str, object] = {
            "operation": self.operation,
            "authzData": authz,
            "csr": _b64(self.csr.public_bytes(serialization.Encoding.DER)),
        }
        if self.to_be_renewed is not None:
            data["toBeRenewed"] = _b64(self.to_be_renewed.public_bytes(serialization.Encoding.DER))
        return json.dumps(data).encode()


def _b64(der: bytes) -> str:
    return base64.b64encode(der).decode("ascii")


async def run_external_authorizer(config: ExternalAuthorizerConfig, request: AuthorizationRequest) -> None:
    """Run the executable on `request`; return when it allows.

    Raises:
        ServiceError: 403 when it refuses or cannot be started; 500 "request validation timed out"
            (Dogtag's PKIException) when it outlives its timeout.
    """
    name = config.executable.name
    try:
        process = await asyncio.create_subprocess_exec(
            str(config.executable),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            # Its own process group, so a timeout kills whatever it started too (a shell's `sleep`
            # would otherwise hold the pipes open).
            start_new_session=True,
        )
    except OSError as exc:
        log.error("request authorizer %s did not start: %s", config.executable, exc)
        raise ServiceError(403, f"request authorizer {name} could not be run: {exc.strerror or exc}") from exc
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(request.to_json()), timeout=config.timeout_s)
    except TimeoutError:
        _kill_group(process.pid)
        await process.wait()
        log.warning("request authorizer %s killed after %d s (%s)", name, config.timeout_s, request.operation)
        raise ServiceError(500, f"request validation timed out: {name} ran longer than {config.timeout_s} s") from None
    log.debug("request authorizer %s: exit %s, stderr %r", name, process.returncode, stderr[:MAX_REASON_CHARS])
    if process.returncode != 0:
        raise ServiceError(403, _reason(stdout, name, process.returncode))


def _reason(stdout: bytes, name: str, status: int | None) -> str:
    """The first non-empty line the executable printed, else which executable refused and how."""
    for line in stdout.decode("utf-8", "replace").splitlines():
        if line.strip():
            return line.strip()[:MAX_REASON_CHARS]
    return f"refused by request authorizer {name} (exit status {status})"


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it exited just now
        os.killpg(pid, signal.SIGKILL)
