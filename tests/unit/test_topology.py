"""The lab file: the shipped default, and each validation error named in its TopologyError."""

from __future__ import annotations

import contextlib
import ipaddress
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labctl.errors import TopologyError
from labctl.pki.keys import KeyAlgorithm
from labctl.topology import DEFAULT_LAB_FILE, dump_lab, load_lab, network_name, parse_lab

DEFAULT_TEXT = DEFAULT_LAB_FILE.read_text(encoding="utf-8")

EXPECTED = {
    # name: (algorithm, subnet, ca port, ra port, ca container, ra container, hostname, tls profile)
    "rsa": (
        KeyAlgorithm.RSA_4096,
        "172.26.0.0/24",
        8444,
        8447,
        "dogtag-intermediate-ca",
        "dogtag-est-ca",
        "est-ca.cert-lab.local",
        "caServerCert",
    ),
    "ecc": (
        KeyAlgorithm.EC_P384,
        "172.28.0.0/24",
        8464,
        8466,
        "dogtag-ecc-intermediate-ca",
        "dogtag-ecc-est-ca",
        "ecc-est-ca.cert-lab.local",
        "caECServerCert",
    ),
    "pqc": (
        KeyAlgorithm.ML_DSA_87,
        "172.27.0.0/24",
        8454,
        8456,
        "dogtag-pq-intermediate-ca",
        "dogtag-pq-est-ca",
        "pq-est-ca.cert-lab.local",
        "caMLDSAServerCert",
    ),
}
IDS = ["rsa", "ecc", "pqc"]


def _variant(old: str, new: str, *, count: int = 1) -> str:
    """The default lab text with `old` replaced by `new` (the first `count` times); `old` must occur."""
    assert old in DEFAULT_TEXT, f"test setup: {old!r} is not in the default lab file"
    return DEFAULT_TEXT.replace(old, new, count)


def _error(text: str) -> str:
    with pytest.raises(TopologyError) as info:
        parse_lab(text, source="test.toml")
    message = str(info.value)
    assert message.startswith("test.toml: "), message
    return message


# --- the default lab ---------------------------------------------------------------------------


def test_default_lab_has_exactly_rsa_ecc_pqc() -> None:
    lab = load_lab()
    assert [h.name for h in lab.hierarchies] == ["rsa", "ecc", "pqc"]
    assert lab.name == "cert-lab"
    assert lab.bind_address == ipaddress.IPv4Address("127.0.0.1")


@pytest.mark.parametrize("name", IDS, ids=IDS)
def test_default_lab_hierarchy_matches_documentation(name: str) -> None:
    algorithm, subnet, ca_port, ra_port, ca_container, ra_container, hostname, tls_profile = EXPECTED[name]
    hierarchy = load_lab().hierarchy(name)
    assert hierarchy.algorithm is algorithm
    assert hierarchy.subnet == ipaddress.IPv4Network(subnet)
    assert hierarchy.ca.port == ca_port
    assert hierarchy.ra.port == ra_port
    assert hierarchy.ca.container == ca_container
    assert hierarchy.ra.container == ra_container
    assert hierarchy.ra.hostname == hostname
    assert hierarchy.ra.tls_profile == tls_profile
    assert hierarchy.ra.enroll_profile == "estServiceCert"
    assert hierarchy.ca.address in hierarchy.subnet
    assert hierarchy.ra.address in hierarchy.subnet


def test_load_lab_from_path_equals_parse_of_text(tmp_path: Path) -> None:
    path = tmp_path / "lab.toml"
    path.write_text(DEFAULT_TEXT, encoding="utf-8")
    lab = load_lab(path)
    assert lab.source == str(path)
    assert lab.hierarchies == parse_lab(DEFAULT_TEXT).hierarchies


def test_load_lab_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(TopologyError, match="cannot read lab file") as info:
        load_lab(missing)
    assert str(missing) in str(info.value)


def test_unknown_hierarchy_lookup_lists_known_ones() -> None:
    with pytest.raises(TopologyError, match=r"no hierarchy 'dsa' \(it has: rsa, ecc, pqc\)"):
        load_lab().hierarchy("dsa")


