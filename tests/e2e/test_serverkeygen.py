"""EST serverkeygen on the running lab (RFC 7030 section 4.4): `labctl est-serverkeygen` on every
hierarchy (pqc from a client container on its network), the key checked by OpenSSL 3.5 inside the
pqc network, and bad input answered 4xx by the real RA."""

from __future__ import annotations

import base64
import stat
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization

from labctl.pki.issue import build_csr, common_name_subject, load_pem_certificates, verify_chain
from labctl.pki.keys import KeyAlgorithm, generate_private_key, matches_algorithm, read_private_key
from labctl.runtime.podman import PodmanRuntime
from labctl.state import HierarchyState
from labctl.topology import load_lab

from .conftest import LabCLI

pytestmark = pytest.mark.e2e
HIERARCHIES = ["rsa", "ecc", "pqc"]


@pytest.mark.parametrize("pki_type", HIERARCHIES, ids=HIERARCHIES)
def test_est_serverkeygen_saves_a_key_that_matches_its_certificate(lab_cli: LabCLI, tmp_path, pki_type):
    hierarchy = load_lab().hierarchy(pki_type)
    cn = f"keygen-{pki_type}.cert-lab.local"
    out_dir = tmp_path / "device"
    result = lab_cli.run("est-serverkeygen", "--cn", cn, "--pki-type", pki_type, "--out-dir", str(out_dir))
    assert f"CN={cn}" in result.stdout, result.stdout
    key_file = out_dir / "device.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = read_private_key(key_file)
    [certificate] = load_pem_certificates((out_dir / "device.crt").read_bytes())
    assert certificate.public_key() == key.public_key()
    assert matches_algorithm(key.public_key(), hierarchy.algorithm)
    verify_chain(certificate, load_pem_certificates((out_dir / "chain.pem").read_bytes()))


# In the pqc RA's container (on the pqc network, OpenSSL 3.5): POST serverkeygen over ML-DSA-87 TLS
# with Python, split the answer with the email parser, and let OpenSSL read the key and certificate
# (in shell variables: nothing is written to the container's disk).
_PQC_CLIENT = r"""
set -e
answer=$(python3 - <<'PY'
import base64, email, ssl, urllib.request
context = ssl.create_default_context(cafile="/etc/labctl/est/ca-chain.pem")
context.check_hostname = False  # the RA's own container name; the chain is still verified
request = urllib.request.Request(
    "https://{host}:{port}/.well-known/est/serverkeygen",
    data=b"{csr}",
    headers={{"Content-Type": "application/pkcs10", "Authorization": "Basic {basic}"}},
)
with urllib.request.urlopen(request, context=context) as response:
    head = f"Content-Type: {{response.headers['Content-Type']}}\r\n\r\n".encode()
    message = email.message_from_bytes(head + response.read())
for part in message.get_payload():
    print(base64.b64encode(part.get_payload(decode=True)).decode())
PY
)
key=$(echo "$answer" | sed -n 1p)
cert=$(echo "$answer" | sed -n 2p)
openssl version
echo "$key" | base64 -d | openssl pkey -inform DER -noout -text | head -1
key_pub=$(echo "$key" | base64 -d | openssl pkey -inform DER -pubout)
cert_pub=$(echo "$cert" | base64 -d | openssl pkcs7 -inform DER -print_certs | openssl x509 -noout -pubkey)
[ "$key_pub" = "$cert_pub" ] && echo MATCH
"""


def test_pqc_key_reads_with_openssl_3_5_inside_the_network(lab_cli: LabCLI, runtime: PodmanRuntime):
    hierarchy = load_lab().hierarchy("pqc")
    user, password = HierarchyState.of(lab_cli.state_dir, hierarchy).est_credentials()
    signer = generate_private_key(KeyAlgorithm.EC_P384)  # any key: the RA ignores it (section 4.4.1)
    cn = "keygen-openssl35.cert-lab.local"
    csr = build_csr(signer, common_name_subject(cn), [cn])
    csr_b64 = base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode()
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    script = _PQC_CLIENT.replace("{host}", hierarchy.ra.container).replace("{port}", str(hierarchy.ra.port))
    script = script.replace("{csr}", csr_b64)
    script = script.replace("{basic}", basic).replace("{{", "{").replace("}}", "}")
    result = runtime.exec(hierarchy.ra.container, ("sh", "-c", script))
    assert "OpenSSL 3." in result.output, result.output
    assert "ML-DSA" in result.output, result.output  # openssl pkey -text names the key type
    assert result.output.rstrip().endswith("MATCH"), result.output


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("application/pkcs10", "bm90IGEgQ1NS", 400),  # base64 of "not a CSR"
        ("text/plain", "bm90IGEgQ1NS", 415),
    ],
    ids=["malformed", "wrong-content-type"],
)
def test_bad_serverkeygen_requests_are_refused(lab_cli: LabCLI, tmp_path, content_type, body, status):
    hierarchy = load_lab().hierarchy("rsa")
    state = HierarchyState.of(lab_cli.state_dir, hierarchy)
    user, password = state.est_credentials()
    result = subprocess.run(
        [
            "curl", "-sS", "--cacert", str(state.chain), "-u", f"{user}:{password}",
            "-H", f"Content-Type: {content_type}", "--data-binary", body, "-w", "%{http_code}",
            f"https://127.0.0.1:{hierarchy.ra.port}/.well-known/est/serverkeygen",
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.stdout.endswith(str(status)), result.stdout


def test_serverkeygen_for_the_ras_own_name_is_403(lab_cli: LabCLI, tmp_path):
    hierarchy = load_lab().hierarchy("ecc")
    result = lab_cli.run(
        "est-serverkeygen", "--cn", hierarchy.ra.hostname, "--pki-type", "ecc",
        "--out-dir", str(tmp_path / "d"), check=False,
    )  # fmt: skip
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.startswith("Error: ") and "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "d" / "device.key").exists()
