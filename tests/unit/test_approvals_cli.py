"""`labctl requests / approve / reject` against the in-process CA's REST API (on a loopback port, in a
thread), for every algorithm: the lab admin reviews, approves and rejects what an RA in manual mode holds.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives import serialization

from labctl import approvals, dogtag
from labctl.ca_client import CAClient
from labctl.cli import main
from labctl.pki.issue import build_csr, common_name_subject
from labctl.pki.keys import KeyAlgorithm
from labctl.services.ca.app import create_app as create_ca_app
from labctl.services.ca.store import RequestStatus
from labctl.topology import load_lab
from tests.conftest import DEVICE_KEY, INSTALLER, Hierarchy
from tests.helpers import key_for

PKI_TYPE = {KeyAlgorithm.RSA_4096: "rsa", KeyAlgorithm.EC_P384: "ecc", KeyAlgorithm.ML_DSA_87: "pqc"}


class AppThread(threading.Thread):
    """An aiohttp app on 127.0.0.1 (a free port, plain HTTP) in its own event loop, for synchronous clients."""

    def __init__(self, make_app: Callable[[], web.Application]) -> None:
        super().__init__(daemon=True)
        self._make_app = make_app
        self.loop = asyncio.new_event_loop()
        self.started = threading.Event()
        self.url = ""

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        runner = web.AppRunner(self._make_app())
        self.loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        self.started.set()
        self.loop.run_forever()
        self.loop.run_until_complete(runner.cleanup())
        self.loop.close()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.join(timeout=10)


@pytest.fixture
def agent_ca_url(hierarchy: Hierarchy) -> Iterator[str]:
    """The CA's REST API on a loopback port; every request presents the agent credential."""
    agent_der = hierarchy.agent_der
    thread = AppThread(lambda: create_ca_app(hierarchy.ca, peer_certificate=lambda request: agent_der))
    thread.start()
    assert thread.started.wait(30)
    yield thread.url
    thread.stop()


