"""The CRL distribution point and AIA URLs: what the lab file makes of them (the CA's command line, its
published ports), and what every certificate the Intermediate CA issues carries."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID

from labctl import specs
from labctl.hosts import hosts_lines
from labctl.pki.distribution import DistributionPoints, certificate_urls, reached_at
from labctl.runtime.base import PortSpec
from labctl.targets.compose import render_compose
from labctl.topology import load_lab
from tests.conftest import DISTRIBUTION, Hierarchy

LAB = load_lab()
CRL_URL = "http://dogtag-intermediate-ca:8044/ca/ee/ca/getCRL?op=getCRL&crlIssuingPoint=MasterCRL"


# --- the URLs ------------------------------------------------------------------------------------


def test_urls_are_dogtags_paths_on_the_plain_http_port() -> None:
    points = DistributionPoints("dogtag-intermediate-ca", 8044)
    assert points.crl_url == CRL_URL
    assert points.ocsp_url == "http://dogtag-intermediate-ca:8044/ca/ocsp"
    assert points.ca_issuers_url == "http://dogtag-intermediate-ca:8044/ca/ee/ca/getCAChain?op=downloadBIN"


def test_reached_at_swaps_only_the_host() -> None:
    assert reached_at(CRL_URL, "127.0.0.1") == CRL_URL.replace("dogtag-intermediate-ca", "127.0.0.1")


# --- the lab file's port, through the specs --------------------------------------------------------


@pytest.mark.parametrize("name", ["rsa", "ecc", "pqc"])
def test_ca_command_names_the_container_and_the_http_port(name: str) -> None:
    hierarchy = LAB.hierarchy(name)
    command = specs.ca_command(hierarchy)
    at = command.index("--http-port")
    assert command[at : at + 4] == ("--http-port", str(hierarchy.ca.http_port), "--public-name", hierarchy.ca.container)


@pytest.mark.parametrize("name", ["rsa", "ecc", "pqc"])
def test_ca_publishes_the_http_port_on_the_same_number(name: str) -> None:
    hierarchy = LAB.hierarchy(name)
    spec = specs.ca_spec(LAB, hierarchy, "image")
    assert hierarchy.ca.http_port is not None
    assert PortSpec(hierarchy.ca.http_port, hierarchy.ca.http_port, "127.0.0.1") in spec.ports


def test_processes_on_the_host_serve_the_http_port_on_the_bind_address() -> None:
    hierarchy = LAB.hierarchy("rsa")
    command = specs.ca_command(hierarchy, specs.addressing_for(LAB, host_network=True))
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert "--http-port" in command


def test_a_ca_without_http_port_gets_no_flag_and_no_port() -> None:
    hierarchy = LAB.hierarchy("rsa")
    bare = dataclasses.replace(hierarchy, ca=dataclasses.replace(hierarchy.ca, http_port=None))
    assert "--http-port" not in specs.ca_command(bare)
    assert [p.container_port for p in specs.ca_spec(LAB, bare, "image").ports] == [hierarchy.ca.port]


def test_hosts_apply_maps_every_name_the_urls_use() -> None:
    names = {line.split()[1] for line in hosts_lines(LAB)}
    for hierarchy in LAB.hierarchies:
        command = specs.ca_command(hierarchy)
        assert command[command.index("--public-name") + 1] in names


def test_compose_publishes_the_http_port() -> None:
    compose = render_compose(LAB, "image")
    assert "127.0.0.1:8044:8044" in compose


# --- the extensions, on what the CA issues -----------------------------------------------------------


def test_issued_certificate_carries_crl_dp_and_aia(hierarchy: Hierarchy) -> None:
    certificate = hierarchy.issue("crldp-device.cert-lab.local")
    urls = certificate_urls(certificate)
    assert urls.crl == (DISTRIBUTION.crl_url,)
    assert urls.ocsp == (DISTRIBUTION.ocsp_url,)
    assert urls.ca_issuers == (DISTRIBUTION.ca_issuers_url,)


def test_extensions_are_non_critical_and_ocsp_comes_first(hierarchy: Hierarchy) -> None:
    certificate = hierarchy.issue("crldp-order.cert-lab.local")
    crl_dp = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints)
    aia = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
    assert not crl_dp.critical and not aia.critical
    [point] = crl_dp.value
    assert (point.reasons, point.crl_issuer, point.relative_name) == (None, None, None)
    assert [d.access_method for d in aia.value] == [
        AuthorityInformationAccessOID.OCSP,
        AuthorityInformationAccessOID.CA_ISSUERS,
    ]


def test_the_cas_own_tls_certificate_carries_them_too(hierarchy: Hierarchy) -> None:
    cert_path, _key = hierarchy.ca.tls_material().chains[0]
    served = x509.load_pem_x509_certificates(cert_path.read_bytes())[0]
    assert certificate_urls(served).crl == (DISTRIBUTION.crl_url,)


def test_the_agent_credential_carries_them_too(hierarchy: Hierarchy) -> None:
    assert certificate_urls(hierarchy.agent).ocsp == (DISTRIBUTION.ocsp_url,)


def test_a_certificate_without_extensions_has_no_urls(hierarchy: Hierarchy) -> None:
    urls = certificate_urls(hierarchy.root.certificate)
    assert (urls.crl, urls.ocsp, urls.ca_issuers) == ((), (), ())
