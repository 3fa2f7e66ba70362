"""The IoT client in its container: EST while the RA is up, the CA's REST API when it is not, and
nothing issued without the bootstrap credential."""

from __future__ import annotations

import json

import pytest

from labctl.runtime.podman import PodmanRuntime

from .conftest import LabCLI

pytestmark = pytest.mark.e2e


def _enroll(lab_cli: LabCLI, *args: str) -> tuple[int, str, str]:
    result = lab_cli.run("iot", "enroll", "--pki-type", "ecc", *args, check=False)
    return result.returncode, result.stdout, result.stderr


def test_iot_client_uses_est_while_the_ra_is_up(lab_cli):
    code, out, err = _enroll(lab_cli, "--cn", "iot-est.cert-lab.local")
    assert code == 0, err
    assert "enrolled via EST (simpleenroll" in out
    assert "enrolled via est: serial 0x" in out


def test_iot_client_falls_back_to_ca_rest_and_keeps_its_key(lab_cli, runtime: PodmanRuntime):
    code, out, _ = _enroll(lab_cli, "--cn", "iot-fallback.cert-lab.local")
    assert code == 0 and "generated" in out  # first run: the key is made and kept on the device volume
    runtime.stop_container("dogtag-ecc-est-ca", timeout_s=1)
    try:
        code, out, err = _enroll(lab_cli, "--cn", "iot-fallback.cert-lab.local")
        assert code == 0, err
        assert "EST RA unavailable" in out
        assert "enrolled via the CA REST API (POST /ca/rest/certrequests" in out
        assert "enrolled via ca-rest: serial 0x" in out
        assert "generated" not in out  # same device key, from its volume
    finally:
        lab_cli.run("up", "--hierarchy", "ecc")


def test_iot_fallback_without_credential_is_pending_and_not_issued(lab_cli, runtime: PodmanRuntime):
    def ca_counts() -> dict[str, int]:
        rows = [json.loads(line) for line in lab_cli.run("status", "--json").stdout.splitlines()]
        return next(r["counts"] for r in rows if r["hierarchy"] == "ecc" and r["role"] == "ca")

    runtime.stop_container("dogtag-ecc-est-ca", timeout_s=1)
    try:
        before = ca_counts()
        code, _, err = _enroll(lab_cli, "--cn", "iot-nocred.cert-lab.local", "--no-bootstrap-credential")
        after = ca_counts()
    finally:
        lab_cli.run("up", "--hierarchy", "ecc")
    assert code == 1
    assert "Traceback" not in err
    assert "is pending at the CA (no bootstrap credential was offered); no certificate was issued" in err
    assert after["VALID"] == before["VALID"]
    assert after["PENDING_REQUESTS"] == before["PENDING_REQUESTS"] + 1
