"""The CA's events API (labctl's extension, GET /ca/v2/labctl/events): agents only, events after an ID,
a revocation with its reason and request, and undelivered events reported per receiver."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from labctl import dogtag
from labctl.services.ca.events import EVENTS_PATH, events_page
from labctl.services.ca.store import NewRequest

if TYPE_CHECKING:
    from tests.conftest import CAOpener, CAService


async def _page(ca_service: CAService, query: str = "") -> Any:
    ca_service.as_agent()
    response = await ca_service.client.get(f"{EVENTS_PATH}{query}")
    assert response.status == 200, await response.text()
    return await response.json()


async def test_events_need_an_agent(ca_service: CAService) -> None:
    ca_service.as_anonymous()
    response = await ca_service.client.get(EVENTS_PATH)
    assert response.status == 401
    assert (await response.json())["Code"] == 401


async def test_an_issuance_and_a_revocation_are_events(ca_service: CAService) -> None:
    before = (await _page(ca_service, "?limit=1"))["latest_id"]
    certificate = ca_service.hierarchy.issue("evented.cert-lab.local")
    cert_id = dogtag.format_id(certificate.serial_number)
    ca_service.as_agent()
    revoked = await ca_service.client.post(f"/ca/v2/agent/certs/{cert_id}/revoke", json={"Reason": "Key_Compromise"})
    assert revoked.status == 200
    revocation_request = (await revoked.json())["requestID"]

    issued, revocation = (await _page(ca_service, f"?after={before}"))["events"]
    assert issued["type"] == "certificate.issued"
    assert revocation["type"] == "certificate.revoked"
    for event in (issued, revocation):
        assert event["serial"] == f"0x{certificate.serial_number:x}"
        assert event["subject"] == "CN=evented.cert-lab.local"
        assert event["profile"] == "estServiceCert"
        assert event["ca_level"] == "intermediate"
        assert event["undelivered"] == []
    assert (revocation["reason"], revocation["reason_code"]) == ("Key_Compromise", 1)
    assert int(revocation["request_id"], 16) == int(revocation_request, 16)
    assert revocation["id"] > issued["id"] > before


async def test_limit_pages_the_events(ca_service: CAService) -> None:
    before = (await _page(ca_service, "?limit=1"))["latest_id"]
    for name in ("page-1", "page-2", "page-3"):
        ca_service.hierarchy.issue(f"{name}.cert-lab.local")
    page = (await _page(ca_service, f"?after={before}&limit=2"))["events"]
    assert [e["subject"] for e in page] == ["CN=page-1.cert-lab.local", "CN=page-2.cert-lab.local"]


@pytest.mark.parametrize("query", ["?after=x", "?after=-1", "?limit=0", "?limit=5000"])
async def test_a_bad_query_is_400(ca_service: CAService, query: str) -> None:
    ca_service.as_agent()
    response = await ca_service.client.get(f"{EVENTS_PATH}{query}")
    assert response.status == 400
    assert (await response.json())["Message"]


def test_an_event_undelivered_too_long_is_marked_and_its_receiver_overdue(open_ca: CAOpener, tmp_path: Any) -> None:
    ca = open_ca(tmp_path / "ca")
    url = "http://192.0.2.1:9797/events"
    ca.config = dataclasses.replace(ca.config, hierarchy="ecc", webhooks=(url,), events_report_after_s=0)
    ca.store.outbox.register(url)
    now = datetime.now(UTC)
    ca.store.add_certificate(
        serial=0x1A2B,
        request_id=None,
        profile_id="estServiceCert",
        subject="CN=device01",
        issuer="CN=Test Intermediate CA",
        der=b"\x30\x03\x02\x01\x01",
        not_before=now,
        not_after=now + timedelta(days=90),
        is_agent=False,
        new_request=NewRequest(b"\x30\x00", "CN=device01", "agent"),
    )
    ca.store.outbox.failed(url, "ClientConnectorError: connection refused", now)
    page = events_page(ca, after=0, limit=10)
    (event,) = page["events"]
    assert (event["hierarchy"], event["undelivered"]) == ("ecc", [url])
    (receiver,) = page["receivers"]
    assert receiver["overdue"] is True
    assert (receiver["pending"], receiver["last_error"]) == (1, "ClientConnectorError: connection refused")
