"""Manual approval in the real lab (RFC 7030 section 4.2.3): a second lab, its own name, subnets and ports,
whose three RAs need an agent's approval (`approval = "manual"` in its lab file).

`labctl verify` runs the approval checks on every hierarchy; `labctl est-enroll` waits on a 202 until
`labctl approve` lets the CA issue, and a rejected request is refused (403) when it is repeated.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO, VERIFY_CHECKS, LabCLI

MANUAL = "e2e-manual"
HIERARCHIES = ["rsa", "ecc", "pqc"]
# verify adds enroll-pending, agent-approve and pending-issued per hierarchy in manual mode.
APPROVAL_CHECKS = 3


@pytest.fixture(scope="module")
def manual(lab_cli: LabCLI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabCLI, list[str]]]:
    """The manual-approval lab, up; and the option that selects it afterwards (--lab: the lab recorded by
    `up`, with its auto-chosen ports; --config would select the lab file's own, the default lab's)."""
    directory = tmp_path_factory.mktemp("manual-lab")
    text = (REPO / "labctl" / "lab.toml").read_text()
    lab_file = directory / "manual.toml"
    lab_file.write_text(
        text.replace('enroll_profile = "estServiceCert"\n', 'enroll_profile = "estServiceCert"\napproval = "manual"\n')
    )
    cli = LabCLI(directory / "state", lab_cli.lab)
    from_file = ["--config", str(lab_file), "--lab", MANUAL]
    options = ["--lab", MANUAL]
    cli.run(*from_file, "down", "--volumes")
    cli.run(*from_file, "up", "--subnets", "auto", "--ports", "auto", timeout=900)
    try:
        yield cli, options
    finally:
        cli.run(*options, "down", "--volumes", check=False)


def _pending_ids(cli: LabCLI, options: list[str], pki_type: str, subject: str) -> list[str]:
    output = cli.run(*options, "requests", "--pending", "--pki-type", pki_type, "--json").stdout
    return [r["id"] for r in map(json.loads, output.splitlines()) if r["subject"] == subject]


def test_verify_runs_the_approval_checks_on_every_hierarchy(manual: tuple[LabCLI, list[str]]) -> None:
    cli, options = manual
    output = cli.run(*options, "verify", "--json").stdout
    results = [json.loads(line) for line in output.splitlines()]
    assert len(results) == VERIFY_CHECKS + APPROVAL_CHECKS * len(HIERARCHIES), output
    assert all(r["passed"] for r in results), output
    checks = {r["check"] for r in results}
    assert {"enroll-pending", "agent-approve", "pending-issued"} <= checks


@pytest.mark.parametrize("pki_type", HIERARCHIES)
def test_est_enroll_waits_until_labctl_approve(manual: tuple[LabCLI, list[str]], pki_type: str) -> None:
    cli, options = manual
    cn = f"held-{pki_type}.cert-lab.local"
    command = [sys.executable, "-m", "labctl.cli", "--state-dir", str(cli.state_dir), *options]
    enroll = subprocess.Popen(
        [*command, "est-enroll", "--cn", cn, "--pki-type", pki_type, "--wait", "300"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        ids: list[str] = []
        while not ids and time.monotonic() < deadline and enroll.poll() is None:
            time.sleep(2)
            ids = _pending_ids(cli, options, pki_type, f"CN={cn}")
        assert len(ids) == 1, f"no pending request for {cn}: {enroll.poll()}"
        approved = cli.run(*options, "approve", ids[0], "--pki-type", pki_type).stdout
        assert "approved" in approved
        stdout, stderr = enroll.communicate(timeout=120)
    finally:
        if enroll.poll() is None:
            enroll.kill()
    assert enroll.returncode == 0, stderr
    assert f"pending approval at the CA (request {ids[0]})" in stderr
    serial = next(line.split()[1] for line in stdout.splitlines() if line.startswith("serial:"))
    assert f"certificate {serial}" in approved
    # Approving twice is refused, in one line.
    again = cli.run(*options, "approve", ids[0], "--pki-type", pki_type, check=False)
    assert again.returncode == 1
    assert "already approved" in again.stderr


def test_a_rejected_request_is_refused_when_repeated(manual: tuple[LabCLI, list[str]], tmp_path: Path) -> None:
    cli, options = manual
    cn = "rejected.cert-lab.local"
    out_dir = tmp_path / "device"
    enroll = [*options, "est-enroll", "--cn", cn, "--pki-type", "ecc", "--out-dir", str(out_dir)]
    waited = cli.run(*enroll, "--wait", "0", check=False)
    assert waited.returncode == 1
    assert "still pending approval at the CA" in waited.stderr
    assert "labctl" in waited.stderr and "approve 0x" in waited.stderr
    (request_id,) = _pending_ids(cli, options, "ecc", f"CN={cn}")
    cli.run(*options, "reject", request_id, "--pki-type", "ecc")
    repeated = cli.run(*enroll, "--wait", "30", check=False)  # resends the same request (pending.csr)
    assert repeated.returncode == 1
    assert f"403 request {request_id} was rejected at the CA" in repeated.stderr
