"""What the machine allows, measured in the same run: certificates per second that `cryptography`
alone issues on one core, and signatures per second with the server key (one per TLS handshake)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from labctl.pki.issue import build_csr, common_name_subject, create_root_ca, issue_certificate, random_serial
from labctl.pki.keys import KeyAlgorithm, generate_private_key, signature_hash
from labctl.pki.profiles import get_profile


@dataclass(frozen=True, slots=True)
class Ceiling:
    algorithm: str
    issue_per_s: float
    sign_per_s: float


def _rate(work: object, seconds: float) -> float:
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        work()  # type: ignore[operator]
        count += 1
    return count / elapsed


def measure_ceiling(algorithm: KeyAlgorithm, *, seconds: float = 2.0) -> Ceiling:
    issuer = create_root_ca(generate_private_key(algorithm), "ceiling CA", days=2)
    csr = build_csr(generate_private_key(algorithm), common_name_subject("ceiling.cert-lab.local"))
    profile = get_profile("estServiceCert")
    issue = _rate(lambda: issue_certificate(issuer, csr, profile, serial=random_serial()), seconds)
    key, digest = issuer.private_key, signature_hash(issuer.private_key)
    data = b"x" * 64
    if algorithm is KeyAlgorithm.RSA_4096:
        from cryptography.hazmat.primitives.asymmetric import padding

        pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=padding.PSS.DIGEST_LENGTH)  # type: ignore[arg-type]
        sign = _rate(lambda: key.sign(data, pss, digest), seconds)  # type: ignore[call-arg, arg-type]
    elif algorithm is KeyAlgorithm.EC_P384:
        from cryptography.hazmat.primitives.asymmetric import ec

        sign = _rate(lambda: key.sign(data, ec.ECDSA(digest)), seconds)  # type: ignore[call-arg, arg-type]
    else:
        sign = _rate(lambda: key.sign(data), seconds)  # type: ignore[call-arg]
    return Ceiling(algorithm.value, issue, sign)
