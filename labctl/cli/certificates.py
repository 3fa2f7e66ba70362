"""A hierarchy's credentials, and certificates on its Intermediate CA: revoke, unrevoke, cert-status."""

from __future__ import annotations

import click

from labctl import revocation
from labctl.cli import Context, main, pki_type_option
from labctl.cli.output import print_certificate
from labctl.state import HierarchyState


@main.command()
@pki_type_option()
@click.pass_obj
def credentials(obj: Context, pki_type: str) -> None:
    """Print the EST realm user and password of a hierarchy as user:password (for curl -u)."""
    hierarchy = obj.lab.hierarchy(pki_type)
    user, password = HierarchyState.of(obj.state_dir, hierarchy).est_credentials()
    click.echo(f"{user}:{password}")


@main.command()
@click.argument("serial")
@pki_type_option("hierarchy whose Intermediate CA issued it")
@click.option("--reason", required=True, help=f"one of: {', '.join(revocation.REASONS)} (or Dogtag's Key_Compromise)")
@click.option("--json", "as_json", is_flag=True, help="the certificate's status as one JSON object")
@click.pass_obj
def revoke(obj: Context, serial: str, pki_type: str, reason: str, as_json: bool) -> None:
    """Revoke certificate SERIAL (0x-prefixed hex) on the hierarchy's Intermediate CA."""
    with obj.locked("revoke"):
        info = revocation.revoke(obj.lab, obj.state_dir, pki_type, serial, reason)
    print_certificate(pki_type, info, as_json)


@main.command()
@click.argument("serial")
@pki_type_option("hierarchy whose Intermediate CA issued it")
@click.option("--json", "as_json", is_flag=True, help="the certificate's status as one JSON object")
@click.pass_obj
def unrevoke(obj: Context, serial: str, pki_type: str, as_json: bool) -> None:
    """Release certificate SERIAL from hold (revoked with certificate_hold): valid again, off the CRL."""
    with obj.locked("unrevoke"):
        info = revocation.unrevoke(obj.lab, obj.state_dir, pki_type, serial)
    print_certificate(pki_type, info, as_json)


@main.command("cert-status")
@click.argument("serial")
@pki_type_option("hierarchy whose Intermediate CA issued it")
@click.option("--json", "as_json", is_flag=True, help="the certificate's status as one JSON object")
@click.pass_obj
def cert_status(obj: Context, serial: str, pki_type: str, as_json: bool) -> None:
    """Show certificate SERIAL's status (VALID, REVOKED, ...) on the hierarchy's Intermediate CA."""
    print_certificate(pki_type, revocation.certificate_status(obj.lab, obj.state_dir, pki_type, serial), as_json)
