"""Smoke checks against a running lab, per hierarchy -> list[CheckResult]. Never prints.

verify_endpoint: what a client sees (EST over TLS, revocation at the Intermediate CA); it runs on
the host, or inside the hierarchy's network where the host cannot do its TLS (pqc).
verify_containment: what only the container runtime can see (keys inside the RA, isolation).
"""

from __future__ import annotations

import socket
import ssl
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from labctl import publication
from labctl.approval_checks import ManualFlow
from labctl.ca_client import CAClient
from labctl.endpoint import Endpoint
from labctl.errors import ESTError, LabctlError, PKIError
from labctl.est_client import ESTClient, est_ssl_context
from labctl.pki import ocsp
from labctl.pki.issue import (
    build_csr,
    certificate_sans,
    certificates_pem,
    common_name_subject,
    general_names_for,
    load_der_certificate,
    load_pem_certificates,
    verify_chain,
)
from labctl.pki.keys import (
    KeyAlgorithm,
    describe_key,
    generate_private_key,
    matches_algorithm,
    read_private_key,
    write_private_key,
)
from labctl.pki.profiles import get_profile
from labctl.pki.signatures import crl_signed_by, issued_by
from labctl.runtime.base import ContainerRuntime
from labctl.specs import ca_ports
from labctl.topology import Hierarchy, Lab

AdminFactory = Callable[[], CAClient]
DEVICE_CN = "verify-device.cert-lab.local"
# The checks of the renewed device certificate's revocation: OCSP before and after, the CA's REST
# status, the CRL (reenroll-with-revoked-refused follows only a revocation that passed, as before).
REVOCATION_CHECKS = ("ocsp-good", "revocation-at-ca", "ocsp-revoked", "crl-lists-revoked")
KEYGEN_CN = "verify-keygen.cert-lab.local"
FULLCMC_CN = "verify-fullcmc.cert-lab.local"


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


