"""The EST client commands and `labctl verify` on the running lab: est-enroll / est-reenroll /
est-cacerts per hierarchy (pqc from a client container on its network), their one-line errors,
verify's JUnit report, and verify failing (then the lab repaired) when an RA is stopped."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import xml.etree.ElementTree as ET

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from labctl.pki.issue import certificate_sans, load_pem_certificates, verify_chain
from labctl.pki.keys import matches_algorithm
from labctl.runtime.podman import PodmanRuntime
from labctl.state import HierarchyState
from labctl.topology import Hierarchy, load_lab

from .conftest import LabCLI

pytestmark = pytest.mark.e2e
HIERARCHIES = ["rsa", "ecc", "pqc"]
DEVICE_CN = "device01.cert-lab.local"
VERIFY_CHECKS = {
    "cacerts",
    "simpleenroll",
    "simplereenroll",
    "fullcmc",
    "revocation-at-ca",
    "reenroll-with-revoked-refused",
    "enroll-without-credentials-401",
    "enroll-wrong-algorithm-refused",
    "ra-tls-server-profile",
    "serverkeygen",
    "crl-dp-answers",
    "aia-answers",
    "ra-holds-no-ca-key",
    "network-isolated",
}


def _hierarchy(name: str) -> Hierarchy:
    return load_lab().hierarchy(name)


def _fields(stdout: str) -> dict[str, str]:
    """`key: value` lines of est-enroll / est-reenroll -> {key: value}."""
    fields = {}
    for line in stdout.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def _common_name(name: x509.Name) -> str:
    return str(name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def _error(result: subprocess.CompletedProcess[str]) -> list[str]:
    """A deliberate error: exit 1, no traceback, the message on one line (plus an optional hint line)."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert lines and lines[0].startswith("Error: "), result.stderr
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("hint: ")), result.stderr
    return lines


def _status(lab_cli: LabCLI) -> list[dict[str, object]]:
    return [json.loads(line) for line in lab_cli.run("status", "--json").stdout.splitlines()]


@pytest.mark.parametrize("pki_type", HIERARCHIES, ids=HIERARCHIES)
def test_est_enroll_then_reenroll(lab_cli, tmp_path, pki_type):
    hierarchy = _hierarchy(pki_type)
    out_dir = tmp_path / "device"

    result = lab_cli.run("est-enroll", "--cn", DEVICE_CN, "--pki-type", pki_type, "--out-dir", str(out_dir))
    fields = _fields(result.stdout)
    assert f"CN={DEVICE_CN}" in fields["subject"], result.stdout
    assert f"CN={hierarchy.ca.common_name}" in fields["issuer"], result.stdout
    assert re.fullmatch(r"0x[0-9a-f]+", fields["serial"]), result.stdout

    key_file, cert_file, chain_file = out_dir / "device.key", out_dir / "device.crt", out_dir / "chain.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert cert_file.is_file() and chain_file.is_file()
    certificates = load_pem_certificates(cert_file.read_bytes())
    assert len(certificates) == 1
    certificate = certificates[0]
    chain = load_pem_certificates(chain_file.read_bytes())
    verify_chain(certificate, chain)
    # cacerts is a PKCS#7 SET: no order is promised, so chain.pem is checked as a set.
    assert sorted(_common_name(c.subject) for c in chain) == sorted(
        [hierarchy.ca.common_name, hierarchy.root_common_name]
    )
    assert [c for c in chain if c.subject == c.issuer] == [
        c for c in chain if _common_name(c.subject) == hierarchy.root_common_name
    ]
    assert _common_name(certificate.issuer) == hierarchy.ca.common_name
    assert fields["serial"] == f"0x{certificate.serial_number:x}"
    assert fields["subject"] == certificate.subject.rfc4514_string()
    assert x509.DNSName(DEVICE_CN) in certificate_sans(certificate)
    assert matches_algorithm(certificate.public_key(), hierarchy.algorithm)

    renewed_run = lab_cli.run("est-reenroll", "--cn", DEVICE_CN, "--pki-type", pki_type, "--out-dir", str(out_dir))
    renewed_fields = _fields(renewed_run.stdout)
    assert re.fullmatch(r"0x[0-9a-f]+", renewed_fields["serial"]), renewed_run.stdout
    assert renewed_fields["serial"] != fields["serial"]
    renewed = load_pem_certificates(cert_file.read_bytes())[0]
    assert f"0x{renewed.serial_number:x}" == renewed_fields["serial"]
    assert renewed.subject == certificate.subject
    assert renewed_fields["subject"] == fields["subject"]
    assert x509.DNSName(DEVICE_CN) in certificate_sans(renewed)
    verify_chain(renewed, chain)
    assert matches_algorithm(renewed.public_key(), hierarchy.algorithm)


