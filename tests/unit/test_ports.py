"""A lab moved onto free ports keeps everything else."""

from __future__ import annotations

from labctl.ports import free_ports, with_free_ports
from labctl.topology import load_lab, published_ports


def test_free_ports_are_distinct() -> None:
    ports = free_ports(12)
    assert len(set(ports)) == 12


def test_with_free_ports_changes_only_ports() -> None:
    lab = load_lab()
    moved = with_free_ports(lab)
    old_ports = {p for h in lab.hierarchies for p in (h.ca.port, h.ra.port)}
    new_ports = [p for h in moved.hierarchies for p in (h.ca.port, h.ra.port)]
    assert len(set(new_ports)) == len(new_ports) == 6
    assert not old_ports & set(new_ports)
    for before, after in zip(lab.hierarchies, moved.hierarchies, strict=True):
        assert (after.name, after.subnet, after.ca.container, after.ra.hostname) == (
            before.name, before.subnet, before.ca.container, before.ra.hostname,
        )  # fmt: skip


def test_with_free_ports_moves_the_plain_http_ports_too() -> None:
    lab = load_lab()
    moved = with_free_ports(lab)
    ports = [p for h in moved.hierarchies for p in published_ports(h)]
    assert len(set(ports)) == len(ports) == 9
    assert all(h.ca.http_port not in (8044, 8064, 8054) for h in moved.hierarchies)
