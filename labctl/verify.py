"""Smoke checks against a running lab, per hierarchy -> list[CheckResult]. Never prints."""

from __future__ import annotations

import ssl
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from labctl.endpoint import Endpoint
from labctl.errors import ESTError, LabctlError
from labctl.est_client import ESTClient, est_ssl_context
from labctl.pki.issue import (
    build_csr,
    certificate_sans,
    certificates_pem,
    common_name_subject,
    general_names_for,
    load_pem_certificates,
    verify_chain,
)
from labctl.pki.keys import KeyAlgorithm, generate_private_key, read_private_key, write_private_key
from labctl.pki.profiles import get_profile


@dataclass(frozen=True, slots=True)
class CheckResult:
    hierarchy: str
    check: str
    passed: bool
    elapsed_s: float
    reason: str = ""


class _CheckFailed(Exception):
    pass


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise _CheckFailed(reason)


def verify_endpoint(endpoint: Endpoint, *, device_cn: str = "verify-device.cert-lab.local") -> list[CheckResult]:
    """cacerts, simpleenroll, simplereenroll and the negative checks for one hierarchy."""
    results: list[CheckResult] = []
    name = endpoint.hierarchy.name
    root = load_pem_certificates(endpoint.trust_file.read_bytes())[-1]
    context = est_ssl_context(endpoint.trust_file)
    with tempfile.TemporaryDirectory(prefix="labctl-verify-") as scratch:
        work = Path(scratch)

        def run(check: str, body: Callable[[], None]) -> bool:
            started = time.perf_counter()
            try:
                body()
            except (_CheckFailed, LabctlError) as exc:
                results.append(CheckResult(name, check, False, time.perf_counter() - started, str(exc)))
                return False
            results.append(CheckResult(name, check, True, time.perf_counter() - started))
            return True

        def cacerts() -> None:
            with ESTClient(endpoint.ra_url, ssl_context=context) as client:
                chain = client.cacerts()
            _require(root in chain, "cacerts does not include the hierarchy's root")
            intermediates = [c for c in chain if c.subject != c.issuer]
            _require(bool(intermediates), "cacerts holds no Intermediate CA")
            verify_chain(intermediates[0], chain)

        def simpleenroll() -> None:
            key = generate_private_key(endpoint.hierarchy.algorithm)
            csr = build_csr(key, common_name_subject(device_cn), [device_cn])
            with ESTClient(endpoint.ra_url, ssl_context=context, auth=(endpoint.username, endpoint.password)) as client:
                certificate = client.simpleenroll(csr)
                chain = client.cacerts()
            verify_chain(certificate, chain)
            _require(certificate.subject == csr.subject, f"subject is {certificate.subject.rfc4514_string()}")
            _require(
                set(general_names_for([device_cn])) <= set(certificate_sans(certificate)), "SAN lacks the device name"
            )
            wanted = get_profile(endpoint.hierarchy.ra.enroll_profile).key_usage_for(certificate.public_key())
            _require(_key_usage(certificate) == wanted, f"key usage {_key_usage(certificate)} != {sorted(wanted)}")
            write_private_key(work / "device.key", key)
            (work / "device.crt").write_bytes(certificates_pem([certificate]))

        def simplereenroll() -> None:
            old = load_pem_certificates((work / "device.crt").read_bytes())[0]
            key = read_private_key(work / "device.key")
            csr = build_csr(key, old.subject, [device_cn])
            client_context = est_ssl_context(endpoint.trust_file, cert=work / "device.crt", key=work / "device.key")
            with ESTClient(endpoint.ra_url, ssl_context=client_context) as client:
                renewed = client.simplereenroll(csr)
            _require(renewed.subject == old.subject, "renewed certificate changed subject")
            _require(renewed.serial_number != old.serial_number, "renewed certificate kept the serial")

        def unauthenticated() -> None:
            _expect_status(endpoint, context, auth=None, algorithm=endpoint.hierarchy.algorithm, status=401)

        def wrong_algorithm() -> None:
            other = next(a for a in KeyAlgorithm if a is not endpoint.hierarchy.algorithm)
            auth = (endpoint.username, endpoint.password)
            _expect_status(endpoint, context, auth=auth, algorithm=other, status=403)

        run("cacerts", cacerts)
        if run("simpleenroll", simpleenroll):
            run("simplereenroll", simplereenroll)
        run("enroll-without-credentials-401", unauthenticated)
        run("enroll-wrong-algorithm-403", wrong_algorithm)
    return results


def _expect_status(
    endpoint: Endpoint, context: ssl.SSLContext, *, auth: tuple[str, str] | None, algorithm: KeyAlgorithm, status: int
) -> None:
    csr = build_csr(generate_private_key(algorithm), common_name_subject("negative.cert-lab.local"))
    with ESTClient(endpoint.ra_url, ssl_context=context, auth=auth) as client:
        try:
            client.simpleenroll(csr)
        except ESTError as exc:
            _require(exc.status_code == status, f"expected {status}, got {exc.status_code}: {exc}")
            return
    raise _CheckFailed(f"expected {status}, got a certificate")


def _key_usage(certificate: x509.Certificate) -> frozenset[str]:
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement")
    return frozenset(n for n in names if getattr(usage, n))
