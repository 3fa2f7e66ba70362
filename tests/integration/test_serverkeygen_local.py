"""serverkeygen against the CA and RA as real processes on 127.0.0.1 with TLS (rsa, ecc): the
docs-draft recipe with curl and openssl (docs-drafts/serverkeygen.md), the encrypted key opened by
`openssl cms -decrypt`, and labctl's own client."""

from __future__ import annotations

import base64
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.name import _ASN1Type

from labctl.clients import host_admin
from labctl.devices import HostTransport, enroll_device, serverkeygen_device
from labctl.endpoint import Endpoint
from labctl.local import LocalLab
from labctl.pki.issue import common_name_subject, general_names_for, load_pem_certificates
from labctl.pki.keys import KeyAlgorithm, generate_private_key, matches_algorithm, read_private_key
from labctl.services.est_ra.serverkeygen import ASYMMETRIC_DECRYPT_KEY_IDENTIFIER
from labctl.topology import dump_lab
from labctl.verify import verify_endpoint

pytestmark = pytest.mark.integration
HIERARCHIES = pytest.mark.parametrize("name", ["rsa", "ecc"])

# The recipe's split: parts are headers, an empty line, base64; each delimiter line starts with "--".
SPLIT = (
    "tr -d '\\r' < answer.txt"
    ' | awk \'/^--/{n++; body=0; next} body && NF {print > ("part" n ".b64")} !body && !NF {body=1}\''
)


def _endpoint(local_lab: tuple[LocalLab, dict[str, Endpoint], Path], name: str) -> Endpoint:
    return local_lab[1][name]


def _sh(script: str, cwd: Path) -> str:
    result = subprocess.run(["sh", "-c", script], cwd=cwd, capture_output=True, text=True, check=False)
    assert result.returncode == 0, (script, result.stdout, result.stderr)
    return result.stdout


@HIERARCHIES
def test_docs_curl_and_openssl_recipe(local_lab, name, tmp_path):
    endpoint = _endpoint(local_lab, name)
    cn = f"curl-keygen-{name}.cert-lab.local"
    curl = f"curl -sS --fail --cacert {endpoint.trust_file} -u '{endpoint.username}:{endpoint.password}'"
    _sh(
        # Any key signs the CSR: the RA ignores it (RFC 7030 section 4.4.1) and makes the device's own.
        f"openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout throwaway.key"
        f" -subj /CN={cn} -addext subjectAltName=DNS:{cn} -outform DER | base64 > csr.b64"
        f" && {curl} -H 'Content-Type: application/pkcs10' --data-binary @csr.b64"
        f" -o answer.txt {endpoint.ra_url}/.well-known/est/serverkeygen"
        f" && {SPLIT}"
        " && base64 -d part1.b64 > device.der && openssl pkey -inform DER -in device.der -out device.key"
        " && base64 -d part2.b64 | openssl pkcs7 -inform DER -print_certs -out device.crt",
        tmp_path,
    )
    key_pub = _sh("openssl pkey -in device.key -pubout", tmp_path)
    cert_pub = _sh("openssl x509 -in device.crt -noout -pubkey", tmp_path)
    assert key_pub == cert_pub
    verified = _sh(f"openssl verify -CAfile {endpoint.trust_file} device.crt", tmp_path)
    assert verified.strip() == "device.crt: OK"
    key = read_private_key(tmp_path / "device.key")
    assert matches_algorithm(key.public_key(), endpoint.hierarchy.algorithm)


