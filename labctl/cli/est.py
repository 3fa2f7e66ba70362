"""The EST client commands (the lab docs' interface): est-cacerts, est-enroll, est-reenroll, est-serverkeygen,
est-fullcmc."""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import click
from cryptography import x509

from labctl.cli import Context, F, main, pki_type_option
from labctl.cli.output import print_bootstrap, print_enrolled
from labctl.clients import open_transport
from labctl.devices import (
    Transport,
    bootstrap_cacerts,
    enroll_device,
    fetch_cacerts,
    fullcmc_device,
    reenroll_device,
    serverkeygen_device,
)
from labctl.endpoint import Endpoint, ra_url_for
from labctl.files import write_atomic
from labctl.pending import DEFAULT_WAIT_S, ApprovalWait, PendingApproval
from labctl.pki.issue import certificates_pem
from labctl.placement import labctl_command
from labctl.state import DEVICES_DIR, HierarchyState


def _transport(obj: Context, pki_type: str) -> AbstractContextManager[tuple[Endpoint, Transport]]:
    """The hierarchy's endpoint, and a transport: the host's own, or a client container on its network."""
    return open_transport(obj.lab, obj.state_dir, pki_type, open_runner=obj.clients)


def _device_dir(obj: Context, pki_type: str, cn: str, out_dir: Path | None) -> Path:
    return out_dir or obj.state_dir / DEVICES_DIR / pki_type / cn


@main.command("est-cacerts")
@pki_type_option()
@click.option("--out", type=click.Path(path_type=Path), help="write the chain here instead of printing it")
@click.option(
    "--trust-on-first-use",
    is_flag=True,
    help="without a trust anchor: store the fetched chain as the anchor (check its root's fingerprint first)",
)
@click.pass_obj
def est_cacerts(obj: Context, pki_type: str, out: Path | None, trust_on_first_use: bool) -> None:
    """The hierarchy's CA chain from its EST RA (cacerts), as PEM; without a trust anchor, the RFC 7030 bootstrap."""
    hierarchy = obj.lab.hierarchy(pki_type)
    trust_file = HierarchyState.of(obj.state_dir, hierarchy).chain
    if trust_file.exists():
        with _transport(obj, pki_type) as (endpoint, transport):
            chain = fetch_cacerts(transport)
        _write_chain(chain, out)
        click.echo(f"trust anchor used: {endpoint.trust_file}", err=True)
        return
    fetched = bootstrap_cacerts(ra_url_for(obj.lab, hierarchy), trust_file, store=trust_on_first_use)
    _write_chain(fetched.chain, out)
    print_bootstrap(fetched, pki_type, trust_file)


def _write_chain(chain: list[x509.Certificate], out: Path | None) -> None:
    pem = certificates_pem(chain)
    if out is None:
        click.echo(pem.decode(), nl=False)
    else:
        write_atomic(out, pem)
        click.echo(f"wrote {len(chain)} certificates to {out}")


def _new_device_options(command: F) -> F:
    """--cn, --pki-type, --san, --out-dir: what est-enroll, est-serverkeygen and est-fullcmc make a device of."""
    for option in reversed(
        (
            click.option(
                "--cn", required=True, help="subject common name, e.g. device01.cert-lab.local (also put in the SAN)"
            ),
            pki_type_option(),
            click.option("--san", "sans", multiple=True, help="extra subjectAltName (DNS name or IP; repeatable)"),
            click.option("--out-dir", type=click.Path(path_type=Path), help="default: <state>/devices/<pki-type>/<cn>"),
        )
    ):
        command = option(command)
    return command


def _wait_option() -> Callable[[F], F]:
    return click.option(
        "--wait",
        "wait_s",
        type=click.IntRange(min=0),
        default=DEFAULT_WAIT_S,
        show_default=True,
        metavar="SECONDS",
        help="how long to wait for an agent's approval when the RA holds the request (202)",
    )


@main.command("est-enroll")
@_new_device_options
@_wait_option()
@click.pass_obj
def est_enroll(obj: Context, cn: str, pki_type: str, sans: tuple[str, ...], out_dir: Path | None, wait_s: int) -> None:
    """Generate a key, build the CSR, enroll through the RA (simpleenroll), and save key, certificate and chain.

    When the hierarchy needs an agent's approval, repeat the same request until approved, for up to --wait seconds.
    """
    with _transport(obj, pki_type) as (endpoint, transport):
        enrolled = enroll_device(
            endpoint,
            transport,
            common_name=cn,
            sans=sans,
            out_dir=_device_dir(obj, pki_type, cn, out_dir),
            wait=_approval_wait(obj, pki_type, wait_s),
        )
    print_enrolled(enrolled)


def _approval_wait(obj: Context, pki_type: str, wait_s: int) -> ApprovalWait:
    """Say each wait on stderr (stdout is the result); the timeout's hint is this lab's `labctl approve`."""

    def notice(pending: PendingApproval, delay_s: float, left_s: float) -> None:
        request = f" (request {pending.request_id})" if pending.request_id else ""
        click.echo(
            f"labctl: pending approval at the CA{request}, retrying in {math.ceil(delay_s)} s"
            f" (waiting up to {math.ceil(left_s)} s more)",
            err=True,
        )

    def approve_command(request_id: str) -> str:
        return labctl_command(f"approve {request_id} --pki-type {pki_type}", obj.lab.name, obj.state_dir, obj.config)

    return ApprovalWait(wait_s, notice, approve_command)


@main.command("est-fullcmc")
@_new_device_options
@click.pass_obj
def est_fullcmc(obj: Context, cn: str, pki_type: str, sans: tuple[str, ...], out_dir: Path | None) -> None:
    """As est-enroll, through fullcmc: the CSR in a CMC Full PKI Request signed with the new key (RFC 7030 4.3)."""
    with _transport(obj, pki_type) as (endpoint, transport):
        enrolled = fullcmc_device(
            endpoint, transport, common_name=cn, sans=sans, out_dir=_device_dir(obj, pki_type, cn, out_dir)
        )
    print_enrolled(enrolled)


@main.command("est-reenroll")
@click.option("--cn", required=True, help="the enrolled device's common name")
@pki_type_option()
@click.option("--out-dir", type=click.Path(path_type=Path), help="default: <state>/devices/<pki-type>/<cn>")
@_wait_option()
@click.pass_obj
def est_reenroll(obj: Context, cn: str, pki_type: str, out_dir: Path | None, wait_s: int) -> None:
    """Renew with the stored key and certificate (simplereenroll, TLS client authentication)."""
    with _transport(obj, pki_type) as (endpoint, transport):
        enrolled = reenroll_device(
            endpoint,
            transport,
            out_dir=_device_dir(obj, pki_type, cn, out_dir),
            wait=_approval_wait(obj, pki_type, wait_s),
        )
    print_enrolled(enrolled)


@main.command("est-serverkeygen")
@_new_device_options
@click.pass_obj
def est_serverkeygen(obj: Context, cn: str, pki_type: str, sans: tuple[str, ...], out_dir: Path | None) -> None:
    """Have the RA generate the key (serverkeygen, RFC 7030 section 4.4) and enroll it; save key, certificate and chain."""
    with _transport(obj, pki_type) as (endpoint, transport):
        enrolled = serverkeygen_device(
            endpoint, transport, common_name=cn, sans=sans, out_dir=_device_dir(obj, pki_type, cn, out_dir)
        )
    print_enrolled(enrolled)
