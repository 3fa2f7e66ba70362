"""labctl's command line: parse -> call one function -> render the result -> exit code.

Only this package imports click, prints, and picks exit codes. A LabctlError becomes one clear
message (plus its hint), no traceback; anything else is a bug and keeps its traceback.

Here: the group `main`, its options and the Context commands get. The commands, one module per
family: lifecycle (build, render, up, down, ..., hosts), est (the EST client), certificates (credentials,
revocation), iot, serve (serve-local), in_container and bench (hidden: run inside lab containers);
output renders results.
"""

from __future__ import annotations

import importlib
import logging
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from labctl.cli.registry import COMMANDS
from labctl.errors import LabctlError
from labctl.images import DEFAULT_BASE, IMAGE_REPOSITORY

# Only what `labctl --help` needs is imported here (issue 16: --help within 0.3 s); the rest loads with
# the command that runs (labctl.cli.registry), or inside the Context method that needs it.
if TYPE_CHECKING:
    from labctl.clients import ClientRunner
    from labctl.events import EventSink
    from labctl.images import ImageResult
    from labctl.orchestrator import Orchestrator
    from labctl.placement import Selection
    from labctl.runtime.base import ContainerRuntime
    from labctl.topology import Lab

# Commands that change the lab wait this long for another one to finish (so two commands run back to
# back, e.g. by CI, serialize instead of racing); read-only commands take no lock.
LOCK_WAIT_S = 60.0
F = TypeVar("F", bound=Callable[..., Any])


class LabctlGroup(click.Group):
    """The commands of labctl.cli.registry, each imported when it runs (or is asked for its --help)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(f"labctl.cli.{COMMANDS[cmd_name].module}")  # it registers itself on `main`
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the registry: listing them imports none."""
        visible = [(name, entry.short_help) for name, entry in sorted(COMMANDS.items()) if not entry.hidden]
        if visible:
            limit = formatter.width - 6 - max(len(name) for name, _ in visible)  # as click.Group does
            with formatter.section("Commands"):
                # click shortens a command's help to its first sentence within `limit`: the same, on a stand-in.
                formatter.write_dl(
                    [(name, click.Command(name, help=text).get_short_help_str(limit)) for name, text in visible]
                )

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
        self._images: dict[str, ImageResult] = {}
        self.base_image = base_image
        self.image_repository = image_repository

    def build_image(self, runtime: ContainerRuntime, base: str, *, force: bool = False) -> ImageResult:
        """The lab image from `base`, built when its content changed; checked once per command (unless forced)."""
        from labctl.images import ensure_image

        if force or base not in self._images:
            self._images[base] = ensure_image(
                runtime, base=base, repository=self.image_repository, force=force, progress=_progress
            )
        return self._images[base]

    @property
    def selection(self) -> Selection:
        from labctl.placement import select_lab

        if self._selection is None:
            self._selection = select_lab(self._config, self._lab_name, self._state_dir)
        return self._selection

    @property
    def config(self) -> Path | None:
        """The lab file given with --config (None: the shipped one, or the lab recorded in the state dir)."""
        return self._config

    @property
    def lab(self) -> Lab:
        return self.selection.lab

    @property
    def state_dir(self) -> Path:
        return self.selection.state_dir

    @contextmanager
    def locked(self, command: str) -> Iterator[None]:
        """Hold the lab's lock (see labctl.lock) while a command changes the lab."""
        from labctl.lock import lab_lock

        with lab_lock(self.state_dir, wait_s=LOCK_WAIT_S, command=command):
            yield

    def orchestrator(self, lab: Lab, runtime: ContainerRuntime, on_event: EventSink) -> Orchestrator:
        """The orchestrator of `lab` (as placed) on `runtime`, with this command's image options."""
        from labctl.orchestrator import Orchestrator
        from labctl.probe import host_probe

        return Orchestrator(
            lab,
            runtime,
            self.state_dir,
            on_event=on_event,
            base_image=self.base_image,
            build_image=self.build_image,
            probe=host_probe,  # a no-op `up` asks the services through their published ports, not by exec
        )

    def client_runner(self, lab: Lab, runtime: ContainerRuntime) -> ClientRunner:
        """Client containers of the lab image (the one `up` uses) on `lab`'s networks."""
        from labctl.clients import ClientRunner

        return ClientRunner(
            lab, runtime, self.state_dir, ensure_image=lambda: self.build_image(runtime, self.base_image).reference
        )

    @contextmanager
    def clients(self) -> Iterator[ClientRunner]:
        """Client containers on the lab's networks, through podman (its service started when none answers)."""
        from labctl.runtime.podman import PodmanRuntime

        with PodmanRuntime() as runtime:
            yield self.client_runner(self.lab, runtime)


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


def _progress(line: str) -> None:
    """A long step under way (image build, base bootstrap), on stderr: stdout may be --json."""
    click.echo(f"labctl: {line}", err=True)


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def stop_on_termination() -> None:
    """SIGTERM and SIGHUP stop the lab like Ctrl-C does, so no service process is left orphaned."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)


def pki_type_option(what: str = "hierarchy: rsa, ecc or pqc") -> Callable[[F], F]:
    """--pki-type (the lab docs' name), also accepted as --hierarchy: one hierarchy, rsa by default."""
    return click.option("--pki-type", "--hierarchy", "pki_type", default="rsa", show_default=True, help=what)


def pki_types_option(what: str) -> Callable[[F], F]:
    """--pki-type (repeatable; also --hierarchy): some hierarchies, all by default."""
    return click.option("--pki-type", "--hierarchy", "hierarchies", multiple=True, help=f"{what}; repeatable")
