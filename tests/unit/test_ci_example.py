"""examples/ci/github-actions.yml stays true: valid YAML, and every labctl and pytest command in it
is one the CLI accepts (parsed by click and by the pytest plugin's options, not run)."""

from __future__ import annotations

import shlex
from pathlib import Path

import click
import yaml

from labctl.cli import main

WORKFLOW = Path(__file__).resolve().parents[2] / "examples" / "ci" / "github-actions.yml"


def _commands(program: str) -> list[list[str]]:
    steps = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"]["lab"]["steps"]
    commands = []
    for step in steps:
        for line in str(step.get("run", "")).splitlines():
            words = shlex.split(line.replace("${{ github.run_id }}", "12345"))
            if program in words:
                args = words[words.index(program) + 1 :]
                ends = [i for i, word in enumerate(args) if word in ("||", "&&", ";", "|")]
                commands.append(args[: ends[0]] if ends else args)
    return commands


def test_the_workflow_runs_the_lab_verify_and_teardown() -> None:
    commands = _commands(".venv/bin/labctl")
    subcommands = [next(word for word in args if word in main.commands) for args in commands]
    assert {"up", "verify", "down", "logs"} <= set(subcommands)
    assert all(args[:2] == ["--lab", "ci-12345"] for args in commands)


def test_every_labctl_command_in_the_workflow_parses() -> None:
    for args in _commands(".venv/bin/labctl"):
        context = main.make_context("labctl", list(args))
        # click 8.2 keeps the subcommand's words in _protected_args (its public name is deprecated).
        protected = getattr(context, "_protected_args", None)
        words = [*(protected if protected is not None else context.protected_args), *context.args]
        name, command, rest = main.resolve_command(context, words)
        assert command is not None and name is not None
        try:
            command.make_context(name, rest, parent=context)
        except click.UsageError as exc:  # pragma: no cover - the assertion's message
            raise AssertionError(f"labctl {' '.join(args)}: {exc}") from exc


def test_the_pytest_step_uses_the_plugins_options() -> None:
    [args] = _commands(".venv/bin/pytest")
    assert "--lab-name" in args and "--lab-reuse" in args
