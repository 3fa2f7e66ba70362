"""The services' health checks: run by podman inside the container (labctl drives them: no systemd here),
and by labctl from the host through the published port (labctl.probe), one code for both.

    python -m labctl.services.health ca --port 8444          healthy when getStatus says running
    python -m labctl.services.health ra --port 8447 --trust F  healthy after a real cacerts round trip

Standard library only: a check runs often and must start fast.
"""

from __future__ import annotations

import argparse
import http.client
import json
import ssl
import sys
from typing import Literal

TIMEOUT_S = 4.0
# The name both services' TLS certificates carry whichever address reaches them (the container's
# loopback, or the address the host publishes the port on).
SERVER_NAME = "localhost"
CA_STATUS_PATH = "/ca/admin/ca/getStatus"
CACERTS_PATH = "/.well-known/est/cacerts"

Role = Literal["ca", "ra"]


class _TLSConnection(http.client.HTTPConnection):
    """HTTPS to `host`, with the certificate checked for `server_name`: the address and the name differ
    when the host asks through a published port (127.0.0.1 or the lab's bind address)."""

    def __init__(self, host: str, port: int, *, tls: ssl.SSLContext, server_name: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._tls = tls
        self._server_name = server_name

    def connect(self) -> None:
        super().connect()
        self.sock = self._tls.wrap_socket(self.sock, server_hostname=self._server_name)


def _get(
    host: str, port: int, path: str, *, tls: ssl.SSLContext, server_name: str, timeout_s: float
) -> tuple[int, str, bytes]:
    """GET `path`; (status, Content-Type, body). `timeout_s` bounds each blocking step (connect, handshake, read)."""
    connection = _TLSConnection(host, port, tls=tls, server_name=server_name, timeout=timeout_s)
    try:
        connection.request("GET", path, headers={"Host": f"{server_name}:{port}"})
        response = connection.getresponse()
        return response.status, response.headers.get("Content-Type", ""), response.read()
    finally:
        connection.close()


def check_ca(host: str, port: int, *, server_name: str = SERVER_NAME, timeout_s: float = TIMEOUT_S) -> tuple[bool, str]:
    # Status only: before install the CA's certificate is self-signed, so nothing is verified here. A host
    # without ML-DSA TLS gets the pqc CA's RSA compatibility certificate (its signature, unverified, is no matter).
    tls = ssl.create_default_context()
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE
    status_code, _, body = _get(host, port, CA_STATUS_PATH, tls=tls, server_name=server_name, timeout_s=timeout_s)
    if status_code != 200:
        return False, f"getStatus answered {status_code}"
    answer = json.loads(body)
    response = answer.get("Response") if isinstance(answer, dict) else None
    status = response.get("Status", "?") if isinstance(response, dict) else "?"
    return status == "running", f"CA status {status}"


def check_ra(
    host: str, port: int, trust: str, *, server_name: str = SERVER_NAME, timeout_s: float = TIMEOUT_S
) -> tuple[bool, str]:
    """A real cacerts through the RA to its CA, over TLS verified against the hierarchy's chain (`trust`)."""
    tls = ssl.create_default_context(cafile=trust)
    status_code, content_type, body = _get(
        host, port, CACERTS_PATH, tls=tls, server_name=server_name, timeout_s=timeout_s
    )
    if status_code != 200:
        return False, f"cacerts answered {status_code}"
    return content_type == "application/pkcs7-mime" and len(body) > 0, f"cacerts {len(body)} bytes"


def check(
    role: Role,
    host: str,
    port: int,
    *,
    trust: str | None = None,
    server_name: str = SERVER_NAME,
    timeout_s: float = TIMEOUT_S,
) -> tuple[bool, str]:
    """Run the role's check (the RA's needs `trust`); whatever keeps it from a healthy answer (refused, timeout,
    TLS, a bad answer) is unhealthy, and the detail says what was seen."""
    try:
        if role == "ca":
            return check_ca(host, port, server_name=server_name, timeout_s=timeout_s)
        if trust is None:
            return False, "the RA's check needs the hierarchy's chain (--trust)"
        return check_ra(host, port, trust, server_name=server_name, timeout_s=timeout_s)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return False, f"{type(exc).__name__}: {exc}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labctl-health")
    parser.add_argument("role", choices=["ca", "ra"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--trust", default="/etc/labctl/est/ca-chain.pem")
    args = parser.parse_args(argv)
    # Inside the container: the service on its own loopback, by the name its certificate carries.
    healthy, detail = check(args.role, SERVER_NAME, args.port, trust=args.trust)
    print(detail)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
