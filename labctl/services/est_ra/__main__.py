"""Run the EST RA: `python -m labctl.services.est_ra --conf-dir DIR` (backend/authorizer/realm/server.conf).

With --wait-for-config it starts before labctl has written that directory (compose, kube play).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import ssl
import time
from pathlib import Path

from cryptography import x509

from labctl.errors import LabctlError
from labctl.pki.issue import load_pem_certificates
from labctl.services.est_ra.app import create_app
from labctl.services.est_ra.approval import ManualApproval
from labctl.services.est_ra.authz import Authorizer, credentials_hint
from labctl.services.est_ra.backend import DogtagRABackend
from labctl.services.est_ra.config import READY_MARKER, Approval, ConfigError, RAConfig, load_config
from labctl.services.est_ra.fullcmc import CMCSigner, FullCMC
from labctl.services.http import configure_logging, serve, server_ssl_context
from labctl.services.workers import run_service, worker_count

log = logging.getLogger("labctl.est_ra")


def intermediate_of(chain_file: Path) -> x509.Certificate:
    """The issuing CA in the trust file: the certificate that is a CA but not self-signed."""
    chain = load_pem_certificates(chain_file.read_bytes())
    for certificate in chain:
        if certificate.subject != certificate.issuer:
            return certificate
    raise ConfigError(f"{chain_file} holds no Intermediate CA certificate")


def backend_ssl_context(config: RAConfig) -> ssl.SSLContext:
    """Trust the hierarchy's chain only; present the RA's agent certificate when backend.conf names `nickname`."""
    context = ssl.create_default_context(cafile=str(config.backend.trust_file))
    if config.backend.cert_file is not None and config.backend.key_file is not None:
        context.load_cert_chain(config.backend.cert_file, config.backend.key_file)
    return context


def backend_auth(config: RAConfig) -> tuple[str, str] | None:
    """backend.conf's `username` and password, for HTTP Basic on every CA call (beside `nickname`, too: as Dogtag)."""
    if config.backend.username is None or config.backend.password is None:
        return None
    return config.backend.username, config.backend.password


def _backend(config: RAConfig, profile: str) -> DogtagRABackend:
    return DogtagRABackend(
        config.backend.url,
        profile=profile,
        ssl_context=backend_ssl_context(config) if config.backend.url.startswith("https") else None,
        timeout_s=config.backend.timeout_s,
        auth=backend_auth(config),
    )


def fullcmc_service(config: RAConfig) -> FullCMC:
    """fullcmc signs with the RA's TLS server credential (labctl/services/est_ra/fullcmc.py says why) and
    enrolls with backend.conf's fullcmc.profile, as Dogtag's DogtagRABackend does, when it names another profile."""
    cert_file, key_file = config.server.chains[0]
    profile = config.backend.fullcmc_profile
    backend = _backend(config, profile) if profile is not None and profile != config.backend.profile else None
    return FullCMC(CMCSigner.from_files(cert_file, key_file), backend)


async def run(config: RAConfig, *, reuse_port: bool = False) -> None:
    backend = _backend(config, config.backend.profile)
    issuer = intermediate_of(config.server.client_ca_file)
    authorizer = Authorizer(config.authorizer, config.realm, issuer, hint=credentials_hint(config.server.label))
    manual = None
    if config.backend.approval is Approval.MANUAL:
        manual = ManualApproval(backend, config.backend.retry_after_s)
        log.info("manual approval: enrollments wait for a CA agent (Retry-After %d s)", config.backend.retry_after_s)
    app = create_app(
        backend,
        authorizer,
        label=config.server.label,
        max_body=config.server.max_body_bytes,
        manual_approval=manual,
        fullcmc=fullcmc_service(config),
    )

    def ssl_context() -> ssl.SSLContext:
        return server_ssl_context(config.server.chains, client_ca=config.server.client_ca_file)

    await serve(app, host=config.server.host, port=config.server.port, ssl_context=ssl_context, reuse_port=reuse_port)


def wait_for_config(conf_dir: Path, *, interval_s: float = 0.5) -> None:
    """Wait until labctl has written the configuration and its READY_MARKER (written last, so no half-copied set is read).

    Compose and kube start the RA before its CA is installed; labctl issues the RA's credentials then.
    """
    announced = False
    while not (conf_dir / READY_MARKER).exists():
        if not announced:
            log.info("waiting for the configuration in %s (written by `labctl up`)", conf_dir)
            announced = True
        time.sleep(interval_s)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="labctl-est-ra", description=__doc__)
    parser.add_argument("--conf-dir", type=Path, required=True)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--wait-for-config", action="store_true", help="start before the configuration is written")
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    if args.wait_for_config:
        wait_for_config(args.conf_dir)
    try:
        config = load_config(args.conf_dir)
    except LabctlError as exc:
        parser.exit(2, f"labctl-est-ra: {exc}\n")
    count = worker_count(config.server.workers, config.server.port)
    if count > 1:
        # The RA keeps no state between requests beyond its backend's connection pool: any worker may
        # answer any request, so the workers share nothing but the port (docs/workers.md).
        configure_logging(args.log_level, with_pid=True)

    def serve(_index: int) -> None:
        asyncio.run(run(config, reuse_port=count > 1))

    code = run_service("est-ra", count, serve)
    if code:
        parser.exit(code, f"labctl-est-ra: a worker exited with code {code}\n")


if __name__ == "__main__":
    main()
