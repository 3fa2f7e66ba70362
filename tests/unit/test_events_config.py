"""The lab file's [events]: webhook URLs with {gateway} and {hierarchy}, validated with clear errors,
kept by dump_lab, and handed to each CA with its network's gateway filled in."""

from __future__ import annotations

import ipaddress

import pytest

from labctl import specs
from labctl.errors import TopologyError
from labctl.topology import DEFAULT_LAB_FILE, Events, Lab, dump_lab, gateway, parse_lab, with_subnets

DEFAULT_TEXT = DEFAULT_LAB_FILE.read_text(encoding="utf-8")
RECEIVER = "http://{gateway}:9797/events/{hierarchy}"


def _lab(events: str) -> Lab:
    return parse_lab(DEFAULT_TEXT + "\n[events]\n" + events, source="lab.toml")


def _option(command: tuple[str, ...], name: str) -> list[str]:
    return [command[i + 1] for i, arg in enumerate(command) if arg == name]


def test_the_default_lab_has_no_webhooks() -> None:
    lab = parse_lab(DEFAULT_TEXT)
    assert lab.events == Events()
    command = specs.ca_command(lab.hierarchy("ecc"), events=lab.events)
    assert _option(command, "--hierarchy") == ["ecc"]
    assert "--webhook" not in command


def test_webhooks_and_the_report_bound_are_read() -> None:
    lab = _lab(f'webhooks = ["{RECEIVER}", "https://hooks.example/labctl"]\nreport_after_s = 60\n')
    assert lab.events == Events((RECEIVER, "https://hooks.example/labctl"), 60.0)


def test_each_ca_posts_to_its_own_networks_gateway() -> None:
    lab = _lab(f'webhooks = ["{RECEIVER}"]\nreport_after_s = 60\n')
    for hierarchy in lab.hierarchies:
        command = specs.ca_spec(lab, hierarchy, "image").command
        assert _option(command, "--webhook") == [f"http://{gateway(hierarchy)}:9797/events/{hierarchy.name}"]
        assert _option(command, "--events-report-after") == ["60"]
    assert str(gateway(lab.hierarchy("rsa"))) == "172.26.0.1"


def test_a_ca_on_the_host_posts_to_its_listen_address() -> None:
    lab = _lab(f'webhooks = ["{RECEIVER}"]\n')
    addressing = specs.addressing_for(lab, host_network=True)
    command = specs.ca_spec(lab, lab.hierarchy("rsa"), "image", addressing).command
    assert _option(command, "--webhook") == ["http://127.0.0.1:9797/events/rsa"]


def test_moved_subnets_move_the_gateway_and_dump_lab_keeps_the_events() -> None:
    lab = _lab(f'webhooks = ["{RECEIVER}"]\nreport_after_s = 30\n')
    moved = with_subnets(lab, [ipaddress.IPv4Network(f"10.210.{i}.0/24") for i in range(3)])
    command = specs.ca_spec(moved, moved.hierarchies[0], "image").command
    assert _option(command, "--webhook") == ["http://10.210.0.1:9797/events/rsa"]
    assert parse_lab(dump_lab(moved)).events == moved.events


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ('webhooks = "http://x"', "events.webhooks must be a list of URL strings"),
        ('webhooks = ["http://{host}:1/"]', "unknown placeholder {host} (known: {gateway}, {hierarchy})"),
        ('webhooks = ["http://{gateway:1/"]', "has a bad placeholder"),
        ('webhooks = ["ftp://{gateway}/"]', "is not an http:// or https:// URL with a host"),
        ('webhooks = ["http:///events"]', "is not an http:// or https:// URL with a host"),
        ('webhooks = ["http://{gateway}:99999/"]', "out of range"),
        ('webhooks = ["http://a/", "http://a/"]', "names a URL twice"),
        ("report_after_s = 0", "events.report_after_s must be a positive number of seconds"),
        ("report_after_s = true", "events.report_after_s must be a positive number of seconds"),
        ("retries = 3", "events: unknown key 'retries'"),
    ],
)
def test_a_bad_events_table_is_named(events: str, message: str) -> None:
    with pytest.raises(TopologyError, match=r"^lab\.toml: ") as error:
        _lab(events)
    assert message in str(error.value)