@pytest.mark.parametrize("pki_type", HIERARCHIES, ids=HIERARCHIES)
def test_est_cacerts_prints_intermediate_and_root(lab_cli, pki_type):
    hierarchy = _hierarchy(pki_type)
    result = lab_cli.run("est-cacerts", "--pki-type", pki_type)
    assert result.stdout.count("-----BEGIN CERTIFICATE-----") == 2, result.stdout
    assert result.stdout.strip().startswith("-----BEGIN CERTIFICATE-----"), result.stdout
    assert result.stdout.strip().endswith("-----END CERTIFICATE-----"), result.stdout
    chain = load_pem_certificates(result.stdout.encode())
    by_name = {_common_name(c.subject): c for c in chain}
    assert sorted(by_name) == sorted([hierarchy.ca.common_name, hierarchy.root_common_name])
    root = by_name[hierarchy.root_common_name]
    assert root.subject == root.issuer
    verify_chain(by_name[hierarchy.ca.common_name], chain)
    trust = HierarchyState.of(lab_cli.state_dir, hierarchy).chain
    assert set(chain) == set(load_pem_certificates(trust.read_bytes()))
    assert "trust anchor used:" in result.stderr
    assert str(trust) in result.stderr


@pytest.mark.parametrize("pki_type", HIERARCHIES, ids=HIERARCHIES)
def test_est_reenroll_without_enrollment_is_a_one_line_error(lab_cli, tmp_path, pki_type):
    out_dir = tmp_path / "never-enrolled"
    result = lab_cli.run(
        "est-reenroll", "--cn", DEVICE_CN, "--pki-type", pki_type, "--out-dir", str(out_dir), check=False
    )
    lines = _error(result)
    assert "no enrolled device" in lines[0] and str(out_dir) in lines[0], result.stderr
    assert len(lines) == 2 and "est-enroll" in lines[1], result.stderr
    assert not out_dir.exists()


def test_est_enroll_unknown_hierarchy_names_the_known_ones(lab_cli, tmp_path):
    result = lab_cli.run(
        "est-enroll", "--cn", DEVICE_CN, "--pki-type", "nope", "--out-dir", str(tmp_path / "d"), check=False
    )
    lines = _error(result)
    assert "'nope'" in lines[0]
    assert all(name in lines[0] for name in HIERARCHIES), result.stderr
    assert not (tmp_path / "d").exists()


def test_verify_writes_junit_per_hierarchy(lab_cli, tmp_path):
    report = tmp_path / "verify.xml"
    lab_cli.run("verify", "--junit", str(report))
    root = ET.parse(report).getroot()
    suites = {suite.get("name"): suite for suite in root.iter("testsuite")}
    assert set(suites) == set(HIERARCHIES)
    for name, suite in suites.items():
        cases = {case.get("name"): case for case in suite.iter("testcase")}
        assert set(cases) >= VERIFY_CHECKS, (name, sorted(cases))
        failed = {case_name for case_name, case in cases.items() if case.find("failure") is not None}
        assert failed == set(), (name, failed)
        assert suite.get("failures") == "0"
        assert suite.get("tests") == str(len(cases))


def test_verify_fails_when_an_ra_is_stopped_then_up_repairs_it(lab_cli):
    ra = _hierarchy("ecc").ra.container
    try:
        with PodmanRuntime() as podman:
            podman.stop_container(ra, timeout_s=1)
        result = lab_cli.run("verify", "--hierarchy", "ecc", check=False)
        output = result.stdout + result.stderr
        assert result.returncode != 0, output
        assert "Traceback" not in output, output
        named = [
            line for line in output.splitlines() if "ecc/cacerts" in line or re.search(r"FAIL\s+ecc\s+cacerts", line)
        ]
        assert named, output
        error_lines = result.stderr.splitlines()
        assert len(error_lines) == 1 and error_lines[0].startswith("Error: "), result.stderr
        assert "ecc/cacerts" in error_lines[0], result.stderr
    finally:
        lab_cli.run("up", "--hierarchy", "ecc")
    ra_rows = [r for r in _status(lab_cli) if r["hierarchy"] == "ecc" and r["role"] == "ra"]
    assert len(ra_rows) == 1
    assert (ra_rows[0]["state"], ra_rows[0]["health"]) == ("running", "healthy"), ra_rows