def test_network_name_is_lab_dash_hierarchy() -> None:
    lab = load_lab()
    assert network_name(lab, lab.hierarchy("ecc")) == "cert-lab-ecc"


def test_address_keys_are_optional() -> None:
    text = _variant('address = "172.26.0.11"\n', "")
    assert parse_lab(text).hierarchy("rsa").ca.address is None


# --- validation errors -------------------------------------------------------------------------


def test_overlapping_subnets_are_refused() -> None:
    text = _variant('subnet = "172.28.0.0/24"', 'subnet = "172.26.0.0/16"')
    message = _error(text)
    assert "overlaps 'rsa'" in message
    assert "172.26.0.0/16" in message


def test_port_clash_is_refused() -> None:
    message = _error(_variant("port = 8464", "port = 8444"))
    assert "port 8444 of ecc.ca clashes with rsa.ca" in message


def test_port_clash_within_one_hierarchy_is_refused() -> None:
    message = _error(_variant("port = 8447", "port = 8444"))
    assert "port 8444 of rsa.ra clashes with rsa.ca" in message


@pytest.mark.parametrize("port", [0, 65536], ids=["zero", "too-big"])
def test_port_out_of_range_is_refused(port: int) -> None:
    message = _error(_variant("port = 8444", f"port = {port}"))
    assert "is not a TCP port" in message


def test_duplicate_container_name_is_refused() -> None:
    message = _error(_variant('container = "dogtag-ecc-est-ca"', 'container = "dogtag-est-ca"'))
    assert "RA container 'dogtag-est-ca' is already used by rsa RA container" in message


def test_duplicate_hostname_is_refused() -> None:
    message = _error(_variant('hostname = "pq-est-ca.cert-lab.local"', 'hostname = "est-ca.cert-lab.local"'))
    assert "RA hostname 'est-ca.cert-lab.local' is already used" in message


def test_invalid_hostname_is_refused() -> None:
    message = _error(_variant('hostname = "est-ca.cert-lab.local"', 'hostname = "EST_CA!"'))
    assert "hierarchy.rsa.ra.hostname 'EST_CA!' is not a valid name" in message


def test_unknown_algorithm_is_refused_listing_known_ones() -> None:
    message = _error(_variant('algorithm = "ec-p384"', 'algorithm = "ec-p256"'))
    assert "unknown algorithm 'ec-p256'" in message
    assert "rsa-4096, ec-p384, ml-dsa-87" in message


@pytest.mark.parametrize(
    "cidr",
    ["172.26.0.1/24", "300.1.1.0/24", "172.26.0.0/33", "not-a-net"],
    ids=["host-bits-set", "octet-out-of-range", "prefix-too-long", "words"],
)
def test_bad_cidr_is_refused(cidr: str) -> None:
    message = _error(_variant('subnet = "172.26.0.0/24"', f'subnet = "{cidr}"'))
    assert f"subnet {cidr!r} is not a valid CIDR" in message


def test_address_outside_subnet_is_refused() -> None:
    message = _error(_variant('address = "172.26.0.20"', 'address = "172.27.0.20"'))
    assert "ra address 172.27.0.20 is outside subnet 172.26.0.0/24" in message


@pytest.mark.parametrize(
    "address",
    ["172.26.0.0", "172.26.0.1", "172.26.0.255"],
    ids=["network", "gateway", "broadcast"],
)
def test_reserved_address_is_refused(address: str) -> None:
    message = _error(_variant('address = "172.26.0.11"', f'address = "{address}"'))
    assert f"ca address {address} is reserved" in message


def test_ca_and_ra_sharing_an_address_is_refused() -> None:
    message = _error(_variant('address = "172.26.0.20"', 'address = "172.26.0.11"'))
    assert "ra address 172.26.0.11 is already the ca's" in message


def test_invalid_ipv4_address_is_refused() -> None:
    message = _error(_variant('address = "172.26.0.11"', 'address = "172.26.0.999"'))
    assert "'172.26.0.999' is not an IPv4 address" in message


