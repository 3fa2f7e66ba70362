"""labctl's command line: parse -> call one function -> render the result -> exit code.

Only this module imports click, prints, and picks exit codes. A LabctlError becomes one clear
message (plus its hint), no traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from labctl import iot as iot_client
from labctl import loadgen, revocation
from labctl.ceiling import measure_ceiling
from labctl.clients import file_admin, host_admin, run_iot_device, transport_for, verify_lab
from labctl.devices import Enrolled, HostTransport, Transport, enroll_device, fetch_cacerts, reenroll_device
from labctl.dogtag import CertInfo
from labctl.endpoint import Endpoint, endpoint_for
from labctl.errors import ESTError, LabctlError, VerificationFailed
from labctl.est_client import ESTClient, est_ssl_context
from labctl.events import StepEvent, StepStatus
from labctl.files import write_atomic, write_secret
from labctl.hosts import HOSTS_FILE, apply_block, has_block, hosts_lines, remove_block, update_hosts_file
from labctl.images import CONTAINERFILE, DEFAULT_BASE, IMAGE_REPOSITORY, ImageResult, ensure_image
from labctl.iot import IoTDevice
from labctl.local import LocalLab
from labctl.lock import lab_lock
from labctl.orchestrator import Orchestrator
from labctl.pki.issue import certificates_pem, load_csr
from labctl.pki.keys import KeyAlgorithm
from labctl.placement import Selection, forget_lab, select_lab, settle
from labctl.plan import build_plan
from labctl.render import render_ra_config
from labctl.runtime.base import ContainerRuntime
from labctl.runtime.podman import PodmanRuntime
from labctl.state import HierarchyState, read_credentials
from labctl.targets import TARGETS
from labctl.tls import host_supports_tls, needs_compat_tls
from labctl.topology import Lab, reserved_names
from labctl.verify import CheckResult, verify_endpoint, write_junit

# Commands that change the lab wait this long for another one to finish (so two commands run back to
# back, e.g. by CI, serialize instead of racing); read-only commands take no lock.
LOCK_WAIT_S = 60.0


class LabctlGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LabctlError as exc:  # click prints "Error: ...", exits 1, no traceback
            text = f"{exc}\nhint: {exc.hint}" if exc.hint else str(exc)
            raise click.ClickException(text) from exc


class Context:
    def __init__(
        self,
        config: Path | None,
        state_dir: Path | None,
        base_image: str = DEFAULT_BASE,
        lab_name: str | None = None,
        image_repository: str = IMAGE_REPOSITORY,
    ) -> None:
        self._config = config
        self._state_dir = state_dir
        self._lab_name = lab_name
        self._selection: Selection | None = None
        self.base_image = base_image
        self.image_repository = image_repository

    def build_image(self, runtime: ContainerRuntime, base: str, *, force: bool = False) -> ImageResult:
        return ensure_image(runtime, base=base, repository=self.image_repository, force=force)

    @property
    def selection(self) -> Selection:
        if self._selection is None:
            self._selection = select_lab(self._config, self._lab_name, self._state_dir)
        return self._selection

    @property
    def lab(self) -> Lab:
        return self.selection.lab

    @lab.setter
    def lab(self, lab: Lab) -> None:
        """The lab as `up` placed it (free subnets or ports)."""
        self._selection = dataclasses.replace(self.selection, lab=lab)

    @property
    def state_dir(self) -> Path:
        return self.selection.state_dir

    @contextmanager
    def locked(self, command: str) -> Iterator[None]:
        """Hold the lab's lock (see labctl.lock) while a command changes the lab."""
        with lab_lock(self.state_dir, wait_s=LOCK_WAIT_S, command=command):
            yield


