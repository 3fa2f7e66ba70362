"""`labctl ocsp`: a certificate's OCSP status from the Intermediate CA that issued it."""

from __future__ import annotations

import json

import click

from labctl import revocation
from labctl.cli import Context, main, pki_type_option
from labctl.pki import ocsp
from labctl.pki.issue import format_serial, parse_serial

# Exit codes beside click's (1 an error, 2 a usage error): scripts branch on the status without parsing.
EXIT_CODES = {ocsp.Status.GOOD: 0, ocsp.Status.REVOKED: 3, ocsp.Status.UNKNOWN: 4}


@main.command("ocsp")
@click.argument("serial")
@pki_type_option("hierarchy whose Intermediate CA issued it")
@click.option("--json", "as_json", is_flag=True, help="the OCSP status as one JSON object")
@click.pass_obj
def ocsp_command(obj: Context, serial: str, pki_type: str, as_json: bool) -> None:
    """Ask the hierarchy's Intermediate CA (/ca/ocsp, RFC 6960) for certificate SERIAL's status.

    Prints `0x<serial>: good`, `0x<serial>: revoked (<reason>, <time>)` or `0x<serial>: unknown` (not
    issued by this CA). The answer must be signed by the CA and echo the request's nonce.

    Exit status: 0 good, 3 revoked, 4 unknown; 1 when no valid answer came (lab down, CA unreachable,
    bad signature), 2 for bad usage.
    """
    status = revocation.ocsp_status(obj.lab, obj.state_dir, pki_type, serial)
    number = parse_serial(serial)  # ocsp_status parsed it already: cannot fail here
    if as_json:
        click.echo(json.dumps(_record(pki_type, number, status)))
    else:
        click.echo(ocsp.describe(number, status))
    raise SystemExit(EXIT_CODES[status.status])


def _record(hierarchy: str, serial: int, status: ocsp.CertStatus) -> dict[str, str | None]:
    revoked_at = status.revoked_at
    return {
        "hierarchy": hierarchy,
        "serial": format_serial(serial),
        "status": status.status.value,
        "revocation_reason": status.reason.value if status.reason is not None else None,
        "revocation_time": f"{revoked_at:%Y-%m-%dT%H:%M:%SZ}" if revoked_at is not None else None,
    }