def test_unknown_key_typo_is_refused() -> None:
    message = _error(_variant('address = "172.26.0.11"', 'adress = "172.26.0.11"'))
    assert "hierarchy.rsa.ca: unknown key 'adress'" in message
    assert "allowed: address, common_name, container, http_port, port" in message


def test_typo_in_required_key_reports_it_missing() -> None:
    message = _error(_variant("root_validity_days = 3650", "root_validty_days = 3650"))
    assert "hierarchy.rsa.root_validity_days is required" in message


def test_extra_key_is_refused_as_unknown() -> None:
    message = _error(_variant("port = 8447\n", "port = 8447\nprot = 8448\n"))
    assert "hierarchy.rsa.ra: unknown key 'prot'" in message


def test_unknown_top_level_table_is_refused() -> None:
    message = _error(DEFAULT_TEXT + "\n[extras]\nx = 1\n")
    assert "unknown key 'extras'" in message


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("port = 8444", 'port = "8444"', "hierarchy.rsa.ca.port must be an integer, got '8444'"),
        ("root_validity_days = 3650", "root_validity_days = true", "root_validity_days must be an integer, got True"),
        ('algorithm = "rsa-4096"', "algorithm = 4096", "hierarchy.rsa.algorithm must be a string, got 4096"),
        ('address = "172.26.0.11"', "address = 1", "hierarchy.rsa.ca.address must be an IPv4 address string"),
    ],
    ids=["port-string", "days-bool", "algorithm-int", "address-int"],
)
def test_wrong_type_is_refused(old: str, new: str, expected: str) -> None:
    assert expected in _error(_variant(old, new))


def test_hierarchy_that_is_not_a_table_is_refused() -> None:
    text = '[lab]\nname = "x"\nbind_address = "127.0.0.1"\n[hierarchy]\nrsa = 1\n'
    assert "hierarchy.rsa must be a table, got 1" in _error(text)


def test_non_positive_validity_is_refused() -> None:
    message = _error(_variant("intermediate_validity_days = 1825", "intermediate_validity_days = 0"))
    assert "intermediate_validity_days must be positive, got 0" in message


def test_empty_string_is_refused() -> None:
    message = _error(_variant('common_name = "Cert-Lab RSA Intermediate CA"', 'common_name = "  "'))
    assert "hierarchy.rsa.ca.common_name must not be empty" in message


@pytest.mark.parametrize(
    ("old", "expected"),
    [
        ('subnet = "172.26.0.0/24"\n', "hierarchy.rsa.subnet is required"),
        ('bind_address = "127.0.0.1"\n', "lab.bind_address is required"),
        ('hostname = "est-ca.cert-lab.local"\n', "hierarchy.rsa.ra.hostname is required"),
    ],
    ids=["subnet", "bind-address", "hostname"],
)
def test_missing_required_key_is_refused(old: str, expected: str) -> None:
    assert expected in _error(_variant(old, ""))


def test_missing_ca_table_is_refused() -> None:
    text = _variant("[hierarchy.rsa.ca]", "[hierarchy.rsa.unused]")
    assert "hierarchy.rsa.ca is required" in _error(text)


def test_lab_without_hierarchies_is_refused() -> None:
    text = '[lab]\nname = "x"\nbind_address = "127.0.0.1"\n[hierarchy]\n'
    assert "defines no hierarchy" in _error(text)


def test_invalid_hierarchy_name_is_refused() -> None:
    text = DEFAULT_TEXT.replace("hierarchy.rsa", "hierarchy.RSA")
    assert "hierarchy.RSA: name must be lower-case" in _error(text)


@pytest.mark.parametrize(
    ("section", "old", "new", "label"),
    [
        ("rsa", 'tls_profile = "caServerCert"', 'tls_profile = "caECServerCert"', "RSA-4096"),
        ("ecc", 'tls_profile = "caECServerCert"', 'tls_profile = "caMLDSAServerCert"', "ECDSA P-384"),
        ("pqc", 'tls_profile = "caMLDSAServerCert"', 'tls_profile = "caServerCert"', "ML-DSA-87"),
    ],
    ids=IDS,
)
def test_profile_that_refuses_the_hierarchy_algorithm_is_refused(section: str, old: str, new: str, label: str) -> None:
    message = _error(_variant(old, new))
    profile = new.split('"')[1]
    assert f"hierarchy '{section}': ra.tls_profile {profile} does not allow {label} keys" in message