@HIERARCHIES
def test_encrypted_key_opens_with_openssl_cms_decrypt(local_lab, name, tmp_path):
    """AsymmetricDecryptKeyIdentifier = the TLS client certificate's SKI: the key comes back as
    EnvelopedData for it (RSA: key transport; ecc: ECDH), which `openssl cms -decrypt` opens."""
    endpoint = _endpoint(local_lab, name)
    client = enroll_device(
        endpoint,
        HostTransport(endpoint),
        common_name=f"tls-client-{name}.cert-lab.local",
        sans=(),
        out_dir=tmp_path / "client",
    )
    ski = client.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    subject = client.certificate.subject
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(x509.SubjectAlternativeName(general_names_for([f"tls-client-{name}.cert-lab.local"])), False)
        .add_attribute(ASYMMETRIC_DECRYPT_KEY_IDENTIFIER, ski, _tag=_ASN1Type.OctetString)
        .sign(generate_private_key(KeyAlgorithm.EC_P384), hashes.SHA384())
    )
    (tmp_path / "csr.b64").write_bytes(base64.encodebytes(csr.public_bytes(serialization.Encoding.DER)))
    files = client.files
    _sh(
        f"curl -sS --fail --cacert {endpoint.trust_file} --cert {files.certificate} --key {files.key}"
        f" -H 'Content-Type: application/pkcs10' --data-binary @csr.b64"
        f" -o answer.txt {endpoint.ra_url}/.well-known/est/serverkeygen"
        f" && grep -q 'smime-type=server-generated-key' answer.txt && {SPLIT}"
        f" && base64 -d part1.b64 > key.p7m"
        f" && openssl cms -decrypt -inform DER -in key.p7m -inkey {files.key} -recip {files.certificate}"
        " -out package.der"
        # AsymmetricKeyPackage: a SEQUENCE of one OneAsymmetricKey; the key starts after the outer header.
        " && off=$(openssl asn1parse -inform DER -in package.der | awk -F: 'NR==2{print $1+0}')"
        " && openssl asn1parse -inform DER -in package.der -offset $off -noout -out device.der"
        " && openssl pkey -inform DER -in device.der -out device.key"
        " && base64 -d part2.b64 | openssl pkcs7 -inform DER -print_certs -out device.crt",
        tmp_path,
    )
    assert _sh("openssl pkey -in device.key -pubout", tmp_path) == _sh(
        "openssl x509 -in device.crt -noout -pubkey", tmp_path
    )
    assert load_pem_certificates((tmp_path / "device.crt").read_bytes())[0].subject == subject


@HIERARCHIES
def test_labctl_serverkeygen_device(local_lab, name, tmp_path):
    endpoint = _endpoint(local_lab, name)
    cn = f"labctl-keygen-{name}.cert-lab.local"
    enrolled = serverkeygen_device(endpoint, HostTransport(endpoint), common_name=cn, sans=(), out_dir=tmp_path)
    key = read_private_key(enrolled.files.key)
    assert key.public_key() == enrolled.certificate.public_key()
    assert matches_algorithm(key.public_key(), endpoint.hierarchy.algorithm)
    assert enrolled.certificate.subject == common_name_subject(cn)
    assert stat.S_IMODE(enrolled.files.key.stat().st_mode) == 0o600


@HIERARCHIES
def test_verify_runs_the_serverkeygen_check(local_lab, name):
    endpoint = _endpoint(local_lab, name)
    results = verify_endpoint(endpoint, admin=host_admin(local_lab[2], endpoint))
    [check] = [r for r in results if r.check == "serverkeygen"]
    assert check.passed, check.reason


@HIERARCHIES
def test_labctl_est_serverkeygen_command(local_lab, name, tmp_path):
    """The CLI as a user runs it (the lab file as LocalLab placed it, on free ports)."""
    runner, _, state = local_lab
    config = tmp_path / "lab.toml"
    config.write_text(dump_lab(runner.lab), encoding="utf-8")
    cn = f"cli-keygen-{name}.cert-lab.local"
    out_dir = tmp_path / "device"
    command = [
        sys.executable, "-m", "labctl.cli", "--config", str(config), "--state-dir", str(state),
        "est-serverkeygen", "--cn", cn, "--pki-type", name, "--out-dir", str(out_dir),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert f"subject: CN={cn}" in result.stdout
    key = read_private_key(out_dir / "device.key")
    [certificate] = load_pem_certificates((out_dir / "device.crt").read_bytes())
    assert certificate.public_key() == key.public_key()
    assert stat.S_IMODE((out_dir / "device.key").stat().st_mode) == 0o600
