"""scripts/pki-cli.py run as the lab docs print it (`./scripts/pki-cli.py status 0x1a2b3c --ca intermediate`):
no --state-dir, the lab found in $XDG_STATE_HOME/labctl/<lab> as labctl finds it, against the ecc
Intermediate CA and RA as real processes on 127.0.0.1 (labctl.local), on free ports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from labctl import dogtag
from labctl.endpoint import Endpoint
from labctl.est_client import ESTClient, est_ssl_context
from labctl.local import LocalLab
from labctl.pki.issue import build_csr, common_name_subject
from labctl.pki.keys import KeyAlgorithm, generate_private_key
from labctl.placement import record_lab
from labctl.ports import with_free_ports
from labctl.topology import load_lab, renamed

REPO = Path(__file__).resolve().parents[2]
DEFAULT_LAB = load_lab().name


def pki_cli(*args: str, state_home: Path) -> subprocess.CompletedProcess[str]:
    """`./scripts/pki-cli.py ARGS` from the repository, as a user types it.

    The shebang's python3 is this venv's (PATH), and PYTHONPATH makes it import this checkout's
    labctl, not whichever one the venv has installed.
    """
    env = {
        **os.environ,
        "XDG_STATE_HOME": str(state_home),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(REPO),
    }
    env.pop("LABCTL_PKI_CLI_REEXEC", None)
    return subprocess.run(
        ["./scripts/pki-cli.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    return result.stderr.strip()


@dataclass
class UpLab:
    state_home: Path  # $XDG_STATE_HOME of a user whose default lab is up (ecc only)
    endpoint: Endpoint
    serial: str  # of a certificate the ecc RA issued
    revoked: str  # of one revoked before the tests


def enroll(endpoint: Endpoint, common_name: str) -> str:
    """A certificate from the RA (EST simpleenroll); its serial as Dogtag prints it."""
    csr = build_csr(generate_private_key(KeyAlgorithm.EC_P384), common_name_subject(common_name))
    context = est_ssl_context(endpoint.trust_file)
    with ESTClient(endpoint.ra_url, ssl_context=context, auth=(endpoint.username, endpoint.password)) as client:
        return dogtag.format_id(client.simpleenroll(csr).serial_number)


@pytest.fixture(scope="module")
def up_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpLab]:
    """The default lab up as `labctl up` leaves it: its state in $XDG_STATE_HOME/labctl/<lab>, the lab
    (on free ports, so a lab on the default ports is left alone) recorded there."""
    state_home = tmp_path_factory.mktemp("xdg-state")
    state_dir = state_home / "labctl" / DEFAULT_LAB
    lab = with_free_ports(load_lab())
    runner = LocalLab(lab, state_dir, hierarchies=("ecc",))
    [endpoint] = runner.up(timeout=60)
    try:
        record_lab(lab, state_dir)
        serial, revoked = enroll(endpoint, "device01.cert-lab.local"), enroll(endpoint, "device02.cert-lab.local")
        revoke = ("revoke", revoked, "--ca", "intermediate", "--reason", "superseded", "--pki-type", "ecc")
        done = pki_cli(*revoke, state_home=state_home)
        assert done.returncode == 0, done.stderr
        yield UpLab(state_home, endpoint, serial, revoked)
    finally:
        runner.stop()


# --- no lab --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("revoke", "0x1a2b3c", "--ca", "intermediate", "--reason", "key_compromise"),
        ("status", "0x1a2b3c", "--ca", "intermediate"),
    ],
    ids=["revoke", "status"],
)
def test_docs_command_without_a_lab_says_it_is_not_up_in_one_line(tmp_path, args):
    message = one_line_error(pki_cli(*args, state_home=tmp_path))
    state_dir = tmp_path / "labctl" / DEFAULT_LAB
    assert message == (
        f"pki-cli: error: lab {DEFAULT_LAB!r} is not up: no lab admin credential for rsa in {state_dir / 'rsa'}"
        " (bring it up with `labctl up`)"
    )
    assert not (tmp_path / "labctl").exists()  # asking made no state


def test_lab_option_looks_in_that_labs_state_dir_and_names_it_in_the_hint(tmp_path):
    message = one_line_error(pki_cli("status", "0x1a2b3c", "--ca", "intermediate", "--lab", "ci1", state_home=tmp_path))
    assert f"lab 'ci1' is not up: no lab admin credential for rsa in {tmp_path / 'labctl' / 'ci1' / 'rsa'}" in message
    assert message.endswith("(bring it up with `labctl --lab ci1 up`)")


# --- the lab up ----------------------------------------------------------------------------------


def test_docs_status_shows_a_valid_certificate(up_lab):
    result = pki_cli("status", up_lab.serial, "--ca", "intermediate", "--pki-type", "ecc", state_home=up_lab.state_home)
    assert result.returncode == 0, result.stderr
    assert f"serial:            {up_lab.serial}" in result.stdout
    assert "subject:           CN=device01.cert-lab.local" in result.stdout
    assert "status:            VALID" in result.stdout


def test_docs_revoke_then_status_shows_it_revoked_for_key_compromise(up_lab):
    serial = enroll(up_lab.endpoint, "device03.cert-lab.local")
    revoke = ("revoke", serial, "--ca", "intermediate", "--reason", "key_compromise", "--pki-type", "ecc")
    result = pki_cli(*revoke, state_home=up_lab.state_home)
    assert result.returncode == 0, result.stderr
    assert "status:            REVOKED" in result.stdout
    status = ("status", serial, "--ca", "intermediate", "--pki-type", "ecc", "--json")
    result = pki_cli(*status, state_home=up_lab.state_home)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert (record["serial"], record["status"], record["revocation_reason"]) == (serial, "REVOKED", "Key_Compromise")


def test_docs_hold_then_release_shows_it_valid_again(up_lab):
    serial = enroll(up_lab.endpoint, "device04.cert-lab.local")
    hold = ("revoke", serial, "--ca", "intermediate", "--reason", "certificate_hold", "--pki-type", "ecc", "--json")
    result = pki_cli(*hold, state_home=up_lab.state_home)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["revocation_reason"] == "Certificate_Hold"
    release = ("release", serial, "--ca", "intermediate", "--pki-type", "ecc", "--json")
    result = pki_cli(*release, state_home=up_lab.state_home)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert (record["serial"], record["status"], record["revocation_reason"]) == (serial, "VALID", None)


def test_releasing_a_certificate_not_on_hold_says_so_in_one_line(up_lab):
    args = ("release", up_lab.revoked, "--ca", "intermediate", "--pki-type", "ecc")
    message = one_line_error(pki_cli(*args, state_home=up_lab.state_home))
    assert f"certificate {up_lab.revoked} is not on hold on the ecc Intermediate CA" in message
    assert "reason Superseded" in message


def test_revoking_a_revoked_certificate_says_so_in_one_line(up_lab):
    args = ("revoke", up_lab.revoked, "--ca", "intermediate", "--reason", "key_compromise", "--pki-type", "ecc")
    message = one_line_error(pki_cli(*args, state_home=up_lab.state_home))
    assert f"certificate {up_lab.revoked} is already revoked on the ecc Intermediate CA" in message
    assert "reason Superseded" in message


def test_unknown_serial_says_it_is_not_on_this_ca_in_one_line(up_lab):
    message = one_line_error(
        pki_cli("status", "0xdead", "--ca", "intermediate", "--pki-type", "ecc", state_home=up_lab.state_home)
    )
    assert "certificate 0xdead not found on the ecc Intermediate CA" in message
    assert "try --pki-type rsa|pqc" in message


def test_hierarchy_that_is_not_up_says_which_in_one_line(up_lab):
    message = one_line_error(pki_cli("status", up_lab.serial, "--ca", "intermediate", state_home=up_lab.state_home))
    assert f"the rsa hierarchy of lab {DEFAULT_LAB!r} is not up" in message


def test_lab_option_finds_that_lab_and_not_the_default(up_lab, tmp_path):
    """The same lab's state copied to another user as lab ci1: only `--lab ci1` finds it."""
    state_dir = tmp_path / "labctl" / "ci1"
    shutil.copytree(
        up_lab.state_home / "labctl" / DEFAULT_LAB, state_dir, ignore=shutil.ignore_patterns("*.log", "ca-data")
    )
    recorded = load_lab(state_dir / "lab.toml")
    record_lab(renamed(recorded, "ci1"), state_dir)

    status = ("status", up_lab.serial, "--ca", "intermediate", "--pki-type", "ecc")
    result = pki_cli(*status, "--lab", "ci1", state_home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "status:            VALID" in result.stdout
    assert f"lab {DEFAULT_LAB!r} is not up" in one_line_error(pki_cli(*status, state_home=tmp_path))
