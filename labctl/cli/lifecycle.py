"""The lab's lifecycle: build, render, up, verify, down, status, logs, and its names in the hosts file."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import click

from labctl.cli import Context, main, pki_types_option, stop_on_termination
from labctl.cli.output import json_event, print_event, print_interrupted, print_status, report
from labctl.endpoint import endpoint_for
from labctl.errors import LabctlError
from labctl.hosts import HOSTS_FILE, apply_lab_block, hosts_lines, remove_lab_block
from labctl.placement import forget_lab, labctl_command, settle
from labctl.render import write_lab_config
from labctl.runtime.base import ContainerRuntime
from labctl.runtime.podman import PodmanRuntime
from labctl.topology import Lab, container_named

# labctl.targets.TARGETS' names (tests/unit/test_cli_render.py keeps them the same): the targets (and YAML)
# load only when `render --target` runs, not with `up`.
TARGET_NAMES = ("compose", "kube", "kube-play")


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
    """The lab on free subnets/ports when asked, its place recorded (see labctl.placement)."""
    return settle(obj.lab, obj.state_dir, runtime, auto_subnets=subnets == "auto", auto_ports=ports == "auto")


@main.command()
@click.option(
    "--target",
    type=click.Choice(TARGET_NAMES),
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
        into = out or Path("rendered")
        write_lab_config(obj.lab, obj.state_dir, into)
        click.echo(
            f"labctl: rendered {len(obj.lab.hierarchies)} RA configurations, the Containerfile and the plan into {into}"
        )
        return
    from labctl.targets import TARGETS, write_rendered

    chosen = TARGETS[target]
    if chosen.file_name is None and out is None:
        raise click.UsageError(f"--target {target} writes several files: give --out DIRECTORY")
    lab = _placed(obj, subnets=subnets, ports=ports, command="render")
    files = chosen.render(lab, image or _lab_image(obj), labctl=labctl_command("", lab.name, obj.state_dir, obj.config))
    if out is None:
        click.echo("".join(files.values()), nl=False)
    else:
        click.echo(f"labctl: rendered lab {lab.name} for {target} into {write_rendered(chosen, files, out)}")


def _placed(obj: Context, *, subnets: str, ports: str, command: str) -> Lab:
    """The lab, placed on free subnets or ports first when asked (that needs podman and the lab's lock)."""
    if subnets == "lab" and ports == "lab":
        return obj.lab
    with obj.locked(command), PodmanRuntime() as runtime:
        return _place(obj, runtime, subnets=subnets, ports=ports)


def _lab_image(obj: Context) -> str:
    """The image `up` would use: its tag is a content hash, which needs podman (the base image's labels)."""
    with obj.locked("build"), PodmanRuntime() as runtime:
        return obj.build_image(runtime, obj.base_image).reference


@main.command()
@pki_types_option("hierarchy to bring up (default: all)")
@click.option("--timeout", default=90.0, show_default=True, help="seconds each container may take to become healthy")
@click.option("--verify/--no-verify", default=False, show_default=True, help="run the smoke checks once the lab is up")
@click.option("--json", "as_json", is_flag=True, help="events and results as JSON lines")
@_placement_options
@click.pass_obj
def up(
    obj: Context, hierarchies: tuple[str, ...], timeout: float, verify: bool, as_json: bool, subnets: str, ports: str
) -> None:
    """Build what is missing and bring the lab up, healthy (idempotent; repairs a broken lab)."""
    stop_on_termination()
    started = time.perf_counter()
    try:
        with obj.locked("up"), PodmanRuntime() as runtime:
            lab = _place(obj, runtime, subnets=subnets, ports=ports)
            orchestrator = obj.orchestrator(lab, runtime, on_event=json_event if as_json else print_event)
            endpoints = orchestrator.up(hierarchies, timeout=timeout)
            if not as_json:
                click.echo(f"labctl: lab {lab.name} up in {time.perf_counter() - started:.1f}s")
            if verify:
                from labctl.clients import verify_lab  # the smoke checks load only when asked for

                report(verify_lab(obj.client_runner(lab, runtime), endpoints), as_json, None)
    except KeyboardInterrupt as interrupt:
        print_interrupted(interrupt, time.perf_counter() - started, obj.lab.name, obj.state_dir)
        raise SystemExit(130) from None


@main.command("verify")
@pki_types_option("hierarchy to check (default: all)")
@click.option("--json", "as_json", is_flag=True, help="results as JSON lines")
@click.option("--junit", type=click.Path(path_type=Path), help="also write the results as JUnit XML to this file")
@click.pass_obj
def verify_command(obj: Context, hierarchies: tuple[str, ...], as_json: bool, junit: Path | None) -> None:
    """Smoke-test the running lab end to end, per hierarchy; exit 0 only when every check passed."""
    from labctl.clients import verify_lab

    chosen = [obj.lab.hierarchy(name) for name in hierarchies] if hierarchies else list(obj.lab.hierarchies)
    with obj.clients() as clients:
        report(verify_lab(clients, [endpoint_for(obj.lab, obj.state_dir, h) for h in chosen]), as_json, junit)


@main.command()
@click.option(
    "--volumes",
    is_flag=True,
    help="also remove the CA data volumes (issued certificates are lost) and the lab's secrets on this host",
)
@click.option(
    "--keep-secrets",
    is_flag=True,
    help="with --volumes: keep root and admin keys, EST and bootstrap credentials and devices' keys on this host",
)
@click.pass_obj
def down(obj: Context, volumes: bool, keep_secrets: bool) -> None:
    """Remove the lab's containers and networks (only what carries this lab's labels)."""
    started = time.perf_counter()
    with obj.locked("down"):
        with PodmanRuntime() as runtime:
            removed = obj.orchestrator(obj.lab, runtime, on_event=print_event).down(volumes=volumes)
        click.echo(
            f"labctl: removed {len(removed.containers)} containers, {len(removed.networks)} networks,"
            f" {len(removed.volumes)} volumes in {time.perf_counter() - started:.1f}s"
        )
        _remove_hosts_block(obj.lab)
        if volumes:  # nothing of the lab is left: the next up starts from the lab file, with a new root
            forget_lab(obj.state_dir, obj.lab, keep_secrets=keep_secrets)
            if not keep_secrets:
                click.echo(f"labctl: removed the lab's keys and credentials from {obj.state_dir}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="one JSON object per service")
@click.pass_obj
def status(obj: Context, as_json: bool) -> None:
    """Each service: container state, health, address, port; each CA: state and certificate counts."""
    with PodmanRuntime() as runtime:
        rows = obj.orchestrator(obj.lab, runtime, on_event=print_event).status()
    print_status(rows, as_json)


@main.command()
@click.argument("name")
@click.option("--follow", is_flag=True, help="keep printing new lines")
@click.option("--tail", default=100, show_default=True)
@click.pass_obj
def logs(obj: Context, name: str, follow: bool, tail: int) -> None:
    """Print a lab container's log (NAME: a container, or HIERARCHY/ca, HIERARCHY/ra)."""
    container = container_named(obj.lab, name)
    with PodmanRuntime() as runtime:
        if not follow:
            click.echo(runtime.logs(container, tail=tail), nl=False)
            return
    # podman-py's log stream does not end when the container stops; the CLI's does.
    os.execvp("podman", ["podman", "logs", "--follow", "--tail", str(tail), container])


@main.command("hosts")
@click.option("--apply", "apply_", is_flag=True, help="write the lines into the hosts file (a marked block)")
@click.option("--remove", is_flag=True, help="remove the lab's block from the hosts file")
@click.option("--file", "hosts_file", type=click.Path(path_type=Path), default=HOSTS_FILE, show_default=True)
@click.pass_obj
def hosts_command(obj: Context, apply_: bool, remove: bool, hosts_file: Path) -> None:
    """Print the hosts lines that make the lab's names (RA hostnames, CA containers) resolve on this machine."""
    if apply_ and remove:
        raise click.UsageError("--apply and --remove exclude each other")
    if apply_:
        changed = apply_lab_block(hosts_file, obj.lab)
        click.echo(f"labctl: {hosts_file} {'updated' if changed else 'already up to date'}")
    elif remove:
        changed = remove_lab_block(hosts_file, name=obj.lab.name)
        click.echo(f"labctl: {hosts_file} {'block removed' if changed else 'had no labctl block'}")
    else:
        click.echo("\n".join(hosts_lines(obj.lab)))


def _remove_hosts_block(lab: Lab, hosts_file: Path = HOSTS_FILE) -> None:
    """`down` takes the lab's names out of the hosts file; a failure there is only a warning."""
    try:
        if remove_lab_block(hosts_file, name=lab.name):
            click.echo(f"labctl: removed the {lab.name} names from {hosts_file}")
    except (LabctlError, OSError, UnicodeDecodeError) as exc:
        hint = f"\nhint: {exc.hint}" if isinstance(exc, LabctlError) and exc.hint else ""
        click.echo(f"labctl: warning: could not remove the {lab.name} names from {hosts_file}: {exc}{hint}", err=True)
