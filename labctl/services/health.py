"""Container health checks, run by podman inside the container (labctl drives them: no systemd here).

    python -m labctl.services.health ca --port 8444          healthy when getStatus says running
    python -m labctl.services.health ra --port 8447 --trust F  healthy after a real cacerts round trip

Standard library only: a check runs often and must start fast.
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import urllib.error
import urllib.request

TIMEOUT_S = 4.0


def check_ca(port: int) -> tuple[bool, str]:
    # Status only: before install the CA's certificate is self-signed, so nothing is verified here.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    url = f"https://localhost:{port}/ca/admin/ca/getStatus"
    with urllib.request.urlopen(url, context=context, timeout=TIMEOUT_S) as response:
        status = json.load(response).get("Response", {}).get("Status", "?")
    return status == "running", f"CA status {status}"


def check_ra(port: int, trust: str) -> tuple[bool, str]:
    """A real cacerts through the RA to its CA, over TLS verified against the hierarchy's chain."""
    context = ssl.create_default_context(cafile=trust)
    url = f"https://localhost:{port}/.well-known/est/cacerts"
    with urllib.request.urlopen(url, context=context, timeout=TIMEOUT_S) as response:
        body = response.read()
        content_type = response.headers.get("Content-Type", "")
    return content_type == "application/pkcs7-mime" and len(body) > 0, f"cacerts {len(body)} bytes"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labctl-health")
    parser.add_argument("role", choices=["ca", "ra"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--trust", default="/etc/labctl/est/ca-chain.pem")
    args = parser.parse_args(argv)
    try:
        healthy, detail = check_ca(args.port) if args.role == "ca" else check_ra(args.port, args.trust)
    except (OSError, urllib.error.URLError, ValueError) as exc:
        healthy, detail = False, f"{type(exc).__name__}: {exc}"
    print(detail)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
