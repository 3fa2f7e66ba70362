"""An EST load client on raw asyncio streams, and the trivial TLS server it is measured against.

httpx's async client manages ~750 req/s at c=8 here and slows as concurrency grows, so it would
measure itself. Keep-alive or a new TLS connection per request. `python -m benchmarks` runs it on
the host; for a hierarchy whose TLS the host cannot do (ML-DSA needs OpenSSL 3.5) the hidden
`labctl bench-enroll` and `labctl bench-ceiling` run it in a container on the hierarchy's network
(the image holds labctl, not the benchmarks) and print one JSON line per result, which
parse_records() reads back.

Besides simpleenroll: serverkeygen on the RA (RFC 7030 section 4.4) and OCSP on the CA (RFC 6960,
plain HTTP). Their answers are checked cheaply every time (HTTP status and media type; for OCSP the
parsed response status, certificate status and serial) and in full on a sample (SAMPLE_EVERY: the
first answer, then one in that many: OCSP signature, nonce and validity; serverkeygen key and
certificate parsed and matched), so the client's own crypto does not become what is measured.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import json
import logging
import os
import platform
import ssl
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp as x509_ocsp

from labctl.ceiling import Ceiling
from labctl.errors import LabctlError
from labctl.pki import ocsp
from labctl.pki.distribution import OCSP_PATH
from labctl.pki.issue import build_csr, certificates_pem, common_name_subject, create_root_ca
from labctl.pki.keys import KeyAlgorithm, generate_private_key, write_private_key

log = logging.getLogger(__name__)

CONCURRENCY = (1, 8, 32)  # keep-alive runs
NEW_CONNECTION_CONCURRENCY = (8,)  # a new TLS connection per request
HANDSHAKE_CONCURRENCY = 8
CSR_POOL = 16  # CSRs cycled through (key generation is slow for RSA-4096)
SERVERKEYGEN_CONCURRENCY = (8,)  # keep-alive, as simpleenroll's headline c=8
OCSP_CONCURRENCY = (8,)  # keep-alive
OCSP_POOL = 64  # OCSP requests cycled through, each with its own nonce
SAMPLE_EVERY = 50  # answers checked in full: the first, then one in this many
MAX_ERROR_KINDS = 8  # kinds of error told apart in a run's errors_by_kind; the rest count as "other"
SIMPLEENROLL_PATH = "/.well-known/est/simpleenroll"
SERVERKEYGEN_PATH = "/.well-known/est/serverkeygen"
OCSP_REQUEST_TYPE = "application/ocsp-request"  # RFC 6960 Appendix A.1


class Operation(enum.StrEnum):
    """The EST operation an enrollment load sends."""

    SIMPLEENROLL = "simpleenroll"
    SERVERKEYGEN = "serverkeygen"


@dataclass(frozen=True, slots=True)
class LoadSummary:
    """One load run: throughput and latency percentiles of the answered requests."""

    label: str
    concurrency: int
    keepalive: bool
    requests: int
    errors: int
    per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    verified: int = 0  # answers checked in full (a sample; the rest cheaply); 0 where only the status is read
    succeeded: int = 0  # HTTP 200 answers the check (if any) accepted: what the services' CPU is divided by
    # When the run started and ended (time.time(), the host's clock in a container too): the window in
    # which the benchmark runner reads the services' CPU (labctl.cputime), wherever the client ran.
    started_at: float = 0.0
    ended_at: float = 0.0
    # What the errors were: "HTTP 502 <the answer's first line>", an exception's name, ... -> how many.
    errors_by_kind: Mapping[str, int] = field(default_factory=dict)


def percentile(values: Sequence[float], q: float) -> float:
    """The value below which a fraction `q` of `values` lie (nearest rank; 0.0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class LoadResult:
    label: str
    concurrency: int
    keepalive: bool
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    verified: int = 0
    succeeded: int = 0
    started_at: float = 0.0
    ended_at: float = 0.0
    errors_by_kind: Counter[str] = field(default_factory=Counter)

    def error(self, kind: str) -> None:
        """Count an error, and what it was (a few kinds kept: one bad run must not grow without bound)."""
        self.errors += 1
        known = kind in self.errors_by_kind or len(self.errors_by_kind) < MAX_ERROR_KINDS
        self.errors_by_kind[kind if known else "other"] += 1

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def summary(self) -> LoadSummary:
        return LoadSummary(
            label=self.label,
            concurrency=self.concurrency,
            keepalive=self.keepalive,
            requests=self.requests,
            errors=self.errors,
            per_s=round(self.per_s, 1),
            p50_ms=round(percentile(self.latencies_ms, 0.50), 2),
            p95_ms=round(percentile(self.latencies_ms, 0.95), 2),
            p99_ms=round(percentile(self.latencies_ms, 0.99), 2),
            mean_ms=round(statistics.fmean(self.latencies_ms), 2) if self.latencies_ms else 0.0,
            verified=self.verified,
            succeeded=self.succeeded,
            started_at=round(self.started_at, 3),
            ended_at=round(self.ended_at, 3),
            errors_by_kind=dict(self.errors_by_kind),
        )


def error_kind(answer: Answer) -> str:
    """A refused answer in a few words: its status and the first line of its body (the services' reason)."""
    reason = answer.body.split(b"\n", 1)[0][:80].decode("utf-8", "replace").strip()
    return f"HTTP {answer.status} {reason}".rstrip()


def build_request(
    host: str,
    path: str,
    body: bytes,
    *,
    auth: tuple[str, str] | None,
    keepalive: bool,
    content_type: str = "application/pkcs10",
) -> bytes:
    headers = [
        f"POST {path} HTTP/1.1" if body else f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Connection: keep-alive" if keepalive else "Connection: close",
    ]
    if body:
        headers += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    if auth:
        headers.append("Authorization: Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer as the load client reads it."""

    status: int
    content_type: str
    body: bytes


# Whether the answer to the `index`-th request of the pool is a good one (an HTTP 200 only then is counted as answered).
AnswerCheck = Callable[[int, Answer], bool]


async def _read_response(reader: asyncio.StreamReader) -> Answer:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("connection closed")
    status = int(status_line.split()[1])
    length = 0
    content_type = ""
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        header = name.strip().lower()
        if header == b"content-length":
            length = int(value.strip())
        elif header == b"content-type":
            content_type = value.strip().decode("latin-1")
    body = await reader.readexactly(length)
    return Answer(status, content_type, body)


CLOSE_TIMEOUT_S = 5.0  # a TLS close_notify exchange; a peer that never answers it is cut off after this
REQUEST_TIMEOUT_S = 60.0  # one request; a server that stops answering ends the worker's connection, not the run


async def close_stream(writer: asyncio.StreamWriter, *, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
    """Close `writer` and wait (bounded) until its transport is gone.

    `writer.close()` only starts a TLS shutdown; a transport still shutting down when the event loop
    ends is reported as "unclosed transport" (ResourceWarning). Errors while closing are the peer's
    (reset, bad close_notify) and change nothing for the caller; a peer that never finishes is aborted.
    """
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), timeout_s)
    except TimeoutError:
        writer.transport.abort()
    except OSError:  # ssl.SSLError included
        pass


async def open_stream(
    host: str, port: int, context: ssl.SSLContext | None, server_hostname: str | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """`asyncio.open_connection`, except that a cancelled or timed-out connect leaves nothing open.

    Cancelled mid-handshake, asyncio's create_connection closes its new transport without waiting for
    the TLS shutdown, which then outlives the event loop; here the connect finishes (bounded) instead
    and what it made is closed and awaited before the cancellation goes on.
    """
    connect = asyncio.ensure_future(
        asyncio.open_connection(host, port, ssl=context, server_hostname=server_hostname if context else None)
    )
    try:
        return await asyncio.shield(connect)
    except asyncio.CancelledError:
        try:
            _, writer = await asyncio.wait_for(connect, CLOSE_TIMEOUT_S)
        except (TimeoutError, OSError, asyncio.CancelledError):
            raise asyncio.CancelledError from None
        await close_stream(writer)
        raise


async def run_load(
    *,
    label: str,
    host: str,
    port: int,
    context: ssl.SSLContext | None,
    requests: Sequence[bytes],
    concurrency: int,
    keepalive: bool,
    duration_s: float,
    server_hostname: str | None = None,
    request_timeout_s: float = REQUEST_TIMEOUT_S,
    check: AnswerCheck | None = None,
) -> LoadResult:
    """`concurrency` workers send requests (cycling through `requests`) for `duration_s`; an answer other
    than 200, or one `check` refuses, is an error.

    Every connection a worker opens is closed and awaited before the worker ends: at the deadline,
    after an error, per request without keep-alive, and when the run is cancelled.
    """
    result = LoadResult(label, concurrency, keepalive)
    deadline = time.perf_counter() + duration_s

    async def worker(index: int) -> None:
        stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        sent = index
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    async with asyncio.timeout(request_timeout_s):
                        if stream is None:
                            stream = await open_stream(host, port, context, server_hostname)
                        reader, writer = stream
                        index = sent % len(requests)
                        writer.write(requests[index])
                        sent += 1
                        answer = await _read_response(reader)
                except (
                    TimeoutError,
                    OSError,
                    ConnectionError,
                    asyncio.IncompleteReadError,
                    ValueError,
                    IndexError,
                ) as exc:
                    result.error(type(exc).__name__)
                    if stream is not None:
                        await close_stream(stream[1])
                    stream = None
                    continue
                result.requests += 1
                result.latencies_ms.append((time.perf_counter() - started) * 1000)
                if answer.status != 200:
                    result.error(error_kind(answer))
                elif check is not None and not check(index, answer):
                    result.error("HTTP 200 refused by the check")
                else:
                    result.succeeded += 1
                if not keepalive:
                    await close_stream(writer)
                    stream = None
        finally:
            if stream is not None:
                # Shielded: a cancelled run still waits (bounded) for its connection to close.
                await asyncio.shield(close_stream(stream[1]))

    started, result.started_at = time.perf_counter(), time.time()
    # A TaskGroup, not gather(): cancelled, gather() returns at the first worker done and leaves the
    # others' connections closing after the caller has moved on; a TaskGroup waits for every worker.
    async with asyncio.TaskGroup() as workers:
        for index in range(concurrency):
            workers.create_task(worker(index))
    result.seconds, result.ended_at = time.perf_counter() - started, time.time()
    return result


async def trivial_server(context: ssl.SSLContext | None) -> tuple[asyncio.Server, int]:
    """A server (TLS unless `context` is None) that answers 200 at once: the load client's own ceiling."""
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                length = 0
                while line not in (b"\r\n", b"\n", b""):
                    line = await reader.readline()
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                writer.write(reply)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            await close_stream(writer)

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    port: int = server.sockets[0].getsockname()[1]
    return server, port


def _trivial_contexts(algorithm: KeyAlgorithm) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a fresh self-signed key of `algorithm`, and a client context that checks nothing."""
    key = generate_private_key(algorithm)
    certificate = create_root_ca(key, "localhost", days=1).certificate
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="labctl-loadgen-") as scratch:
        write_private_key(Path(scratch) / "key.pem", key)
        (Path(scratch) / "cert.pem").write_bytes(certificates_pem([certificate]))
        server_context.load_cert_chain(Path(scratch) / "cert.pem", Path(scratch) / "key.pem")
    client_context = ssl.create_default_context()
    client_context.check_hostname = False
    client_context.verify_mode = ssl.CERT_NONE
    return server_context, client_context


async def measure_client_ceiling(duration_s: float, *, concurrency: Sequence[int] = CONCURRENCY) -> list[LoadSummary]:
    """The load client against the trivial server (P-384, keep-alive): what the client itself can do."""
    server_context, client_context = _trivial_contexts(KeyAlgorithm.EC_P384)
    server, port = await trivial_server(server_context)
    request = build_request("127.0.0.1", "/", b"", auth=None, keepalive=True)
    rows = []
    async with server:
        for level in concurrency:
            result = await run_load(
                label="trivial", host="127.0.0.1", port=port, context=client_context, requests=[request],
                concurrency=level, keepalive=True, duration_s=duration_s,
            )  # fmt: skip
            rows.append(result.summary())
    return rows


async def measure_handshake_ceiling(
    algorithm: KeyAlgorithm, duration_s: float, *, concurrency: int = HANDSHAKE_CONCURRENCY
) -> LoadSummary:
    """Full TLS handshakes per second with a server key of `algorithm` (trivial server, a new connection per
    request; client and server share the cores, as the lab's load client and RA do)."""
    server_context, client_context = _trivial_contexts(algorithm)
    server, port = await trivial_server(server_context)
    request = build_request("127.0.0.1", "/", b"", auth=None, keepalive=False)
    async with server:
        result = await run_load(
            label=algorithm.value, host="127.0.0.1", port=port, context=client_context, requests=[request],
            concurrency=concurrency, keepalive=False, duration_s=duration_s,
        )  # fmt: skip
    return result.summary()


def enrollment_bodies(algorithm: KeyAlgorithm, count: int = CSR_POOL) -> list[bytes]:
    """`count` simpleenroll bodies (base64 DER CSRs), each with a fresh key of the hierarchy's algorithm."""
    bodies = []
    for index in range(count):
        csr = build_csr(generate_private_key(algorithm), common_name_subject(f"bench-{index}.cert-lab.local"))
        bodies.append(base64.b64encode(csr.public_bytes(serialization.Encoding.DER)))
    return bodies


async def measure_enrollment(
    *,
    label: str,
    algorithm: KeyAlgorithm,
    host: str,
    port: int,
    context: ssl.SSLContext,
    auth: tuple[str, str],
    duration_s: float,
    server_hostname: str | None = None,
    concurrency: Sequence[int] = CONCURRENCY,
    new_connection: Sequence[int] = NEW_CONNECTION_CONCURRENCY,
) -> list[LoadSummary]:
    """simpleenroll with HTTP Basic against one RA: keep-alive at each `concurrency`, then a new TLS
    connection per enrollment at each `new_connection` level."""
    bodies = enrollment_bodies(algorithm)
    netloc = f"{server_hostname or host}:{port}"
    rows = []
    for keepalive, levels in ((True, concurrency), (False, new_connection)):
        requests = [build_request(netloc, SIMPLEENROLL_PATH, body, auth=auth, keepalive=keepalive) for body in bodies]
        for level in levels:
            result = await run_load(
                label=label, host=host, port=port, context=context, requests=requests, concurrency=level,
                keepalive=keepalive, duration_s=duration_s, server_hostname=server_hostname,
            )  # fmt: skip
            rows.append(result.summary())
    return rows


class SampledCheck:
    """An AnswerCheck: `cheap` on every answer, `full` as well on the first and then one in `every`.

    Counts the answers checked in full; keeps the first refusal's reason for the log.
    """

    def __init__(
        self, cheap: Callable[[int, Answer], str | None], full: Callable[[int, Answer], str | None], every: int
    ) -> None:
        self._cheap, self._full, self._every = cheap, full, every
        self.seen = 0
        self.verified = 0
        self.first_failure: str | None = None

    def __call__(self, index: int, answer: Answer) -> bool:
        failure = self._cheap(index, answer)
        if failure is None and self.seen % self._every == 0:
            self.verified += 1
            failure = self._full(index, answer)
        self.seen += 1
        if failure is not None and self.first_failure is None:
            self.first_failure = failure
        return failure is None


def _checked_summary(result: LoadResult, check: SampledCheck) -> LoadSummary:
    result.verified = check.verified
    if check.first_failure is not None:
        log.warning("%s c=%d: answers refused (first: %s)", result.label, result.concurrency, check.first_failure)
    return result.summary()


def serverkeygen_bodies(count: int = CSR_POOL) -> list[bytes]:
    """`count` serverkeygen bodies. RFC 7030 section 4.4.1: the RA ignores the CSR's key and makes one of
    the hierarchy's algorithm, so P-384 keys here for every hierarchy (16 RSA-4096 keys would take ~15 s)."""
    return enrollment_bodies(KeyAlgorithm.EC_P384, count)


def _serverkeygen_cheap(_: int, answer: Answer) -> str | None:
    if not answer.content_type.lower().startswith("multipart/mixed"):
        return f"content type {answer.content_type[:64]!r}, not multipart/mixed"
    return None


def _serverkeygen_full(_: int, answer: Answer) -> str | None:
    from labctl.pki.serverkeygen import read_serverkeygen  # the email parser: only for this benchmark

    try:
        read_serverkeygen(answer.content_type, answer.body)  # the key and the certificate for it
    except LabctlError as exc:
        return str(exc)
    return None


async def measure_serverkeygen(
    *,
    label: str,
    host: str,
    port: int,
    context: ssl.SSLContext,
    auth: tuple[str, str],
    duration_s: float,
    server_hostname: str | None = None,
    concurrency: Sequence[int] = SERVERKEYGEN_CONCURRENCY,
    sample_every: int = SAMPLE_EVERY,
) -> list[LoadSummary]:
    """serverkeygen with HTTP Basic against one RA, keep-alive at each `concurrency`: each answer must be
    multipart/mixed; a sample is parsed in full (PKCS#8 key, certificate, the two matching)."""
    netloc = f"{server_hostname or host}:{port}"
    requests = [
        build_request(netloc, SERVERKEYGEN_PATH, body, auth=auth, keepalive=True) for body in serverkeygen_bodies()
    ]
    return await _checked_loads(
        label=label, host=host, port=port, context=context, requests=requests, concurrency=concurrency,
        duration_s=duration_s, server_hostname=server_hostname,
        checks=(_serverkeygen_cheap, _serverkeygen_full), sample_every=sample_every,
    )  # fmt: skip


def ocsp_checks(queries: Sequence[ocsp.Query], issuer: x509.Certificate) -> tuple[
    Callable[[int, Answer], str | None], Callable[[int, Answer], str | None]
]:  # fmt: skip
    """The cheap and full checks of an answer to `queries[index]` for a certificate that is good.

    Cheap: the DER parses, its response status is successful, the status good, the serial the one asked
    about. Full: labctl.pki.ocsp.read_response (signature by `issuer`, nonce echoed, thisUpdate/nextUpdate).
    """

    def cheap(index: int, answer: Answer) -> str | None:
        try:
            response = x509_ocsp.load_der_ocsp_response(answer.body)
        except ValueError as exc:
            return f"not an OCSP response: {exc}"
        if response.response_status is not x509_ocsp.OCSPResponseStatus.SUCCESSFUL:
            return f"OCSP response status {response.response_status.name.lower()}"
        if response.serial_number != queries[index].serial:
            return f"answer for serial 0x{response.serial_number:x}"
        if response.certificate_status is not x509_ocsp.OCSPCertStatus.GOOD:
            return f"certificate status {response.certificate_status.name.lower()}, expected good"
        return None

    def full(index: int, answer: Answer) -> str | None:
        try:
            ocsp.read_response(answer.body, queries[index], issuer)
        except LabctlError as exc:
            return str(exc)
        return None

    return cheap, full


async def measure_ocsp(
    *,
    label: str,
    host: str,
    port: int,
    issuer: x509.Certificate,
    serial: int,
    duration_s: float,
    context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    concurrency: Sequence[int] = OCSP_CONCURRENCY,
    sample_every: int = SAMPLE_EVERY,
) -> list[LoadSummary]:
    """OCSP POSTs (RFC 6960 Appendix A.1) to the CA's /ca/ocsp for `serial`, issued by `issuer` and good, keep-alive
    at each `concurrency`; plain HTTP unless `context`. Each answer is checked cheaply, a sample in full."""
    queries = [ocsp.build_request(issuer, serial) for _ in range(OCSP_POOL)]
    netloc = f"{server_hostname or host}:{port}"
    requests = [
        build_request(netloc, OCSP_PATH, query.der, auth=None, keepalive=True, content_type=OCSP_REQUEST_TYPE)
        for query in queries
    ]
    return await _checked_loads(
        label=label, host=host, port=port, context=context, requests=requests, concurrency=concurrency,
        duration_s=duration_s, server_hostname=server_hostname,
        checks=ocsp_checks(queries, issuer), sample_every=sample_every,
    )  # fmt: skip


async def _checked_loads(
    *,
    label: str,
    host: str,
    port: int,
    context: ssl.SSLContext | None,
    requests: Sequence[bytes],
    concurrency: Sequence[int],
    duration_s: float,
    server_hostname: str | None,
    checks: tuple[Callable[[int, Answer], str | None], Callable[[int, Answer], str | None]],
    sample_every: int,
) -> list[LoadSummary]:
    """Keep-alive loads of `requests` at each concurrency, every answer checked cheaply and a sample in full."""
    rows = []
    for level in concurrency:
        check = SampledCheck(*checks, sample_every)
        result = await run_load(
            label=label, host=host, port=port, context=context, requests=requests, concurrency=level,
            keepalive=True, duration_s=duration_s, server_hostname=server_hostname, check=check,
        )  # fmt: skip
        rows.append(_checked_summary(result, check))
    return rows


# --- results as JSON lines (the in-container client's output) -----------------------------------


class RecordKind(enum.StrEnum):
    ENVIRONMENT = "environment"
    ENROLLMENT = "enrollment"
    SERVERKEYGEN = "serverkeygen"
    CLIENT_CEILING = "client_ceiling"
    HANDSHAKE_CEILING = "handshake_ceiling"
    CRYPTO_CEILING = "crypto_ceiling"


@dataclass(frozen=True, slots=True)
class Environment:
    """Where the load client ran: the container's Python and OpenSSL differ from the host's."""

    python: str
    openssl: str
    cores: int


def current_environment() -> Environment:
    return Environment(platform.python_version(), ssl.OPENSSL_VERSION, os.cpu_count() or 0)


@dataclass
class LoadReport:
    """Everything one in-container run printed."""

    environment: Environment | None = None
    enrollment: list[LoadSummary] = field(default_factory=list)
    serverkeygen: list[LoadSummary] = field(default_factory=list)
    client_ceiling: list[LoadSummary] = field(default_factory=list)
    handshake_ceiling: list[LoadSummary] = field(default_factory=list)
    crypto_ceiling: list[Ceiling] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return self.environment is None and not (
            self.enrollment or self.serverkeygen or self.client_ceiling or self.handshake_ceiling or self.crypto_ceiling
        )


RECORD_PREFIX = '{"record": '


def record_line(kind: RecordKind, value: LoadSummary | Ceiling | Environment) -> str:
    """One result as one JSON line (short: podman's log splits long lines)."""
    return json.dumps({"record": kind.value, **asdict(value)})


def parse_records(output: str) -> LoadReport:
    """The records among the lines an in-container run printed; other lines (logs, warnings) are skipped.

    Raises:
        LabctlError: a record line is not valid JSON, names an unknown record, or misses a field.
    """
    report = LoadReport()
    for line in output.splitlines():
        text = line.strip()
        if not text.startswith(RECORD_PREFIX):
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LabctlError(f"load client printed a broken record: {text[:200]!r} ({exc.msg})") from exc
        if not isinstance(data, dict):
            raise LabctlError(f"load client printed a record that is not an object: {text[:200]!r}")
        try:
            kind = RecordKind(str(data.get("record")))
        except ValueError:
            raise LabctlError(f"load client printed an unknown record {data.get('record')!r}") from None
        if kind is RecordKind.ENVIRONMENT:
            report.environment = Environment(_str(data, "python"), _str(data, "openssl"), _int(data, "cores"))
        elif kind is RecordKind.CRYPTO_CEILING:
            report.crypto_ceiling.append(
                Ceiling(
                    _str(data, "algorithm"),
                    _float(data, "issue_per_s"),
                    _float(data, "sign_per_s"),
                    _float(data, "serverkeygen_per_s"),
                    _float(data, "issue_cpu_ms"),
                    _float(data, "pop_cpu_ms"),
                )
            )
        else:
            summary = _summary(data)
            {
                RecordKind.ENROLLMENT: report.enrollment,
                RecordKind.SERVERKEYGEN: report.serverkeygen,
                RecordKind.CLIENT_CEILING: report.client_ceiling,
                RecordKind.HANDSHAKE_CEILING: report.handshake_ceiling,
            }[kind].append(summary)
    return report


def _summary(data: Mapping[str, object]) -> LoadSummary:
    return LoadSummary(
        label=_str(data, "label"),
        concurrency=_int(data, "concurrency"),
        keepalive=_bool(data, "keepalive"),
        requests=_int(data, "requests"),
        errors=_int(data, "errors"),
        per_s=_float(data, "per_s"),
        p50_ms=_float(data, "p50_ms"),
        p95_ms=_float(data, "p95_ms"),
        p99_ms=_float(data, "p99_ms"),
        mean_ms=_float(data, "mean_ms"),
        verified=_int(data, "verified"),
        succeeded=_int(data, "succeeded"),
        started_at=_float(data, "started_at"),
        ended_at=_float(data, "ended_at"),
        errors_by_kind=_counts(data, "errors_by_kind"),
    )


def _counts(data: Mapping[str, object], key: str) -> dict[str, int]:
    """A {kind: count} field; absent (an older client's record) is empty."""
    value = data.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(k, str) and type(n) is int for k, n in value.items()):
        raise _wrong(data, key, "an object of counts")
    return dict(value)


def _field(data: Mapping[str, object], key: str) -> object:
    if key not in data:
        raise LabctlError(f"load client record {data.get('record')!r} has no {key!r}")
    return data[key]


def _wrong(data: Mapping[str, object], key: str, expected: str) -> LabctlError:
    return LabctlError(f"load client record {data.get('record')!r}: {key} must be {expected}, got {data[key]!r}")


def _str(data: Mapping[str, object], key: str) -> str:
    value = _field(data, key)
    if not isinstance(value, str):
        raise _wrong(data, key, "a string")
    return value


def _int(data: Mapping[str, object], key: str) -> int:
    value = _field(data, key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _wrong(data, key, "an integer")
    return value


def _float(data: Mapping[str, object], key: str) -> float:
    value = _field(data, key)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _wrong(data, key, "a number")
    return float(value)


def _bool(data: Mapping[str, object], key: str) -> bool:
    value = _field(data, key)
    if not isinstance(value, bool):
        raise _wrong(data, key, "true or false")
    return value
