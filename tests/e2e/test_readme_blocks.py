"""The README's multi-line recipes, exactly as written: each block runs as one bash script (so a
variable one line sets is there for the next), from a directory laid out as a checkout (`.venv`,
`scripts`, `examples`), with the environment of the user whose lab the `lab_cli` fixture brought up.

The compose and `podman kube play` blocks use the default lab's names and ports, as a user following
the README would: they replace the session's lab, so they are marked `replaces_default_lab` and run
after every other e2e test (tests/e2e/conftest.py orders them last).
"""

from __future__ import annotations

import base64
import re
import ssl
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from labctl import dogtag
from labctl.pki.issue import build_csr, common_name_subject
from labctl.pki.keys import generate_private_key
from labctl.pki.profiles import SERVER_PROFILE_BY_KIND
from labctl.runtime.base import LAB_LABEL
from labctl.runtime.podman import PodmanRuntime
from tests.e2e.conftest import REPO, VERIFY_CHECKS, LabCLI

pytestmark = pytest.mark.e2e

README = (REPO / "README.md").read_text(encoding="utf-8")
# A comment the README puts after a command, two or more spaces away from it.
_TRAILING_COMMENT = re.compile(r"\s{2,}#.*$")


def readme_blocks(heading: str) -> list[list[str]]:
    """The indented code blocks of the README section `heading` (up to the next heading), as command
    lines: trailing comments dropped, backslash continuations kept (bash joins them)."""
    lines = README.splitlines()
    start = lines.index(heading) + 1
    level = len(heading) - len(heading.lstrip("#"))
    end = next((i for i in range(start, len(lines)) if _is_heading(lines[i], level)), len(lines))
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in [*lines[start:end], ""]:
        if line.startswith("    "):
            current.append(_TRAILING_COMMENT.sub("", line[4:]))
        elif current:
            blocks.append(current)
            current = []
    return blocks


def _is_heading(line: str, level: int) -> bool:
    """A heading of `level` or above (## ends a ## section and its ### subsections)."""
    hashes = len(line) - len(line.lstrip("#"))
    return 0 < hashes <= level and line[hashes : hashes + 1] == " "


def readme_block(heading: str, containing: str) -> list[str]:
    """The one block of `heading` that has `containing` in it."""
    matches = [block for block in readme_blocks(heading) if any(containing in line for line in block)]
    assert len(matches) == 1, f"README section {heading!r}: {len(matches)} blocks contain {containing!r}"
    return matches[0]


def checkout_like(directory: Path) -> Path:
    """A scratch directory the README's relative paths (`.venv/bin/...`, `./scripts/...`) work from, so
    what the recipes write (compose.yaml, play/, report.xml) stays out of the repository."""
    for name in (".venv", "scripts", "examples"):
        (directory / name).symlink_to(REPO / name)
    return directory


def run_block(cli: LabCLI, block: list[str], cwd: Path, *, timeout: float = 1200) -> str:
    script = "set -euo pipefail\nset -x\n" + "\n".join(block) + "\n"
    result = cli.shell(script, cwd=cwd, timeout=timeout)
    assert result.returncode == 0, (
        f"README block exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-4000:]}"
    )
    return result.stdout


def test_readme_blocks_parse() -> None:
    """Guards the parser: the compose block is the five commands the README shows."""
    block = readme_block("## Compose", "podman-compose")
    assert block[0] == ".venv/bin/labctl build" and block[-1] == ".venv/bin/labctl verify" and len(block) == 5


def test_tls_verified_recipe_as_written(lab_cli: LabCLI, tmp_path: Path) -> None:
    block = readme_block("## Getting a certificate by hand (curl and openssl)", "--cacert")
    output = run_block(lab_cli, block, checkout_like(tmp_path))
    assert "cert.pem: OK" in output


