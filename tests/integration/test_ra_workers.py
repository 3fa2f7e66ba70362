"""The RA with workers = 2 as host processes (LocalLab, ecc): enrollments on fresh connections are served
by both workers (the pid in each log line), and SIGTERM stops the RA and its workers with exit code 0."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from labctl.endpoint import Endpoint
from labctl.local import LocalLab
from labctl.ports import with_free_ports
from labctl.topology import DEFAULT_LAB_FILE, parse_lab
from tests.helpers import simpleenroll

pytestmark = pytest.mark.integration
# "<time> [<pid>] INFO labctl.services.http: <peer> POST /.well-known/est/simpleenroll 200 <ms>ms"
ENROLLED = re.compile(r"\[(\d+)\] INFO labctl\.services\.http: \S+ POST /\.well-known/est/simpleenroll 200 ")
ENROLLMENTS = 24  # on fresh connections: the chance SO_REUSEPORT sends all to one of 2 workers is 2**-23


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalLab, Endpoint]]:
    text = DEFAULT_LAB_FILE.read_text().replace("port = 8466\n", "port = 8466\nworkers = 2\n")
    runner = LocalLab(with_free_ports(parse_lab(text)), tmp_path_factory.mktemp("workers"), hierarchies=("ecc",))
    [endpoint] = runner.up(timeout=60)
    try:
        yield runner, endpoint
    finally:
        runner.stop()


def _enroll(endpoint: Endpoint, name: str) -> int:
    return simpleenroll(endpoint, name).status_code


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"


def test_both_workers_serve_and_sigterm_stops_them(two_workers: tuple[LocalLab, Endpoint]) -> None:
    runner, endpoint = two_workers
    name = endpoint.hierarchy.ra.container
    assert [_enroll(endpoint, f"worker-{i}.cert-lab.local") for i in range(ENROLLMENTS)] == [200] * ENROLLMENTS
    parent = runner.runtime.main_pid(name)
    assert parent is not None
    served = ENROLLED.findall(runner.runtime.logs(name, tail=10_000))
    assert len(served) == ENROLLMENTS
    workers = {int(pid) for pid in served}
    assert len(workers) == 2 and parent not in workers

    runner.runtime.stop_container(name, timeout_s=10)
    info = runner.runtime.inspect_container(name)
    assert info is not None and info.exit_code == 0, runner.runtime.logs(name, tail=20)
    assert not [pid for pid in workers if _pid_alive(pid)]