@pytest.fixture
def state_dir(tmp_path: Path, agent_ca_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state dir whose hierarchies look up (an admin credential each); the admin client reaches the CA above."""
    for name in PKI_TYPE.values():
        (tmp_path / name).mkdir()
        (tmp_path / name / "admin.crt").write_text("stub")
    monkeypatch.setattr(
        approvals,
        "admin_client",
        lambda *args, **kwargs: CAClient(agent_ca_url, ssl_context=ssl.create_default_context()),
    )
    return tmp_path


_names = iter(range(10**6))


def _hold(hierarchy: Hierarchy) -> tuple[int, str]:
    """A request held at the CA as an RA in manual mode leaves it; its ID and subject."""
    name = f"agent{next(_names)}.cert-lab.local"
    csr = build_csr(key_for(hierarchy.algorithm, DEVICE_KEY), common_name_subject(name), [name])
    der = csr.public_bytes(serialization.Encoding.DER)
    record = hierarchy.ca.submit(der, "estServiceCert", INSTALLER, hold=True, repeat_key=f"cli-{name}")
    assert record.status is RequestStatus.PENDING
    return record.request_id, f"CN={name}"


def _labctl(state_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--state-dir", str(state_dir), *args])


def test_requests_pending_lists_the_held_request(state_dir: Path, hierarchy: Hierarchy) -> None:
    request_id, subject = _hold(hierarchy)
    pki_type = PKI_TYPE[hierarchy.algorithm]
    result = _labctl(state_dir, "requests", "--pending", "--pki-type", pki_type, "--json")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines()]
    assert {r["status"] for r in records} == {"pending"}
    (mine,) = [r for r in records if r["id"] == dogtag.format_id(request_id)]
    assert (mine["hierarchy"], mine["subject"], mine["profile"], mine["requester"]) == (
        pki_type,
        subject,
        "estServiceCert",
        "installer",
    )
    assert mine["submitted"]
    table = _labctl(state_dir, "requests", "--pki-type", pki_type)
    assert table.exit_code == 0, table.output
    assert table.output.splitlines()[0].split() == ["HIERARCHY", "ID", "STATUS", "SUBMITTED", "PROFILE", "SUBJECT"]
    assert any(dogtag.format_id(request_id) in line and subject in line for line in table.output.splitlines())


def test_approve_issues_and_a_second_approve_says_already_approved(state_dir: Path, hierarchy: Hierarchy) -> None:
    request_id, subject = _hold(hierarchy)
    pki_type = PKI_TYPE[hierarchy.algorithm]
    result = _labctl(state_dir, "approve", dogtag.format_id(request_id), "--pki-type", pki_type)
    assert result.exit_code == 0, result.output
    serial = hierarchy.ca.get_request(request_id).serial
    assert serial is not None
    assert result.output == (
        f"request {dogtag.format_id(request_id)} ({subject}) approved on the {pki_type} Intermediate CA:"
        f" certificate {dogtag.format_id(serial)}; the EST client gets it by repeating its request\n"
    )
    again = _labctl(state_dir, "approve", dogtag.format_id(request_id), "--pki-type", pki_type)
    assert again.exit_code == 1
    assert again.output.splitlines() == [
        f"Error: cannot approve request {dogtag.format_id(request_id)}: it is already approved"
        f" ({subject}, certificate {dogtag.format_id(serial)}) on the {pki_type} Intermediate CA"
    ]
    assert hierarchy.ca.get_request(request_id).serial == serial


def test_reject_then_approve_says_already_rejected(state_dir: Path, hierarchy: Hierarchy) -> None:
    request_id, subject = _hold(hierarchy)
    pki_type = PKI_TYPE[hierarchy.algorithm]
    result = _labctl(state_dir, "reject", dogtag.format_id(request_id), "--pki-type", pki_type)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"request {dogtag.format_id(request_id)} ({subject}) rejected on the {pki_type}")
    assert hierarchy.ca.get_request(request_id).status is RequestStatus.REJECTED
    again = _labctl(state_dir, "approve", dogtag.format_id(request_id), "--pki-type", pki_type)
    assert again.exit_code == 1
    assert "it is already rejected" in again.output
    assert hierarchy.ca.get_request(request_id).serial is None


class DecidedMeanwhile(CAClient):
    """The admin's client, while another agent approves the request between its review and the decision."""

    def __init__(self, url: str, hierarchy: Hierarchy) -> None:
        super().__init__(url, ssl_context=ssl.create_default_context())
        self.hierarchy = hierarchy
        self.raced = False

    def review(self, request_id: int) -> dict[str, Any]:
        review = super().review(request_id)
        if not self.raced:
            self.raced = True
            self.hierarchy.ca.approve(request_id, INSTALLER)
        return review


def test_approve_of_a_request_approved_meanwhile_says_already_approved(
    state_dir: Path, hierarchy: Hierarchy, agent_ca_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CA answers Dogtag's 400 "Bad request data: Request Not In Pending State"; labctl says it for people."""
    request_id, subject = _hold(hierarchy)
    pki_type = PKI_TYPE[hierarchy.algorithm]
    monkeypatch.setattr(approvals, "admin_client", lambda *args, **kwargs: DecidedMeanwhile(agent_ca_url, hierarchy))
    result = _labctl(state_dir, "approve", dogtag.format_id(request_id), "--pki-type", pki_type)
    assert result.exit_code == 1
    serial = hierarchy.ca.get_request(request_id).serial
    assert serial is not None
    assert result.output.splitlines() == [
        f"Error: cannot approve request {dogtag.format_id(request_id)}: it is already approved"
        f" ({subject}, certificate {dogtag.format_id(serial)}) on the {pki_type} Intermediate CA"
    ]


def test_unknown_request_is_one_line_with_a_hint(state_dir: Path, hierarchy: Hierarchy) -> None:
    pki_type = PKI_TYPE[hierarchy.algorithm]
    result = _labctl(state_dir, "approve", "0xfffffff", "--pki-type", pki_type)
    assert result.exit_code == 1
    container = load_lab().hierarchy(pki_type).ca.container
    assert result.output.splitlines() == [
        f"Error: request 0xfffffff not found on the {pki_type} Intermediate CA ({container})",
        f"hint: `labctl requests --pki-type {pki_type}` lists its requests",
    ]


@pytest.mark.parametrize("text", ["zz", "0xnope", "-1"])
def test_malformed_request_id_is_refused_before_any_call(tmp_path: Path, text: str) -> None:
    result = _labctl(tmp_path, "reject", text, "--pki-type", "rsa")
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert f"request ID {text!r}" in result.output or "No such option" in result.output


def test_requests_on_a_lab_that_is_not_up_names_labctl_up(tmp_path: Path) -> None:
    result = _labctl(tmp_path, "requests", "--pending")
    assert result.exit_code == 1
    assert "is not up: no lab admin credential" in result.output
    assert "hint: bring it up with `labctl" in result.output
