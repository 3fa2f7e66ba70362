"""`labctl events`: one-line errors without a lab, --follow keeps going through a CA outage and
ends quietly with 130 on Ctrl-C."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner

from labctl.cert_events import CertificateEvent, EventType
from labctl.cli import main
from labctl.errors import CAError
from labctl.event_feed import FeedEvent
from tests.unit.test_event_feed import START


def test_events_without_a_lab_says_it_is_not_up(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--state-dir", str(tmp_path), "events"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert f"the rsa hierarchy of lab 'cert-lab' is not up: no lab admin credential in {tmp_path / 'rsa'}" in (
        result.output
    )
    assert f"hint: bring it up with `labctl --state-dir {tmp_path} up`" in result.output


class ScriptedFeed:
    """Stands in for EventFeed: each read_new() plays the next step (events, a CA's error, or an interrupt)."""

    steps: ClassVar[list[Any]] = []

    def __init__(self, *args: object) -> None:
        self.overdue: list[object] = []
        self.errors: dict[str, CAError] = {}

    def __enter__(self) -> ScriptedFeed:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def read_new(self) -> list[FeedEvent]:
        step = ScriptedFeed.steps.pop(0)
        self.errors = {}
        if isinstance(step, CAError):
            self.errors = {"rsa": step}
            return []
        if isinstance(step, BaseException):
            raise step
        return step  # type: ignore[no-any-return]


def _feed_event(event_id: int) -> FeedEvent:
    event = CertificateEvent(event_id, EventType.ISSUED, "rsa", 0x10 + event_id, "CN=d", "estServiceCert", START, 1)
    return FeedEvent(event, ())


def test_follow_rides_out_an_unreachable_ca_and_ends_with_130(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    outage = CAError("CA at https://127.0.0.1:8444 unreachable: connection refused")
    ScriptedFeed.steps = [[_feed_event(1)], outage, outage, [_feed_event(2)], KeyboardInterrupt()]
    monkeypatch.setattr("labctl.cli.events.EventFeed", ScriptedFeed)
    monkeypatch.setattr("labctl.cli.events.stop_on_termination", lambda: None)
    result = CliRunner().invoke(main, ["--state-dir", str(tmp_path), "events", "--follow", "--interval", "0"])
    assert result.exit_code == 130
    assert [line.split()[2] for line in result.stdout.splitlines()] == ["#1", "#2"]
    assert result.stderr.count("unreachable: connection refused; still following") == 1
