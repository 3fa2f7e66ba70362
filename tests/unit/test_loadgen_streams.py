"""The load client closes every TLS connection it opens, whichever way a run ends (issue 17).

A transport still shutting down when the event loop ends is an "unclosed transport" ResourceWarning
raised from a finalizer, so these tests collect what the finalizers say (sys.unraisablehook and the
warnings module) around a whole asyncio.run() and a gc pass.
"""

from __future__ import annotations

import asyncio
import gc
import ssl
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from labctl.loadgen import _trivial_contexts, build_request, run_load
from labctl.pki.keys import KeyAlgorithm

REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.fixture(scope="module")
def contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    return _trivial_contexts(KeyAlgorithm.EC_P384)


@contextmanager
def finalizer_warnings() -> Iterator[list[str]]:
    """What finalizers report (unclosed transports and sockets) while the block runs and at a gc pass after it."""
    seen: list[str] = []
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        seen.append(f"{unraisable.exc_type.__name__}: {unraisable.exc_value}")

    sys.unraisablehook = hook
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            yield seen
            gc.collect()
        seen.extend(f"{w.category.__name__}: {w.message}" for w in caught if issubclass(w.category, ResourceWarning))
    finally:
        sys.unraisablehook = previous


@contextmanager
def remote_server(context: ssl.SSLContext, delay_s: float | None) -> Iterator[int]:
    """A TLS server on its own thread and event loop, as a lab's RA is to the load client: it answers each
    request after `delay_s` (never, for None) and reads the next bytes (a close_notify too) only then, so
    requests and TLS shutdowns are in flight when a run ends."""
    loop = asyncio.new_event_loop()
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                await asyncio.sleep(3600 if delay_s is None else delay_s)
                writer.write(REPLY)
                await asyncio.sleep(delay_s or 0)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.CancelledError):
            pass
        finally:
            writer.transport.abort()

    server = loop.run_until_complete(asyncio.start_server(handle, "127.0.0.1", 0, ssl=context))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield server.sockets[0].getsockname()[1]
    finally:

        async def stop() -> None:
            server.close()
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _run(
    contexts: tuple[ssl.SSLContext, ssl.SSLContext], delay_s: float | None, **kwargs: Any
) -> tuple[Any, list[str]]:
    """One load run in its own event loop against a remote server: what it returned (or raised), and what
    the client's finalizers reported once its loop was closed (the server is still up then: only the
    client's connections count)."""
    server_context, client_context = contexts
    keepalive = kwargs.pop("keepalive", True)
    before: Callable[[asyncio.Task[Any]], Any] | None = kwargs.pop("before", None)

    async def main(port: int) -> Any:
        request = build_request("127.0.0.1", "/", b"", auth=None, keepalive=keepalive)
        run = run_load(
            label="t", host="127.0.0.1", port=port, context=client_context, requests=[request],
            concurrency=8, keepalive=keepalive, **kwargs,
        )  # fmt: skip
        load = asyncio.create_task(run)
        if before is not None:
            await before(load)
        return await load

    with remote_server(server_context, delay_s) as port, finalizer_warnings() as seen:
        try:
            outcome = asyncio.run(main(port))
        except asyncio.CancelledError as exc:
            outcome = exc
        gc.collect()
        return outcome, seen


@pytest.mark.parametrize("keepalive", [True, False], ids=["keep-alive", "new-connection"])
def test_deadline_with_requests_in_flight_leaves_no_open_connection(contexts, keepalive):
    result, seen = _run(contexts, 0.02, keepalive=keepalive, duration_s=0.3)
    assert result.requests > 0
    assert result.errors == 0
    assert seen == []


@pytest.mark.parametrize("keepalive", [True, False], ids=["keep-alive", "new-connection"])
def test_cancelled_run_closes_its_connections(contexts, keepalive):
    async def cancel_soon(load: asyncio.Task[Any]) -> None:
        await asyncio.sleep(0.2)
        load.cancel()

    outcome, seen = _run(contexts, 0.05, keepalive=keepalive, duration_s=30, before=cancel_soon)
    assert isinstance(outcome, asyncio.CancelledError)
    assert seen == []


def test_server_that_never_answers_is_an_error_and_its_connection_is_closed(contexts):
    result, seen = _run(contexts, None, duration_s=0.3, request_timeout_s=0.1)
    assert result.requests == 0
    assert result.errors >= 8
    assert result.errors_by_kind == {"TimeoutError": result.errors}
    assert seen == []
