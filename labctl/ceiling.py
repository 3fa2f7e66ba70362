"""What the machine allows, measured in the same run as the load: certificates per second that
`cryptography` alone issues on one core, signatures per second with the server key (one per TLS
handshake, one per OCSP answer), and serverkeygen's crypto per second (a new key, the RA's CSR
signed with it, the issuance). Run on the host by `python -m benchmarks`, and inside a lab container by
`labctl bench-ceiling` (the container's OpenSSL is the one its services use).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from labctl.pki.issue import build_csr, common_name_subject, create_root_ca, issue_certificate, random_serial
from labctl.pki.keys import KeyAlgorithm, PrivateKey, generate_private_key
from labctl.pki.profiles import get_profile
from labctl.pki.signatures import check_csr_signature

SIGNED_DATA = b"x" * 64
# RSA-4096 key generation takes ~0.3 to 2 s a key, its time spread wide (a random prime search):
# at least this many keys, however short the run, so one lucky or unlucky key does not make the figure.
MIN_KEYS = 5


@dataclass(frozen=True, slots=True)
class Ceiling:
    algorithm: str
    issue_per_s: float
    sign_per_s: float
    serverkeygen_per_s: float  # key generation + CSR + issuance, what one serverkeygen costs in crypto
    # CPU ms (this thread's) of one issuance as issue_per_s measures it: steadier than 1000 / issue_per_s
    # on a shared machine, and what an enrollment's RA + CA CPU ms is compared with (labctl.cputime).
    issue_cpu_ms: float = 0.0
    # CPU ms of one proof-of-possession check: a CSR of the algorithm parsed from DER and its signature
    # verified. Dogtag makes it twice per enrollment, and so does the lab: the EST RA (ESTServlet.parseCSR's
    # `new PKCS10(data)`, which verifies) and the CA (EnrollProfile, ca.requestVerify.enabled defaults to
    # true). issue_cpu_ms / (issue_cpu_ms + 2 * pop_cpu_ms) is the efficiency an enrollment would reach if
    # all but its cryptography cost nothing (labctl.cputime.efficiency_bound).
    pop_cpu_ms: float = 0.0


def rate(work: Callable[[], object], seconds: float, *, at_least: int = 1) -> float:
    """How many times per second `work` runs, over about `seconds` and at least `at_least` times."""
    return cpu_ms(work, seconds, at_least=at_least)[0]


def cpu_ms(work: Callable[[], object], seconds: float, *, at_least: int = 1) -> tuple[float, float]:
    """`work`'s rate per second of wall time (over about `seconds`, at least `at_least` calls) and its CPU
    ms per call on this thread."""
    count, started, cpu_started = 0, time.perf_counter(), time.thread_time()
    while (elapsed := time.perf_counter() - started) < seconds or count < at_least:
        work()
        count += 1
    return count / elapsed, (time.thread_time() - cpu_started) * 1000 / count


def _signer(key: PrivateKey) -> Callable[[], bytes]:
    """One signature as a TLS 1.3 server makes it: RSA-PSS, ECDSA, or pure ML-DSA (no pre-hash)."""
    if isinstance(key, rsa.RSAPrivateKey):
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=padding.PSS.DIGEST_LENGTH)
        return lambda: key.sign(SIGNED_DATA, pss, hashes.SHA384())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return lambda: key.sign(SIGNED_DATA, ec.ECDSA(hashes.SHA384()))
    return lambda: key.sign(SIGNED_DATA)


def measure_ceiling(algorithm: KeyAlgorithm, *, seconds: float = 2.0) -> Ceiling:
    issuer = create_root_ca(generate_private_key(algorithm), "ceiling CA", days=2)
    csr = build_csr(generate_private_key(algorithm), common_name_subject("ceiling.cert-lab.local"))
    profile = get_profile("estServiceCert")
    # One issuance: the CSR's public key loaded and checked against the profile (strength, key usage),
    # the certificate built (subject, SAN, SKI/AKI, EKU), signed and DER-encoded (sign() does both). Not
    # the CSR's DER parsing or its signature check (proof of possession), no PEM, no storage, no HTTP.
    issue, issue_cpu = cpu_ms(lambda: issue_certificate(issuer, csr, profile, serial=random_serial()), seconds)
    csr_der = csr.public_bytes(Encoding.DER)
    _, pop_cpu = cpu_ms(lambda: check_csr_signature(x509.load_der_x509_csr(csr_der)), seconds)
    sign = rate(_signer(issuer.private_key), seconds)
    subject = common_name_subject("serverkeygen.cert-lab.local")

    def serverkeygen() -> None:
        # The crypto of one serverkeygen (labctl/services/est_ra/serverkeygen.py): a key of the hierarchy's
        # algorithm, the RA's CSR signed with it, and the issuance as issue_per_s measures it.
        new_csr = build_csr(generate_private_key(algorithm), subject)
        issue_certificate(issuer, new_csr, profile, serial=random_serial())

    keygen = rate(serverkeygen, seconds, at_least=MIN_KEYS)
    return Ceiling(algorithm.value, issue, sign, keygen, round(issue_cpu, 3), round(pop_cpu, 3))
