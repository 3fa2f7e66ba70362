"""The lab's IoT device client: enroll the device identity EST-first, and when the RA is unavailable
(connection refused, timeout, 503) fall back to the Intermediate CA's REST API directly, as the lab's
IoT client does (POST /ca/rest/certrequests, profile caIoTDeviceCert, the device bootstrap
credential as Dogtag's PIN). Without a valid credential the CA leaves the request pending: nothing
is issued, and the client says so. Key and certificate live in the device's data dir (a volume).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from labctl.ca_client import CAClient, ca_ssl_context
from labctl.errors import CAError, ESTError, LabctlError
from labctl.est_client import ESTClient, est_ssl_context
from labctl.files import write_atomic
from labctl.pki.issue import build_csr, certificates_pem, common_name_subject, load_pem_certificates
from labctl.pki.keys import KeyAlgorithm, generate_private_key, read_private_key, write_private_key

IOT_PROFILE = "caIoTDeviceCert"
# An RA that answers these, or does not answer, is unavailable: fall back. Any other refusal stands.
UNAVAILABLE_STATUSES = frozenset({502, 503, 504})


class EnrollPath(enum.StrEnum):
    EST = "est"
    CA_REST = "ca-rest"


class EnrollmentPending(LabctlError):
    """The CA recorded the request but did not issue it (no valid bootstrap credential)."""


@dataclass(frozen=True, slots=True)
class IoTDevice:
    common_name: str
    algorithm: KeyAlgorithm
    data_dir: Path
    ra_url: str
    ca_url: str
    trust_file: Path
    est_credentials: tuple[str, str] | None
    bootstrap_credential: str | None
    timeout_s: float = 10.0


@dataclass(frozen=True, slots=True)
class IoTResult:
    path: EnrollPath
    certificate: x509.Certificate
    fallback_reason: str | None


def enroll(device: IoTDevice, log: Callable[[str], None]) -> IoTResult:
    """Enroll (or re-enroll) the device identity; write device.key (0600, kept across runs) and device.crt."""
    key_path, cert_path = device.data_dir / "device.key", device.data_dir / "device.crt"
    if key_path.exists():
        key = read_private_key(key_path)
    else:
        key = generate_private_key(device.algorithm)
        write_private_key(key_path, key)
        log(f"generated a {device.algorithm.label} device key in {key_path}")
    csr = build_csr(key, common_name_subject(device.common_name), [device.common_name])
    reason = None
    try:
        certificate = _via_est(device, csr)
        path = EnrollPath.EST
        log(f"enrolled via EST (simpleenroll at {device.ra_url})")
    except ESTError as exc:
        if exc.status_code is not None and exc.status_code not in UNAVAILABLE_STATUSES:
            raise
        reason = str(exc).splitlines()[0]
        log(f"EST RA unavailable ({reason}); falling back to the CA's REST API at {device.ca_url}")
        certificate = _via_ca_rest(device, csr)
        path = EnrollPath.CA_REST
        log(f"enrolled via the CA REST API (POST /ca/rest/certrequests, profile {IOT_PROFILE})")
    write_atomic(cert_path, certificates_pem([certificate]))
    return IoTResult(path, certificate, reason)


def run_device(device: IoTDevice, log: Callable[[str], None]) -> tuple[int, str]:
    """`labctl iot-device` in its container: enroll, then the line run_iot_device reads back.

    Returns:
        (exit code, one JSON line: the path, serial and subject; or the error and whether it is pending).
    """
    try:
        result = enroll(device, log=log)
    except LabctlError as exc:
        return 1, json.dumps({"error": str(exc), "pending": isinstance(exc, EnrollmentPending)})
    certificate = result.certificate
    summary = {
        "path": result.path.value,
        "serial": f"0x{certificate.serial_number:x}",
        "subject": certificate.subject.rfc4514_string(),
    }
    return 0, json.dumps(summary)


def _via_est(device: IoTDevice, csr: x509.CertificateSigningRequest) -> x509.Certificate:
    context = est_ssl_context(device.trust_file)
    with ESTClient(device.ra_url, ssl_context=context, auth=device.est_credentials, timeout_s=device.timeout_s) as c:
        return c.simpleenroll(csr)


def _via_ca_rest(device: IoTDevice, csr: x509.CertificateSigningRequest) -> x509.Certificate:
    credentials = {"pin": device.bootstrap_credential} if device.bootstrap_credential else None
    context = ca_ssl_context(device.trust_file)
    try:
        with CAClient(device.ca_url, ssl_context=context, timeout_s=device.timeout_s) as client:
            info = client.submit(csr, IOT_PROFILE, credentials=credentials, api="rest")
            if info.status == "complete" and info.cert_id is not None:
                return load_pem_certificates(client.certificate(info.cert_id).pem)[0]
    except CAError as exc:
        raise LabctlError(f"the CA REST fallback failed too: {exc}") from exc
    if info.status == "pending":
        why = (
            "no bootstrap credential was offered"
            if credentials is None
            else "the CA did not accept the bootstrap credential"
        )
        raise EnrollmentPending(
            f"request 0x{info.request_id:x} is pending at the CA ({why}); no certificate was issued",
            hint="an agent may approve it, or run the device with the hierarchy's bootstrap credential",
        )
    raise LabctlError(f"the CA {info.status} request 0x{info.request_id:x}: {info.error or 'no reason given'}")
