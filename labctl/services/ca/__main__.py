"""Run the Intermediate CA: `python -m labctl.services.ca --data-dir DIR --algorithm ec-p384 ...`.

It serves at once (a self-signed TLS certificate while it awaits its own), installs its certificate
when labctl drops it into the data dir, then serves the TLS certificate it issued itself. With
--http-port it also serves Dogtag's plain-HTTP port (labctl.services.ca.public) and writes its URLs,
under --public-name, into every certificate it issues (labctl.pki.distribution).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ssl
from pathlib import Path

from labctl.pki.distribution import DistributionPoints
from labctl.pki.keys import KeyAlgorithm
from labctl.services.ca.app import create_app
from labctl.services.ca.authority import CAConfig, CAState, IntermediateCA
from labctl.services.ca.public import create_public_app
from labctl.services.http import configure_logging, plain_listener, serve, server_ssl_context
from labctl.services.workers import run_service, worker_count

# How often a CA awaiting its certificate looks for it in the data dir.
INSTALL_POLL_S = 0.2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="labctl-ca", description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--algorithm", type=KeyAlgorithm, choices=list(KeyAlgorithm), required=True)
    parser.add_argument("--common-name", required=True, help="subject CN of the CA certificate")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--tls-name", action="append", default=[], help="DNS name or IP for the CA's TLS certificate")
    parser.add_argument("--tls-compat-rsa", action="store_true", help="also serve an RSA-keyed TLS certificate")
    parser.add_argument(
        "--http-port", type=int, help="Dogtag's plain-HTTP port: the CRL, CA chain and OCSP; in issued certificates"
    )
    parser.add_argument(
        "--public-name", help="the CA's host name in the URLs of --http-port (default: the first --tls-name)"
    )
    parser.add_argument("--hierarchy", default="", help="the lab's name for this CA's hierarchy (events carry it)")
    parser.add_argument("--webhook", action="append", default=[], help="URL every event is POSTed to (repeatable)")
    parser.add_argument(
        "--events-report-after",
        type=float,
        default=300.0,
        help="seconds an event may stay undelivered to a webhook before it is reported",
    )
    parser.add_argument(
        "--workers",
        type=_workers,
        default=None,
        help="worker processes serving the ports: a whole number, or auto (the default: one per CPU, capped)",
    )
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def _workers(text: str) -> int | None:
    if text == "auto":
        return None
    value = int(text)  # argparse turns a ValueError into "invalid _workers value"
    if value < 1:
        raise ValueError(text)
    return value


def ca_config(args: argparse.Namespace, *, deliver_events: bool = True) -> CAConfig:
    names = tuple(args.tls_name) or ("localhost", "127.0.0.1")
    distribution = None
    if args.http_port is not None:
        distribution = DistributionPoints(args.public_name or names[0], args.http_port)
    return CAConfig(
        data_dir=args.data_dir,
        algorithm=args.algorithm,
        common_name=args.common_name,
        tls_names=names,
        tls_compat_rsa=args.tls_compat_rsa,
        distribution=distribution,
        hierarchy=args.hierarchy,
        webhooks=tuple(args.webhook),
        events_report_after_s=args.events_report_after,
        deliver_events=deliver_events,
    )


async def run(args: argparse.Namespace, *, reuse_port: bool = False, deliver_events: bool = True) -> None:
    authority = IntermediateCA(ca_config(args, deliver_events=deliver_events))
    authority.try_install()
    reload = asyncio.Event()
    # Set once the listener serves the CA-issued TLS certificate (at once when already installed).
    serving_issued_tls = asyncio.Event()
    if authority.state is CAState.RUNNING:
        serving_issued_tls.set()

    async def watch_install() -> None:
        while not authority.try_install():
            await asyncio.sleep(INSTALL_POLL_S)
        reload.set()

    def ssl_context() -> ssl.SSLContext:
        material = authority.tls_material()
        return server_ssl_context(material.chains, client_ca=material.client_ca)

    watcher = None if authority.state is CAState.RUNNING else asyncio.create_task(watch_install())
    try:
        async with contextlib.AsyncExitStack() as plain:
            if args.http_port is not None:
                await plain.enter_async_context(
                    plain_listener(
                        create_public_app(authority), host=args.host, port=args.http_port, reuse_port=reuse_port
                    )
                )
            app = create_app(authority, tls_ready=serving_issued_tls.is_set)
            await serve(
                app,
                host=args.host,
                port=args.port,
                ssl_context=ssl_context,
                reload=reload,
                reloaded=serving_issued_tls,
                reuse_port=reuse_port,
            )
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        authority.store.close()


def prepare(args: argparse.Namespace) -> None:
    """What the workers would otherwise race to do, done once before they start: the CA's key and CSR,
    the store's schema, the install when the certificate is there, the TLS certificates."""
    authority = IntermediateCA(ca_config(args))
    try:
        authority.try_install()
        authority.tls_material()
    finally:
        authority.store.close()  # a SQLite connection must not cross a fork


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    count = worker_count(args.workers, args.port, args.http_port)
    configure_logging(args.log_level, with_pid=count > 1)
    if count > 1:
        # Each worker has its own SQLite connection; serials, nonces and the CRL live in the store, the
        # CA's own files are written under a lock, one worker delivers webhooks (docs/workers.md).
        prepare(args)

    def serve(index: int) -> None:
        asyncio.run(run(args, reuse_port=count > 1, deliver_events=index == 0))

    code = run_service("ca", count, serve)
    if code:
        raise SystemExit(f"labctl-ca: a worker exited with code {code}")


if __name__ == "__main__":
    main()