def test_several_labs_as_written(lab_cli: LabCLI, runtime: PodmanRuntime, tmp_path: Path) -> None:
    block = readme_block("## Several labs on one host, and CI", "--junit report.xml")
    lab_name = re.search(r"--lab (\S+) up", "\n".join(block))
    assert lab_name is not None
    default_before = {c.name: c.id for c in runtime.list_containers({LAB_LABEL: lab_cli.lab.name})}
    try:
        run_block(lab_cli, block, checkout_like(tmp_path))
    finally:
        lab_cli.shell(f".venv/bin/labctl --lab {lab_name[1]} down --volumes", cwd=REPO)
    report = ET.parse(tmp_path / "report.xml").getroot()
    cases = report.findall("./testsuite/testcase")
    assert len(cases) == VERIFY_CHECKS and not report.findall(".//failure")
    assert runtime.list_containers({LAB_LABEL: lab_name[1]}) == []
    assert {c.name: c.id for c in runtime.list_containers({LAB_LABEL: lab_cli.lab.name})} == default_before


def test_clients_block_as_written(lab_cli: LabCLI, tmp_path: Path) -> None:
    """revoke, cert-status, iot enroll and hosts --apply, with the documented substitution: a real serial
    (of an ecc certificate enrolled here) for the docs' 0x1a2b3c."""
    here = checkout_like(tmp_path)
    enrolled = lab_cli.shell("labctl est-enroll --cn readme-block.cert-lab.local --pki-type ecc", cwd=here)
    serial = re.search(r"^serial:\s+(0x[0-9a-f]+)$", enrolled.stdout, re.M)
    assert serial is not None, enrolled.stdout + enrolled.stderr
    block = [
        line.replace("0x1a2b3c", serial[1]) for line in readme_block("## Clients, as in the lab docs", "iot enroll")
    ]
    try:
        output = run_block(lab_cli, block, here)
    finally:
        lab_cli.shell("labctl hosts --remove", cwd=here)
    assert "REVOKED" in output and "Key_Compromise" in output


def test_kube_render_as_written(lab_cli: LabCLI, tmp_path: Path) -> None:
    """The Kubernetes section's render line (`kubectl apply` needs a cluster, which this host has not)."""
    [render] = [line for line in readme_block("## Kubernetes", "--target kube ") if line.startswith(".venv/")]
    run_block(lab_cli, [render], checkout_like(tmp_path))
    documents = (tmp_path / "lab.yaml").read_text()
    assert re.search(r'^kind: "?Namespace"?$', documents, re.M), documents[:500]
    assert re.search(r'image: "?REGISTRY/labctl:TAG"?$', documents, re.M), documents[:500]


RECIPES = "## Revocation checking, key generation and CMC by hand (curl and openssl)"


@pytest.mark.parametrize(
    "containing",
    ["device05.cert-lab.local", "device06.cert-lab.local", "device08.cert-lab.local", "device03.cert-lab.local"],
    ids=["ocsp-and-crl-ecc", "ocsp-pqc", "serverkeygen-rsa", "fullcmc-ecc"],
)
def test_recipe_as_written(lab_cli: LabCLI, tmp_path: Path, containing: str) -> None:
    """The by-hand recipes on the default lab (the manual-approval one needs a lab in manual mode:
    tests/e2e/test_manual_approval.py runs that flow)."""
    output = run_block(lab_cli, readme_block(RECIPES, containing), checkout_like(tmp_path))
    expected = {
        "device05.cert-lab.local": "device.crt: revoked",
        "device06.cert-lab.local": ": good",
        "device08.cert-lab.local": "key and certificate match",
        "device03.cert-lab.local": "1.3.6.1.5.5.7.7.25",
    }[containing]
    assert expected in output, output[-3000:]


def _nothing_of(runtime: PodmanRuntime, lab: str) -> tuple[list[object], list[object], list[object]]:
    """What podman still has of `lab` (the session's runtime restarts its service if it exited idle)."""
    selector = {LAB_LABEL: lab}
    return runtime.list_containers(selector), runtime.list_networks(selector), runtime.list_volumes(selector)


