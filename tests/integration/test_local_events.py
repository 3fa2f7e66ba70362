"""Certificate events from the CAs as real processes on 127.0.0.1 (labctl.local): webhooks for an
enrollment and a revocation, an event sent while the receiver was down arriving once it is back, and
`labctl events --json` reading them as the lab admin."""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from labctl import revocation
from labctl.bootstrap import admin_client
from labctl.cli import main
from labctl.endpoint import Endpoint
from labctl.est_client import ESTClient, est_ssl_context
from labctl.local import LocalLab
from labctl.pki.issue import build_csr, common_name_subject
from labctl.pki.keys import generate_private_key
from labctl.placement import RECORDED_LAB, record_lab
from labctl.ports import with_free_ports
from labctl.state import HierarchyState
from labctl.topology import Events, load_lab
from tests.receiver import WebhookReceiver

pytestmark = pytest.mark.integration


@dataclass
class EventedLab:
    endpoints: dict[str, Endpoint]
    state_dir: Path
    receiver: WebhookReceiver
    url: str


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def evented(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventedLab]:
    port = _free_port()
    template = f"http://{{gateway}}:{port}/hooks/{{hierarchy}}"
    lab = dataclasses.replace(with_free_ports(load_lab()), events=Events((template,), report_after_s=300))
    state_dir = tmp_path_factory.mktemp("state")
    receiver = WebhookReceiver([("127.0.0.1", port)])
    receiver.start()
    runner = LocalLab(lab, state_dir, hierarchies=("rsa", "ecc"))
    endpoints = runner.up(timeout=90)
    record_lab(lab, state_dir)
    try:
        yield EventedLab({e.hierarchy.name: e for e in endpoints}, state_dir, receiver, template)
    finally:
        runner.stop()
        receiver.stop()


def _enroll(endpoint: Endpoint, common_name: str) -> str:
    csr = build_csr(generate_private_key(endpoint.hierarchy.algorithm), common_name_subject(common_name))
    context = est_ssl_context(endpoint.trust_file)
    with ESTClient(endpoint.ra_url, ssl_context=context, auth=(endpoint.username, endpoint.password)) as est:
        return f"0x{est.simpleenroll(csr).serial_number:x}"


def test_an_enrollment_and_a_revocation_reach_the_webhook(evented: EventedLab) -> None:
    endpoint = evented.endpoints["rsa"]
    serial = _enroll(endpoint, "hooked.cert-lab.local")
    revocation.revoke(load_lab(evented.state_dir / RECORDED_LAB), evented.state_dir, "rsa", serial, "key_compromise")
    evented.receiver.wait_for(
        f"events for {serial}", lambda: len(evented.receiver.matching(serial=serial, hierarchy="rsa")) == 2
    )
    issued, revoked = evented.receiver.matching(serial=serial)
    assert (issued["type"], revoked["type"]) == ("certificate.issued", "certificate.revoked")
    assert issued["subject"] == revoked["subject"] == "CN=hooked.cert-lab.local"
    assert issued["profile"] == "estServiceCert"
    assert (revoked["reason"], revoked["reason_code"]) == ("Key_Compromise", 1)
    assert {issued["ca_level"], revoked["ca_level"]} == {"intermediate"}
    assert {issued["path"], revoked["path"]} == {"/hooks/rsa"}
    assert revoked["id"] > issued["id"]
    assert issued["request_id"] != revoked["request_id"]


def test_an_event_sent_while_the_receiver_is_down_arrives_once_it_is_back(evented: EventedLab) -> None:
    endpoint = evented.endpoints["ecc"]
    url = evented.url.format(gateway="127.0.0.1", hierarchy="ecc")
    evented.receiver.stop()
    try:
        serial = _enroll(endpoint, "while-down.cert-lab.local")
        state = HierarchyState(evented.state_dir / "ecc")
        with admin_client(endpoint.hierarchy, state, endpoint.ca_url) as ca:

            def refused() -> bool:
                page = ca.labctl_events(after=0, limit=1)
                receivers = page["receivers"]  # type: ignore[index]
                return any(r["url"] == url and r["pending"] > 0 and r["last_error"] for r in receivers)

            evented.receiver.wait_for("a failed delivery", refused)
    finally:
        evented.receiver.start()
    evented.receiver.wait_for(f"the event of {serial}", lambda: bool(evented.receiver.matching(serial=serial)))
    (event,) = evented.receiver.matching(serial=serial)
    assert (event["hierarchy"], event["type"], event["path"]) == ("ecc", "certificate.issued", "/hooks/ecc")


def test_labctl_events_lists_them_as_json_lines(evented: EventedLab) -> None:
    serial = _enroll(evented.endpoints["ecc"], "listed.cert-lab.local")
    result = CliRunner().invoke(main, ["--state-dir", str(evented.state_dir), "events", "--json"])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    mine = [e for e in events if e["serial"] == serial]
    assert [(e["hierarchy"], e["type"]) for e in mine] == [("ecc", "certificate.issued")]
    assert {e["hierarchy"] for e in events} == {"rsa", "ecc"}
    times = [e["time"] for e in events]
    assert times == sorted(times)
