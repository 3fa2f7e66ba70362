"""CAClient.status(): getStatus parsed once into CAStatus; bad JSON or wrong shapes are CAError."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from labctl.ca_client import STATUS_PATH, CAClient, CAStatus, ca_ssl_context, parse_status
from labctl.errors import CAError
from labctl.services.ca.app import create_app
from labctl.services.ca.authority import IntermediateCA
from tests.conftest import install_certificate

if TYPE_CHECKING:
    from tests.conftest import AiohttpClient, Hierarchy


async def _status_body(ca: IntermediateCA, aiohttp_client: AiohttpClient) -> Any:
    client = await aiohttp_client(create_app(ca))
    response = await client.get(STATUS_PATH)
    assert response.status == 200
    return await response.json()


# --- the lab CA's own answers ------------------------------------------------------------------


async def test_status_before_install_is_awaiting_certificate_without_counts(
    awaiting_ca: IntermediateCA, aiohttp_client: AiohttpClient
) -> None:
    status = parse_status(await _status_body(awaiting_ca, aiohttp_client))
    assert status == CAStatus("awaiting-certificate", {})


async def test_status_after_install_is_running_with_counts(
    awaiting_ca: IntermediateCA, hierarchy: Hierarchy, aiohttp_client: AiohttpClient
) -> None:
    install_certificate(awaiting_ca, hierarchy.root)
    status = parse_status(await _status_body(awaiting_ca, aiohttp_client))
    assert status.status == "running"
    assert dict(status.counts) == {"VALID": 0, "REVOKED": 0, "PENDING_REQUESTS": 0}


def test_status_counts_are_read_only() -> None:
    status = parse_status({"Response": {"Status": "running", "Counts": {"VALID": 1}}})
    with pytest.raises(TypeError):
        status.counts["VALID"] = 2  # type: ignore[index]


# --- wrong shapes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "the answer has no Response object"),
        ({"Status": "running"}, "the answer has no Response object"),
        ({"Response": "running"}, "the answer has no Response object"),
        ({"Response": {}}, "Response.Status is None, not a string"),
        ({"Response": {"Status": 1}}, "Response.Status is 1, not a string"),
        ({"Response": {"Status": "running", "Counts": [1]}}, "Response.Counts is not an object of integers: [1]"),
        ({"Response": {"Status": "running", "Counts": {"VALID": "1"}}}, "Response.Counts is not an object of integers"),
        (
            {"Response": {"Status": "running", "Counts": {"VALID": True}}},
            "Response.Counts is not an object of integers",
        ),
    ],
    ids=[
        "list",
        "no-response",
        "response-not-object",
        "no-status",
        "status-not-string",
        "counts-list",
        "count-string",
        "count-bool",
    ],
)
def test_malformed_status_is_a_ca_error_naming_the_field(body: object, message: str) -> None:
    with pytest.raises(CAError) as info:
        parse_status(body, source="CA at https://ca:8443: getStatus")
    assert str(info.value).startswith(f"CA at https://ca:8443: getStatus: {message}")


# --- through CAClient, on loopback -------------------------------------------------------------


@pytest.fixture
def answering() -> Iterator[tuple[str, list[bytes]]]:
    """A plain-HTTP server on 127.0.0.1 answering every GET with the next body in the list."""
    bodies: list[bytes] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = bodies.pop(0)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", bodies
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_client_status_parses_the_answer(answering: tuple[str, list[bytes]]) -> None:
    url, bodies = answering
    bodies.append(b'{"Response": {"State": "1", "Type": "CA", "Status": "starting", "Counts": {"VALID": 3}}}')
    with CAClient(url, ssl_context=ca_ssl_context(None)) as client:
        status = client.status()
    assert status == CAStatus("starting", {"VALID": 3})


def test_client_status_not_json_is_a_ca_error_naming_the_ca(answering: tuple[str, list[bytes]]) -> None:
    url, bodies = answering
    bodies.append(b"<html>proxy error</html>")
    with CAClient(url, ssl_context=ca_ssl_context(None)) as client, pytest.raises(CAError) as info:
        client.status()
    assert str(info.value).startswith(f"CA at {url}: {STATUS_PATH}: the answer is not JSON: ")


def test_client_status_wrong_shape_is_a_ca_error_naming_the_ca(answering: tuple[str, list[bytes]]) -> None:
    url, bodies = answering
    bodies.append(b'{"Response": {"State": "1"}}')
    with CAClient(url, ssl_context=ca_ssl_context(None)) as client, pytest.raises(CAError) as info:
        client.status()
    assert str(info.value) == f"CA at {url}: {STATUS_PATH}: Response.Status is None, not a string"
