"""How the commands show results: step events, check results, certificates, service status."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import click

from labctl.errors import VerificationFailed
from labctl.events import StepEvent, StepStatus
from labctl.orchestrator import ServiceStatus
from labctl.placement import labctl_command

if TYPE_CHECKING:
    # Types only: the smoke checks, the EST device client and OCSP load with the commands that use them,
    # not with every command that prints (`up` is mostly start-up when the lab is already up).
    from labctl.devices import Bootstrapped, Enrolled
    from labctl.dogtag import CertInfo
    from labctl.verify import CheckResult


def print_event(event: StepEvent) -> None:
    if event.status in (StepStatus.STARTED, StepStatus.CANCELLED):  # an interrupted run says so once, at its end
        return
    mark = {"done": "ok", "skipped": "--", "failed": "FAIL"}[event.status.value]
    detail = f"  {event.detail}" if event.detail and event.status is StepStatus.FAILED else ""
    click.echo(f"  {mark:>4}  {event.step:<32} {event.elapsed_s:6.2f}s{detail}")


def json_event(event: StepEvent) -> None:
    if event.status is not StepStatus.STARTED:
        click.echo(
            json.dumps(
                {
                    "step": event.step,
                    "status": event.status.value,
                    "elapsed_s": round(event.elapsed_s, 3),
                    "detail": event.detail,
                }
            )
        )


def print_results(results: Sequence[CheckResult], as_json: bool) -> None:
    for result in results:
        if as_json:
            click.echo(json.dumps(asdict(result)))
        else:
            mark = "PASS" if result.passed else "FAIL"
            reason = f"  {result.reason}" if result.reason else ""
            click.echo(f"  {mark}  {result.hierarchy:<5} {result.check:<32} {result.elapsed_s:6.2f}s{reason}")


def report(results: Sequence[CheckResult], as_json: bool, junit: Path | None) -> None:
    """Print the results (and write JUnit XML); VerificationFailed naming each failed check."""
    print_results(results, as_json)
    if junit is not None:
        from labctl.verify import write_junit

        write_junit(results, junit)
    failed = [r for r in results if not r.passed]
    if failed:
        raise VerificationFailed(
            f"{len(failed)} of {len(results)} checks failed: "
            + "; ".join(f"{r.hierarchy}/{r.check}: {r.reason}" for r in failed)
        )


def print_status(rows: Sequence[ServiceStatus], as_json: bool) -> None:
    for row in rows:
        if as_json:
            click.echo(json.dumps(asdict(row)))
            continue
        ca = f"  CA {row.ca_status}{_counts(row.counts)}" if row.ca_status else ""
        click.echo(
            f"  {row.hierarchy:<5} {row.role:<3} {row.container:<32} {row.state:<9} {row.health:<10}"
            f" {row.address or '-':<13} 127.0.0.1:{row.port}{ca}"
        )
        if row.root_sha256:
            click.echo(f"  {row.hierarchy:<5} root SHA-256 fingerprint {row.root_sha256}")


def _counts(counts: Mapping[str, int]) -> str:
    """`: 12 valid, 1 revoked` (statuses as Dogtag names them, in lower case); nothing when there are none."""
    if not counts:
        return ""
    return ": " + ", ".join(f"{number} {status.lower()}" for status, number in sorted(counts.items()))


def print_bootstrap(fetched: Bootstrapped, pki_type: str, trust_file: Path) -> None:
    """What a trust bootstrap fetched, on stderr (the chain itself went to stdout or --out)."""
    root = fetched.chain[-1].subject.rfc4514_string()
    if fetched.stored:
        click.echo(f"labctl: stored as the {pki_type} trust anchor: {trust_file}", err=True)
        click.echo(f"root {root}, SHA-256 fingerprint {fetched.root_fingerprint}", err=True)
        return
    click.echo(
        f"labctl: no {pki_type} trust anchor here yet ({trust_file}): this chain was fetched WITHOUT verifying"
        " the RA (RFC 7030 section 4.1.1 bootstrap).",
        err=True,
    )
    click.echo(f"root {root}, SHA-256 fingerprint {fetched.root_fingerprint}", err=True)
    click.echo(
        "Check the fingerprint out of band (`labctl status` on the lab's host shows it), then store the chain:"
        f" lab est-cacerts --pki-type {pki_type} --trust-on-first-use",
        err=True,
    )


def print_enrolled(enrolled: Enrolled) -> None:
    certificate = enrolled.certificate
    click.echo(f"subject: {certificate.subject.rfc4514_string()}")
    click.echo(f"issuer:  {certificate.issuer.rfc4514_string()}")
    click.echo(f"serial:  {enrolled.serial}")
    click.echo(f"expires: {certificate.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC")
    click.echo(f"files:   {enrolled.files.key} (0600), {enrolled.files.certificate}, {enrolled.files.chain}")
    click.echo(f"trusted: {enrolled.trust_anchor}")


def print_certificate(hierarchy: str, info: CertInfo, as_json: bool) -> None:
    # Here, not at the top: OCSP and pyasn1 load with the commands that print certificates.
    from labctl import revocation

    if as_json:
        click.echo(json.dumps(revocation.status_record(hierarchy, info)))
    else:
        click.echo("\n".join(revocation.status_lines(info)))


def print_interrupted(interrupt: KeyboardInterrupt, elapsed_s: float, lab_name: str, state_dir: Path) -> None:
    """One line for an `up` stopped by Ctrl-C or a signal: what was left, and how to finish or remove it."""
    by = str(interrupt) or "Ctrl-C"
    click.echo(
        f"labctl: up interrupted ({by}) after {elapsed_s:.1f}s: lab {lab_name} is partly up;"
        f" `{labctl_command('up', lab_name, state_dir)}` finishes it,"
        f" `{labctl_command('down', lab_name, state_dir)}` removes it",
        err=True,
    )