@click.group(cls=LabctlGroup)
@click.option("--config", type=click.Path(path_type=Path), help="lab file (default: the shipped labctl/lab.toml)")
@click.option(
    "--lab",
    "lab_name",
    help="the lab's name (default: the lab file's, cert-lab): its own containers, networks, volumes and state",
)
@click.option("--state-dir", type=click.Path(path_type=Path), help="host state (default: $XDG_STATE_HOME/labctl/<lab>)")
@click.option(
    "--base-image",
    default=DEFAULT_BASE,
    show_default=True,
    help="FROM of the lab image; the default is bootstrapped with mmdebstrap when absent",
)
@click.option(
    "--image-repository",
    default=IMAGE_REPOSITORY,
    show_default=True,
    help="repository of the lab image (tagged by content hash); a build prunes older tags of this repository only",
)
@click.option("-v", "--verbose", is_flag=True, help="log what happens underneath")
@click.pass_context
def main(
    ctx: click.Context,
    config: Path | None,
    lab_name: str | None,
    state_dir: Path | None,
    base_image: str,
    image_repository: str,
    verbose: bool,
) -> None:
    """Stand up a PKI lab: RSA, ECC and ML-DSA hierarchies, each with an Intermediate CA and an EST RA."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    ctx.obj = Context(config, state_dir, base_image, lab_name, image_repository)


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


def _report(results: list[CheckResult], as_json: bool, junit: Path | None) -> None:
    """Print the results (and write JUnit XML); VerificationFailed naming each failed check."""
    _print_results(results, as_json)
    if junit is not None:
        write_junit(results, junit)
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
    with obj.locked("serve-local"):
        _serve_local(obj, runner, timeout=timeout, as_json=as_json, exit_after_verify=exit_after_verify)


def _serve_local(obj: Context, runner: LocalLab, *, timeout: float, as_json: bool, exit_after_verify: bool) -> None:
    """Start, verify and (unless `exit_after_verify`) serve until Ctrl-C; the processes stop on the way out."""
    try:
        endpoints = runner.up(timeout=timeout)
        results = [r for e in endpoints for r in verify_endpoint(e, admin=host_admin(obj.state_dir, e))]
        _report(results, as_json, None)
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
        yield Orchestrator(
            obj.lab,
            runtime,
            obj.state_dir,
            on_event=_json_event if as_json else _print_event,
            base_image=obj.base_image,
            build_image=obj.build_image,
        )


@main.command()
@click.option("--force", is_flag=True, help="rebuild even when the image is up to date")
@click.pass_obj
def build(obj: Context, force: bool) -> None:
    """Build the lab image (offline from the wheelhouse; the base bootstrapped with mmdebstrap when absent)."""
    started = time.perf_counter()
    with obj.locked("build"), PodmanRuntime() as runtime:
        result = obj.build_image(runtime, obj.base_image, force=force)
    state = "built" if result.built else "up to date"
    click.echo(
        f"labctl: {result.reference} {state} ({result.content_hash[:12]}) in {time.perf_counter() - started:.1f}s"
    )


def _placement_options(command: Callable[..., None]) -> Callable[..., None]:
    """`--subnets` and `--ports`: the lab file's, or free ones (recorded, so later commands keep them)."""
    for option in ("ports", "subnets"):
        command = click.option(
            f"--{option}",
            type=click.Choice(["lab", "auto"]),
            default="lab",
            show_default=True,
            help=f"the lab file's {option}, or free ones (kept by later commands on this lab)",
        )(command)
    return command


def _place(obj: Context, runtime: ContainerRuntime, *, subnets: str, ports: str) -> Lab:
    """Move the lab to free subnets/ports when asked, and record where it is (see labctl.placement)."""
    obj.lab = settle(obj.lab, obj.state_dir, runtime, auto_subnets=subnets == "auto", auto_ports=ports == "auto")
    return obj.lab


@main.command()
@click.option(
    "--target",
    type=click.Choice(sorted(TARGETS)),
    help="render the whole lab for compose, Kubernetes or podman kube play instead",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="directory (default: rendered); with --target a file or directory (default: stdout; kube-play: a directory)",
)
@click.option("--image", help="with --target: the lab image (default: the one `up` uses, built when missing)")
@_placement_options
@click.pass_obj
def render(obj: Context, target: str | None, out: Path | None, image: str | None, subnets: str, ports: str) -> None:
    """Write what `up` would use, starting nothing: each RA's configuration, the Containerfile, the plan.

    With --target, the whole lab as a compose file (podman-compose), Kubernetes manifests, or
    manifests per hierarchy and play.sh for `podman kube play` (kube-play, into the directory --out).
    With --subnets/--ports auto the lab is placed (and recorded) first, so `labctl --lab NAME up`
    later bootstraps the rendered lab where it runs.
    """
    if target is None:
        if image is not None or subnets != "lab" or ports != "lab":
            raise click.UsageError("--image, --subnets and --ports need --target")
        _render_ra_config(obj, out or Path("rendered"))
        return
    chosen = TARGETS[target]
    if chosen.file_name is None and out is None:
        raise click.UsageError(f"--target {target} writes several files: give --out DIRECTORY")
    if subnets == "auto" or ports == "auto":
        with obj.locked("render"), PodmanRuntime() as runtime:
            _place(obj, runtime, subnets=subnets, ports=ports)
    files = chosen.render(obj.lab, image or _lab_image(obj))
    if out is None:
        click.echo("".join(files.values()), nl=False)
        return
    if chosen.file_name is None:
        paths = {out / name: text for name, text in files.items()}
        _mkdir(out)
    else:
        paths = {(out / chosen.file_name if out.is_dir() else out): files[chosen.file_name]}
    for path, text in paths.items():
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(f"cannot write {path}: {exc.strerror}") from exc
    where = out if chosen.file_name is None else next(iter(paths))
    click.echo(f"labctl: rendered lab {obj.lab.name} for {target} into {where}")


