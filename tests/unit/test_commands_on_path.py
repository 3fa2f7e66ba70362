"""`lab` (the lab docs' name) and `labctl` are one CLI, and scripts/setup-host puts both on PATH
(scripts/link-commands) without touching another program's `lab`."""

from __future__ import annotations

import subprocess
import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from click.testing import CliRunner

REPO = Path(__file__).resolve().parents[2]
LINK_COMMANDS = REPO / "scripts" / "link-commands"
SYSTEM_PATH = "/usr/bin:/bin"  # readlink, realpath, ln: and no lab or labctl of this host


def console_scripts() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return dict(project["scripts"])


def test_lab_and_labctl_are_the_same_entry_point():
    scripts = console_scripts()
    assert scripts["lab"] == scripts["labctl"]


def test_lab_help_is_labctl_help():
    helps = {}
    for name, value in console_scripts().items():
        cli = EntryPoint(name, value, "console_scripts").load()
        result = CliRunner().invoke(cli, ["--help"], prog_name=name)
        assert result.exit_code == 0, result.output
        helps[name] = result.output
    assert helps["lab"].startswith("Usage: lab [OPTIONS] COMMAND [ARGS]...")
    assert helps["lab"].replace("Usage: lab ", "Usage: labctl ", 1) == helps["labctl"]
    assert "est-enroll" in helps["lab"]


@pytest.fixture
def venv_bin(tmp_path: Path) -> Path:
    """A venv's bin with its lab and labctl scripts."""
    directory = tmp_path / "venv" / "bin"
    directory.mkdir(parents=True)
    for name in ("lab", "labctl"):
        (directory / name).write_text("#!/bin/sh\n")
        (directory / name).chmod(0o755)
    return directory


def link_commands(venv_bin: Path, to: Path, path: str = SYSTEM_PATH) -> str:
    result = subprocess.run(
        [str(LINK_COMMANDS), str(venv_bin), str(to)],
        env={"PATH": path, "HOME": str(to.parent)},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert result.stderr == ""
    return result.stdout


def test_links_both_names_and_says_so_in_one_line(venv_bin, tmp_path):
    to = tmp_path / "bin"
    out = link_commands(venv_bin, to)
    assert out == (
        f"setup-host: linked lab and labctl into {to} (-> {venv_bin}), which is not on this shell's PATH yet"
        " (log in again, or add it)\n"
    )
    assert {p.name: p.readlink() for p in to.iterdir()} == {"lab": venv_bin / "lab", "labctl": venv_bin / "labctl"}


def test_linking_again_changes_and_says_nothing(venv_bin, tmp_path):
    to = tmp_path / "bin"
    link_commands(venv_bin, to)
    assert link_commands(venv_bin, to, f"{SYSTEM_PATH}:{to}") == ""
    assert (to / "lab").readlink() == venv_bin / "lab"


def test_another_lab_in_the_directory_is_left_alone(venv_bin, tmp_path):
    to = tmp_path / "bin"
    to.mkdir()
    (to / "lab").write_text("#!/bin/sh\necho another lab\n")
    out = link_commands(venv_bin, to, f"{SYSTEM_PATH}:{to}")
    assert out == (
        f"setup-host: linked labctl into {to} (-> {venv_bin});"
        f" left {to / 'lab'} alone: it is not this venv's lab (use {venv_bin / 'lab'})\n"
    )
    assert (to / "lab").read_text() == "#!/bin/sh\necho another lab\n"


def test_another_lab_on_path_is_not_shadowed(venv_bin, tmp_path):
    to, elsewhere = tmp_path / "bin", tmp_path / "opt-bin"
    elsewhere.mkdir()
    (elsewhere / "lab").write_text("#!/bin/sh\n")
    (elsewhere / "lab").chmod(0o755)
    out = link_commands(venv_bin, to, f"{SYSTEM_PATH}:{to}:{elsewhere}")
    assert f"did not link lab: {elsewhere / 'lab'} on PATH is another lab" in out
    assert len(out.splitlines()) == 1
    assert not (to / "lab").exists()
    assert (to / "labctl").readlink() == venv_bin / "labctl"


def test_setup_host_links_the_venvs_commands():
    lines = [line.strip() for line in (REPO / "scripts" / "setup-host").read_text(encoding="utf-8").splitlines()]
    assert '"$here/scripts/link-commands" "$venv/bin"' in lines
