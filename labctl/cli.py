"""labctl's command line: parse -> call one function -> render the result -> exit code.

Only this module imports click, prints, and picks exit codes. A LabctlError becomes one clear
message (plus its hint), no traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from labctl.bootstrap import host_supports_tls
from labctl.clients import verify_in_network
from labctl.endpoint import Endpoint
from labctl.errors import LabctlError, VerificationFailed
from labctl.events import StepEvent, StepStatus
from labctl.local import LocalLab
from labctl.orchestrator import Orchestrator
from labctl.runtime.podman import PodmanRuntime
from labctl.state import HierarchyState, default_state_dir
from labctl.topology import Lab, load_lab
from labctl.verify import CheckResult, verify_endpoint


class LabctlGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LabctlError as exc:  # click prints "Error: ...", exits 1, no traceback
            text = f"{exc}\nhint: {exc.hint}" if exc.hint else str(exc)
            raise click.ClickException(text) from exc


class Context:
    def __init__(self, config: Path | None, state_dir: Path | None) -> None:
        self._config = config
        self._state_dir = state_dir
        self._lab: Lab | None = None

    @property
    def lab(self) -> Lab:
        if self._lab is None:
            self._lab = load_lab(self._config)
        return self._lab

    @property
    def state_dir(self) -> Path:
        return self._state_dir or default_state_dir(self.lab)


@click.group(cls=LabctlGroup)
@click.option("--config", type=click.Path(path_type=Path), help="lab file (default: the shipped labctl/lab.toml)")
@click.option("--state-dir", type=click.Path(path_type=Path), help="host state (default: $XDG_STATE_HOME/labctl/<lab>)")
@click.option("-v", "--verbose", is_flag=True, help="log what happens underneath")
@click.pass_context
def main(ctx: click.Context, config: Path | None, state_dir: Path | None, verbose: bool) -> None:
    """Stand up a PKI lab: RSA, ECC and ML-DSA hierarchies, each with an Intermediate CA and an EST RA."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    ctx.obj = Context(config, state_dir)


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _stop_on_termination() -> None:
    """SIGTERM and SIGHUP stop the lab like Ctrl-C does, so no service process is left orphaned."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)


def _print_event(event: StepEvent) -> None:
    if event.status is StepStatus.STARTED:
        return
    mark = {"done": "ok", "skipped": "--", "failed": "FAIL"}[event.status.value]
    detail = f"  {event.detail}" if event.detail and event.status is StepStatus.FAILED else ""
    click.echo(f"  {mark:>4}  {event.step:<32} {event.elapsed_s:6.2f}s{detail}")


def _print_results(results: list[CheckResult], as_json: bool) -> None:
    for result in results:
        if as_json:
            click.echo(json.dumps(asdict(result)))
        else:
            mark = "PASS" if result.passed else "FAIL"
            reason = f"  {result.reason}" if result.reason else ""
            click.echo(f"  {mark}  {result.hierarchy:<5} {result.check:<32} {result.elapsed_s:6.2f}s{reason}")


def _verify(endpoints: list[Endpoint], as_json: bool, orchestrator: Orchestrator | None = None) -> None:
    """Check each hierarchy from the host, or from inside its network where the host's TLS cannot reach it."""
    results: list[CheckResult] = []
    for endpoint in endpoints:
        if host_supports_tls(endpoint.hierarchy.algorithm):
            results += verify_endpoint(endpoint)
        elif orchestrator is not None:
            results += verify_in_network(orchestrator, endpoint)
        else:
            raise LabctlError(
                f"{endpoint.hierarchy.name}: this host cannot do {endpoint.hierarchy.algorithm.label} TLS"
            )
    _print_results(results, as_json)
    failed = [r for r in results if not r.passed]
    if failed:
        raise VerificationFailed(
            f"{len(failed)} of {len(results)} checks failed: "
            + "; ".join(f"{r.hierarchy}/{r.check}: {r.reason}" for r in failed)
        )


@main.command("serve-local")
@click.option(
    "--hierarchy", "hierarchies", multiple=True, help="hierarchy to run (repeatable; default: all the host can)"
)
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
    runner = LocalLab(lab, obj.state_dir, hierarchies=chosen, on_event=_print_event)
    _stop_on_termination()
    click.echo(f"labctl: starting {', '.join(chosen)} on 127.0.0.1 (state: {obj.state_dir})")
    try:
        endpoints = runner.up(timeout=timeout)
        _verify(endpoints, as_json)
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


@contextmanager
def _orchestrator(obj: Context, *, as_json: bool = False) -> Iterator[Orchestrator]:
    """A podman runtime (starting the service when none answers) and the lab's orchestrator."""
    with PodmanRuntime() as runtime:
        yield Orchestrator(obj.lab, runtime, obj.state_dir, on_event=_json_event if as_json else _print_event)


def _json_event(event: StepEvent) -> None:
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


