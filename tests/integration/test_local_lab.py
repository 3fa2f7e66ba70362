"""The CA and RA as real processes on 127.0.0.1 with TLS: enrollment with httpx, and with the lab
docs' manual recipe (curl, base64 -d, openssl pkcs7 -print_certs, openssl verify)."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from labctl.ca_client import CAClient, ca_ssl_context
from labctl.clients import host_admin
from labctl.endpoint import Endpoint
from labctl.errors import ESTError
from labctl.est_client import ESTClient, est_ssl_context
from labctl.local import LocalLab
from labctl.pki.issue import build_csr, certificates_pem, common_name_subject
from labctl.pki.keys import generate_private_key, write_private_key
from labctl.pki.pkcs7 import load_certs_only
from labctl.state import HierarchyState
from labctl.verify import REVOCATION_CHECKS, verify_endpoint
from tests.helpers import simpleenroll

pytestmark = pytest.mark.integration
HIERARCHIES = pytest.mark.parametrize("name", ["rsa", "ecc"])


def _endpoint(local_lab: tuple[LocalLab, dict[str, Endpoint], Path], name: str) -> Endpoint:
    return local_lab[1][name]


@HIERARCHIES
def test_verify_checks_pass(local_lab, name):
    endpoint = _endpoint(local_lab, name)
    results = verify_endpoint(endpoint, admin=host_admin(local_lab[2], endpoint))
    assert [(r.check, r.reason) for r in results if not r.passed] == []
    assert {r.check for r in results} >= {
        "cacerts",
        "simpleenroll",
        "simplereenroll",
        "revocation-at-ca",
        *REVOCATION_CHECKS,
    }


@HIERARCHIES
def test_enroll_with_httpx_returns_certificate_chaining_to_root(local_lab, name):
    endpoint = _endpoint(local_lab, name)
    key = generate_private_key(endpoint.hierarchy.algorithm)
    response = simpleenroll(endpoint, f"httpx-{name}.cert-lab.local", key)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pkcs7-mime; smime-type=certs-only"
    assert response.headers["content-length"] == str(len(response.content))
    [certificate] = load_certs_only(response.content)
    intermediate = x509.load_pem_x509_certificates(endpoint.trust_file.read_bytes())[0]
    certificate.verify_directly_issued_by(intermediate)


@HIERARCHIES
def test_tls_1_2_client_is_served(local_lab, name):
    import ssl

    endpoint = _endpoint(local_lab, name)
    context = est_ssl_context(endpoint.trust_file)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with ESTClient(endpoint.ra_url, ssl_context=context) as client:
        assert len(client.cacerts()) == 2


@HIERARCHIES
def test_lab_docs_curl_recipe(local_lab, name, tmp_path):
    endpoint = _endpoint(local_lab, name)
    key = generate_private_key(endpoint.hierarchy.algorithm)
    csr = build_csr(key, common_name_subject("device01.cert-lab.local"))
    (tmp_path / "csr.b64").write_bytes(base64.encodebytes(csr.public_bytes(serialization.Encoding.DER)))
    curl = ["curl", "-sS", "--fail", "--cacert", str(endpoint.trust_file)]
    subprocess.run(
        [
            *curl, "-u", f"{endpoint.username}:{endpoint.password}",
            "-H", "Content-Type: application/pkcs10", "--data-binary", "@csr.b64",
            "-o", "cert.p7.b64", f"{endpoint.ra_url}/.well-known/est/simpleenroll",
        ],
        cwd=tmp_path, check=True,
    )  # fmt: skip
    subprocess.run(
        [*curl, "-o", "cacerts.p7.b64", f"{endpoint.ra_url}/.well-known/est/cacerts"], cwd=tmp_path, check=True
    )
    shell = (
        "base64 -d cert.p7.b64 | openssl pkcs7 -inform DER -print_certs -out cert.pem"
        " && base64 -d cacerts.p7.b64 | openssl pkcs7 -inform DER -print_certs -out chain.pem"
        " && openssl verify -CAfile chain.pem cert.pem"
    )
    result = subprocess.run(["sh", "-c", shell], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "cert.pem: OK"


@HIERARCHIES
def test_unauthenticated_enroll_gets_basic_challenge(local_lab, name):
    endpoint = _endpoint(local_lab, name)
    csr = build_csr(generate_private_key(endpoint.hierarchy.algorithm), common_name_subject("x.cert-lab.local"))
    with httpx.Client(verify=est_ssl_context(endpoint.trust_file)) as client:
        response = client.post(
            f"{endpoint.ra_url}/.well-known/est/simpleenroll",
            content=base64.b64encode(csr.public_bytes(serialization.Encoding.DER)),
            headers={"Content-Type": "application/pkcs10"},
        )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="EST"'


def test_client_certificate_from_other_hierarchy_is_refused(local_lab, tmp_path):
    """The ecc device's certificate is not trusted by the rsa RA: the TLS handshake is refused."""
    ecc, rsa = _endpoint(local_lab, "ecc"), _endpoint(local_lab, "rsa")
    key = generate_private_key(ecc.hierarchy.algorithm)
    csr = build_csr(key, common_name_subject("foreign.cert-lab.local"))
    with ESTClient(ecc.ra_url, ssl_context=est_ssl_context(ecc.trust_file), auth=(ecc.username, ecc.password)) as c:
        certificate = c.simpleenroll(csr)
    write_private_key(tmp_path / "d.key", key)
    (tmp_path / "d.crt").write_bytes(certificates_pem([certificate]))
    context = est_ssl_context(rsa.trust_file, cert=tmp_path / "d.crt", key=tmp_path / "d.key")
    rsa_csr = build_csr(generate_private_key(rsa.hierarchy.algorithm), certificate.subject)
    with ESTClient(rsa.ra_url, ssl_context=context) as client, pytest.raises(ESTError):
        client.simplereenroll(rsa_csr)


def test_ca_restart_keeps_certificates(local_lab):
    """Stop the whole lab, start it again on the same state: the CA comes up installed, counts equal."""
    runner, endpoints, state = local_lab
    endpoint = endpoints["ecc"]
    admin = HierarchyState.of(state, endpoint.hierarchy)

    def counts() -> dict[str, int]:
        context = ca_ssl_context(endpoint.trust_file, cert=admin.admin_cert, key=admin.admin_key)
        with CAClient(endpoint.ca_url, ssl_context=context) as client:
            return dict(client.status().counts)

    before = counts()
    runner.stop()
    runner.up(timeout=60)
    assert counts() == before


def test_trust_bootstrap_shows_the_roots_fingerprint_and_stores_only_when_asked(local_lab, tmp_path):
    """RFC 7030 section 4.1.1: cacerts without a trust anchor; stored only on the user's word."""
    from labctl.devices import bootstrap_cacerts
    from labctl.pki.issue import load_pem_certificates, sha256_fingerprint

    endpoint = _endpoint(local_lab, "ecc")
    root = load_pem_certificates(endpoint.trust_file.read_bytes())[-1]
    anchor = tmp_path / "ca-chain.pem"
    fetched = bootstrap_cacerts(endpoint.ra_url, anchor, store=False)
    assert fetched.root_fingerprint == sha256_fingerprint(root)
    assert fetched.chain[-1] == root and not fetched.stored and not anchor.exists()
    stored = bootstrap_cacerts(endpoint.ra_url, anchor, store=True)
    assert stored.stored and load_pem_certificates(anchor.read_bytes()) == fetched.chain
