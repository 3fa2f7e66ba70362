"""Certificate events on a running lab (issue 15): a lab of its own, whose lab file sends every CA's
events to a receiver on this host at the hierarchy network's gateway (`{gateway}`), beside any other
lab (`--lab`, free subnets and ports). The receiver gets an enrollment and a revocation of each
hierarchy; an event sent while the receiver was down is reported by `labctl events`, then arrives
once it is back."""

from __future__ import annotations

import functools
import json
import re
import socket
from collections.abc import Iterator

import pytest

from labctl.placement import RECORDED_LAB
from labctl.runtime.podman import PodmanRuntime
from labctl.topology import DEFAULT_LAB_FILE, Lab, gateway, load_lab
from tests.e2e.conftest import LabCLI
from tests.receiver import WebhookReceiver

pytestmark = pytest.mark.e2e
NAME = "e2e-events"
# Short, so the test sees an undelivered event reported; the CA retries with backoff up to 30 s.
REPORT_AFTER_S = 5
DEADLINE_S = 180


class EventsLab:
    def __init__(self, cli: LabCLI, lab: Lab, receiver: WebhookReceiver) -> None:
        self.cli = cli
        self.lab = lab
        self.receiver = receiver

    def labctl(self, *args: str, timeout: float = 600) -> str:
        return self.cli.run("--lab", NAME, *args, timeout=timeout).stdout

    def enroll(self, hierarchy: str, common_name: str) -> str:
        output = self.labctl("est-enroll", "--cn", common_name, "--pki-type", hierarchy)
        match = re.search(r"^serial:\s+(0x[0-9a-f]+)$", output, re.MULTILINE)
        assert match, output
        return match.group(1)

    def events_for(self, serial: str, hierarchy: str) -> list[dict[str, object]]:
        return self.receiver.matching(serial=serial, hierarchy=hierarchy)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def events_lab(runtime: PodmanRuntime, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventsLab]:
    port = _free_port()
    lab_file = tmp_path_factory.mktemp("lab") / "lab.toml"
    lab_file.write_text(
        DEFAULT_LAB_FILE.read_text(encoding="utf-8")
        + f'\n[events]\nwebhooks = ["http://{{gateway}}:{port}/hooks/{{hierarchy}}"]\nreport_after_s = {REPORT_AFTER_S}\n',
        encoding="utf-8",
    )
    cli = LabCLI(tmp_path_factory.mktemp("events-state"), load_lab(lab_file))
    cli.run("--lab", NAME, "down", "--volumes")
    receiver = WebhookReceiver([])
    try:
        cli.run("--config", str(lab_file), "--lab", NAME, "up", "--subnets", "auto", "--ports", "auto", timeout=900)
        placed = load_lab(cli.state_dir / RECORDED_LAB)  # later commands (no --config) find this record
        assert placed.events.webhooks, "the recorded lab kept its [events]"
        # The bridges carry their gateway addresses once the lab's containers run: bind there now. The CAs
        # already queued their install-time events (admin, TLS and RA certificates) and retry them.
        receiver.addresses = [(str(gateway(h)), port) for h in placed.hierarchies]
        receiver.start()
        yield EventsLab(cli, placed, receiver)
    finally:
        receiver.stop()
        cli.run("--lab", NAME, "down", "--volumes", check=False)


def _both_arrived(events_lab: EventsLab, serial: str, hierarchy: str) -> bool:
    return len(events_lab.events_for(serial, hierarchy)) == 2


def _first_arrived(events_lab: EventsLab, hierarchy: str) -> bool:
    return bool(events_lab.receiver.matching(hierarchy=hierarchy, id=1))


def test_each_hierarchy_posts_its_enrollment_and_revocation(events_lab: EventsLab) -> None:
    serials = {}
    for hierarchy in events_lab.lab.hierarchies:
        serial = events_lab.enroll(hierarchy.name, f"hooked-{hierarchy.name}.{NAME}.test")
        events_lab.labctl("revoke", serial, "--pki-type", hierarchy.name, "--reason", "key_compromise")
        serials[hierarchy.name] = serial
    for name, serial in serials.items():
        events_lab.receiver.wait_for(
            f"{name} events of {serial}",
            functools.partial(_both_arrived, events_lab, serial, name),
            deadline_s=DEADLINE_S,
        )
        issued, revoked = events_lab.events_for(serial, name)
        assert (issued["type"], revoked["type"]) == ("certificate.issued", "certificate.revoked")
        assert issued["subject"] == f"CN=hooked-{name}.{NAME}.test"
        assert revoked["reason"] == "Key_Compromise"
        assert {issued["ca_level"], revoked["ca_level"]} == {"intermediate"}
        assert {issued["path"], revoked["path"]} == {f"/hooks/{name}"}


def test_the_install_time_issuances_arrive_too(events_lab: EventsLab) -> None:
    for hierarchy in events_lab.lab.hierarchies:
        events_lab.receiver.wait_for(
            f"{hierarchy.name}'s first event",
            functools.partial(_first_arrived, events_lab, hierarchy.name),
            deadline_s=DEADLINE_S,
        )


def test_an_event_sent_while_the_receiver_is_down_is_reported_then_arrives(events_lab: EventsLab) -> None:
    events_lab.receiver.stop()
    try:
        serial = events_lab.enroll("ecc", f"while-down.{NAME}.test")
        reported = ""

        def overdue() -> bool:
            nonlocal reported
            result = events_lab.cli.run("--lab", NAME, "events", "--pki-type", "ecc", "--json")
            mine = [json.loads(line) for line in result.stdout.splitlines() if serial in line]
            reported = result.stderr
            return bool(mine and mine[0]["undelivered"]) and "undelivered events since" in result.stderr

        events_lab.receiver.wait_for(f"{serial} reported undelivered", overdue, deadline_s=DEADLINE_S)
        assert "ecc: webhook http://" in reported
    finally:
        events_lab.receiver.start()
    events_lab.receiver.wait_for(
        f"the held event of {serial}", lambda: bool(events_lab.events_for(serial, "ecc")), deadline_s=DEADLINE_S
    )
    (event,) = events_lab.events_for(serial, "ecc")
    assert event["type"] == "certificate.issued"


def test_labctl_events_lists_every_hierarchy(events_lab: EventsLab) -> None:
    lines = events_lab.labctl("events").splitlines()
    assert {line.split()[1] for line in lines} == {h.name for h in events_lab.lab.hierarchies}
    assert any("certificate.revoked" in line and "Key_Compromise" in line for line in lines)
