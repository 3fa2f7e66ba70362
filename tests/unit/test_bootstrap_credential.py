"""The CA's IoT fallback path: caIoTDeviceCert issues at once for a request carrying the device
bootstrap credential (Dogtag-style `pin` attribute), and otherwise leaves it pending, never issued."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization

from labctl import dogtag
from labctl.pki.issue import build_csr, common_name_subject
from tests.conftest import CAService, Hierarchy
from tests.helpers import key_for

CREDENTIAL = "bootstrap-credential-for-tests"


@pytest.fixture
def bootstrap(hierarchy: Hierarchy) -> Iterator[str]:
    """The session CA knows CREDENTIAL's SHA-256 for the duration of a test."""
    path = hierarchy.ca.dir / "bootstrap.sha256"
    path.write_text(hashlib.sha256(CREDENTIAL.encode()).hexdigest() + "\n")
    try:
        yield CREDENTIAL
    finally:
        path.unlink(missing_ok=True)


def _request(hierarchy: Hierarchy, profile: str, pin: str | None) -> dict[str, object]:
    csr = build_csr(key_for(hierarchy.algorithm, 40), common_name_subject("iot-device-01.cert-lab.local"))
    csr_b64 = base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode()
    return dogtag.enrollment_request(profile, csr_b64, credentials={"pin": pin} if pin is not None else None)


async def _submit(ca_service: CAService, profile: str, pin: str | None) -> dogtag.RequestInfo:
    ca_service.as_anonymous()
    response = await ca_service.client.post("/ca/rest/certrequests", json=_request(ca_service.hierarchy, profile, pin))
    assert response.status == 200
    return dogtag.parse_request_infos(await response.json())[0]


async def test_valid_bootstrap_credential_issues_at_once(ca_service: CAService, bootstrap: str) -> None:
    info = await _submit(ca_service, "caIoTDeviceCert", bootstrap)
    assert info.status == "complete"
    assert info.cert_id is not None


@pytest.mark.parametrize("pin", [None, "", "wrong-credential"], ids=["missing", "empty", "wrong"])
async def test_without_valid_credential_the_request_stays_pending(
    ca_service: CAService, bootstrap: str, pin: str | None
) -> None:
    info = await _submit(ca_service, "caIoTDeviceCert", pin)
    assert info.status == "pending"
    assert info.cert_id is None


async def test_credential_does_not_open_other_profiles(ca_service: CAService, bootstrap: str) -> None:
    info = await _submit(ca_service, "estServiceCert", bootstrap)
    assert info.status == "pending"


async def test_no_credential_installed_means_pending(ca_service: CAService) -> None:
    info = await _submit(ca_service, "caIoTDeviceCert", CREDENTIAL)
    assert info.status == "pending"


def test_enrollment_request_carries_credentials_in_attributes() -> None:
    body = dogtag.enrollment_request("caIoTDeviceCert", "MIIB", credentials={"pin": "s3cret"})
    assert body["Attributes"] == {"Attribute": [{"name": "pin", "value": "s3cret"}]}
    assert dogtag.parse_enrollment_request(body).credentials == {"pin": "s3cret"}
