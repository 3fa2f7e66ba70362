"""What a project's own tests look like with labctl's pytest plugin (installed with labctl):

pytest examples/                 # a fresh lab for the session, removed at the end
pytest examples/ --lab-reuse     # use the running lab, leave it running
"""

from __future__ import annotations

import pytest

from labctl.pki.issue import build_csr, common_name_subject, verify_chain
from labctl.pki.keys import generate_private_key


@pytest.mark.parametrize("hierarchy", ["rsa", "ecc", "pqc"])
def test_a_device_enrolls_and_chains_to_the_root(lab, hierarchy):
    algorithm = lab.endpoint(hierarchy).hierarchy.algorithm
    key = generate_private_key(algorithm)
    csr = build_csr(key, common_name_subject(f"example-{hierarchy}.cert-lab.local"))
    transport = lab.transport(hierarchy)
    certificate = transport.simpleenroll(csr)
    verify_chain(certificate, transport.cacerts())
    assert certificate.subject == csr.subject


def test_the_fixture_exposes_urls_and_trust_anchors(lab):
    port = lab.lab.hierarchy("ecc").ra.port  # 8466 in the default lab; a free one with --lab-name
    assert lab.est_url("ecc") == f"https://127.0.0.1:{port}/.well-known/est"
    assert lab.trust_anchor("ecc").read_bytes().count(b"BEGIN CERTIFICATE") == 2
