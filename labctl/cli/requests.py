"""A CA agent's commands for manual approval (RFC 7030 section 4.2.3): requests, approve, reject."""

from __future__ import annotations

import json

import click

from labctl import approvals
from labctl.cli import Context, main, pki_type_option, pki_types_option


@main.command("requests")
@pki_types_option("hierarchy whose Intermediate CA to list (default: all)")
@click.option("--pending", is_flag=True, help="only requests waiting for an agent")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per request, one per line")
@click.pass_obj
def requests(obj: Context, hierarchies: tuple[str, ...], pending: bool, as_json: bool) -> None:
    """List enrollment requests on the Intermediate CAs: ID, status, submitted time, profile, subject."""
    names = hierarchies or tuple(h.name for h in obj.lab.hierarchies)
    summaries = approvals.list_requests(obj.lab, obj.state_dir, names, pending_only=pending)
    if as_json:
        for summary in summaries:
            click.echo(json.dumps(summary.as_record()))
    else:
        click.echo("\n".join(approvals.summary_lines(summaries)))


def _decide(obj: Context, request_id: str, pki_type: str, action: str) -> None:
    with obj.locked(action):
        summary = approvals.decide(obj.lab, obj.state_dir, pki_type, request_id, action)
    click.echo(approvals.decision_line(summary, action))


@main.command()
@click.argument("request_id")
@pki_type_option("hierarchy whose Intermediate CA holds the request")
@click.pass_obj
def approve(obj: Context, request_id: str, pki_type: str) -> None:
    """Approve pending request REQUEST_ID (0x-prefixed hex, as `labctl requests` shows it): the CA issues."""
    _decide(obj, request_id, pki_type, "approve")


@main.command()
@click.argument("request_id")
@pki_type_option("hierarchy whose Intermediate CA holds the request")
@click.pass_obj
def reject(obj: Context, request_id: str, pki_type: str) -> None:
    """Reject pending request REQUEST_ID: the EST client's repeated request is answered 403."""
    _decide(obj, request_id, pki_type, "reject")