class _Checks:
    """Runs named checks, recording one CheckResult each; a failing check never stops the others."""

    def __init__(self, hierarchy: str) -> None:
        self.hierarchy = hierarchy
        self.results: list[CheckResult] = []

    def run(self, name: str, body: Callable[[], None]) -> bool:
        started = time.perf_counter()
        try:
            body()
        except (_CheckFailed, LabctlError, OSError, ssl.SSLError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.results.append(CheckResult(self.hierarchy, name, False, time.perf_counter() - started, reason))
            return False
        self.results.append(CheckResult(self.hierarchy, name, True, time.perf_counter() - started))
        return True

    def skip(self, name: str, reason: str) -> None:
        self.results.append(CheckResult(self.hierarchy, name, False, 0.0, f"not run: {reason}"))


# --- what a client sees --------------------------------------------------------------------------


def verify_endpoint(endpoint: Endpoint, *, admin: AdminFactory | None = None) -> list[CheckResult]:
    """cacerts, simpleenroll, simplereenroll, revocation at the CA (OCSP good, revoke, OCSP revoked, CRL),
    the negative checks, and serverkeygen.

    Args:
        admin: a factory of lab-admin CA clients; without it the checks that need the CA are not run.
    """
    hierarchy = endpoint.hierarchy
    checks = _Checks(hierarchy.name)
    chain = load_pem_certificates(endpoint.trust_file.read_bytes())
    root, intermediate = chain[-1], chain[0]
    context = est_ssl_context(endpoint.trust_file)
    credentials = (endpoint.username, endpoint.password)
    with tempfile.TemporaryDirectory(prefix="labctl-verify-") as scratch:
        work = Path(scratch)

        def cacerts() -> None:
            with ESTClient(endpoint.ra_url, ssl_context=context) as client:
                served = client.cacerts()
            _require(root in served, "cacerts does not include the hierarchy's root")
            _require(intermediate in served, "cacerts does not include the Intermediate CA")
            verify_chain(intermediate, served)

        def simpleenroll() -> None:
            if held is not None and held.certificate is not None:  # issued after the agent's approval
                key, csr, certificate = held.key, held.csr, held.certificate
            else:
                key = generate_private_key(hierarchy.algorithm)
                csr = build_csr(key, common_name_subject(DEVICE_CN), [DEVICE_CN])
                with ESTClient(endpoint.ra_url, ssl_context=context, auth=credentials) as client:
                    certificate = client.simpleenroll(csr)
            verify_chain(certificate, chain)
            _require(certificate.subject == csr.subject, f"subject is {certificate.subject.rfc4514_string()}")
            _require(set(general_names_for([DEVICE_CN])) <= set(certificate_sans(certificate)), "SAN lacks the name")
            wanted = get_profile(hierarchy.ra.enroll_profile).key_usage_for(certificate.public_key())
            _require(
                _key_usage(certificate) == wanted, f"key usage {sorted(_key_usage(certificate))} != {sorted(wanted)}"
            )
            _save(work, "device", key, certificate)

        def fullcmc() -> None:
            # RFC 7030 section 4.3: a Full PKI Request signed with the CSR's own key; the response signed by the RA.
            key = generate_private_key(hierarchy.algorithm)
            csr = build_csr(key, common_name_subject(FULLCMC_CN), [FULLCMC_CN])
            with ESTClient(endpoint.ra_url, ssl_context=context, auth=credentials) as client:
                if hierarchy.ra.approval == "manual":  # no CMC "pending" yet: the RA does not offer fullcmc there
                    _expect_refusal(lambda: client.fullcmc(csr, key), 501)
                    return
                response = client.fullcmc(csr, key)
            certificate = response.certificates[0]
            verify_chain(certificate, chain)
            _require(certificate.subject == csr.subject, f"subject is {certificate.subject.rfc4514_string()}")
            try:
                issued_by(response.signer, intermediate)
            except PKIError as exc:
                raise _CheckFailed("the CMC response is not signed by a certificate of the hierarchy") from exc

        def simplereenroll() -> None:
            old = load_pem_certificates((work / "device.crt").read_bytes())[0]
            key = read_private_key(work / "device.key", own=True)
            csr = build_csr(key, old.subject, [DEVICE_CN])
            with _client_with(endpoint, work, "device") as client:
                renewed = approving(lambda: client.simplereenroll(csr))
            _require(renewed.subject == old.subject, "renewed certificate changed subject")
            _require(renewed.serial_number != old.serial_number, "renewed certificate kept the serial")
            _save(work, "renewed", key, renewed)

        # Manual approval (RFC 7030 section 4.2.3; labctl/approval_checks.py): 202, an agent approves, the
        # repeat gets the certificate; simplereenroll is approved the same way, without checks of its own.
        held = (
            ManualFlow(endpoint, context, credentials, DEVICE_CN, admin) if hierarchy.ra.approval == "manual" else None
        )
        approving = held.approving if held is not None else _call

        def revocation(client: CAClient) -> None:
            renewed = load_pem_certificates((work / "renewed.crt").read_bytes())[0]
            info = client.revoke(renewed.serial_number, "Key_Compromise")
            _require(info.status == "REVOKED", f"status after revocation is {info.status}")

        def crl_lists_revoked(client: CAClient) -> None:
            renewed = load_pem_certificates((work / "renewed.crt").read_bytes())[0]
            crl = client.crl()
            try:
                crl_signed_by(crl, intermediate)
            except PKIError as exc:
                raise _CheckFailed("CRL is not signed by the Intermediate CA") from exc
            _require(crl.get_revoked_certificate_by_serial_number(renewed.serial_number) is not None, "CRL lacks it")

        def ocsp_says(client: CAClient, wanted: ocsp.Status) -> None:
            # The CA's /ca/ocsp (RFC 6960), its answer signed by the Intermediate CA and echoing our nonce.
            renewed = load_pem_certificates((work / "renewed.crt").read_bytes())[0]
            query = ocsp.build_request(intermediate, renewed.serial_number)
            status = ocsp.read_response(client.ocsp(query.der), query, intermediate)
            _require(status.status is wanted, f"OCSP says {ocsp.describe(renewed.serial_number, status)}")

        def revoked_reenroll_refused() -> None:
            renewed = load_pem_certificates((work / "renewed.crt").read_bytes())[0]
            key = read_private_key(work / "renewed.key", own=True)
            with _client_with(endpoint, work, "renewed") as client:
                _expect_refusal(lambda: client.simplereenroll(build_csr(key, renewed.subject, [DEVICE_CN])), 403)

        def unauthenticated() -> None:
            csr = build_csr(generate_private_key(hierarchy.algorithm), common_name_subject("negative.cert-lab.local"))
            with ESTClient(endpoint.ra_url, ssl_context=context) as client:
                _expect_refusal(lambda: client.simpleenroll(csr), 401)

        def wrong_algorithm() -> None:
            other = next(a for a in KeyAlgorithm if a is not hierarchy.algorithm)
            csr = build_csr(generate_private_key(other), common_name_subject("negative.cert-lab.local"))
            with ESTClient(endpoint.ra_url, ssl_context=context, auth=credentials) as client:
                _expect_refusal(lambda: client.simpleenroll(csr), 403)

        def lab_name_refused() -> None:
            # labctl.pki.names: no device may get a certificate for the lab's own RA (impersonation).
            name = hierarchy.ra.hostname
            csr = build_csr(generate_private_key(hierarchy.algorithm), common_name_subject(name), [name])
            with ESTClient(endpoint.ra_url, ssl_context=context, auth=credentials) as client:
                _expect_refusal(lambda: client.simpleenroll(csr), 403)

        def serverkeygen() -> None:
            # RFC 7030 section 4.4.1: the RA ignores the CSR's key, so any key signs it; the new key is the RA's make.
            signer = generate_private_key(KeyAlgorithm.EC_P384)
            csr = build_csr(signer, common_name_subject(KEYGEN_CN), [KEYGEN_CN])
            with ESTClient(endpoint.ra_url, ssl_context=context, auth=credentials) as client:
                if hierarchy.ra.approval == "manual":  # the RA keeps no key for an agent's approval: not offered
                    _expect_refusal(lambda: client.serverkeygen(csr), 501)
                    return
                key, certificate = client.serverkeygen(csr)
            verify_chain(certificate, chain)
            _require(certificate.public_key() == key.public_key(), "the key does not match its certificate")
            _require(
                matches_algorithm(key.public_key(), hierarchy.algorithm),
                f"the RA made a {describe_key(key.public_key())} key, not {hierarchy.algorithm.label}",
            )
            _require(certificate.subject == csr.subject, f"subject is {certificate.subject.rfc4514_string()}")

        def ra_tls_certificate(client: CAClient | None) -> None:
            served = _peer_certificate(endpoint.ra_url, context)
            try:
                issued_by(served, intermediate)
            except PKIError as exc:
                raise _CheckFailed("the RA's TLS certificate was not issued by the Intermediate CA") from exc
            profile = get_profile(hierarchy.ra.tls_profile)
            _require(
                _key_usage(served) == profile.key_usage_for(served.public_key()),
                f"key usage is not {profile.profile_id}'s",
            )
            eku = served.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            _require(ExtendedKeyUsageOID.SERVER_AUTH in eku, "no serverAuth")
            if client is not None:
                recorded = client.certificate(served.serial_number).profile_id
                _require(recorded == profile.profile_id, f"the CA issued it with {recorded}, not {profile.profile_id}")

        checks.run("cacerts", cacerts)
        if held is not None:
            held.run(checks)
        if held is not None and held.certificate is None:
            checks.skip("simpleenroll", "no certificate from the approval flow")
            enrolled = False
        else:
            enrolled = checks.run("simpleenroll", simpleenroll)
        renewed = enrolled and checks.run("simplereenroll", simplereenroll)
        checks.run("fullcmc", fullcmc)
        if admin is None or not renewed:
            for name in REVOCATION_CHECKS:
                checks.skip(name, "no lab admin credential" if admin is None else "no certificate to revoke")
        else:
            with admin() as client:
                checks.run("ocsp-good", lambda: ocsp_says(client, ocsp.Status.GOOD))
                if checks.run("revocation-at-ca", lambda: revocation(client)):
                    checks.run("ocsp-revoked", lambda: ocsp_says(client, ocsp.Status.REVOKED))
                    checks.run("crl-lists-revoked", lambda: crl_lists_revoked(client))
                    checks.run("reenroll-with-revoked-refused", revoked_reenroll_refused)
                else:
                    for name in ("ocsp-revoked", "crl-lists-revoked"):
                        checks.skip(name, "revocation-at-ca failed")
        if hierarchy.ca.http_port is not None:  # the CA publishes its CRL and AIA (labctl.publication)
            _published_checks(checks, work, intermediate, endpoint, revoked=_revoked_serial(work, checks))
        checks.run("enroll-without-credentials-401", unauthenticated)
        checks.run("enroll-wrong-algorithm-refused", wrong_algorithm)
        checks.run("enroll-lab-service-name-refused", lab_name_refused)
        checks.run("serverkeygen", serverkeygen)
        if admin is None:
            checks.run("ra-tls-server-profile", lambda: ra_tls_certificate(None))
        else:
            with admin() as client:
                checks.run("ra-tls-server-profile", lambda: ra_tls_certificate(client))
    return checks.results


def _revoked_serial(work: Path, checks: _Checks) -> int | None:
    """The serial revocation-at-ca revoked, when it passed."""
    if not any(r.check == "revocation-at-ca" and r.passed for r in checks.results):
        return None
    return load_pem_certificates((work / "renewed.crt").read_bytes())[0].serial_number


def _published_checks(
    checks: _Checks, work: Path, intermediate: x509.Certificate, endpoint: Endpoint, *, revoked: int | None
) -> None:
    """crl-dp-answers and aia-answers, on the certificate simpleenroll got; the CA at the host of the
    endpoint's CA URL (the published address on the host, the CA's name in its network)."""
    if not (work / "device.crt").exists():
        checks.skip("crl-dp-answers", "no enrolled certificate")
        checks.skip("aia-answers", "no enrolled certificate")
        return
    device = load_pem_certificates((work / "device.crt").read_bytes())[0]
    host = urlsplit(endpoint.ca_url).hostname
    checks.run("crl-dp-answers", lambda: publication.check_crl_dp(device, intermediate, host=host, revoked=revoked))
    checks.run("aia-answers", lambda: publication.check_aia(device, intermediate, host=host))


def _call(call: Callable[[], x509.Certificate]) -> x509.Certificate:
    return call()


def _save(work: Path, stem: str, key: object, certificate: x509.Certificate) -> None:
    write_private_key(work / f"{stem}.key", key)  # type: ignore[arg-type]
    (work / f"{stem}.crt").write_bytes(certificates_pem([certificate]))


def _client_with(endpoint: Endpoint, work: Path, stem: str) -> ESTClient:
    context = est_ssl_context(endpoint.trust_file, cert=work / f"{stem}.crt", key=work / f"{stem}.key")
    return ESTClient(endpoint.ra_url, ssl_context=context)


def _expect_refusal(call: Callable[[], object], status: int) -> None:
    try:
        call()
    except ESTError as exc:
        _require(exc.status_code == status, f"expected {status}, got {exc.status_code}: {exc}")
        return
    raise _CheckFailed(f"expected {status}, got a certificate")


def _peer_certificate(url: str, context: ssl.SSLContext) -> x509.Certificate:
    parts = urlsplit(url)
    host, port = parts.hostname or "localhost", parts.port or 443
    with (
        socket.create_connection((host, port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if der is None:
        raise _CheckFailed("the RA presented no certificate")
    return load_der_certificate(der, what="the RA's TLS certificate")


def _key_usage(certificate: x509.Certificate) -> frozenset[str]:
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement")
    return frozenset(n for n in names if getattr(usage, n))


# --- what only the runtime sees ------------------------------------------------------------------

# Run inside the RA container: every private key under these trees, as SPKI hex (stdlib + cryptography).
_KEY_SCAN = """
import os, sys
from cryptography.hazmat.primitives import serialization
found = []
for top in ("/etc", "/var", "/tmp", "/home", "/root", "/opt/labctl/etc"):
    for base, _dirs, files in os.walk(top):
        for name in files:
            path = os.path.join(base, name)
            try:
                if os.path.getsize(path) > 65536:
                    continue
                data = open(path, "rb").read()
            except OSError:
                continue
            if b"PRIVATE KEY" not in data:
                continue
            try:
                key = serialization.load_pem_private_key(data, None)
            except Exception:
                continue
            spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            print(path, spki.hex())
"""


def verify_containment(
    lab: Lab, hierarchy: Hierarchy, runtime: ContainerRuntime, ca_certificate: x509.Certificate
) -> list[CheckResult]:
    """The RA holds no CA key; the hierarchy's network reaches its own CA and no other hierarchy's services."""
    checks = _Checks(hierarchy.name)
    ra = hierarchy.ra.container

    def no_ca_key() -> None:
        result = runtime.exec(ra, ("python", "-c", _KEY_SCAN))
        _require(result.exit_code == 0, f"key scan failed in {ra}: {result.output.strip()[-200:]}")
        ca_spki = (
            ca_certificate.public_key()
            .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            .hex()
        )
        holders = [line.split()[0] for line in result.output.splitlines() if line.endswith(ca_spki)]
        _require(not holders, f"{ra} holds the CA's private key: {', '.join(holders)}")

    def isolated() -> None:
        # Its own CA on every CA port (TLS, and plain HTTP for the CRL and AIA); no port of another hierarchy.
        own = [(hierarchy.ca.container, port) for port in ca_ports(hierarchy)]
        others = [
            (str(address), port)
            for other in lab.hierarchies
            if other.name != hierarchy.name
            for address, port in [*((other.ca.address, p) for p in ca_ports(other)), (other.ra.address, other.ra.port)]
            if address is not None
        ]
        _require(all(_reach(runtime, ra, own)), f"{ra} cannot reach its own CA on every port of {own}")
        reached = [target for target, ok in zip(others, _reach(runtime, ra, others), strict=True) if ok]
        # Seen on this host while other labs were being created and removed: netavark's isolation
        # chains empty under running containers. `podman network reload` rewrites them.
        _require(
            not reached,
            f"{ra} reaches other hierarchies: {reached} (check `iptables -S NETAVARK_ISOLATION_1`;"
            " `podman network reload --all` rewrites podman's isolation rules)",
        )

    checks.run("ra-holds-no-ca-key", no_ca_key)
    checks.run("network-isolated", isolated)
    return checks.results


def _reach(runtime: ContainerRuntime, container: str, targets: Sequence[tuple[str, int]]) -> list[bool]:
    """Try every target at once from inside the container (1.5 s each): unreachable ones cost one timeout, not one each."""
    probe = (
        "import socket\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "def reach(target):\n"
        "    s = socket.socket(); s.settimeout(1.5)\n"
        "    try:\n        s.connect(target); return 'open'\n"
        "    except OSError:\n        return 'closed'\n"
        "    finally:\n        s.close()\n"
        f"targets = {list(targets)!r}\n"
        "with ThreadPoolExecutor(max(1, len(targets))) as pool:\n"
        "    print(' '.join(pool.map(reach, targets)))\n"
    )
    output = runtime.exec(container, ("python", "-c", probe)).output.split()
    if len(output) != len(targets):
        raise _CheckFailed(f"reachability probe in {container} failed: {' '.join(output)[-200:]}")
    return [word == "open" for word in output]


# --- reports -------------------------------------------------------------------------------------


def write_junit(results: Sequence[CheckResult], path: Path) -> None:
    """JUnit XML for CI: a testsuite per hierarchy, a testcase per check."""
    suites = ET.Element("testsuites", name="labctl verify")
    for hierarchy in dict.fromkeys(r.hierarchy for r in results):
        mine = [r for r in results if r.hierarchy == hierarchy]
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=hierarchy,
            tests=str(len(mine)),
            failures=str(sum(not r.passed for r in mine)),
            time=f"{sum(r.elapsed_s for r in mine):.3f}",
        )
        for result in mine:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"labctl.verify.{hierarchy}",
                name=result.check,
                time=f"{result.elapsed_s:.3f}",
            )
            if not result.passed:
                ET.SubElement(case, "failure", message=result.reason)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)
