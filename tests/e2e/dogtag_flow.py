"""A Dogtag user's session against a lab CA, with Dogtag's own Python client (run as a script).

Run by tests/e2e/test_dogtag_flows.py from the host (rsa, ecc) and from a container on the pqc network
(OpenSSL 3.5 for ML-DSA TLS), with Dogtag's current client (tests/vendor/dogtag_pki_main) importable.
It imports nothing of labctl: what it does is what a Dogtag user's script does.

    python3 dogtag_flow.py URL CA_BUNDLE CERT KEY ALGORITHM MANUAL_PROFILE NAME

Prints one JSON object per step ({"step": ..., ...}) and exits 0 when every step did what Dogtag does.

Steps: connect() without a pinned API version; DogtagRABackend.issueCertificate's exchange, in its
order (dogtagpki/pki base/est/src/main/java/org/dogtagpki/est/DogtagRABackend.java: login, enrollment
template, submit the filled template, review and approve when pending, get the request, get the
certificate) with estServiceCert and with the manual profile; then hold, release, revoke and a search by
serial range on the certificate the manual profile issued.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

# In a client container the client comes as one file next to this script (tests/dogtag_flows.py).
if Path(__file__).with_name("dogtag.zip").exists():
    sys.path.insert(0, str(Path(__file__).with_name("dogtag.zip")))

import pki.account
import pki.ca
import pki.cert
import pki.client
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def _key(algorithm: str) -> Any:
    if algorithm == "rsa-4096":
        return rsa.generate_private_key(public_exponent=65537, key_size=4096)
    if algorithm == "ec-p384":
        return ec.generate_private_key(ec.SECP384R1())
    from cryptography.hazmat.primitives.asymmetric import mldsa  # cryptography >= 50

    return mldsa.MLDSA87PrivateKey.generate()


def _csr_b64(algorithm: str, common_name: str) -> str:
    key = _key(algorithm)
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    )
    algorithm_hash = None if algorithm == "ml-dsa-87" else hashes.SHA384()
    csr = builder.sign(key, algorithm_hash)
    return base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode()


def _say(step: str, **facts: Any) -> None:
    print(json.dumps({"step": step, **facts}), flush=True)


def _issue_as_dogtag_ra_backend(client: pki.client.PKIClient, profile: str, csr_b64: str) -> tuple[str, str]:
    """DogtagRABackend.issueCertificate, call for call: (status at submit, serial)."""
    ca = pki.ca.CAClient(client)
    pki.account.AccountClient(ca).login()
    certs = pki.cert.CertClient(ca)
    request = certs.get_enrollment_template(profile)
    for item in request.inputs:
        if item.class_id == "certReqInputImpl":
            for attribute in item.attributes:
                if attribute.name == "cert_request_type":
                    attribute.value = "pkcs10"
                elif attribute.name == "cert_request":
                    attribute.value = csr_b64
    [info] = certs.submit_enrollment_request(request).cert_request_info_list
    submitted = info.request_status
    if info.error_message:
        raise SystemExit(f"{profile}: the CA refused the request: {info.error_message}")
    if submitted != "complete":
        review = certs.review_request(info.request_id)
        certs.approve_request(info.request_id, review)
        info = certs.get_request(info.request_id)
    data = certs.get_cert(info.cert_id)
    return submitted, str(data.serial_number)


def main(url: str, bundle: str, cert: str, key: str, algorithm: str, manual_profile: str, name: str) -> int:
    client = pki.client.PKIClient(url, ca_bundle=bundle)  # no api_version: connect() picks it
    client.set_client_auth(cert, key)
    client.connect()
    _say("connect", api=client.get_api_version(), version=str(client.get_server_version()))

    submitted, serial = _issue_as_dogtag_ra_backend(client, "estServiceCert", _csr_b64(algorithm, f"ra-{name}"))
    _say("dogtag-ra-backend", profile="estServiceCert", submitted=submitted, serial=serial)
    submitted, serial = _issue_as_dogtag_ra_backend(client, manual_profile, _csr_b64(algorithm, f"manual-{name}"))
    _say("manual-profile", profile=manual_profile, submitted=submitted, serial=serial)

    certs = pki.cert.CertClient(pki.ca.CAClient(client))
    certs.hold_cert(serial)
    held = certs.get_cert(serial)
    _say("hold", status=held.status)
    certs.unrevoke_cert(serial)
    _say("release", status=certs.get_cert(serial).status)
    certs.revoke_cert(serial, "Key_Compromise")
    revoked = certs.get_cert(serial)
    _say("revoke", status=revoked.status)
    found = [str(info.serial_number) for info in certs.list_certs(serial_from=serial, serial_to=serial)]
    _say("search", serials=found)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
