"""EST fullcmc on the running lab (RFC 7030 section 4.3) with the docs' recipe: a Full PKI Request
built with `openssl cms -sign`, posted with curl, the Full PKI Response opened with `openssl cms
-verify`; rsa and ecc from the host, pqc (ML-DSA-87) with the OpenSSL 3.5 of a container on its network."""

from __future__ import annotations

import time

import pytest

from labctl import specs
from labctl.endpoint import endpoint_for
from labctl.images import IMAGE_UID
from labctl.pki.cmc import parse_full_pki_response
from labctl.pki.issue import common_name_subject, load_pem_certificates, verify_chain
from labctl.pki.keys import matches_algorithm
from labctl.runtime.base import ContainerSpec, FileContent
from labctl.runtime.podman import PodmanRuntime
from labctl.specs import CLIENT_DIR
from labctl.topology import network_name
from tests.integration.test_fullcmc_openssl import PKIDATA_PY

from .conftest import LabCLI

pytestmark = pytest.mark.e2e
CMC_REQUEST = "Content-Type: application/pkcs7-mime; smime-type=CMC-request"
KEYGEN = {
    "rsa": "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:4096 -out device.key",
    "ecc": "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out device.key",
    "pqc": "openssl genpkey -algorithm ML-DSA-87 -out device.key",
}
# RFC 9882 section 3.3: SHA-512 with ML-DSA-87; SHA-384 with the lab's RSA-4096 and P-384 keys.
DIGEST = {"rsa": "sha384", "ecc": "sha384", "pqc": "sha512"}


# The pqc client posts with the container's Python (OpenSSL 3.5 underneath, so ML-DSA TLS): no curl in the image.
POST_PY = """
import base64, ssl, sys, urllib.request
url, chain, credentials = sys.argv[1:4]
headers = {"Content-Type": "application/pkcs7-mime; smime-type=CMC-request",
           "Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}
request = urllib.request.Request(url, data=open("request.b64", "rb").read(), headers=headers)
context = ssl.create_default_context(cafile=chain)
open("response.b64", "wb").write(urllib.request.urlopen(request, context=context).read())
"""


def _curl(url: str, chain: str, credentials: str) -> str:
    return (
        f"curl -sS --fail --cacert {chain} -u '{credentials}' -H '{CMC_REQUEST}'"
        f" --data-binary @request.b64 -o response.b64 {url}/.well-known/est/fullcmc"
    )


def _python_post(url: str, chain: str, credentials: str) -> str:
    return f"cat > post.py <<'PY'\n{POST_PY}\nPY\npython post.py {url}/.well-known/est/fullcmc {chain} '{credentials}'"


def _recipe(name: str, *, python: str, common_name: str, chain: str, post: str) -> str:
    return f"""set -e
cat > pkidata.py <<'PY'
{PKIDATA_PY}
PY
{KEYGEN[name]} 2>/dev/null
openssl req -new -key device.key -subj /CN={common_name} -outform DER -out csr.der
{python} pkidata.py csr.der > pkidata.der
openssl req -x509 -new -key device.key -subj /CN={common_name} -days 1 -out self-signed.pem
openssl cms -sign -binary -nodetach -nosmimecap -keyid -md {DIGEST[name]} \\
  -econtent_type 1.3.6.1.5.5.7.12.2 -signer self-signed.pem -inkey device.key \\
  -in pkidata.der -outform DER -out request.der
base64 request.der > request.b64
{post}
base64 -d response.b64 > response.der
openssl cms -verify -purpose any -inform DER -in response.der -CAfile {chain} -certsout certs.pem -out pkiresponse.der
"""