def _mkdir(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.ClickException(f"cannot create {directory}: {exc.strerror}") from exc


def _lab_image(obj: Context) -> str:
    """The image `up` would use: its tag is a content hash, which needs podman (the base image's labels)."""
    with obj.locked("build"), PodmanRuntime() as runtime:
        return obj.build_image(runtime, obj.base_image).reference


def _render_ra_config(obj: Context, out: Path) -> None:
    lab = obj.lab
    for hierarchy in lab.hierarchies:
        username, password = HierarchyState.of(obj.state_dir, hierarchy).est_credentials()
        files = render_ra_config(
            hierarchy,
            ca_url=f"https://{hierarchy.ca.container}:{hierarchy.ca.port}",
            username=username,
            password=password,
            compat_tls=needs_compat_tls(hierarchy),
            reserved=reserved_names(lab, hierarchy),
        )
        for name, text in files.items():
            write_secret(out / hierarchy.name / "ra" / name, text.encode())  # realm.conf holds the EST password
    write_atomic(out / "Containerfile", CONTAINERFILE.read_bytes())
    write_atomic(out / "plan.txt", ("\n".join(build_plan(list(lab.hierarchies)).order()) + "\n").encode())
    click.echo(f"labctl: rendered {len(lab.hierarchies)} RA configurations, the Containerfile and the plan into {out}")


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
@_placement_options
@click.pass_obj
def up(
    obj: Context, hierarchies: tuple[str, ...], timeout: float, verify: bool, as_json: bool, subnets: str, ports: str
) -> None:
    """Build what is missing and bring the lab up, healthy (idempotent; repairs a broken lab)."""
    _stop_on_termination()
    started = time.perf_counter()
    with obj.locked("up"), _orchestrator(obj, as_json=as_json) as orchestrator:
        orchestrator.lab = _place(obj, orchestrator.runtime, subnets=subnets, ports=ports)
        endpoints = orchestrator.up(hierarchies, timeout=timeout)
        if not as_json:
            click.echo(f"labctl: lab {obj.lab.name} up in {time.perf_counter() - started:.1f}s")
        if verify:
            _report(verify_lab(orchestrator, endpoints), as_json, None)


@main.command("verify")
@click.option("--hierarchy", "hierarchies", multiple=True, help="hierarchy to check (repeatable; default: all)")
@click.option("--json", "as_json", is_flag=True, help="results as JSON lines")
@click.option("--junit", type=click.Path(path_type=Path), help="also write the results as JUnit XML to this file")
@click.pass_obj
def verify_command(obj: Context, hierarchies: tuple[str, ...], as_json: bool, junit: Path | None) -> None:
    """Smoke-test the running lab end to end, per hierarchy; exit 0 only when every check passed."""
    chosen = [obj.lab.hierarchy(name) for name in hierarchies] if hierarchies else list(obj.lab.hierarchies)
    with _orchestrator(obj, as_json=True) as orchestrator:
        _report(verify_lab(orchestrator, [orchestrator.endpoint(h) for h in chosen]), as_json, junit)


@main.command("verify-endpoint", hidden=True)
@click.option("--hierarchy", required=True)
@click.option("--ra-url", required=True)
@click.option("--ca-url", required=True)
@click.option("--trust", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--credentials", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--admin-cert", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--admin-key", type=click.Path(path_type=Path, exists=True), required=True)
@click.pass_obj
def verify_endpoint_command(
    obj: Context,
    hierarchy: str,
    ra_url: str,
    ca_url: str,
    trust: Path,
    credentials: Path,
    admin_cert: Path,
    admin_key: Path,
) -> None:
    """The in-network half of `labctl verify`: check one RA, print JSON lines (run inside a lab container)."""
    user, password = read_credentials(credentials)
    endpoint = Endpoint(obj.lab.hierarchy(hierarchy), ra_url, ca_url, trust, user, password)
    results = verify_endpoint(endpoint, admin=file_admin(ca_url, trust, admin_cert, admin_key))
    _print_results(results, as_json=True)


@main.command()
@click.option("--volumes", is_flag=True, help="also remove the CA data volumes (issued certificates are lost)")
@click.pass_obj
def down(obj: Context, volumes: bool) -> None:
    """Remove the lab's containers and networks (only what carries this lab's labels)."""
    started = time.perf_counter()
    with obj.locked("down"):
        with _orchestrator(obj) as orchestrator:
            report = orchestrator.down(volumes=volumes)
        click.echo(
            f"labctl: removed {len(report.containers)} containers, {len(report.networks)} networks,"
            f" {len(report.volumes)} volumes in {time.perf_counter() - started:.1f}s"
        )
        _remove_hosts_block(obj.lab)
        if volumes:
            forget_lab(obj.state_dir)  # nothing of the lab is left: the next up starts from the lab file


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
            f"  {row.hierarchy:<5} {row.role:<3} {row.container:<32} {row.state:<9} {row.health:<10}"
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


def _print_certificate(hierarchy: str, info: CertInfo, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(revocation.status_record(hierarchy, info)))
    else:
        click.echo("\n".join(revocation.status_lines(info)))


@main.command()
@click.argument("serial")
@click.option("--pki-type", default="rsa", show_default=True, help="hierarchy whose Intermediate CA issued it")
@click.option("--reason", required=True, help=f"one of: {', '.join(revocation.REASONS)} (or Dogtag's Key_Compromise)")
@click.option("--json", "as_json", is_flag=True, help="the certificate's status as one JSON object")
@click.pass_obj
def revoke(obj: Context, serial: str, pki_type: str, reason: str, as_json: bool) -> None:
    """Revoke certificate SERIAL (0x-prefixed hex) on the hierarchy's Intermediate CA."""
    with obj.locked("revoke"):
        info = revocation.revoke(obj.lab, obj.state_dir, pki_type, serial, reason)
    _print_certificate(pki_type, info, as_json)


@main.command("cert-status")
@click.argument("serial")
@click.option("--pki-type", default="rsa", show_default=True, help="hierarchy whose Intermediate CA issued it")
@click.option("--json", "as_json", is_flag=True, help="the certificate's status as one JSON object")
@click.pass_obj
def cert_status(obj: Context, serial: str, pki_type: str, as_json: bool) -> None:
    """Show certificate SERIAL's status (VALID, REVOKED, ...) on the hierarchy's Intermediate CA."""
    _print_certificate(pki_type, revocation.certificate_status(obj.lab, obj.state_dir, pki_type, serial), as_json)


@main.command("hosts")
@click.option("--apply", "apply_", is_flag=True, help="write the lines into the hosts file (a marked block)")
@click.option("--remove", is_flag=True, help="remove the lab's block from the hosts file")
@click.option("--file", "hosts_file", type=click.Path(path_type=Path), default=HOSTS_FILE, show_default=True)
@click.pass_obj
def hosts_command(obj: Context, apply_: bool, remove: bool, hosts_file: Path) -> None:
    """Print the hosts lines that make the lab's names (RA hostnames, CA containers) resolve on this machine."""
    lab = obj.lab
    if apply_ and remove:
        raise click.UsageError("--apply and --remove exclude each other")
    lines = hosts_lines(lab)
    if apply_:
        changed = update_hosts_file(hosts_file, lambda text: apply_block(text, lines, name=lab.name))
        click.echo(f"labctl: {hosts_file} {'updated' if changed else 'already up to date'} ({len(lines)} names)")
    elif remove:
        changed = update_hosts_file(hosts_file, lambda text: remove_block(text, name=lab.name))
        click.echo(f"labctl: {hosts_file} {'block removed' if changed else 'had no labctl block'}")
    else:
        click.echo("\n".join(lines))


def _remove_hosts_block(lab: Lab, hosts_file: Path = HOSTS_FILE) -> None:
    """`down` takes the lab's names out of the hosts file; a failure there is only a warning."""
    try:
        if hosts_file.exists() and has_block(hosts_file.read_text(encoding="utf-8"), name=lab.name):
            update_hosts_file(hosts_file, lambda text: remove_block(text, name=lab.name))
            click.echo(f"labctl: removed the {lab.name} names from {hosts_file}")
    except (LabctlError, OSError, UnicodeDecodeError) as exc:
        click.echo(f"labctl: warning: could not remove the {lab.name} names from {hosts_file}: {exc}", err=True)


# --- EST client commands (the lab docs' interface) -----------------------------------------------


@contextmanager
def _transport(obj: Context, pki_type: str) -> Iterator[tuple[Endpoint, Transport]]:
    """The hierarchy's endpoint, and a transport: the host's own, or a client container on its network."""
    hierarchy = obj.lab.hierarchy(pki_type)
    endpoint = endpoint_for(obj.lab, obj.state_dir, hierarchy)
    if not endpoint.trust_file.exists():
        raise LabctlError(f"the {pki_type} hierarchy has no trust anchor yet ({endpoint.trust_file})", hint="labctl up")
    if host_supports_tls(hierarchy.algorithm):
        yield endpoint, HostTransport(endpoint)
        return
    with _orchestrator(obj) as orchestrator:
        yield endpoint, transport_for(orchestrator, endpoint)


def _device_dir(obj: Context, pki_type: str, cn: str, out_dir: Path | None) -> Path:
    return out_dir or obj.state_dir / "devices" / pki_type / cn


def _print_enrolled(enrolled: Enrolled) -> None:
    certificate = enrolled.certificate
    click.echo(f"subject: {certificate.subject.rfc4514_string()}")
    click.echo(f"issuer:  {certificate.issuer.rfc4514_string()}")
    click.echo(f"serial:  {enrolled.serial}")
    click.echo(f"expires: {certificate.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC")
    click.echo(f"files:   {enrolled.files.key} (0600), {enrolled.files.certificate}, {enrolled.files.chain}")
    click.echo(f"trusted: {enrolled.trust_anchor}")


@main.command("est-cacerts")
@click.option("--pki-type", default="rsa", show_default=True, help="hierarchy: rsa, ecc or pqc")
@click.option("--out", type=click.Path(path_type=Path), help="write the chain here instead of printing it")
@click.pass_obj
def est_cacerts(obj: Context, pki_type: str, out: Path | None) -> None:
    """The hierarchy's CA chain from its EST RA (cacerts), as PEM."""
    with _transport(obj, pki_type) as (endpoint, transport):
        chain = fetch_cacerts(transport)
    pem = certificates_pem(chain)
    if out is None:
        click.echo(pem.decode(), nl=False)
    else:
        write_atomic(out, pem)
        click.echo(f"wrote {len(chain)} certificates to {out}")
    click.echo(f"trust anchor used: {endpoint.trust_file}", err=True)


@main.command("est-enroll")
@click.option("--cn", required=True, help="subject common name, e.g. device01.cert-lab.local (also put in the SAN)")
@click.option("--pki-type", default="rsa", show_default=True, help="hierarchy: rsa, ecc or pqc")
@click.option("--san", "sans", multiple=True, help="extra subjectAltName (DNS name or IP; repeatable)")
@click.option("--out-dir", type=click.Path(path_type=Path), help="default: <state>/devices/<pki-type>/<cn>")
@click.pass_obj
def est_enroll(obj: Context, cn: str, pki_type: str, sans: tuple[str, ...], out_dir: Path | None) -> None:
    """Generate a key, build the CSR, enroll through the RA (simpleenroll), and save key, certificate and chain."""
    with _transport(obj, pki_type) as (endpoint, transport):
        enrolled = enroll_device(
            endpoint, transport, common_name=cn, sans=sans, out_dir=_device_dir(obj, pki_type, cn, out_dir)
        )
    _print_enrolled(enrolled)


@main.command("est-reenroll")
@click.option("--cn", required=True, help="the enrolled device's common name")
@click.option("--pki-type", default="rsa", show_default=True, help="hierarchy: rsa, ecc or pqc")
@click.option("--out-dir", type=click.Path(path_type=Path), help="default: <state>/devices/<pki-type>/<cn>")
@click.pass_obj
def est_reenroll(obj: Context, cn: str, pki_type: str, out_dir: Path | None) -> None:
    """Renew with the stored key and certificate (simplereenroll, TLS client authentication)."""
    with _transport(obj, pki_type) as (endpoint, transport):
        enrolled = reenroll_device(endpoint, transport, out_dir=_device_dir(obj, pki_type, cn, out_dir))
    _print_enrolled(enrolled)


@main.command("est-call", hidden=True)
@click.argument("operation", type=click.Choice(["cacerts", "simpleenroll", "simplereenroll"]))
@click.option("--ra-url", required=True)
@click.option("--trust", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--credentials", type=click.Path(path_type=Path, exists=True))
@click.option("--csr", type=click.Path(path_type=Path, exists=True))
@click.option("--cert", type=click.Path(path_type=Path, exists=True))
@click.option("--key", type=click.Path(path_type=Path, exists=True))
def est_call(
    operation: str,
    ra_url: str,
    trust: Path,
    credentials: Path | None,
    csr: Path | None,
    cert: Path | None,
    key: Path | None,
) -> None:
    """The in-network half of the EST commands: one exchange; PEM out, or one JSON error line (in a lab container)."""
    auth = None
    if credentials is not None:
        auth = read_credentials(credentials)
    context = est_ssl_context(trust, cert=cert, key=key)
    request = load_csr(csr.read_bytes()) if csr is not None else None
    try:
        with ESTClient(ra_url, ssl_context=context, auth=auth) as client:
            if operation == "cacerts":
                certificates = client.cacerts()
            elif request is None:
                raise LabctlError(f"{operation} needs --csr")
            elif operation == "simpleenroll":
                certificates = [client.simpleenroll(request)]
            else:
                certificates = [client.simplereenroll(request)]
    except ESTError as exc:
        click.echo(json.dumps({"error": str(exc).splitlines()[0], "status": exc.status_code}))
        return
    # PEM, not one JSON line: podman's log splits long lines, and an ML-DSA certificate is over 10 KB.
    click.echo(certificates_pem(certificates).decode(), nl=False)


# --- the benchmarks' in-network load client (python -m benchmarks runs these in a lab container) -----

_ALGORITHMS = click.Choice([algorithm.value for algorithm in KeyAlgorithm])


@main.command("bench-enroll", hidden=True)
@click.option("--algorithm", type=_ALGORITHMS, required=True, help="the hierarchy's key algorithm (for the CSRs)")
@click.option("--label", required=True, help="name of the results (the hierarchy)")
@click.option("--ra-url", required=True)
@click.option("--trust", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--credentials", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--duration", type=float, default=5.0, show_default=True, help="seconds per load run")
@click.option("--concurrency", "levels", type=click.IntRange(1, 1024), multiple=True, help="keep-alive levels")
@click.option("--new-connection", "new_levels", type=click.IntRange(1, 1024), multiple=True, help="new-TLS levels")
@click.option("--keepalive-only", is_flag=True, help="no run with a new TLS connection per enrollment")
def bench_enroll(
    algorithm: str,
    label: str,
    ra_url: str,
    trust: Path,
    credentials: Path,
    duration: float,
    levels: tuple[int, ...],
    new_levels: tuple[int, ...],
    keepalive_only: bool,
) -> None:
    """simpleenroll load on one RA (keep-alive at c=1/8/32, new TLS connection at c=8 unless told): JSON lines."""
    url = urlsplit(ra_url)
    if url.hostname is None:
        raise LabctlError(f"--ra-url {ra_url} names no host")
    click.echo(loadgen.record_line(loadgen.RecordKind.ENVIRONMENT, loadgen.current_environment()))
    rows = asyncio.run(
        loadgen.measure_enrollment(
            label=label,
            algorithm=KeyAlgorithm(algorithm),
            host=url.hostname,
            port=url.port or 443,
            context=est_ssl_context(trust),
            auth=read_credentials(credentials),
            duration_s=duration,
            server_hostname=url.hostname,
            concurrency=levels or loadgen.CONCURRENCY,
            new_connection=() if keepalive_only else new_levels or loadgen.NEW_CONNECTION_CONCURRENCY,
        )
    )
    for row in rows:
        click.echo(loadgen.record_line(loadgen.RecordKind.ENROLLMENT, row))


@main.command("bench-ceiling", hidden=True)
@click.option("--algorithm", "algorithms", type=_ALGORITHMS, multiple=True, help="key algorithm (repeatable)")
@click.option("--duration", type=float, default=5.0, show_default=True, help="seconds per load run")
@click.option("--crypto-seconds", type=float, default=2.0, show_default=True, help="seconds per crypto rate")
def bench_ceiling(algorithms: tuple[str, ...], duration: float, crypto_seconds: float) -> None:
    """Ceilings where this runs: the load client's own (trivial server), and per algorithm certificates
    issued/s, signatures/s and TLS handshakes/s with a key of it: JSON lines."""
    click.echo(loadgen.record_line(loadgen.RecordKind.ENVIRONMENT, loadgen.current_environment()))
    for row in asyncio.run(loadgen.measure_client_ceiling(duration)):
        click.echo(loadgen.record_line(loadgen.RecordKind.CLIENT_CEILING, row))
    for name in algorithms:
        algorithm = KeyAlgorithm(name)
        ceiling = measure_ceiling(algorithm, seconds=crypto_seconds)
        click.echo(loadgen.record_line(loadgen.RecordKind.CRYPTO_CEILING, ceiling))
        handshakes = asyncio.run(loadgen.measure_handshake_ceiling(algorithm, duration))
        click.echo(loadgen.record_line(loadgen.RecordKind.HANDSHAKE_CEILING, handshakes))


# --- the IoT client ---------------------------------------------------------------------------------


@main.group()
def iot() -> None:
    """The lab's IoT device client: EST first, the CA's REST API when the RA is unavailable."""


@iot.command("enroll")
@click.option("--pki-type", default="rsa", show_default=True, help="hierarchy: rsa, ecc or pqc")
@click.option("--cn", default="iot-device-01.cert-lab.local", show_default=True, help="the device's name")
@click.option(
    "--bootstrap-credential/--no-bootstrap-credential",
    default=True,
    show_default=True,
    help="give the device the hierarchy's bootstrap credential (without it, a fallback request stays pending)",
)
@click.pass_obj
def iot_enroll(obj: Context, pki_type: str, cn: str, bootstrap_credential: bool) -> None:
    """Run the IoT client once in a container on the hierarchy's network; key and certificate stay on its volume."""
    hierarchy = obj.lab.hierarchy(pki_type)
    with obj.locked("iot enroll"), _orchestrator(obj) as orchestrator:
        code, lines, summary = run_iot_device(
            orchestrator,
            orchestrator.endpoint(hierarchy),
            common_name=cn,
            with_bootstrap_credential=bootstrap_credential,
        )
    for line in lines:
        if line.strip():
            click.echo(f"  {line}")
    if code != 0 or "error" in summary:
        raise LabctlError(str(summary.get("error", f"the IoT client exited {code}")))
    click.echo(f"labctl: {cn} enrolled via {summary['path']}: serial {summary['serial']}, {summary['subject']}")


@main.command("iot-device", hidden=True)
@click.option("--hierarchy", required=True)
@click.option("--cn", required=True)
@click.option("--ra-url", required=True)
@click.option("--ca-url", required=True)
@click.option("--trust", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--est-credentials", type=click.Path(path_type=Path, exists=True))
@click.option("--bootstrap-credential", type=click.Path(path_type=Path, exists=True))
@click.option("--data-dir", type=click.Path(path_type=Path), required=True)
@click.pass_obj
def iot_device(
    obj: Context,
    hierarchy: str,
    cn: str,
    ra_url: str,
    ca_url: str,
    trust: Path,
    est_credentials: Path | None,
    bootstrap_credential: Path | None,
    data_dir: Path,
) -> None:
    """The IoT client itself (run inside a lab container): log lines, then one JSON summary line."""
    auth = None
    if est_credentials is not None:
        auth = read_credentials(est_credentials)
    device = IoTDevice(
        common_name=cn,
        algorithm=obj.lab.hierarchy(hierarchy).algorithm,
        data_dir=data_dir,
        ra_url=ra_url,
        ca_url=ca_url,
        trust_file=trust,
        est_credentials=auth,
        bootstrap_credential=bootstrap_credential.read_text(encoding="utf-8").strip() if bootstrap_credential else None,
    )
    try:
        result = iot_client.enroll(device, log=click.echo)
    except LabctlError as exc:
        click.echo(json.dumps({"error": str(exc), "pending": isinstance(exc, iot_client.EnrollmentPending)}))
        sys.exit(1)
    certificate = result.certificate
    summary = {
        "path": result.path.value,
        "serial": f"0x{certificate.serial_number:x}",
        "subject": certificate.subject.rfc4514_string(),
    }
    click.echo(json.dumps(summary))


if __name__ == "__main__":
    sys.exit(main())
