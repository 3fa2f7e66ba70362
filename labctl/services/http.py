"""What both services share: TLS server contexts, the TLS client certificate, error rendering,
request logging, time limits on slow clients and a serve loop that exits promptly on SIGTERM.

A client gets HEADER_TIMEOUT_S for its request head, BODY_TIMEOUT_S for the body once a handler
reads it, and HANDSHAKE_TIMEOUT_S for the TLS handshake: one that trickles or stalls at any stage
loses its connection instead of holding it (tests/integration/test_slow_clients.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware

from labctl.errors import ServiceError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ErrorRenderer = Callable[[ServiceError], web.Response]
PeerCertificate = Callable[[web.Request], bytes | None]
# The request body limit of an app, for the 413 message.
MAX_BODY = web.AppKey("max_body", int)
# Seconds a connection may take to deliver a complete request head, and may idle between requests.
HEADER_TIMEOUT_S = 10.0
# Seconds a request body may take to arrive, from when the handler starts reading it. A CSR or a CA
# request is at most tens of kilobytes (client_max_size bounds the size, this the time).
BODY_TIMEOUT_S = 10.0
# Seconds a TLS handshake may take, from the TCP connection (asyncio's default is 60 s).
HANDSHAKE_TIMEOUT_S = 10.0
# The body timeout of an app (app_runner sets it; in-process tests get BODY_TIMEOUT_S).
BODY_TIMEOUT = web.AppKey("body_timeout", float)


def tls_peer_certificate(request: web.Request) -> bytes | None:
    """The TLS client certificate (DER) the peer proved possession of, or None."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return None
    der: bytes | None = ssl_object.getpeercert(binary_form=True)
    return der


def server_ssl_context(chains: Sequence[tuple[Path, Path]], *, client_ca: Path | None) -> ssl.SSLContext:
    """TLS 1.2 and 1.3 (EST clients in the field still stop at 1.2; ML-DSA needs 1.3).

    Several chains (e.g. ML-DSA-87 and an RSA compatibility chain) go into one context: OpenSSL
    picks per handshake by the client's signature algorithms. With `client_ca`, clients may present
    a certificate (CERT_OPTIONAL): password and anonymous clients still connect.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    for cert, key in chains:
        context.load_cert_chain(cert, key)
    if client_ca is not None:
        context.load_verify_locations(cafile=str(client_ca))
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


async def read_body(request: web.Request) -> bytes:
    """The whole request body, which must arrive within the app's body timeout.

    aiohttp bounds a body's size (client_max_size) but not its time: a client sending a byte a
    second would hold the handler, and its connection, for as long as it likes.

    Raises:
        ServiceError: 408 when the body did not arrive in time (the connection is then closed).
    """
    timeout = request.app.get(BODY_TIMEOUT, BODY_TIMEOUT_S)
    try:
        async with asyncio.timeout(timeout):
            return await request.read()
    except TimeoutError:
        raise ServiceError(408, f"request body not complete within {timeout:g}s") from None


def text_error(exc: ServiceError) -> web.Response:
    """`<status> <reason>` as text/plain, with Retry-After / WWW-Authenticate when set."""
    return web.Response(status=exc.status, text=f"{exc.status} {exc.reason}\n", headers=error_headers(exc))


def error_headers(exc: ServiceError) -> dict[str, str]:
    headers = {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    if exc.authenticate is not None:
        headers["WWW-Authenticate"] = exc.authenticate
    if exc.allow is not None:
        headers["Allow"] = exc.allow
    return headers


def error_middleware(render: ErrorRenderer) -> Middleware:
    """One place that turns failures into answers: ServiceError and aiohttp's own HTTP errors are
    rendered by `render`; anything else is a bug, logged with its traceback and answered with a bare 500.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except ServiceError as exc:
            status = exc.status
            if exc.status == 408:
                return await _answer_and_close(request, render(exc))
            return render(exc)
        except web.HTTPException as exc:
            status = exc.status
            if exc.status < 400:
                raise
            reason = exc.reason if exc.status != 413 else f"request body over {request.app[MAX_BODY]} bytes"
            return render(ServiceError(exc.status, reason, allow=exc.headers.get("Allow")))
        except asyncio.CancelledError:
            status = 499
            raise
        except Exception:
            log.exception("unhandled error in %s %s", request.method, request.path)
            return web.Response(status=500, text="500 Internal Server Error\n")
        finally:
            log.info(
                "%s %s %s %d %.1fms",
                request.remote,
                request.method,
                request.path,
                status,
                (time.perf_counter() - started) * 1000,
            )

    return middleware


async def _answer_and_close(request: web.Request, response: web.Response) -> web.Response:
    """Send `response`, then close the connection at once.

    RFC 9110 section 15.5.9: a 408 means the server closes the connection. The rest of the body may
    still be trickling in: aiohttp would read and discard it for up to its lingering time (10 s)
    before closing, so the connection is closed here, after the answer is written.
    """
    response.force_close()  # Connection: close
    await response.prepare(request)
    await response.write_eof()
    request.protocol.force_close()  # the transport sends what is buffered, then closes
    return response


