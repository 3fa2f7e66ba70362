"""A webhook receiver for the tests: a threaded HTTP server that keeps every event POSTed to it, and
can be stopped and started again on the same address (a receiver that goes away and comes back)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookReceiver:
    """Listens on each (host, port) given; `events` holds what arrived, in order, with its request path."""

    def __init__(self, addresses: list[tuple[str, int]]) -> None:
        self.addresses = addresses
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._servers: list[ThreadingHTTPServer] = []

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                event = json.loads(body)
                with receiver._lock:
                    receiver.events.append({**event, "path": self.path})
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        for host, port in self.addresses:
            server = ThreadingHTTPServer((host, port), Handler)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self._servers.append(server)

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()

    def matching(self, **fields: object) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if all(e.get(k) == v for k, v in fields.items())]

    def wait_for(self, what: str, condition: Callable[[], bool], *, deadline_s: float = 60.0) -> None:
        """Wait for `condition` (a deadline for a hung test, not a timing assertion)."""
        end = time.monotonic() + deadline_s
        while not condition():
            if time.monotonic() > end:
                raise AssertionError(f"no {what} within {deadline_s:g}s; received: {self.events}")
            time.sleep(0.1)