def test_unknown_profile_is_refused_listing_known_ones() -> None:
    message = _error(_variant('enroll_profile = "estServiceCert"', 'enroll_profile = "estServiceCrt"'))
    assert "ra.enroll_profile: unknown profile 'estServiceCrt'" in message
    assert "caServerCert" in message


@pytest.mark.parametrize(
    "text",
    ["[lab\nname = 1", "a = ", 'x = "unterminated', "[lab]\n[lab]\n"],
    ids=["open-bracket", "no-value", "unterminated-string", "duplicate-table"],
)
def test_invalid_toml_is_refused(text: str) -> None:
    assert "not valid TOML" in _error(text)


# --- properties --------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_parse_lab_on_arbitrary_text_raises_only_topology_error(text: str) -> None:
    with contextlib.suppress(TopologyError):
        parse_lab(text)


_DEFAULT_LINES = DEFAULT_TEXT.splitlines(keepends=True)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(_DEFAULT_LINES) - 1), max_size=4, unique=True))
def test_parse_lab_with_lines_dropped_raises_only_topology_error(dropped: list[int]) -> None:
    text = "".join(line for index, line in enumerate(_DEFAULT_LINES) if index not in dropped)
    with contextlib.suppress(TopologyError):
        parse_lab(text)


# --- the CA's plain-HTTP port (Dogtag's unsecure port) --------------------------------------------


@pytest.mark.parametrize(("name", "http_port"), [("rsa", 8044), ("ecc", 8064), ("pqc", 8054)])
def test_default_lab_gives_each_ca_a_plain_http_port(name: str, http_port: int) -> None:
    assert load_lab().hierarchy(name).ca.http_port == http_port


def test_http_port_is_optional() -> None:
    assert parse_lab(_variant("http_port = 8044\n", "")).hierarchy("rsa").ca.http_port is None


def test_http_port_round_trips_through_dump_lab() -> None:
    lab = parse_lab(_variant("http_port = 8044\n", ""))
    assert parse_lab(dump_lab(lab)).hierarchies == lab.hierarchies
    assert parse_lab(dump_lab(load_lab())).hierarchies == load_lab().hierarchies


def test_http_port_clashing_with_another_port_is_refused() -> None:
    message = _error(_variant("http_port = 8064", "http_port = 8447"))
    assert "port 8447 of ecc.ca.http_port clashes with rsa.ra" in message


def test_http_port_clashing_with_its_own_tls_port_is_refused() -> None:
    message = _error(_variant("http_port = 8044", "http_port = 8444"))
    assert "port 8444 of rsa.ca.http_port clashes with rsa.ca" in message


def test_http_port_must_be_a_tcp_port() -> None:
    assert "hierarchy.rsa.ca.http_port 0 is not a TCP port" in _error(_variant("http_port = 8044", "http_port = 0"))


# --- RA workers (docs/workers.md) ----------------------------------------------------------------


def test_ra_workers_default_to_none_meaning_one_per_cpu() -> None:
    assert {h.ra.workers for h in load_lab().hierarchies} == {None}


def test_ra_workers_round_trip_through_dump_lab() -> None:
    lab = parse_lab(_variant("port = 8466\n", "port = 8466\nworkers = 2\n"))
    assert lab.hierarchy("ecc").ra.workers == 2
    assert parse_lab(dump_lab(lab)).hierarchies == lab.hierarchies


@pytest.mark.parametrize(("workers", "message"), [(0, "must be positive, got 0"), (65, "must be at most 64, got 65")])
def test_ra_workers_out_of_range_are_refused(workers: int, message: str) -> None:
    assert f"hierarchy.ecc.ra.workers {message}" in _error(
        _variant("port = 8466\n", f"port = 8466\nworkers = {workers}\n")
    )