@main.command()
@click.option("--hierarchy", "hierarchies", multiple=True, help="hierarchy to bring up (repeatable; default: all)")
@click.option("--timeout", default=90.0, show_default=True, help="seconds each container may take to become healthy")
@click.option("--verify/--no-verify", default=False, help="run the smoke checks once the lab is up")
@click.option("--json", "as_json", is_flag=True, help="events and results as JSON lines")
@click.pass_obj
def up(obj: Context, hierarchies: tuple[str, ...], timeout: float, verify: bool, as_json: bool) -> None:
    """Build what is missing and bring the lab up, healthy (idempotent; repairs a broken lab)."""
    _stop_on_termination()
    started = time.perf_counter()
    with _orchestrator(obj, as_json=as_json) as orchestrator:
        endpoints = orchestrator.up(hierarchies, timeout=timeout)
        if not as_json:
            click.echo(f"labctl: lab {obj.lab.name} up in {time.perf_counter() - started:.1f}s")
        if verify:
            _verify(endpoints, as_json, orchestrator)


@main.command("verify")
@click.option("--hierarchy", "hierarchies", multiple=True, help="hierarchy to check (repeatable; default: all)")
@click.option("--json", "as_json", is_flag=True, help="results as JSON lines")
@click.pass_obj
def verify_command(obj: Context, hierarchies: tuple[str, ...], as_json: bool) -> None:
    """Smoke-test the running lab end to end, per hierarchy; exit 0 only when every check passed."""
    chosen = [obj.lab.hierarchy(name) for name in hierarchies] if hierarchies else list(obj.lab.hierarchies)
    with _orchestrator(obj, as_json=True) as orchestrator:
        _verify([orchestrator.endpoint(h) for h in chosen], as_json, orchestrator)


@main.command("verify-endpoint", hidden=True)
@click.option("--hierarchy", required=True)
@click.option("--ra-url", required=True)
@click.option("--trust", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--credentials", type=click.Path(path_type=Path, exists=True), required=True)
@click.pass_obj
def verify_endpoint_command(obj: Context, hierarchy: str, ra_url: str, trust: Path, credentials: Path) -> None:
    """The in-network half of `labctl verify`: check one RA, print JSON lines (run inside a lab container)."""
    user, _, password = credentials.read_text(encoding="utf-8").strip().partition(":")
    endpoint = Endpoint(obj.lab.hierarchy(hierarchy), ra_url, "", trust, user, password)
    _print_results(verify_endpoint(endpoint), as_json=True)


@main.command()
@click.option("--volumes", is_flag=True, help="also remove the CA data volumes (issued certificates are lost)")
@click.pass_obj
def down(obj: Context, volumes: bool) -> None:
    """Remove the lab's containers and networks (only what carries this lab's labels)."""
    started = time.perf_counter()
    with _orchestrator(obj) as orchestrator:
        report = orchestrator.down(volumes=volumes)
    click.echo(
        f"labctl: removed {len(report.containers)} containers, {len(report.networks)} networks,"
        f" {len(report.volumes)} volumes in {time.perf_counter() - started:.1f}s"
    )


@main.command()
@click.option("--json", "as_json", is_flag=True, help="one JSON object per service")
@click.pass_obj
def status(obj: Context, as_json: bool) -> None:
    """Each service: container state, health, address, port; each CA: state and certificate counts."""
    with _orchestrator(obj) as orchestrator:
        rows = orchestrator.status()
    for row in rows:
        if as_json:
            click.echo(json.dumps(asdict(row)))
            continue
        ca = f"  CA {row.ca_status} {dict(row.counts)}" if row.ca_status else ""
        click.echo(
            f"  {row.hierarchy:<5} {row.role:<3} {row.container:<28} {row.state:<9} {row.health:<10}"
            f" {row.address or '-':<13} 127.0.0.1:{row.port}{ca}"
        )


@main.command()
@click.argument("name")
@click.option("--follow", is_flag=True, help="keep printing new lines")
@click.option("--tail", default=100, show_default=True)
@click.pass_obj
def logs(obj: Context, name: str, follow: bool, tail: int) -> None:
    """Print a lab container's log (NAME: a container, or HIERARCHY/ca, HIERARCHY/ra)."""
    container = _container_name(obj.lab, name)
    with PodmanRuntime() as runtime:
        if not follow:
            click.echo(runtime.logs(container, tail=tail), nl=False)
            return
    # podman-py's log stream does not end when the container stops; the CLI's does.
    os.execvp("podman", ["podman", "logs", "--follow", "--tail", str(tail), container])


def _container_name(lab: Lab, name: str) -> str:
    hierarchy, _, role = name.partition("/")
    if role in ("ca", "ra"):
        h = lab.hierarchy(hierarchy)
        return h.ca.container if role == "ca" else h.ra.container
    names = {c for h in lab.hierarchies for c in (h.ca.container, h.ra.container)}
    if name not in names:
        raise LabctlError(f"{name!r} is not a container of lab {lab.name}", hint=f"one of: {', '.join(sorted(names))}")
    return name


@main.command()
@click.option("--pki-type", default="rsa", show_default=True, help="hierarchy name")
@click.pass_obj
def credentials(obj: Context, pki_type: str) -> None:
    """Print the EST realm user and password of a hierarchy as user:password (for curl -u)."""
    hierarchy = obj.lab.hierarchy(pki_type)
    user, password = HierarchyState.of(obj.state_dir, hierarchy).est_credentials()
    click.echo(f"{user}:{password}")


if __name__ == "__main__":
    sys.exit(main())
