"""EST fullcmc against the RA as a real process (RFC 7030 section 4.3), with the docs' recipe: the
PKIData wrapped around an `openssl req` CSR, signed with `openssl cms -sign`, posted with curl, and
the Full PKI Response checked and opened with `openssl cms -verify`. Also labctl's own client."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from labctl.clients import est_call
from labctl.devices import HostTransport, fullcmc_device
from labctl.endpoint import Endpoint
from labctl.errors import ESTError
from labctl.est_client import ESTClient, est_ssl_context
from labctl.local import LocalLab
from labctl.pki.cmc import parse_full_pki_response
from labctl.pki.issue import build_csr, common_name_subject, csr_pem, load_pem_certificates, verify_chain
from labctl.pki.keys import generate_private_key, write_private_key

pytestmark = pytest.mark.integration
HIERARCHIES = pytest.mark.parametrize("name", ["rsa", "ecc"])

# docs-drafts/fullcmc.md: PKIData (RFC 5272 section 3.2.1) around one DER CSR as TaggedRequest tcr,
# bodyPartID 1, no controls; the CMC module's tags are IMPLICIT, so tcr is [0] over its two fields.
PKIDATA_PY = """
import sys
def der(tag, body):
    n = len(body)
    size = bytes([n]) if n < 128 else bytes([0x80 | (n.bit_length() + 7) // 8]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + size + body
csr = open(sys.argv[1], "rb").read()
empty = der(0x30, b"")
sys.stdout.buffer.write(der(0x30, empty + der(0x30, der(0xA0, der(0x02, b"\\x01") + csr)) + empty + empty))
"""

KEYGEN = {
    "rsa": "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:4096 -out device.key",
    "ecc": "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out device.key",
}


def _recipe(endpoint: Endpoint, name: str, common_name: str) -> str:
    url = f"{endpoint.ra_url}/.well-known/est/fullcmc"
    return f"""set -e
{KEYGEN[name]} 2>/dev/null
openssl req -new -key device.key -subj /CN={common_name} -outform DER -out csr.der
python3 pkidata.py csr.der > pkidata.der
openssl req -x509 -new -key device.key -subj /CN={common_name} -days 1 -out self-signed.pem
openssl cms -sign -binary -nodetach -nosmimecap -keyid -md sha384 \\
  -econtent_type 1.3.6.1.5.5.7.12.2 -signer self-signed.pem -inkey device.key \\
  -in pkidata.der -outform DER -out request.der
base64 request.der > request.b64
curl -sS --fail --cacert {endpoint.trust_file} -u '{endpoint.username}:{endpoint.password}' \\
  -H 'Content-Type: application/pkcs7-mime; smime-type=CMC-request' \\
  --data-binary @request.b64 -o response.b64 {url}
base64 -d response.b64 > response.der
openssl cms -verify -purpose any -inform DER -in response.der -CAfile {endpoint.trust_file} \\
  -certsout certs.pem -out pkiresponse.der
"""


@HIERARCHIES
def test_openssl_cms_request_gets_a_certificate(local_lab: tuple[LocalLab, dict[str, Endpoint], Path], name, tmp_path):
    endpoint = local_lab[1][name]
    common_name = f"cmc-openssl-{name}.cert-lab.local"
    (tmp_path / "pkidata.py").write_text(PKIDATA_PY)
    script = _recipe(endpoint, name, common_name)
    result = subprocess.run(["sh", "-c", script], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "Verification successful" in result.stderr
    chain = load_pem_certificates(endpoint.trust_file.read_bytes())
    issued = [c for c in load_pem_certificates((tmp_path / "certs.pem").read_bytes()) if c.subject != c.issuer]
    device = next(c for c in issued if c.subject == common_name_subject(common_name))
    verify_chain(device, chain)
    answer = parse_full_pki_response((tmp_path / "response.der").read_bytes())
    assert answer.success
    assert answer.body_list == (1,)


@HIERARCHIES
def test_labctl_client_fullcmc(local_lab, name):
    endpoint = local_lab[1][name]
    key = generate_private_key(endpoint.hierarchy.algorithm)
    csr = build_csr(key, common_name_subject(f"cmc-client-{name}.cert-lab.local"))
    context = est_ssl_context(endpoint.trust_file)
    with ESTClient(endpoint.ra_url, ssl_context=context, auth=(endpoint.username, endpoint.password)) as client:
        response = client.fullcmc(csr, key)
    verify_chain(response.certificates[0], load_pem_certificates(endpoint.trust_file.read_bytes()))
    assert isinstance(response.signer, x509.Certificate)


def test_fullcmc_for_the_ra_itself_is_refused_with_a_cmc_failure(local_lab):
    endpoint = local_lab[1]["ecc"]
    key = generate_private_key(endpoint.hierarchy.algorithm)
    name = endpoint.hierarchy.ra.hostname
    csr = build_csr(key, common_name_subject(name), [name])
    context = est_ssl_context(endpoint.trust_file)
    credentials = (endpoint.username, endpoint.password)
    with ESTClient(endpoint.ra_url, ssl_context=context, auth=credentials) as client, pytest.raises(ESTError) as caught:
        client.fullcmc(csr, key)
    assert caught.value.status_code == 403
    assert "CMC BAD_REQUEST" in str(caught.value)


def test_est_fullcmc_device_from_the_host(local_lab, tmp_path):
    """What `labctl est-fullcmc` runs: key, CSR, fullcmc; key, certificate and chain written."""
    endpoint = local_lab[1]["rsa"]
    enrolled = fullcmc_device(
        endpoint, HostTransport(endpoint), common_name="cmc-cli.cert-lab.local", sans=(), out_dir=tmp_path
    )
    assert enrolled.certificate.subject == common_name_subject("cmc-cli.cert-lab.local")
    verify_chain(enrolled.certificate, load_pem_certificates(enrolled.files.chain.read_bytes()))
    assert enrolled.files.key.stat().st_mode & 0o077 == 0


def test_est_call_fullcmc_as_in_a_client_container(local_lab, tmp_path):
    """The in-network half of `labctl est-fullcmc` (pqc): `labctl est-call fullcmc` prints the certificate as PEM."""
    endpoint = local_lab[1]["ecc"]
    key = generate_private_key(endpoint.hierarchy.algorithm)
    write_private_key(tmp_path / "device.key", key)
    (tmp_path / "csr.pem").write_bytes(csr_pem(build_csr(key, common_name_subject("cmc-call.cert-lab.local"))))
    (tmp_path / "est-credentials").write_text(f"{endpoint.username}:{endpoint.password}\n")
    output = est_call(
        "fullcmc",
        endpoint.ra_url,
        trust=endpoint.trust_file,
        credentials=tmp_path / "est-credentials",
        csr=tmp_path / "csr.pem",
        cert=None,
        key=tmp_path / "device.key",
    )
    [certificate] = load_pem_certificates(output.encode())
    assert certificate.subject == common_name_subject("cmc-call.cert-lab.local")
