"""Where an Intermediate CA publishes what relying parties fetch, and the extensions that point there.

At Dogtag's paths on the CA's plain-HTTP port (labctl.services.ca.public serves them):
- the CRL distribution point (RFC 5280 section 4.2.1.13): the MasterCRL, as Dogtag's CRL profiles
  write it (GetCRL.java: op=getCRL, crlIssuingPoint);
- AuthorityInformationAccess (RFC 5280 section 4.2.2.1): id-ad-ocsp, Dogtag's built-in responder
  (dogtagpki/pki base/ca/.../profile/def/AuthInfoAccessExtDefault.java getDefaultOCSPURL:
  "http://" + hostname + ":" + port + "/ca/ocsp"), and id-ad-caIssuers, the CA chain as Dogtag
  points at it (base/ca/.../cms/crl/CMSAuthInfoAccessExtension.java: /ca/ee/ca/getCAChain?op=downloadBIN).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID

MASTER_CRL = "MasterCRL"
CRL_PATH = "/ca/ee/ca/getCRL"
CRL_QUERY = f"op=getCRL&crlIssuingPoint={MASTER_CRL}"
CA_ISSUERS_PATH = "/ca/ee/ca/getCAChain"
CA_ISSUERS_QUERY = "op=downloadBIN"
OCSP_PATH = "/ca/ocsp"


@dataclass(frozen=True, slots=True)
class DistributionPoints:
    """The CA's plain-HTTP URLs, by the name its hierarchy's network (and the host's hosts block) knows it."""

    host: str
    port: int

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def crl_url(self) -> str:
        return f"{self.base_url}{CRL_PATH}?{CRL_QUERY}"

    @property
    def ocsp_url(self) -> str:
        return f"{self.base_url}{OCSP_PATH}"

    @property
    def ca_issuers_url(self) -> str:
        return f"{self.base_url}{CA_ISSUERS_PATH}?{CA_ISSUERS_QUERY}"

    def extensions(self) -> tuple[x509.CRLDistributionPoints, x509.AuthorityInformationAccess]:
        """The CRL DP and AIA extensions (both non-critical, RFC 5280 sections 4.2.1.13 and 4.2.2.1)."""
        crl_dp = x509.CRLDistributionPoints(
            [
                x509.DistributionPoint(
                    full_name=[x509.UniformResourceIdentifier(self.crl_url)],
                    relative_name=None,
                    reasons=None,
                    crl_issuer=None,
                )
            ]
        )
        aia = x509.AuthorityInformationAccess(
            [
                x509.AccessDescription(
                    AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(self.ocsp_url)
                ),
                x509.AccessDescription(
                    AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(self.ca_issuers_url)
                ),
            ]
        )
        return crl_dp, aia


@dataclass(frozen=True, slots=True)
class CertificateURLs:
    """The URLs a certificate carries in its CRL DP and AIA extensions (empty where it has none)."""

    crl: tuple[str, ...]
    ocsp: tuple[str, ...]
    ca_issuers: tuple[str, ...]


def certificate_urls(certificate: x509.Certificate) -> CertificateURLs:
    """Read back the URIs of a certificate's CRL DP and AIA extensions."""
    crl: list[str] = []
    try:
        points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        points = x509.CRLDistributionPoints([])
    for point in points:
        crl += [name.value for name in point.full_name or () if isinstance(name, x509.UniformResourceIdentifier)]
    try:
        access = list(certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value)
    except x509.ExtensionNotFound:
        access = []

    def uris(method: x509.ObjectIdentifier) -> tuple[str, ...]:
        return tuple(
            d.access_location.value
            for d in access
            if d.access_method == method and isinstance(d.access_location, x509.UniformResourceIdentifier)
        )

    return CertificateURLs(
        tuple(crl), uris(AuthorityInformationAccessOID.OCSP), uris(AuthorityInformationAccessOID.CA_ISSUERS)
    )


def reached_at(url: str, host: str) -> str:
    """`url` with its host replaced (its port, path and query kept): a CA's URL as a client that knows it by
    another name reaches it, e.g. the host on 127.0.0.1 where the CA's plain-HTTP port is published on the
    same number."""
    parts = urlsplit(url)
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))
