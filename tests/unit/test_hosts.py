"""labctl.hosts: the lab's block in a hosts file, idempotent and leaving every other byte alone; and
`labctl hosts` / `down`'s cleanup on a temporary file (never /etc/hosts)."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import pathlib

import pytest
from click.testing import CliRunner

from labctl import cli
from labctl.cli import lifecycle as lab_commands
from labctl.errors import LabctlError
from labctl.hosts import apply_block, has_block, hosts_lines, remove_block, root_command, update_hosts_file
from labctl.topology import load_lab

ORIGINAL = "127.0.0.1 localhost\n::1 localhost ip6-localhost\n# keep me\n10.0.0.5 nas.home\n"
LINES = ["127.0.0.1 est-ca.cert-lab.local", "127.0.0.1 dogtag-intermediate-ca"]
BLOCK = "# BEGIN labctl cert-lab\n127.0.0.1 est-ca.cert-lab.local\n127.0.0.1 dogtag-intermediate-ca\n# END labctl cert-lab\n"


@pytest.fixture
def lab():
    return load_lab()


def test_lines_map_ra_hostnames_and_ca_containers_to_the_bind_address(lab):
    assert hosts_lines(lab) == [
        "127.0.0.1 est-ca.cert-lab.local",
        "127.0.0.1 dogtag-intermediate-ca",
        "127.0.0.1 ecc-est-ca.cert-lab.local",
        "127.0.0.1 dogtag-ecc-intermediate-ca",
        "127.0.0.1 pq-est-ca.cert-lab.local",
        "127.0.0.1 dogtag-pq-intermediate-ca",
    ]


def test_lines_use_loopback_when_bound_to_every_address(lab):
    assert {line.split()[0] for line in hosts_lines(lab)} == {"127.0.0.1"}
    anywhere = dataclasses.replace(lab, bind_address=ipaddress.IPv4Address("0.0.0.0"))
    assert {line.split()[0] for line in hosts_lines(anywhere)} == {"127.0.0.1"}
    other = dataclasses.replace(lab, bind_address=ipaddress.IPv4Address("192.168.5.7"))
    assert {line.split()[0] for line in hosts_lines(other)} == {"192.168.5.7"}


def test_apply_appends_the_block_and_keeps_the_rest():
    assert apply_block(ORIGINAL, LINES) == ORIGINAL + BLOCK


def test_apply_is_idempotent():
    once = apply_block(ORIGINAL, LINES)
    assert apply_block(once, LINES) == once
    assert has_block(once)
    assert not has_block(ORIGINAL)


def test_apply_replaces_an_existing_block_in_place():
    text = "127.0.0.1 localhost\n" + BLOCK.replace("dogtag", "old") + "10.0.0.5 nas.home\n"
    assert apply_block(text, LINES) == "127.0.0.1 localhost\n" + BLOCK + "10.0.0.5 nas.home\n"


def test_apply_adds_a_newline_to_a_file_without_one():
    assert apply_block("127.0.0.1 localhost", LINES) == "127.0.0.1 localhost\n" + BLOCK
    assert apply_block("", LINES) == BLOCK


def test_apply_keeps_a_block_that_ends_the_file_without_newline():
    text = ORIGINAL + BLOCK.rstrip("\n")
    assert apply_block(text, LINES) == text


def test_apply_keeps_crlf_files_crlf():
    text = ORIGINAL.replace("\n", "\r\n")
    applied = apply_block(text, LINES)
    assert applied == text + BLOCK.replace("\n", "\r\n")
    assert remove_block(applied) == text


def test_remove_restores_the_original_and_is_idempotent():
    applied = apply_block(ORIGINAL, LINES)
    assert remove_block(applied) == ORIGINAL
    assert remove_block(ORIGINAL) == ORIGINAL


def test_remove_takes_a_block_out_of_the_middle():
    text = "a\n" + BLOCK + "b\n"
    assert remove_block(text) == "a\nb\n"


def test_blocks_of_other_labs_are_left_alone():
    other = BLOCK.replace("cert-lab", "other-lab")
    text = apply_block(ORIGINAL + other, LINES)
    assert text == ORIGINAL + other + BLOCK
    assert remove_block(text) == ORIGINAL + other
    assert apply_block(text, ["127.0.0.1 x.other"], name="other-lab").count("other-lab") == 2


def test_a_broken_block_is_refused():
    with pytest.raises(LabctlError, match="not one block"):
        apply_block(ORIGINAL + "# BEGIN labctl cert-lab\n127.0.0.1 x\n", LINES)
    with pytest.raises(LabctlError, match="not one block"):
        remove_block("# END labctl cert-lab\n# BEGIN labctl cert-lab\n")


def test_update_file_keeps_mode_and_reports_changes(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text(ORIGINAL)
    hosts.chmod(0o644)
    assert update_hosts_file(hosts, lambda text: apply_block(text, LINES))
    assert hosts.read_text() == ORIGINAL + BLOCK
    assert hosts.stat().st_mode & 0o777 == 0o644
    assert not update_hosts_file(hosts, lambda text: apply_block(text, LINES))
    assert update_hosts_file(hosts, remove_block)
    assert hosts.read_text() == ORIGINAL
    assert [p.name for p in tmp_path.iterdir()] == ["hosts"]  # no temporary file left


def test_update_file_rewrites_in_place_when_rename_fails(tmp_path, monkeypatch):
    hosts = tmp_path / "hosts"
    hosts.write_text(ORIGINAL)
    inode = hosts.stat().st_ino

    def busy(src, dst):
        raise OSError(16, "Device or resource busy")  # rename onto a bind-mounted /etc/hosts

    monkeypatch.setattr(os, "replace", busy)
    assert update_hosts_file(hosts, lambda text: apply_block(text, LINES))
    assert hosts.read_text() == ORIGINAL + BLOCK
    assert hosts.stat().st_ino == inode
    assert [p.name for p in tmp_path.iterdir()] == ["hosts"]


def test_update_file_missing_is_a_labctl_error(tmp_path):
    with pytest.raises(LabctlError, match="cannot read"):
        update_hosts_file(tmp_path / "nope", remove_block)


@pytest.fixture
def roots_hosts(tmp_path, monkeypatch):
    """A hosts file, as a user without root sees it: writing it is refused (os.replace, in-place write)."""
    hosts = tmp_path / "hosts"
    hosts.write_text(ORIGINAL)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    real_open = pathlib.Path.open

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied")

    def open_refusing_writes(self, mode="r", *args, **kwargs):
        if "w" in mode:
            raise PermissionError(13, "Permission denied")
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(os, "replace", refuse)
    monkeypatch.setattr(pathlib.Path, "open", open_refusing_writes)
    return hosts


def test_without_root_the_error_says_so_and_gives_the_sudo_command(roots_hosts):
    hosts = roots_hosts
    argv = ["/home/u/labctl/.venv/bin/labctl", "--lab", "rl", "hosts", "--apply"]
    with pytest.raises(LabctlError, match=r"^writing .*hosts needs root \(labctl runs as uid 1000\)$") as caught:
        update_hosts_file(hosts, lambda text: apply_block(text, LINES), argv=argv)
    assert caught.value.hint is not None
    assert caught.value.hint.startswith("run: sudo /home/u/labctl/.venv/bin/labctl --lab rl hosts --apply ")
    assert hosts.read_text() == ORIGINAL


def test_cli_without_root_fails_in_one_line_with_a_sudo_hint(roots_hosts):
    hosts = roots_hosts
    applied = CliRunner().invoke(cli.main, ["hosts", "--apply", "--file", str(hosts)])
    assert applied.exit_code == 1
    error, hint = applied.output.splitlines()
    assert error == f"Error: writing {hosts} needs root (labctl runs as uid 1000)"
    assert hint.startswith("hint: run: sudo ")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["labctl", "hosts", "--apply"], ["labctl", "hosts", "--apply"]),
        (
            ["./.venv/bin/lab", "--lab", "x", "hosts", "--remove"],
            [os.path.abspath(".venv/bin/lab"), "--lab", "x", "hosts", "--remove"],
        ),
        (["/v/bin/labctl", "--lab", "x", "down", "--volumes"], ["/v/bin/labctl", "--lab", "x", "hosts", "--remove"]),
        (
            ["/m/labctl/cli.py", "--config", "f.toml", "hosts", "--apply"],
            ["/py", "-m", "labctl.cli", "--config", "f.toml", "hosts", "--apply"],
        ),
        (["/v/bin/labctl", "--lab", "x", "up"], ["/v/bin/labctl", "hosts", "--apply"]),
    ],
    ids=["as-typed", "relative-program", "down-removes", "python-m", "never-another-command"],
)
def test_root_command_changes_the_hosts_file_as_the_command_meant(argv, expected):
    assert root_command(argv, python="/py") == expected


def test_cli_prints_applies_and_removes(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text(ORIGINAL)
    runner = CliRunner()
    printed = runner.invoke(cli.main, ["hosts"])
    assert printed.exit_code == 0, printed.output
    assert "127.0.0.1 ecc-est-ca.cert-lab.local" in printed.output.splitlines()
    assert hosts.read_text() == ORIGINAL
    applied = runner.invoke(cli.main, ["hosts", "--apply", "--file", str(hosts)])
    assert applied.exit_code == 0, applied.output
    assert hosts.read_text() == ORIGINAL + "# BEGIN labctl cert-lab\n" + printed.output + "# END labctl cert-lab\n"
    removed = runner.invoke(cli.main, ["hosts", "--remove", "--file", str(hosts)])
    assert removed.exit_code == 0, removed.output
    assert hosts.read_text() == ORIGINAL
    both = runner.invoke(cli.main, ["hosts", "--apply", "--remove", "--file", str(hosts)])
    assert both.exit_code == 2


def test_down_cleanup_removes_the_block_and_only_warns(tmp_path, lab, capsys):
    hosts = tmp_path / "hosts"
    hosts.write_text(apply_block(ORIGINAL, hosts_lines(lab)))
    lab_commands._remove_hosts_block(lab, hosts)
    assert hosts.read_text() == ORIGINAL
    assert "removed the cert-lab names" in capsys.readouterr().out
    lab_commands._remove_hosts_block(lab, hosts)  # no block: nothing said
    assert capsys.readouterr().out == ""
    hosts.write_text(ORIGINAL + "# BEGIN labctl cert-lab\n")
    lab_commands._remove_hosts_block(lab, hosts)
    assert "warning: could not remove" in capsys.readouterr().err
