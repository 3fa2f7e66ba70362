"""labctl.cli.registry lists every command with the module that defines it and its one-line help:
`labctl --help` prints the list from it without importing any command module."""

from __future__ import annotations

import importlib
import subprocess
import sys

import click
from click.testing import CliRunner

from labctl.cli import main
from labctl.cli.registry import COMMANDS


def _defined() -> dict[str, click.Command]:
    for module in {entry.module for entry in COMMANDS.values()}:
        importlib.import_module(f"labctl.cli.{module}")
    return dict(main.commands)


def test_the_registry_names_every_command_with_its_module_and_help() -> None:
    defined = _defined()
    assert set(defined) == set(COMMANDS)
    for name, command in defined.items():
        entry = COMMANDS[name]
        assert command.callback is not None and command.callback.__module__ == f"labctl.cli.{entry.module}", name
        assert command.hidden == entry.hidden, name
        if not entry.hidden:
            assert command.get_short_help_str(limit=1000) == entry.short_help, name


def test_help_lists_the_visible_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    listed = {line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()}
    assert listed == {name for name, entry in COMMANDS.items() if not entry.hidden}


def test_help_imports_no_command_module() -> None:
    """In a fresh interpreter: `--help` loads none of the command modules, nor podman's client or the PKI code."""
    probe = (
        "import sys\n"
        "from labctl.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('labctl.cli.lifecycle', 'labctl.orchestrator', 'podman', 'cryptography', 'httpx', 'aiohttp')\n"
        "print(' '.join(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stderr.strip() == ""


def test_the_lifecycle_commands_load_no_render_target_nor_check_code() -> None:
    """`up` (a no-op one is mostly start-up) loads neither the compose/kube renderers (YAML), nor revocation's and
    the smoke checks' OCSP code (pyasn1), nor the EST device client."""
    probe = (
        "import sys\n"
        "import labctl.cli.lifecycle\n"
        "heavy = ('labctl.targets', 'yaml', 'labctl.revocation', 'labctl.verify', 'labctl.devices', 'pyasn1_modules')\n"
        "print(' '.join(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stderr.strip() == ""


def test_a_command_loads_when_it_runs() -> None:
    result = CliRunner().invoke(main, ["hosts", "--help"])
    assert result.exit_code == 0 and "hosts" in result.output
