"""OCSP load on a hierarchy's Intermediate CA, from the host, on the CA's plain-HTTP port.

Plain HTTP is what devices use (the AIA OCSP URL is http://<ca>:<http_port>/ca/ocsp, RFC 5019 §5) and
needs no TLS at all, so the host is the client for every hierarchy, pqc included: no ML-DSA TLS (which
the host's OpenSSL 3.0 cannot do), and cryptography (its own OpenSSL) checks the ML-DSA-87 signatures
of the sampled answers. The certificate asked about is the RA's TLS certificate: issued by that CA
through its REST API at `up`, in its database, good.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509

from labctl.endpoint import published_host
from labctl.errors import LabctlError
from labctl.loadgen import OCSP_CONCURRENCY, LoadSummary, measure_ocsp
from labctl.pki.issue import load_pem_certificates
from labctl.state import HierarchyState
from labctl.topology import Hierarchy, Lab


def ocsp_target(state_dir: Path, hierarchy: Hierarchy) -> tuple[x509.Certificate, int]:
    """The Intermediate CA's certificate and the serial of a certificate it issued (the RA's TLS one).

    Raises:
        LabctlError: the hierarchy's state has no chain or no RA certificate (the lab is not up).
    """
    state = HierarchyState.of(state_dir, hierarchy)
    ra_certificate = state.ra_dir / "tls.crt"
    for path in (state.chain, ra_certificate):
        if not path.exists():
            raise LabctlError(f"{hierarchy.name}: no {path} (is the lab up?)")
    issued = load_pem_certificates(ra_certificate.read_bytes())[0]
    return load_pem_certificates(state.chain.read_bytes())[0], issued.serial_number


def ocsp_load(
    lab: Lab,
    state_dir: Path,
    hierarchy: Hierarchy,
    *,
    duration: float,
    concurrency: Sequence[int] = OCSP_CONCURRENCY,
) -> list[LoadSummary]:
    """OCSP POSTs to http://<bind address>:<http_port>/ca/ocsp, keep-alive at each `concurrency`.

    Raises:
        LabctlError: the CA has no plain-HTTP port in the lab file, or the lab is not up.
    """
    if hierarchy.ca.http_port is None:
        raise LabctlError(f"{hierarchy.name}: the CA has no http_port in the lab file: no plain-HTTP OCSP to load")
    issuer, serial = ocsp_target(state_dir, hierarchy)
    return asyncio.run(
        measure_ocsp(
            label=hierarchy.name, host=published_host(lab), port=hierarchy.ca.http_port, issuer=issuer,
            serial=serial, duration_s=duration, concurrency=concurrency,
        )
    )  # fmt: skip