def app_runner(
    app: web.Application,
    *,
    header_timeout_s: float = HEADER_TIMEOUT_S,
    body_timeout_s: float = BODY_TIMEOUT_S,
) -> web.AppRunner:
    """The runner both services use; a client has `header_timeout_s` to send a complete request head,
    and `body_timeout_s` for a body a handler reads with read_body (set on the app, which is not
    frozen until runner.setup()).

    Slow clients ("slowloris": headers at a byte a second) must not hold connections forever.
    aiohttp has no separate request-header timeout, but its keep-alive timer bounds exactly that:
    RequestHandler.connection_made (aiohttp 3.14) arms it when the connection opens, the end of
    each response re-arms it, data arriving does not, and when it fires while the handler still
    waits for a complete request head, the connection is closed (_process_keepalive). So
    `keepalive_timeout` is both the header timeout and the idle keep-alive timeout; aiohttp's
    default, 3630 s, would let a trickling client keep its connection for an hour. It does not
    bound a slow request body (the handler is running then: read_body does) nor the TLS handshake
    (TLSSite does). tests/integration/test_slow_clients.py checks this holds.
    """
    app[BODY_TIMEOUT] = body_timeout_s
    return web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=2, keepalive_timeout=header_timeout_s
    )


class TLSSite(web.BaseSite):
    """aiohttp's TCPSite with a bound on the TLS handshake.

    TCPSite (aiohttp 3.14) passes no ssl_handshake_timeout to loop.create_server, so asyncio's
    default, 60 s, lets a client that connects and then sends nothing, or half a ClientHello, hold
    its connection for a minute. The handshake comes before aiohttp sees the connection, so the
    header timeout does not cover it.
    """

    __slots__ = ("_bound_port", "_handshake_timeout_s", "_host", "_port", "_reuse_port")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext,
        handshake_timeout_s: float = HANDSHAKE_TIMEOUT_S,
        backlog: int = 1024,
        reuse_port: bool = False,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self._host = host
        self._port = port
        self._reuse_port = reuse_port
        self._handshake_timeout_s = handshake_timeout_s
        self._bound_port: int | None = None

    @property
    def port(self) -> int:
        """The port listened on (the one bound, once started: `port=0` picks a free one)."""
        return self._bound_port if self._bound_port is not None else self._port

    @property
    def name(self) -> str:
        return f"https://{self._host}:{self.port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None  # BaseSite refuses a runner that was not set up
        listening = await asyncio.get_running_loop().create_server(
            server,
            self._host,
            self._port,
            ssl=self._ssl_context,
            ssl_handshake_timeout=self._handshake_timeout_s,
            backlog=self._backlog,
            reuse_address=True,
            reuse_port=self._reuse_port or None,  # SO_REUSEPORT: several workers on one port (labctl.services.workers)
        )
        self._server = listening
        self._bound_port = int(listening.sockets[0].getsockname()[1])


async def serve(
    app: web.Application,
    *,
    host: str,
    port: int,
    ssl_context: Callable[[], ssl.SSLContext],
    reload: asyncio.Event | None = None,
    reloaded: asyncio.Event | None = None,
    header_timeout_s: float = HEADER_TIMEOUT_S,
    body_timeout_s: float = BODY_TIMEOUT_S,
    handshake_timeout_s: float = HANDSHAKE_TIMEOUT_S,
    reuse_port: bool = False,
) -> None:
    """Serve until SIGTERM or SIGINT; rebuild the TLS listener whenever `reload` is set, then set `reloaded`.

    With `reuse_port`, other processes may listen on the same port (labctl.services.workers).
    """
    runner = app_runner(app, header_timeout_s=header_timeout_s, body_timeout_s=body_timeout_s)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    site = TLSSite(
        runner, host, port, ssl_context=ssl_context(), handshake_timeout_s=handshake_timeout_s, reuse_port=reuse_port
    )
    await site.start()
    log.info("listening on https://%s:%d", host, port)
    try:
        while not stop.is_set():
            waiters = [asyncio.ensure_future(stop.wait())]
            if reload is not None:
                waiters.append(asyncio.ensure_future(reload.wait()))
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
            if reload is not None and reload.is_set() and not stop.is_set():
                reload.clear()
                # A new listener with the new certificates; ssl contexts cannot swap their chain in place.
                await site.stop()
                site = TLSSite(
                    runner,
                    host,
                    port,
                    ssl_context=ssl_context(),
                    handshake_timeout_s=handshake_timeout_s,
                    reuse_port=reuse_port,
                )
                await site.start()
                log.info("TLS certificates reloaded")
                if reloaded is not None:
                    reloaded.set()
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def plain_listener(
    app: web.Application, *, host: str, port: int, reuse_port: bool = False
) -> AsyncIterator[web.TCPSite]:
    """Serve `app` over plain HTTP on host:port while the block runs, with the same header and body
    timeouts as the TLS listener (no handshake to bound); `reuse_port` as serve's."""
    runner = app_runner(app)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True, reuse_port=reuse_port or None)
    try:
        await site.start()
        log.info("listening on http://%s:%d", host, port)
        yield site
    finally:
        await runner.cleanup()


def configure_logging(level: str = "INFO", *, with_pid: bool = False) -> None:
    """Log lines to stderr; `with_pid` names the process in each (several workers share one log)."""
    process = " [%(process)d]" if with_pid else ""
    logging.basicConfig(level=level, format=f"%(asctime)s{process} %(levelname)s %(name)s: %(message)s", force=True)
