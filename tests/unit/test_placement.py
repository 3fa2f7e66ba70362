"""Which lab a command acts on (--lab, the recorded lab) and where it sits (--subnets/--ports auto)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from labctl.errors import TopologyError
from labctl.placement import (
    AUTO_SUBNET_POOL,
    RECORDED_LAB,
    forget_lab,
    free_subnets,
    host_routes,
    labctl_command,
    place,
    record_lab,
    recorded_lab,
    select_lab,
)
from labctl.topology import dump_lab, load_lab, parse_lab, published_ports, renamed

DEFAULT = load_lab()


def net(text: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(text)


def test_the_default_lab_keeps_its_names(tmp_path: Path) -> None:
    selection = select_lab(None, None, tmp_path)
    assert selection.lab.name == "cert-lab"
    assert [h.ra.container for h in selection.lab.hierarchies] == [
        "dogtag-est-ca",
        "dogtag-ecc-est-ca",
        "dogtag-pq-est-ca",
    ]
    assert not selection.recorded


def test_a_named_lab_has_its_own_names_and_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    selection = select_lab(None, "ci1", None)
    assert selection.state_dir == tmp_path / "labctl" / "ci1"
    rsa = selection.lab.hierarchy("rsa")
    assert (rsa.ca.container, rsa.ra.container, rsa.ra.hostname) == (
        "ci1-dogtag-intermediate-ca",
        "ci1-dogtag-est-ca",
        "est-ca.ci1.local",
    )
    default_names = {c for h in DEFAULT.hierarchies for c in (h.ca.container, h.ra.container, h.ra.hostname)}
    names = {c for h in selection.lab.hierarchies for c in (h.ca.container, h.ra.container, h.ra.hostname)}
    assert not names & default_names


@pytest.mark.parametrize("name", ["", "UPPER", "a_b", "-x", "x" * 32, "../x"])
def test_a_bad_lab_name_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(TopologyError, match="lab name"):
        select_lab(None, name, tmp_path)


def test_the_recorded_lab_wins_without_a_lab_file(tmp_path: Path) -> None:
    placed = place(renamed(DEFAULT, "ci1"), previous=None, auto_subnets=True, auto_ports=True)
    record_lab(placed, tmp_path)
    selection = select_lab(None, "ci1", tmp_path)
    assert selection.recorded and selection.lab.hierarchies == placed.hierarchies
    forget_lab(tmp_path)
    assert select_lab(None, "ci1", tmp_path).lab.hierarchy("rsa").subnet == net("172.26.0.0/24")


def test_a_record_of_another_lab_is_refused(tmp_path: Path) -> None:
    record_lab(renamed(DEFAULT, "other"), tmp_path)
    with pytest.raises(TopologyError, match="records lab 'other'"):
        select_lab(None, "ci1", tmp_path)


def test_an_explicit_lab_file_wins_over_the_record(tmp_path: Path) -> None:
    record_lab(place(DEFAULT, previous=None, auto_subnets=False, auto_ports=True), tmp_path)
    lab_file = tmp_path / "lab.file.toml"
    lab_file.write_text(dump_lab(DEFAULT))
    assert select_lab(lab_file, None, tmp_path).lab.hierarchy("rsa").ra.port == 8447


def test_auto_subnets_avoid_every_taken_one_and_keep_host_parts() -> None:
    taken = [net("10.210.0.0/24"), net("10.210.2.0/23")]
    placed = place(DEFAULT, previous=None, auto_subnets=True, auto_ports=False, used_subnets=taken)
    subnets = [h.subnet for h in placed.hierarchies]
    assert all(s.subnet_of(AUTO_SUBNET_POOL) and not any(s.overlaps(t) for t in taken) for s in subnets)
    assert len(set(subnets)) == 3
    rsa = placed.hierarchy("rsa")
    assert (rsa.ca.address, rsa.ra.address) == (rsa.subnet.network_address + 11, rsa.subnet.network_address + 20)


def test_a_placed_lab_keeps_its_place() -> None:
    first = place(DEFAULT, previous=None, auto_subnets=True, auto_ports=True)
    again = place(
        DEFAULT, previous=first, auto_subnets=True, auto_ports=True, used_subnets=[first.hierarchies[0].subnet]
    )
    assert again.hierarchies == first.hierarchies


def test_auto_ports_are_distinct_and_free() -> None:
    placed = place(DEFAULT, previous=None, auto_subnets=False, auto_ports=True)
    ports = [p for h in placed.hierarchies for p in published_ports(h)]
    assert len(set(ports)) == 9
    assert [h.subnet for h in placed.hierarchies] == [h.subnet for h in DEFAULT.hierarchies]


def test_no_free_subnet_is_a_clear_error() -> None:
    with pytest.raises(TopologyError, match="no 3 free /24 subnets"):
        list(free_subnets(3, [AUTO_SUBNET_POOL]))


def test_host_routes_are_read_from_proc(tmp_path: Path) -> None:
    routes = tmp_path / "route"
    routes.write_text(
        "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n"
        "eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        "eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
        "podman1\t0000D20A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
    )
    assert host_routes(routes) == [net("192.168.1.0/24"), net("10.210.0.0/24")]
    assert host_routes(tmp_path / "missing") == []


def test_the_record_is_a_lab_file(tmp_path: Path) -> None:
    record_lab(renamed(DEFAULT, "ci1"), tmp_path)
    text = (tmp_path / RECORDED_LAB).read_text()
    assert parse_lab(text).name == "ci1"
    assert recorded_lab(tmp_path) is not None


def test_the_longest_lab_name_keeps_every_name_within_its_limits() -> None:
    lab = renamed(DEFAULT, "x" * 31)
    assert max(len(c) for h in lab.hierarchies for c in (h.ca.container, h.ra.container)) <= 58


def test_an_ra_container_name_too_long_for_its_agent_certificate_is_refused() -> None:
    text = dump_lab(DEFAULT).replace('"dogtag-est-ca"', '"' + "r" * 59 + '"')
    with pytest.raises(TopologyError, match="longer than 58"):
        parse_lab(text)


@pytest.mark.parametrize(
    ("name", "state_dir", "config", "expected"),
    [
        ("cert-lab", None, None, "labctl up"),
        ("ci1", None, None, "labctl --lab ci1 up"),
        ("cert-lab", "elsewhere", None, "labctl --state-dir {tmp}/elsewhere up"),
        ("ci1", None, "lab.toml", "labctl --config {tmp}/lab.toml --lab ci1 up"),
    ],
    ids=["default", "named", "state-dir", "config"],
)
def test_labctl_command_names_only_the_options_select_lab_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, state_dir: str | None, config: str | None, expected: str
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    if config is not None:
        (tmp_path / config).write_text(dump_lab(DEFAULT))
    selection = select_lab(
        None if config is None else tmp_path / config, name, None if state_dir is None else tmp_path / state_dir
    )
    command = labctl_command(
        "up", selection.lab.name, selection.state_dir, None if config is None else tmp_path / config
    )
    assert command == expected.format(tmp=tmp_path)


def _lab_state(state_dir: Path) -> None:
    for hierarchy in ("rsa", "ecc"):
        (state_dir / hierarchy / "ra").mkdir(parents=True)
        for name in ("root.key", "admin.key", "est-credentials", "iot-bootstrap-credential", "ra/tls.key"):
            (state_dir / hierarchy / name).write_text("secret")
    (state_dir / "devices" / "rsa" / "device01").mkdir(parents=True)
    (state_dir / "devices" / "rsa" / "device01" / "device.key").write_text("secret")
    (state_dir / "serve-local" / "volumes").mkdir(parents=True)
    (state_dir / "lab.toml").write_text("name = 'x'\n")


def test_forget_lab_removes_every_secret_of_the_lab(tmp_path: Path) -> None:
    _lab_state(tmp_path)
    (tmp_path / "notes.txt").write_text("the user's own file")
    (tmp_path / "photos").mkdir()
    forget_lab(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "photos"]


def test_forget_lab_with_the_lab_removes_its_hierarchies_only(tmp_path: Path) -> None:
    _lab_state(tmp_path)
    forget_lab(tmp_path, load_lab())  # rsa, ecc and pqc: pqc has no directory here
    assert list(tmp_path.iterdir()) == []


def test_forget_lab_keeps_secrets_when_asked(tmp_path: Path) -> None:
    _lab_state(tmp_path)
    forget_lab(tmp_path, keep_secrets=True)
    assert (tmp_path / "rsa" / "root.key").exists()
    assert not (tmp_path / "lab.toml").exists()
