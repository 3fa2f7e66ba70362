"""The CA's plain-HTTP port in-process: the CRL and the CA chain, anonymous; nothing else; and the
verify checks (labctl.publication) against it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aiohttp import web
from cryptography import x509

from labctl.errors import LabctlError
from labctl.pki.distribution import DistributionPoints
from labctl.pki.keys import KeyAlgorithm
from labctl.pki.pkcs7 import load_certs_only
from labctl.pki.signatures import crl_signed_by
from labctl.ports import free_ports
from labctl.publication import check_aia, check_crl_dp
from labctl.services.ca.authority import CRL_UPDATE_INTERVAL, IntermediateCA
from labctl.services.ca.public import create_public_app
from tests.conftest import CA_KEY, ROOT_KEY, build_hierarchy

if TYPE_CHECKING:
    from tests.conftest import AiohttpClient, AiohttpServer, Hierarchy

CRL = "/ca/ee/ca/getCRL?op=getCRL&crlIssuingPoint=MasterCRL"
CHAIN = "/ca/ee/ca/getCAChain?op=downloadBIN"


async def _get(hierarchy: Hierarchy, aiohttp_client: AiohttpClient, path: str, method: str = "GET") -> web.Response:
    client = await aiohttp_client(create_public_app(hierarchy.ca))
    return await client.request(method, path)  # type: ignore[no-any-return]


async def test_crl_is_der_signed_by_the_ca_with_next_update(hierarchy: Hierarchy, aiohttp_client: AiohttpClient):
    response = await _get(hierarchy, aiohttp_client, CRL)
    assert response.status == 200
    assert response.content_type == "application/pkix-crl"
    crl = x509.load_der_x509_crl(await response.read())
    crl_signed_by(crl, hierarchy.intermediate)
    assert crl.next_update_utc is not None and crl.next_update_utc > datetime.now(UTC)


async def test_crl_lists_a_certificate_as_soon_as_it_is_revoked(hierarchy: Hierarchy, aiohttp_client: AiohttpClient):
    certificate = hierarchy.issue("revoked-public.cert-lab.local")
    hierarchy.revoke(certificate)
    response = await _get(hierarchy, aiohttp_client, CRL)
    crl = x509.load_der_x509_crl(await response.read())
    assert crl.get_revoked_certificate_by_serial_number(certificate.serial_number) is not None


async def test_ca_chain_is_certs_only_cms_of_the_chain(hierarchy: Hierarchy, aiohttp_client: AiohttpClient):
    response = await _get(hierarchy, aiohttp_client, CHAIN)
    assert response.status == 200
    assert response.content_type == "application/pkcs7-mime"
    # A SET OF in DER: sorted by encoding, not in chain order.
    assert set(load_certs_only(await response.read())) == {hierarchy.intermediate, hierarchy.root.certificate}


@pytest.mark.parametrize(
    ("path", "status", "reason"),
    [
        ("/ca/ee/ca/getCRL", 400, "op must be getCRL (missing)"),
        ("/ca/ee/ca/getCRL?op=displayCRL&crlIssuingPoint=MasterCRL", 400, "op must be getCRL ('displayCRL')"),
        ("/ca/ee/ca/getCRL?op=getCRL&crlIssuingPoint=DeltaCRL", 404, "crlIssuingPoint must be MasterCRL"),
        ("/ca/ee/ca/getCAChain?op=displayIND", 400, "op must be downloadBIN"),
    ],
    ids=["no-op", "other-op", "other-issuing-point", "chain-other-op"],
)
async def test_other_operations_are_refused_in_one_line(
    hierarchy: Hierarchy, aiohttp_client: AiohttpClient, path: str, status: int, reason: str
):
    response = await _get(hierarchy, aiohttp_client, path)
    assert response.status == status
    assert (await response.text()).startswith(f"{status} {reason}")


@pytest.mark.parametrize(
    "path",
    [
        "/ca/admin/ca/getStatus",
        "/ca/rest/certs",
        "/ca/v2/agent/certrequests",
        "/ca/v2/certrequests/profiles",
        "/ca/ee/ca/getCertChain",
        "/pki/rest/info",
        "/",
    ],
)
async def test_everything_else_is_404(hierarchy: Hierarchy, aiohttp_client: AiohttpClient, path: str):
    response = await _get(hierarchy, aiohttp_client, path)
    assert response.status == 404


async def test_nothing_is_written_through_it(hierarchy: Hierarchy, aiohttp_client: AiohttpClient):
    response = await _get(hierarchy, aiohttp_client, CRL, method="POST")
    assert response.status == 405


async def test_extra_routes_join_the_app(hierarchy: Hierarchy, aiohttp_client: AiohttpClient):
    async def ocsp(request: web.Request) -> web.Response:
        return web.Response(body=b"\x30\x03\x0a\x01\x06", content_type="application/ocsp-response")

    def add(app: web.Application, authority: IntermediateCA) -> None:
        app.router.add_post("/ca/ocsp", ocsp)

    client = await aiohttp_client(create_public_app(hierarchy.ca, extra=[add]))
    assert (await client.post("/ca/ocsp", data=b"")).status == 200


def test_crl_is_rebuilt_once_older_than_dogtags_update_interval(hierarchy: Hierarchy):
    first = x509.load_der_x509_crl(hierarchy.ca.crl_der())
    assert hierarchy.ca.crl_der() == hierarchy.ca.crl_der()  # cached between revocations
    later = datetime.now(UTC) + CRL_UPDATE_INTERVAL + timedelta(minutes=1)
    rebuilt = x509.load_der_x509_crl(hierarchy.ca.crl_der(now=later))
    number = rebuilt.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number > first.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert rebuilt.last_update_utc == later.replace(microsecond=0)


# --- the verify checks, against the app on a loopback port ---------------------------------------------


@pytest.fixture
async def published(algorithm: KeyAlgorithm, tmp_path: Path, aiohttp_server: AiohttpServer) -> AsyncIterator[Hierarchy]:
    """A CA whose certificates name a loopback port, and its plain-HTTP app serving there."""
    [port] = free_ports(1)
    points = DistributionPoints("ca.invalid", port)  # not resolvable: the checks must use the host they are given
    built = build_hierarchy(tmp_path / "ca", algorithm, ROOT_KEY, CA_KEY, "Test Root CA", distribution=points)
    await aiohttp_server(create_public_app(built.ca), port=port)
    yield built
    built.ca.store.close()


async def test_verify_checks_pass_against_the_app(published: Hierarchy):
    certificate = published.issue("verify-public.cert-lab.local")
    published.revoke(revoked := published.issue("verify-revoked.cert-lab.local"))
    await asyncio.to_thread(
        check_crl_dp, certificate, published.intermediate, host="127.0.0.1", revoked=revoked.serial_number
    )
    await asyncio.to_thread(check_aia, certificate, published.intermediate, host="127.0.0.1")


async def test_crl_dp_check_fails_when_the_revoked_certificate_is_not_listed(published: Hierarchy):
    certificate = published.issue("verify-unlisted.cert-lab.local")
    with pytest.raises(LabctlError, match="does not list revoked certificate"):
        await asyncio.to_thread(
            check_crl_dp, certificate, published.intermediate, host="127.0.0.1", revoked=certificate.serial_number
        )


async def test_checks_fail_on_a_certificate_without_urls(published: Hierarchy):
    with pytest.raises(LabctlError, match="carries 0 CRL distribution point URLs"):
        await asyncio.to_thread(check_crl_dp, published.root.certificate, published.root.certificate, host="127.0.0.1")


async def test_ocsp_is_served_on_the_plain_port(hierarchy: Hierarchy, aiohttp_client: AiohttpClient):
    """The AIA's OCSP URL: the responder's routes are in PUBLIC_ROUTES (Dogtag answers OCSP on its plain port)."""
    client = await aiohttp_client(create_public_app(hierarchy.ca))
    malformed = await client.post("/ca/ocsp", data=b"not DER", headers={"Content-Type": "application/ocsp-request"})
    assert malformed.status == 200 and malformed.content_type == "application/ocsp-response"
    assert (await client.post("/ca/ocsp", data=b"x", headers={"Content-Type": "text/plain"})).status == 415
