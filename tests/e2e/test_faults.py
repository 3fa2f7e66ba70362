"""Faults: the ecc CA killed in the middle of enrollment load. The RA answers 503 with Retry-After
within a bound and never hangs; after `labctl up` every certificate issued and every revocation made
before the kill is still there, and no serial is ever used twice."""

from __future__ import annotations

import base64
import json
import threading
import time

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from labctl.clients import host_admin
from labctl.endpoint import endpoint_for
from labctl.est_client import est_ssl_context
from labctl.pki.issue import build_csr, common_name_subject
from labctl.pki.keys import generate_private_key
from labctl.pki.pkcs7 import load_certs_only
from labctl.runtime.podman import PodmanRuntime

from .conftest import LabCLI

pytestmark = pytest.mark.e2e
# The RA's deadline towards its CA is 10 s (backend.conf timeout): no answer may take much longer (a request
# the CA had when it was killed; new ones get their 503 within CA_DOWN_ANSWER_BOUND_S).
ANSWER_BOUND_S = 15.0


def _counts(lab_cli: LabCLI) -> dict[str, int]:
    rows = [json.loads(line) for line in lab_cli.run("status", "--json").stdout.splitlines()]
    return next(r["counts"] for r in rows if r["hierarchy"] == "ecc" and r["role"] == "ca")


def test_ca_killed_during_load(lab_cli: LabCLI, runtime: PodmanRuntime) -> None:
    endpoint = endpoint_for(lab_cli.lab, lab_cli.state_dir, lab_cli.lab.hierarchy("ecc"))
    csr = build_csr(generate_private_key(endpoint.hierarchy.algorithm), common_name_subject("load.cert-lab.local"))
    payload = base64.b64encode(csr.public_bytes(serialization.Encoding.DER))
    context = est_ssl_context(endpoint.trust_file)
    url = f"{endpoint.ra_url}/.well-known/est/simpleenroll"
    serials: list[int] = []
    outcomes: list[tuple[int, float, str | None]] = []  # status, seconds, Retry-After
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(verify=context, auth=(endpoint.username, endpoint.password), timeout=30) as client:
            while not stop.is_set():
                started = time.perf_counter()
                try:
                    response = client.post(url, content=payload, headers={"Content-Type": "application/pkcs10"})
                except httpx.HTTPError:
                    outcomes.append((0, time.perf_counter() - started, None))
                    continue
                outcomes.append(
                    (response.status_code, time.perf_counter() - started, response.headers.get("Retry-After"))
                )
                if response.status_code == 200:
                    serials.append(load_certs_only(response.content)[0].serial_number)

    # Before the kill: some issued certificates, one revoked.
    worker = threading.Thread(target=load)
    worker.start()
    time.sleep(2)
    with host_admin(lab_cli.state_dir, endpoint)() as admin:
        revoked = serials[0]
        admin.revoke(revoked, "Key_Compromise")
    issued_before_kill = list(serials)
    counts_before_kill = _counts(lab_cli)
    runtime.stop_container(endpoint.hierarchy.ca.container, timeout_s=0)  # SIGKILL, no grace
    time.sleep(4)
    stop.set()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the load client hung"

    failed = [(status, seconds, retry) for status, seconds, retry in outcomes if status != 200]
    assert failed, "the CA's death went unnoticed"
    assert all(status == 503 and retry for status, _, retry in failed), failed[:5]
    assert max(seconds for _, seconds, _ in outcomes) < ANSWER_BOUND_S

    lab_cli.run("up", "--hierarchy", "ecc")
    after = _counts(lab_cli)
    assert after["REVOKED"] == counts_before_kill["REVOKED"] >= 1
    assert after["VALID"] + after["REVOKED"] >= counts_before_kill["VALID"] + counts_before_kill["REVOKED"]
    assert len(set(serials)) == len(serials)  # no serial reused
    with host_admin(lab_cli.state_dir, endpoint)() as admin:
        assert admin.certificate(revoked).status == "REVOKED"
        for serial in issued_before_kill[1:6]:
            assert admin.certificate(serial).status == "VALID"


# The RA tells a client its CA is gone within this bound (connect and unacknowledged-data timeouts of 2 s).
CA_DOWN_ANSWER_BOUND_S = 3.0


def test_ca_stopped_is_a_quick_503(lab_cli: LabCLI, runtime: PodmanRuntime) -> None:
    """With its CA container stopped, the RA answers 503 + Retry-After within 3 s, also on the
    connection it kept alive to the CA from before (a stopped container sends no RST)."""
    endpoint = endpoint_for(lab_cli.lab, lab_cli.state_dir, lab_cli.lab.hierarchy("rsa"))
    csr = build_csr(generate_private_key(endpoint.hierarchy.algorithm), common_name_subject("down.cert-lab.local"))
    payload = base64.b64encode(csr.public_bytes(serialization.Encoding.DER))
    context = est_ssl_context(endpoint.trust_file)
    answers: list[tuple[str, int, float, str | None]] = []
    with httpx.Client(verify=context, auth=(endpoint.username, endpoint.password), timeout=30) as client:

        def ask(operation: str) -> None:
            url = f"{endpoint.ra_url}/.well-known/est/{operation}"
            started = time.perf_counter()
            if operation == "cacerts":
                response = client.get(url)
            else:
                response = client.post(url, content=payload, headers={"Content-Type": "application/pkcs10"})
            seconds = time.perf_counter() - started
            answers.append((operation, response.status_code, seconds, response.headers.get("Retry-After")))

        ask("simpleenroll")  # the RA now holds a kept-alive connection to its CA
        assert answers[-1][1] == 200
        runtime.stop_container(endpoint.hierarchy.ca.container, timeout_s=5)
        try:
            for operation in ("simpleenroll", "cacerts", "simpleenroll"):
                ask(operation)
        finally:
            lab_cli.run("up", "--hierarchy", "rsa")
    down = answers[1:]
    print(f"CA stopped: answers {[(op, status, round(seconds, 2), retry) for op, status, seconds, retry in down]}")
    assert all(status == 503 and retry for _, status, _, retry in down), down
    assert max(seconds for _, _, seconds, _ in down) < CA_DOWN_ANSWER_BOUND_S, down
