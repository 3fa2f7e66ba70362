"""The CA with workers = 2 as host processes (LocalLab, ecc): what one worker hands out, another honours.

An agent reviews a certificate on one connection and revokes it with the review's nonce on another (a
new connection may reach either worker: the nonce lives in the store); after the revocation every
worker serves the same CRL, number included, listing it; Dogtag's user's session passes; both workers
served; SIGTERM stops the CA and its workers with exit code 0.
"""

from __future__ import annotations

import base64
import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from labctl.endpoint import Endpoint
from labctl.local import LocalLab
from labctl.ports import with_free_ports
from labctl.state import HierarchyState
from labctl.topology import DEFAULT_LAB_FILE, parse_lab
from tests.dogtag_flows import assert_dogtag_semantics, run_from_host
from tests.helpers import simpleenroll

pytestmark = pytest.mark.integration
# "<time> [<pid>] INFO labctl.services.http: <peer> GET /ca/ee/ca/getCRL 200 <ms>ms"
SERVED = re.compile(r"\[(\d+)\] INFO labctl\.services\.http: \S+ (?:GET|POST) \S+ \d{3} ")
# Fresh connections per check: the chance SO_REUSEPORT sends all of them to one of 2 workers is 2**-(N-1).
CERTIFICATES = 8
CRL_FETCHES = 16


@pytest.fixture(scope="module")
def ca_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalLab, Endpoint, Path]]:
    text = DEFAULT_LAB_FILE.read_text().replace("port = 8464\n", "port = 8464\nworkers = 2\n")
    state = tmp_path_factory.mktemp("ca-workers")
    runner = LocalLab(with_free_ports(parse_lab(text)), state, hierarchies=("ecc",))
    [endpoint] = runner.up(timeout=60)
    try:
        yield runner, endpoint, state
    finally:
        runner.stop()


def _agent(endpoint: Endpoint, state: Path) -> httpx.Client:
    """A client of its own (so a connection of its own) with the lab admin's agent certificate."""
    credentials = HierarchyState.of(state, endpoint.hierarchy)
    context = ssl.create_default_context(cafile=str(credentials.chain))
    context.load_cert_chain(credentials.admin_cert, credentials.admin_key)
    return httpx.Client(base_url=endpoint.ca_url, verify=context, headers={"Accept": "application/json"})


def _enroll(endpoint: Endpoint, name: str) -> int:
    response = simpleenroll(endpoint, name)
    assert response.status_code == 200, response.text
    [certificate] = serialization.pkcs7.load_der_pkcs7_certificates(base64.b64decode(response.content))
    return certificate.serial_number


def test_a_review_nonce_is_honoured_by_the_other_worker(ca_workers: tuple[LocalLab, Endpoint, Path]) -> None:
    _, endpoint, state = ca_workers
    for i in range(CERTIFICATES):
        serial = _enroll(endpoint, f"nonce-{i}.cert-lab.local")
        with _agent(endpoint, state) as reviewer:
            review = reviewer.get(f"/ca/rest/agent/certs/0x{serial:x}")
        assert review.status_code == 200, review.text
        with _agent(endpoint, state) as revoker:  # another connection: either worker
            revoked = revoker.post(
                f"/ca/rest/agent/certs/0x{serial:x}/revoke",
                json={"Reason": "Key_Compromise", "Nonce": review.json()["Nonce"]},
            )
        assert revoked.status_code == 200, revoked.text
    # And it is checked there: another certificate's nonce is refused, whichever worker gets it.
    other = _enroll(endpoint, "nonce-other.cert-lab.local")
    with _agent(endpoint, state) as reviewer:
        assert reviewer.get(f"/ca/rest/agent/certs/0x{other:x}").status_code == 200
    with _agent(endpoint, state) as revoker:
        refused = revoker.post(
            f"/ca/rest/agent/certs/0x{other:x}/revoke",
            json={"Reason": "Key_Compromise", "Nonce": review.json()["Nonce"]},
        )
    assert refused.status_code == 400 and "Nonce does not match" in refused.text, refused.text


def test_every_worker_serves_the_same_crl_after_a_revocation(ca_workers: tuple[LocalLab, Endpoint, Path]) -> None:
    _, endpoint, state = ca_workers
    serial = _enroll(endpoint, "crl.cert-lab.local")
    with _agent(endpoint, state) as agent:
        nonce = agent.get(f"/ca/rest/agent/certs/0x{serial:x}").json()["Nonce"]
        revoked = agent.post(
            f"/ca/rest/agent/certs/0x{serial:x}/revoke", json={"Reason": "Key_Compromise", "Nonce": nonce}
        )
    assert revoked.status_code == 200, revoked.text
    crl_url = f"http://127.0.0.1:{endpoint.hierarchy.ca.http_port}/ca/ee/ca/getCRL?op=getCRL&crlIssuingPoint=MasterCRL"
    answers = set()
    for _ in range(CRL_FETCHES):
        with httpx.Client() as client:  # a new connection each: either worker
            response = client.get(crl_url)
        assert response.status_code == 200
        answers.add(response.content)
    [der] = answers  # one CRL, whichever worker answered
    crl = x509.load_der_x509_crl(der)
    assert crl.get_revoked_certificate_by_serial_number(serial) is not None


def test_dogtag_users_session_against_two_workers(ca_workers: tuple[LocalLab, Endpoint, Path]) -> None:
    _, endpoint, state = ca_workers
    seen = run_from_host(endpoint.hierarchy, state, endpoint.ca_url, "ecc.workers.flow.cert-lab.local")
    assert_dogtag_semantics(seen, endpoint.hierarchy)


def test_both_workers_served_and_sigterm_stops_them(ca_workers: tuple[LocalLab, Endpoint, Path]) -> None:
    runner, endpoint, _ = ca_workers
    name = endpoint.hierarchy.ca.container
    parent = runner.runtime.main_pid(name)
    workers = {int(pid) for pid in SERVED.findall(runner.runtime.logs(name, tail=50_000))}
    assert len(workers) == 2 and parent not in workers

    runner.runtime.stop_container(name, timeout_s=10)
    info = runner.runtime.inspect_container(name)
    assert info is not None and info.exit_code == 0, runner.runtime.logs(name, tail=20)
