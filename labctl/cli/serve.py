"""`labctl serve-local`: the lab's services as processes on 127.0.0.1, no containers."""

from __future__ import annotations

import click

from labctl.cli import Context, main, pki_types_option, stop_on_termination
from labctl.cli.output import print_event, report
from labctl.clients import host_admin
from labctl.local import LocalLab
from labctl.tls import host_supports_tls
from labctl.verify import verify_endpoint


@main.command("serve-local")
@pki_types_option("hierarchy to run (default: all the host can)")
@click.option("--timeout", default=60.0, show_default=True, help="seconds each service may take to become ready")
@click.option("--exit-after-verify", is_flag=True, help="stop once the checks ran (for scripts and CI)")
@click.option("--json", "as_json", is_flag=True, help="check results as JSON lines")
@click.pass_obj
def serve_local(
    obj: Context, hierarchies: tuple[str, ...], timeout: float, exit_after_verify: bool, as_json: bool
) -> None:
    """Run each hierarchy's CA and EST RA as processes on 127.0.0.1, verify them, and serve until Ctrl-C."""
    lab = obj.lab
    chosen = hierarchies or tuple(h.name for h in lab.hierarchies if host_supports_tls(h.algorithm))
    runner = LocalLab(lab, obj.state_dir, hierarchies=chosen, on_event=print_event)
    stop_on_termination()
    click.echo(f"labctl: starting {', '.join(chosen)} on 127.0.0.1 (state: {obj.state_dir})")
    with obj.locked("serve-local"):
        _serve_local(obj, runner, timeout=timeout, as_json=as_json, exit_after_verify=exit_after_verify)


def _serve_local(obj: Context, runner: LocalLab, *, timeout: float, as_json: bool, exit_after_verify: bool) -> None:
    """Start, verify and (unless `exit_after_verify`) serve until Ctrl-C; the processes stop on the way out."""
    try:
        endpoints = runner.up(timeout=timeout)
        results = [r for e in endpoints for r in verify_endpoint(e, admin=host_admin(obj.state_dir, e))]
        report(results, as_json, None)
        for endpoint in endpoints:
            h = endpoint.hierarchy
            click.echo(f"  {h.name}: EST {endpoint.ra_url}/.well-known/est/  CA {endpoint.ca_url}/ca/v2/")
            click.echo(f"        trust: {endpoint.trust_file}  credentials: labctl credentials --pki-type {h.name}")
        if exit_after_verify:
            return
        click.echo("labctl: serving; Ctrl-C stops the lab")
        try:
            runner.wait()
        except KeyboardInterrupt:
            click.echo("labctl: stopping")
    finally:
        runner.stop()
