"""The whole lab in podman: up from nothing, enroll through each RA (pqc over ML-DSA-87 TLS from
inside its network), isolation, idempotent up, repair, persistence across down/up, clean down."""

from __future__ import annotations

import json
import subprocess

import pytest

from labctl.runtime.base import LAB_LABEL, Health
from labctl.runtime.podman import PodmanRuntime

from .conftest import LabCLI

pytestmark = pytest.mark.e2e
HIERARCHIES = ["rsa", "ecc", "pqc"]


def _status(lab_cli: LabCLI) -> list[dict[str, object]]:
    return [json.loads(line) for line in lab_cli.run("status", "--json").stdout.splitlines()]


def test_up_brings_every_service_healthy(lab_cli):
    rows = _status(lab_cli)
    assert {(r["hierarchy"], r["role"]) for r in rows} == {(h, role) for h in HIERARCHIES for role in ("ca", "ra")}
    assert all(r["state"] == "running" and r["health"] == "healthy" for r in rows), rows
    assert all(r["ca_status"] == "running" for r in rows if r["role"] == "ca")


def test_verify_passes_for_every_hierarchy(lab_cli):
    results = [json.loads(line) for line in lab_cli.run("verify", "--json").stdout.splitlines()]
    assert {r["hierarchy"] for r in results} == set(HIERARCHIES)
    assert [r for r in results if not r["passed"]] == []


@pytest.mark.parametrize(("container", "port"), [("dogtag-pq-est-ca", 8456), ("dogtag-pq-intermediate-ca", 8454)])
def test_pqc_services_speak_mldsa87_tls_inside_the_network(lab_cli, runtime: PodmanRuntime, container, port):
    command = (
        f"echo | openssl s_client -connect {container}:{port} -CAfile /etc/labctl/est/ca-chain.pem 2>&1"
        " | grep -E 'Peer signature type|Verification:'"
    )
    result = runtime.exec("dogtag-pq-est-ca", ("sh", "-c", command))
    assert "Peer signature type: mldsa87" in result.output
    assert "Verification: OK" in result.output


def test_pqc_ra_serves_rsa_compat_certificate_to_host_openssl(lab_cli):
    """The lab docs' `curl -sk .../cacerts` works from a host whose OpenSSL cannot do ML-DSA."""
    result = subprocess.run(
        ["curl", "-sk", "--fail", "https://127.0.0.1:8456/.well-known/est/cacerts"], capture_output=True, check=True
    )
    assert len(result.stdout) > 1000


@pytest.mark.parametrize(
    ("target", "reachable"),
    [
        ("dogtag-intermediate-ca:8444", True),
        ("172.28.0.11:8464", False),
        ("172.28.0.18:8466", False),
        ("172.27.0.11:8454", False),
        ("172.27.0.18:8456", False),
    ],
    ids=["own-ca", "ecc-ca", "ecc-ra", "pqc-ca", "pqc-ra"],
)
def test_rsa_network_reaches_only_its_own_hierarchy(lab_cli, runtime: PodmanRuntime, target, reachable):
    host, port = target.split(":")
    probe = (
        "import socket; s = socket.socket(); s.settimeout(2)\n"
        f"try:\n    s.connect(({host!r}, {port})); print('open')\nexcept OSError as e:\n    print('closed', e)"
    )
    output = runtime.exec("dogtag-est-ca", ("python", "-c", probe)).output
    assert output.startswith("open") is reachable, output


def test_second_up_changes_nothing(lab_cli):
    events = lab_cli.events("up")
    assert {step: status for step, status in events.items() if status != "skipped"} == {}
    assert len(events) == 1 + 8 * len(HIERARCHIES)


def test_up_repairs_a_killed_ra(lab_cli, runtime: PodmanRuntime, tmp_path):
    subprocess.run(["podman", "kill", "dogtag-ecc-est-ca"], capture_output=True, timeout=60, check=True)  # SIGKILL
    assert runtime.run_healthcheck("dogtag-ecc-est-ca") is Health.UNHEALTHY
    ra = next(r for r in _status(lab_cli) if r["hierarchy"] == "ecc" and r["role"] == "ra")
    assert ra["state"] != "running" and ra["health"] != "healthy", ra  # `labctl status` shows it
    events = lab_cli.events("up", "--hierarchy", "ecc")
    assert events["ecc/ra/container"] == "done"
    assert events["ecc/ca/container"] == "skipped"
    assert runtime.run_healthcheck("dogtag-ecc-est-ca") is Health.HEALTHY
    # Enrollments resume through the repaired RA.
    lab_cli.run("est-enroll", "--pki-type", "ecc", "--cn", "after-repair.cert-lab.local", "--out-dir", str(tmp_path))
    assert (tmp_path / "cert.pem").exists() or any(tmp_path.glob("*.pem"))


def test_down_then_up_keeps_issued_certificates(lab_cli):
    lab_cli.run("verify", "--hierarchy", "ecc")  # issues certificates
    before = {r["hierarchy"]: r["counts"] for r in _status(lab_cli) if r["role"] == "ca"}
    lab_cli.run("down")
    lab_cli.run("up")
    after = {r["hierarchy"]: r["counts"] for r in _status(lab_cli) if r["role"] == "ca"}
    assert after == before
    assert before["ecc"]["VALID"] >= 3


def test_down_leaves_nothing_labelled(lab_cli, runtime: PodmanRuntime):
    """Runs last in this module: down --volumes, then nothing of the lab is left."""
    selector = {LAB_LABEL: lab_cli.lab.name}
    assert len(runtime.list_containers(selector)) == 6  # not vacuous: the lab is there to remove
    assert {f"{lab_cli.lab.name}-{h}-ca-data" for h in HIERARCHIES} <= set(runtime.list_volumes(selector))
    lab_cli.run("down", "--volumes")
    assert runtime.list_containers(selector) == []
    assert runtime.list_networks(selector) == []
    assert runtime.list_volumes(selector) == []
    lab_cli.run("up")  # leave the lab up for the fixture's final down, as the other tests expect