@pytest.mark.replaces_default_lab
def test_compose_as_written(lab_cli: LabCLI, runtime: PodmanRuntime, tmp_path: Path) -> None:
    here = checkout_like(tmp_path)
    lab_cli.shell("labctl down --volumes", cwd=here)  # the session's lab: the compose one takes its names
    block = readme_block("## Compose", "podman-compose")
    try:
        run_block(lab_cli, block, here)  # its last line, `labctl verify`, exits 0 only when every check passed
    finally:
        # The README's way to remove it: "`podman-compose down -v` does the same".
        removed = lab_cli.shell(".venv/bin/podman-compose -f compose.yaml down -v", cwd=here)
    assert removed.returncode == 0, removed.stderr[-2000:]
    assert _nothing_of(runtime, lab_cli.lab.name) == ([], [], [])


@pytest.mark.replaces_default_lab
def test_kube_play_as_written(lab_cli: LabCLI, runtime: PodmanRuntime, tmp_path: Path) -> None:
    here = checkout_like(tmp_path)
    lab_cli.shell("labctl down --volumes", cwd=here)
    block = readme_block("### The manifests under `podman kube play` (podman 4.3)", "play.sh")
    try:
        run_block(lab_cli, block, here)  # it ends with `podman kube down` and `labctl down --volumes`
    finally:
        lab_cli.shell('for f in play/*.yaml; do podman kube down "$f"; done; labctl down --volumes', cwd=here)
    assert _nothing_of(runtime, lab_cli.lab.name) == ([], [], [])


def _pending_request(lab_cli: LabCLI, hierarchy: str) -> str:
    """A request waiting for an agent on the hierarchy's CA: an anonymous REST enrollment (Dogtag keeps
    anyone's but an agent's pending); its ID as `labctl requests` prints it."""
    placed = lab_cli.lab.hierarchy(hierarchy)
    csr = build_csr(generate_private_key(placed.algorithm), common_name_subject("readme-pending.cert-lab.local"))
    body = dogtag.enrollment_request(
        SERVER_PROFILE_BY_KIND[placed.algorithm.kind],  # a manual profile that certifies this key
        base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode(),
    )
    chain = lab_cli.state_dir / hierarchy / "ca-chain.pem"
    context = ssl.create_default_context(cafile=str(chain))
    answer = httpx.post(f"https://127.0.0.1:{placed.ca.port}/ca/v2/certrequests", json=body, verify=context)
    assert answer.status_code in (200, 201), answer.text
    [info] = dogtag.parse_request_infos(answer.json())
    assert info.status == "pending", info
    return f"0x{info.request_id:x}"


def test_using_the_lab_one_liners_as_written(lab_cli: LabCLI, tmp_path: Path) -> None:
    """The "Using the lab" one-liners, with the documented substitutions: a real serial for 0x1a2b3c, a
    real pending request for 0x1f (one to approve, one to reject); `events --follow` runs until Ctrl-C,
    so it gets an interrupt after a few seconds (and must exit 130 without a traceback)."""
    here = checkout_like(tmp_path)
    [block] = [b for b in readme_blocks("## Using the lab") if any("labctl ocsp" in line for line in b)]
    enrolled = lab_cli.shell("labctl est-enroll --cn readme-ocsp.cert-lab.local --pki-type ecc", cwd=here)
    serial = re.search(r"^serial:\s+(0x[0-9a-f]+)$", enrolled.stdout, re.M)
    assert serial is not None, enrolled.stdout + enrolled.stderr
    requests = iter([_pending_request(lab_cli, "ecc"), _pending_request(lab_cli, "ecc")])
    for line in block:
        command = line.replace("0x1a2b3c", serial[1])
        if "0x1f" in command:
            command = command.replace("0x1f", next(requests))
        if "--follow" in command:
            result = lab_cli.shell(f"timeout --preserve-status -s INT 8 {command}", cwd=here)
            assert result.returncode == 130, result.stderr[-2000:]
            assert "certificate.issued" in result.stdout or "issued" in result.stdout, result.stdout[-2000:]
        else:
            result = lab_cli.shell(command, cwd=here)
            assert result.returncode == 0, (
                f"{command}: {result.returncode}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
            )
        assert "Traceback" not in result.stderr, result.stderr
