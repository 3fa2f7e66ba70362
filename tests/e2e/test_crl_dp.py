"""Issue 15: each CA publishes its CRL and AIA on Dogtag's plain-HTTP port. A device enrolled through each
RA carries the CRL distribution point; after `labctl revoke`, `openssl verify -crl_check` with the CRL
from that distribution point refuses it and accepts a device that was not revoked:

- inside each hierarchy's network (a client container of the lab image: OpenSSL 3.5, so pqc too), with
  the URL exactly as the certificate writes it (the CA's container name);
- on the host for rsa and ecc, at the published port on 127.0.0.1 (the host may lack the hosts block).
"""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from labctl import specs
from labctl.images import IMAGE_UID, ensure_image
from labctl.pki.distribution import certificate_urls, reached_at
from labctl.readiness import SystemClock, wait_until
from labctl.runtime.base import ContainerSpec, FileContent
from labctl.runtime.podman import PodmanRuntime
from labctl.state import HierarchyState
from labctl.topology import network_name

from .conftest import LabCLI

pytestmark = pytest.mark.e2e
HIERARCHIES = ["rsa", "ecc", "pqc"]
CLIENT_DIR = "/tmp/labctl"
# Fetch the CRL from the distribution point as written, convert it to PEM, check both devices with it.
IN_NETWORK_SCRIPT = """
fetch='import sys, urllib.request; sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1], timeout=10).read())'
for device in revoked kept; do
  python -c "$fetch" "$1" | openssl crl -inform DER \\
    | openssl verify -crl_check -CAfile ca-chain.pem -CRLfile /dev/stdin "$device.pem" 2>&1
  echo "$device-exit=$?"
done
"""


def _enroll(lab_cli: LabCLI, name: str, common_name: str, tmp_path: Path) -> x509.Certificate:
    out = tmp_path / common_name
    lab_cli.run("est-enroll", "--cn", common_name, "--pki-type", name, "--out-dir", str(out))
    return x509.load_pem_x509_certificate((out / "device.crt").read_bytes())


@pytest.fixture(scope="module")
def devices(lab_cli: LabCLI, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[x509.Certificate, ...]]:
    """Per hierarchy: (revoked, kept), enrolled through its RA; the first revoked with `labctl revoke`."""
    tmp_path = tmp_path_factory.mktemp("crldp")
    enrolled = {}
    for name in HIERARCHIES:
        revoked = _enroll(lab_cli, name, f"crldp-revoked-{name}.cert-lab.local", tmp_path)
        kept = _enroll(lab_cli, name, f"crldp-kept-{name}.cert-lab.local", tmp_path)
        serial = f"0x{revoked.serial_number:x}"
        lab_cli.run("revoke", serial, "--pki-type", name, "--reason", "key_compromise")
        enrolled[name] = (revoked, kept)
    return enrolled


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _run_in_network(lab_cli: LabCLI, runtime: PodmanRuntime, name: str, files: dict[str, bytes], url: str) -> str:
    """The script in a short-lived container of the lab image on the hierarchy's network; its output."""
    lab = lab_cli.lab
    hierarchy = lab.hierarchy(name)
    container = f"{lab.name}-{name}-client-{secrets.token_hex(4)}"
    spec = ContainerSpec(
        name=container,
        image=ensure_image(runtime).reference,
        command=("sh", "-c", f"cd {CLIENT_DIR} && {IN_NETWORK_SCRIPT}", "crldp", url),
        network=network_name(lab, hierarchy),
        labels=specs.labels(lab, hierarchy, "client"),
        user=f"{IMAGE_UID}:{IMAGE_UID}",
        files={CLIENT_DIR: {file: FileContent(data) for file, data in files.items()}},
        files_owner=(IMAGE_UID, IMAGE_UID),
        extra_hosts=specs.static_hosts(hierarchy),  # as every lab client container (see specs.static_hosts)
    )
    runtime.create_container(spec)
    try:
        runtime.start_container(container)

        def exited() -> tuple[int | None, str]:
            info = runtime.inspect_container(container)
            assert info is not None, f"{container} vanished"
            return info.exit_code, info.state

        wait_until(exited, what=container, timeout=120, interval=0.5, clock=SystemClock())
        return runtime.logs(container, tail=200)
    finally:
        runtime.remove_container(container)


@pytest.mark.parametrize("name", HIERARCHIES)
def test_crl_from_the_distribution_point_refuses_the_revoked_device_in_the_network(
    lab_cli: LabCLI, runtime: PodmanRuntime, devices, name
):
    revoked, kept = devices[name]
    hierarchy = lab_cli.lab.hierarchy(name)
    [url] = certificate_urls(revoked).crl
    assert url.startswith(f"http://{hierarchy.ca.container}:{hierarchy.ca.http_port}/ca/ee/ca/getCRL?")
    chain = HierarchyState.of(lab_cli.state_dir, hierarchy).chain.read_bytes()
    files = {"ca-chain.pem": chain, "revoked.pem": _pem(revoked), "kept.pem": _pem(kept)}
    output = _run_in_network(lab_cli, runtime, name, files, url)
    assert "certificate revoked" in output, output
    assert "revoked-exit=0" not in output, output
    assert "kept-exit=0" in output, output


@pytest.mark.parametrize("name", ["rsa", "ecc"])
def test_crl_from_the_published_port_refuses_the_revoked_device_on_the_host(
    lab_cli: LabCLI, devices, name, tmp_path: Path
):
    revoked, kept = devices[name]
    hierarchy = lab_cli.lab.hierarchy(name)
    [url] = certificate_urls(revoked).crl
    response = httpx.get(reached_at(url, "127.0.0.1"), timeout=10)
    assert response.status_code == 200
    crl = x509.load_der_x509_crl(response.content)
    (tmp_path / "crl.pem").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    chain = HierarchyState.of(lab_cli.state_dir, hierarchy).chain
    for label, device, refused in (("revoked", revoked, True), ("kept", kept, False)):
        (tmp_path / f"{label}.pem").write_bytes(_pem(device))
        result = subprocess.run(
            ["openssl", "verify", "-crl_check", "-CAfile", str(chain), "-CRLfile", str(tmp_path / "crl.pem"),
             str(tmp_path / f"{label}.pem")],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert (result.returncode != 0) is refused, result.stdout + result.stderr
        assert ("certificate revoked" in result.stdout + result.stderr) is refused


@pytest.mark.parametrize("name", ["rsa", "ecc"])
def test_ca_issuers_url_answers_on_the_host(lab_cli: LabCLI, devices, name):
    _revoked, kept = devices[name]
    [url] = certificate_urls(kept).ca_issuers
    response = httpx.get(reached_at(url, "127.0.0.1"), timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pkcs7-mime"
