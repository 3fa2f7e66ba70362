"""`labctl events`: the certificate events (issuances, revocations) of the lab's Intermediate CAs."""

from __future__ import annotations

import json
import time

import click

from labctl.cli import Context, main, pki_types_option, stop_on_termination
from labctl.errors import LabctlError
from labctl.event_feed import EventFeed, FeedEvent, admin_opener, hierarchies_up
from labctl.placement import labctl_command

FOLLOW_INTERVAL_S = 1.0


@main.command()
@pki_types_option("hierarchy whose events to show (default: every one that is up)")
@click.option("--follow", is_flag=True, help="keep printing new events until Ctrl-C")
@click.option(
    "--json", "as_json", is_flag=True, help="one JSON object per event (the webhooks' body, plus undelivered)"
)
@click.option("--interval", default=FOLLOW_INTERVAL_S, show_default=True, help="with --follow: seconds between polls")
@click.pass_obj
def events(obj: Context, hierarchies: tuple[str, ...], follow: bool, as_json: bool, interval: float) -> None:
    """Every issuance and revocation on the Intermediate CAs, oldest first; undelivered webhooks on stderr."""
    lab = obj.lab
    chosen = [lab.hierarchy(name) for name in hierarchies] if hierarchies else hierarchies_up(lab, obj.state_dir)
    with EventFeed(chosen, admin_opener(lab, obj.state_dir, config=obj.config)) as feed:
        if not follow:
            _print(feed.read_new(), as_json)
            _warn_overdue(feed)
            for exc in feed.errors.values():
                if exc.status_code is not None:
                    raise exc
                status = labctl_command("status", lab.name, obj.state_dir, obj.config)
                raise LabctlError(str(exc), hint=f"is lab {lab.name!r} up? `{status}` shows it") from exc
            return
        stop_on_termination()
        try:
            _follow(feed, as_json, interval)
        except KeyboardInterrupt:
            raise SystemExit(130) from None


def _follow(feed: EventFeed, as_json: bool, interval: float) -> None:
    """Poll until interrupted; a CA that cannot be reached (restarting) is reported once, then polled again."""
    said: dict[str, str] = {}
    reported: set[str] = set()
    while True:
        _print(feed.read_new(), as_json)
        for hierarchy, exc in feed.errors.items():
            if exc.status_code is not None:
                raise exc  # an answer, not an outage: polling again would get the same one
            if said.get(hierarchy) != str(exc):
                click.echo(f"labctl: {exc}; still following", err=True)
        said = {hierarchy: str(exc) for hierarchy, exc in feed.errors.items()}
        for receiver in feed.overdue:
            if receiver.url not in reported:
                click.echo(f"labctl: {receiver.line()}", err=True)
        reported = {receiver.url for receiver in feed.overdue}
        time.sleep(interval)


def _print(new: list[FeedEvent], as_json: bool) -> None:
    for event in new:
        click.echo(json.dumps(event.to_json()) if as_json else event.line())


def _warn_overdue(feed: EventFeed) -> None:
    for receiver in feed.overdue:
        click.echo(f"labctl: {receiver.line()}", err=True)
