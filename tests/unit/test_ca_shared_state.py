"""Two IntermediateCA objects on one data dir, as two worker processes of one CA (docs/workers.md): what
one records, the other sees: the CRL after a revocation (the same CRL, number included), review nonces
(good once, whichever worker takes them), and the install (the second worker writes nothing again)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from labctl.pki.keys import KeyAlgorithm
from labctl.services.ca.authority import CAConfig, IntermediateCA
from tests.conftest import CA_KEY, CA_NAME, DISTRIBUTION, ROOT_KEY, Hierarchy, build_hierarchy

ALGORITHM = KeyAlgorithm.EC_P384  # the state is the same for every algorithm; P-384 is quick


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[tuple[Hierarchy, IntermediateCA]]:
    """The first worker (installed by the hierarchy's build) and a second one opened on its data dir."""
    first = build_hierarchy(tmp_path / "ca", ALGORITHM, ROOT_KEY, CA_KEY, "Test Root CA")
    second = IntermediateCA(CAConfig(first.ca.dir, ALGORITHM, CA_NAME, distribution=DISTRIBUTION))
    try:
        assert second.try_install(), second.install_error
        yield first, second
    finally:
        second.store.close()
        first.ca.store.close()


def test_a_revocation_by_one_worker_is_on_the_crl_the_other_serves(
    workers: tuple[Hierarchy, IntermediateCA],
) -> None:
    first, second = workers
    before = second.crl_der()
    certificate = first.issue("device.workers.test")
    first.revoke(certificate)
    served = second.crl_der()
    assert served != before
    assert served == first.ca.crl_der()  # the one CRL, built once: its number does not differ by worker
    crl = x509.load_der_x509_crl(served)
    assert crl.get_revoked_certificate_by_serial_number(certificate.serial_number) is not None


def test_a_nonce_one_worker_hands_out_is_taken_once_by_the_other(workers: tuple[Hierarchy, IntermediateCA]) -> None:
    first, second = workers
    first.ca.store.put_nonce("cert", "1f", "12345")
    assert second.store.take_nonce("cert", "1f") == "12345"
    assert first.ca.store.take_nonce("cert", "1f") is None
    first.ca.store.put_nonce("request", "7", "1")
    first.ca.store.put_nonce("request", "7", "2")  # a second review replaces the first one's
    assert second.store.take_nonce("request", "7") == "2"


def test_the_second_worker_installs_without_writing_the_cas_files_again(
    workers: tuple[Hierarchy, IntermediateCA],
) -> None:
    first, second = workers
    files = ("chain.pem", "tls.crt", "tls.key", "ca.key", "ca.csr")
    first.ca.tls_material()  # the first worker's TLS certificate, as its listener loads it
    written = {name: (first.ca.dir / name).read_bytes() for name in files}
    issued = first.ca.store.counts()["VALID"]
    third = IntermediateCA(CAConfig(first.ca.dir, ALGORITHM, CA_NAME, distribution=DISTRIBUTION))
    try:
        assert third.try_install()
        second.tls_material()
        third.tls_material()
    finally:
        third.store.close()
    assert {name: (first.ca.dir / name).read_bytes() for name in files} == written
    assert second.store.counts()["VALID"] == issued  # no second TLS certificate issued
