"""The podman service going away mid-command is a RuntimeBackendError (one line and a hint), never a traceback.

No podman here: PodmanRuntime talks to a fake service on a unix socket in a private directory. It
answers podman-py's ping, then fails the way a dying service does: closes the connection without an
answer, dies in the middle of one, stops listening (connection refused) or takes its socket along.
Starting a real service is made impossible (subprocess.Popen fails the test), and the rootful
socket is pointed elsewhere, so nothing here can touch the podman another user may be running.
"""

from __future__ import annotations

import contextlib
import enum
import gc
import ipaddress
import re
import socket
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import labctl.runtime.podman as podman_module
from labctl import cli
from labctl.errors import RuntimeBackendError
from labctl.runtime.base import FileContent, NetworkSpec
from labctl.runtime.podman import PodmanRuntime

PING_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK"
# A JSON answer whose body stops long before its Content-Length: the service died while sending it.
CUT_ANSWER = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n[{"Id": "0123'


class Failure(enum.StrEnum):
    CLOSE = "close"  # reads the request, closes without a byte of answer
    CUT = "cut"  # starts answering, then closes
    REFUSED = "refused"  # stopped listening; the socket file stays (connection refused)
    GONE = "gone"  # stopped listening and removed its socket


REASONS = {
    Failure.CLOSE: "it closed the connection without answering",
    Failure.CUT: "its answer was cut off",
    Failure.REFUSED: "connection refused",
    Failure.GONE: "its socket is gone",
}


def _answer(body: bytes, content_type: str) -> bytes:
    """A whole HTTP answer that ends with the connection (no Content-Length)."""
    return f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n".encode() + body


class FakePodmanService:
    """A unix-socket HTTP server that answers `/_ping`, any request line containing a key of `answers`
    with its value, and fails every other request as `failure` says."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"unix://{path}"
        self.failure = Failure.CLOSE
        self.answers: dict[bytes, bytes] = {b"/_ping": PING_ANSWER}
        self.requests: list[bytes] = []
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        self._server.listen(16)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def fail(self, failure: Failure) -> None:
        self.failure = failure
        if failure in (Failure.REFUSED, Failure.GONE):
            self.stop()
        if failure is Failure.GONE:
            self.path.unlink()

    def stop(self) -> None:
        # shutdown() wakes the thread blocked in accept(); close() alone would not.
        with contextlib.suppress(OSError):  # already stopped
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        self._thread.join(timeout=5)

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:  # stopped
                return
            with connection:
                self._answer(connection)

    def _answer(self, connection: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = connection.recv(65536)
            if not chunk:
                return
            head += chunk
        request_line = head.split(b"\r\n", 1)[0]
        self.requests.append(request_line)
        answer = next((data for key, data in self.answers.items() if key in request_line), None)
        if answer is not None:
            connection.sendall(answer)
        elif self.failure is Failure.CUT:
            connection.sendall(CUT_ANSWER)


@pytest.fixture(autouse=True)
def no_real_podman(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test here may start `podman system service` or reach the rootful socket."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a test tried to start a process: {args}")

    monkeypatch.setattr(podman_module.subprocess, "Popen", refuse)
    monkeypatch.setattr(podman_module, "ROOTFUL_SOCKET", str(tmp_path / "no-rootful.sock"))
    monkeypatch.delenv("CONTAINER_HOST", raising=False)


@pytest.fixture(autouse=True)
def collect_leaked_sockets() -> Iterator[None]:
    """podman-py leaks the socket of a connect that fails (podman/api/uds.py: UDSSocket.connect raises
    without closing it), which these tests cause on purpose: collect it here, not as a ResourceWarning
    in whichever test the garbage collector happens to run in."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    # A unix socket path has at most 107 bytes: pytest's tmp_path can be longer.
    with tempfile.TemporaryDirectory(prefix="labctl-") as directory:
        yield Path(directory)


@pytest.fixture
def service(socket_dir: Path) -> Iterator[FakePodmanService]:
    fake = FakePodmanService(socket_dir / "podman.sock")
    yield fake
    fake.stop()


@pytest.fixture
def runtime(service: FakePodmanService) -> Iterator[PodmanRuntime]:
    connected = PodmanRuntime(service.url, start_service=False)
    yield connected
    connected.close()


# What `up`, `down`, `status` and `verify` ask podman, one call of each kind (GET, POST, DELETE, streams).
CALLS: dict[str, tuple[str, Callable[[PodmanRuntime], object]]] = {
    "network_exists": ("network cert-lab-ecc", lambda r: r.network_exists("cert-lab-ecc")),
    "create_network": (
        "create network cert-lab-ecc",
        lambda r: r.create_network(NetworkSpec("cert-lab-ecc", ipaddress.IPv4Network("172.28.0.0/24"), {})),
    ),
    "list_volumes": ("list volumes", lambda r: r.list_volumes({})),
    "image_labels": ("image localhost/labctl:latest", lambda r: r.image_labels("localhost/labctl:latest")),
    "start_container": ("start dogtag-ecc-est-ca", lambda r: r.start_container("dogtag-ecc-est-ca")),
    "remove_container": ("remove dogtag-ecc-est-ca", lambda r: r.remove_container("dogtag-ecc-est-ca")),
    "inspect_container": ("inspect dogtag-ecc-est-ca", lambda r: r.inspect_container("dogtag-ecc-est-ca")),
    "list_containers": ("list containers", lambda r: r.list_containers({})),
    "read_file": ("read dogtag-ecc-intermediate-ca:/a", lambda r: r.read_file("dogtag-ecc-intermediate-ca", "/a")),
    "write_files": (
        "copy 1 files into dogtag-ecc-intermediate-ca:/d",
        lambda r: r.write_files("dogtag-ecc-intermediate-ca", "/d", {"f": FileContent(b"x")}, owner=(0, 0)),
    ),
    "exec": ("exec in dogtag-ecc-est-ca", lambda r: r.exec("dogtag-ecc-est-ca", ("true",))),
    "run_healthcheck": ("healthcheck dogtag-ecc-est-ca", lambda r: r.run_healthcheck("dogtag-ecc-est-ca")),
    "logs": ("logs of dogtag-ecc-est-ca", lambda r: r.logs("dogtag-ecc-est-ca")),
}


@pytest.mark.parametrize("failure", list(Failure), ids=[f.value for f in Failure])
@pytest.mark.parametrize("call", list(CALLS), ids=list(CALLS))
def test_a_service_going_away_mid_command_is_a_runtime_backend_error(
    runtime: PodmanRuntime, service: FakePodmanService, call: str, failure: Failure
) -> None:
    action, invoke = CALLS[call]
    service.fail(failure)
    with pytest.raises(RuntimeBackendError) as caught:
        invoke(runtime)
    message = str(caught.value)
    assert message == f"podman service at {service.url} stopped answering during {action}: {REASONS[failure]}"
    assert "\n" not in message
    assert caught.value.hint is not None and "podman system service" in caught.value.hint


def test_an_answer_cut_inside_its_head_is_a_runtime_backend_error(
    runtime: PodmanRuntime, service: FakePodmanService
) -> None:
    # http.client takes a head cut short for a whole one with an empty body: the JSON is what fails.
    service.answers[b"/containers/"] = b"HTTP/1.1 200 OK\r\nContent-Ty"
    with pytest.raises(RuntimeBackendError) as caught:
        runtime.inspect_container("dogtag-ecc-est-ca")
    assert str(caught.value) == (
        f"podman service at {service.url} sent an unreadable answer to inspect dogtag-ecc-est-ca"
        " (Expecting value: line 1 column 1 (char 0))"
    )
    assert caught.value.hint is not None and "podman system service" in caught.value.hint


def test_an_archive_cut_short_is_a_runtime_backend_error(runtime: PodmanRuntime, service: FakePodmanService) -> None:
    """A read_file answer that ends early but cleanly (no Content-Length): the tar archive is what fails."""
    container = b'{"Id": "0123abcd", "Name": "dogtag-ecc-intermediate-ca"}'
    service.answers[b"/json"] = _answer(container, "application/json")
    service.answers[b"/archive"] = _answer(b"ca.crt\0" + b"\0" * 93, "application/x-tar")  # 100 of a 512-byte header
    with pytest.raises(RuntimeBackendError) as caught:
        runtime.read_file("dogtag-ecc-intermediate-ca", "/var/lib/labctl/ca/ca.crt")
    assert str(caught.value).startswith(
        "podman: read dogtag-ecc-intermediate-ca:/var/lib/labctl/ca/ca.crt: the archive podman sent is cut off or invalid"
    )
    assert "\n" not in str(caught.value)


def test_no_service_at_the_socket_is_a_runtime_backend_error(socket_dir: Path) -> None:
    url = f"unix://{socket_dir / 'podman.sock'}"
    with pytest.raises(RuntimeBackendError, match=f"^no podman service answers at {re.escape(url)}$") as caught:
        PodmanRuntime(url, start_service=False)
    assert caught.value.hint is not None and "podman system service" in caught.value.hint


def test_no_second_service_is_started_on_a_socket_that_listens_but_does_not_answer(
    socket_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A hung service, or systemd's socket whose service fails: something accepts, nothing answers.
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(socket_dir / "podman.sock"))
    listener.listen(16)
    monkeypatch.setattr(podman_module.shutil, "which", lambda _: "/usr/bin/podman")
    closer = threading.Thread(target=_close_every_connection, args=(listener,), daemon=True)
    closer.start()
    try:
        with pytest.raises(RuntimeBackendError, match=r"accepts connections but does not answer$") as caught:
            PodmanRuntime(f"unix://{socket_dir / 'podman.sock'}")
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        closer.join(timeout=5)
    assert caught.value.hint is not None and "restart" in caught.value.hint


def _close_every_connection(listener: socket.socket) -> None:
    while True:
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        connection.close()


# --- the CLI: one line and a hint, exit code 1, no traceback -------------------------------------------


def _status(state_dir: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, list[str]]:
    monkeypatch.setenv("CONTAINER_HOST", url)
    result = CliRunner().invoke(cli.main, ["--state-dir", str(state_dir), "status"])
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, RuntimeBackendError | AssertionError), result.exception
    return result.exit_code, result.output.strip().splitlines()


def test_status_when_the_service_goes_away_prints_one_line_and_a_hint(
    tmp_path: Path, service: FakePodmanService, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.fail(Failure.CUT)
    code, lines = _status(tmp_path, service.url, monkeypatch)
    assert code == 1
    assert lines[0] == (
        f"Error: podman service at {service.url} stopped answering during inspect dogtag-intermediate-ca:"
        " its answer was cut off"
    )
    assert len(lines) == 2 and lines[1].startswith("hint: is the podman service running?")


def test_status_against_a_dead_socket_prints_one_line_and_a_hint(
    tmp_path: Path, service: FakePodmanService, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.fail(Failure.REFUSED)  # the socket file is left behind, as by a killed service
    monkeypatch.setattr(podman_module.shutil, "which", lambda _: None)  # and no podman to start another
    code, lines = _status(tmp_path, service.url, monkeypatch)
    assert code == 1
    assert lines == [
        f"Error: no podman service answers at {service.url}, and labctl cannot start one there",
        "hint: install podman (scripts/setup-host), or point CONTAINER_HOST at a running service",
    ]