@pytest.mark.parametrize("name", ["rsa", "ecc"])
def test_fullcmc_with_openssl_cms_from_the_host(lab_cli: LabCLI, tmp_path, name):
    hierarchy = lab_cli.lab.hierarchy(name)
    endpoint = endpoint_for(lab_cli.lab, lab_cli.state_dir, hierarchy)
    common_name = f"fullcmc-e2e-{name}.cert-lab.local"
    script = _recipe(
        name,
        python="python3",
        common_name=common_name,
        chain=str(endpoint.trust_file),
        post=_curl(endpoint.ra_url, str(endpoint.trust_file), f"{endpoint.username}:{endpoint.password}"),
    )
    result = lab_cli.shell(script, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert parse_full_pki_response((tmp_path / "response.der").read_bytes()).success
    chain = load_pem_certificates(endpoint.trust_file.read_bytes())
    issued = load_pem_certificates((tmp_path / "certs.pem").read_bytes())
    device = next(c for c in issued if c.subject == common_name_subject(common_name))
    verify_chain(device, chain)


def test_fullcmc_with_openssl_cms_on_the_pqc_network(lab_cli: LabCLI, runtime: PodmanRuntime):
    """ML-DSA-87 end to end, from a client container of the lab image (OpenSSL 3.5) on the pqc network:
    key, CSR, CMS signature, TLS, and the RA's ML-DSA-87 response signature."""
    lab, hierarchy = lab_cli.lab, lab_cli.lab.hierarchy("pqc")
    endpoint = endpoint_for(lab, lab_cli.state_dir, hierarchy)
    common_name = "fullcmc-e2e-pqc.cert-lab.local"
    credentials = f"{endpoint.username}:{endpoint.password}"
    ra_url = f"https://{hierarchy.ra.hostname}:{hierarchy.ra.port}"
    script = _recipe(
        "pqc",
        python="python",
        common_name=common_name,
        chain="ca-chain.pem",
        post=_python_post(ra_url, "ca-chain.pem", credentials),
    )
    files = {
        "fullcmc.sh": FileContent(
            (script + "openssl crl2pkcs7 -nocrl -certfile certs.pem | openssl pkcs7 -print_certs -noout\n").encode()
        ),
        "ca-chain.pem": FileContent(endpoint.trust_file.read_bytes()),
    }
    ra = runtime.inspect_container(hierarchy.ra.container)
    assert ra is not None
    name = f"{lab.name}-pqc-fullcmc-e2e"
    spec = ContainerSpec(
        name=name,
        image=ra.image,
        command=("sh", "-c", f"cd {CLIENT_DIR} && sh fullcmc.sh 2>&1"),
        network=network_name(lab, hierarchy),
        labels=specs.labels(lab, hierarchy, "client"),
        user=f"{IMAGE_UID}:{IMAGE_UID}",
        files={CLIENT_DIR: files},
        files_owner=(IMAGE_UID, IMAGE_UID),
        extra_hosts=specs.static_hosts(hierarchy),
    )
    runtime.create_container(spec)
    try:
        runtime.start_container(name)
        deadline = time.monotonic() + 180
        info = runtime.inspect_container(name)
        while info is not None and info.exit_code is None and time.monotonic() < deadline:
            time.sleep(1)
            info = runtime.inspect_container(name)
        output = runtime.logs(name, tail=200)
    finally:
        runtime.remove_container(name)
    assert info is not None and info.exit_code == 0, output
    assert "Verification successful" in output
    assert f"subject=CN={common_name}" in output.replace(" = ", "=")


@pytest.mark.parametrize("pki_type", ["rsa", "ecc", "pqc"])
def test_est_fullcmc_command_on_every_hierarchy(lab_cli: LabCLI, tmp_path, pki_type):
    """`labctl est-fullcmc`: labctl's own CMC client (pqc from a client container on its network)."""
    hierarchy = lab_cli.lab.hierarchy(pki_type)
    common_name = f"fullcmc-cli-{pki_type}.cert-lab.local"
    out_dir = tmp_path / "device"
    result = lab_cli.run("est-fullcmc", "--cn", common_name, "--pki-type", pki_type, "--out-dir", str(out_dir))
    assert f"CN={common_name}" in result.stdout
    [certificate] = load_pem_certificates((out_dir / "device.crt").read_bytes())
    verify_chain(certificate, load_pem_certificates((out_dir / "chain.pem").read_bytes()))
    assert matches_algorithm(certificate.public_key(), hierarchy.algorithm)


def test_est_fullcmc_for_the_ra_itself_is_refused(lab_cli: LabCLI, tmp_path):
    """The RA's own name is refused inside a CMC request as in simpleenroll: one line, 403, no traceback."""
    hierarchy = lab_cli.lab.hierarchy("ecc")
    result = lab_cli.run(
        "est-fullcmc", "--cn", hierarchy.ra.hostname, "--pki-type", "ecc", "--out-dir", str(tmp_path), check=False
    )
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr
    assert "403" in result.stderr and "BAD_REQUEST" in result.stderr, result.stderr
