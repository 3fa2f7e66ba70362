"""The CRL distribution point and AIA of certificates issued through EST, fetched from the CA's plain-HTTP
port (a process on 127.0.0.1) and used as a relying party does: `openssl verify -crl_check` with the CRL
from the certificate's distribution point refuses the revoked certificate and accepts the other."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from labctl.clients import host_admin
from labctl.endpoint import Endpoint
from labctl.est_client import ESTClient, est_ssl_context
from labctl.local import LocalLab
from labctl.pki.distribution import certificate_urls, reached_at
from labctl.pki.issue import build_csr, certificates_pem, common_name_subject
from labctl.pki.keys import generate_private_key
from labctl.pki.pkcs7 import load_certs_only
from labctl.verify import verify_endpoint

pytestmark = pytest.mark.integration
HIERARCHIES = pytest.mark.parametrize("name", ["rsa", "ecc"])
LocalLabFixture = tuple[LocalLab, dict[str, Endpoint], Path]


def _enroll(endpoint: Endpoint, common_name: str) -> x509.Certificate:
    key = generate_private_key(endpoint.hierarchy.algorithm)
    csr = build_csr(key, common_name_subject(common_name), [common_name])
    context = est_ssl_context(endpoint.trust_file)
    with ESTClient(endpoint.ra_url, ssl_context=context, auth=(endpoint.username, endpoint.password)) as client:
        return client.simpleenroll(csr)


def _on_host(url: str) -> str:
    """The URL at 127.0.0.1: the host has no hosts block for the CA's name in this test."""
    return reached_at(url, "127.0.0.1")


def _openssl_verify(
    tmp_path: Path, endpoint: Endpoint, crl: bytes, leaf: x509.Certificate
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "crl.pem").write_bytes(x509.load_der_x509_crl(crl).public_bytes(serialization.Encoding.PEM))
    (tmp_path / "leaf.pem").write_bytes(certificates_pem([leaf]))
    command = [
        "openssl", "verify", "-crl_check",
        "-CAfile", str(endpoint.trust_file),
        "-CRLfile", str(tmp_path / "crl.pem"),
        str(tmp_path / "leaf.pem"),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


@HIERARCHIES
def test_openssl_crl_check_with_the_crl_from_the_distribution_point(local_lab: LocalLabFixture, name, tmp_path):
    _runner, endpoints, state = local_lab
    endpoint = endpoints[name]
    revoked = _enroll(endpoint, f"crldp-revoked-{name}.cert-lab.local")
    kept = _enroll(endpoint, f"crldp-kept-{name}.cert-lab.local")
    with host_admin(state, endpoint)() as admin:
        admin.revoke(revoked.serial_number, "Key_Compromise")
    [url] = certificate_urls(revoked).crl
    hierarchy = endpoint.hierarchy
    assert url == (
        f"http://{hierarchy.ca.container}:{hierarchy.ca.http_port}/ca/ee/ca/getCRL?op=getCRL&crlIssuingPoint=MasterCRL"
    )
    response = httpx.get(_on_host(url), timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pkix-crl"

    refused = _openssl_verify(tmp_path, endpoint, response.content, revoked)
    assert refused.returncode != 0
    assert "certificate revoked" in refused.stdout + refused.stderr
    accepted = _openssl_verify(tmp_path, endpoint, response.content, kept)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert accepted.stdout.strip().endswith(": OK")


@HIERARCHIES
def test_ca_issuers_url_gives_the_issuer(local_lab: LocalLabFixture, name):
    endpoint = local_lab[1][name]
    certificate = _enroll(endpoint, f"aia-{name}.cert-lab.local")
    [url] = certificate_urls(certificate).ca_issuers
    response = httpx.get(_on_host(url), timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pkcs7-mime"
    intermediate = x509.load_pem_x509_certificates(endpoint.trust_file.read_bytes())[0]
    assert intermediate in load_certs_only(response.content)
    certificate.verify_directly_issued_by(intermediate)


@HIERARCHIES
@pytest.mark.parametrize("path", ["/ca/rest/certs", "/ca/admin/ca/getStatus", "/ca/v2/agent/certrequests"])
def test_the_plain_port_serves_no_rest_api(local_lab: LocalLabFixture, name, path):
    hierarchy = local_lab[1][name].hierarchy
    response = httpx.get(f"http://127.0.0.1:{hierarchy.ca.http_port}{path}", timeout=10)
    assert response.status_code == 404


@HIERARCHIES
def test_verify_runs_the_published_url_checks(local_lab: LocalLabFixture, name):
    endpoint = local_lab[1][name]
    results = {r.check: r for r in verify_endpoint(endpoint, admin=host_admin(local_lab[2], endpoint))}
    for check in ("crl-dp-answers", "aia-answers"):
        assert results[check].passed, results[check].reason
