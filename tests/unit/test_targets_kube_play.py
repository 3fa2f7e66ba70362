"""`labctl render --target kube-play`: the Kubernetes objects podman 4.3 plays, one file per hierarchy."""

from __future__ import annotations

import dataclasses
import shlex
from typing import Any

import kubernetes_validate
import pytest
import yaml

from labctl import specs
from labctl.errors import TopologyError
from labctl.runtime.base import CONTAINER_LABEL, MANAGED_BY_LABEL
from labctl.targets.kube import PODMAN_MANAGER
from labctl.targets.kube_play import PLAY_SCRIPT, manifest_name, play_commands, render_kube_play
from labctl.topology import Lab, load_lab, renamed

IMAGE = "localhost/labctl:0123456789ab"
LAB = renamed(load_lab(), "kube1")


def _documents(lab: Lab, hierarchy: str) -> list[dict[str, Any]]:
    text = render_kube_play(lab, IMAGE)[manifest_name(lab, lab.hierarchy(hierarchy))]
    return [document for document in yaml.safe_load_all(text) if document is not None]


def _deployments(lab: Lab, hierarchy: str) -> list[dict[str, Any]]:
    return [d for d in _documents(lab, hierarchy) if d["kind"] == "Deployment"]


@pytest.mark.parametrize("hierarchy", ["rsa", "ecc", "pqc"])
def test_each_hierarchy_file_holds_only_what_podman_plays(hierarchy: str) -> None:
    kinds = [d["kind"] for d in _documents(LAB, hierarchy)]
    assert kinds == ["PersistentVolumeClaim", "Deployment", "Deployment"]
    for document in _documents(LAB, hierarchy):
        kubernetes_validate.validate(document, "1.25", strict=True)


def test_the_files_are_one_per_hierarchy_and_the_play_script() -> None:
    names = set(render_kube_play(LAB, IMAGE))
    assert names == {PLAY_SCRIPT, "kube1-rsa.yaml", "kube1-ecc.yaml", "kube1-pqc.yaml"}


def test_each_container_carries_its_lab_name_as_a_label() -> None:
    h = LAB.hierarchy("ecc")
    labels = [d["spec"]["template"]["metadata"]["labels"] for d in _deployments(LAB, "ecc")]
    assert [label[CONTAINER_LABEL] for label in labels] == [h.ca.container, h.ra.container]
    assert {label[MANAGED_BY_LABEL] for label in labels} == {PODMAN_MANAGER}


def test_ports_are_published_on_the_bind_address() -> None:
    h = LAB.hierarchy("rsa")
    ports = [d["spec"]["template"]["spec"]["containers"][0]["ports"] for d in _deployments(LAB, "rsa")]
    assert ports == [
        [
            {"name": f"tcp-{p}", "containerPort": p, "protocol": "TCP", "hostPort": p, "hostIP": "127.0.0.1"}
            for p in role
        ]
        for role in ((h.ca.port, h.ca.http_port), (h.ra.port,))
    ]


def test_the_ra_resolves_the_lab_names_by_hosts_entries_and_shares_no_volume() -> None:
    h = LAB.hierarchy("pqc")
    ca, ra = (d["spec"]["template"]["spec"] for d in _deployments(LAB, "pqc"))
    aliases = {name: alias["ip"] for alias in ra["hostAliases"] for name in alias["hostnames"]}
    assert aliases == specs.static_hosts(h)
    assert "volumes" not in ra  # an emptyDir would be one podman volume shared by all RAs
    assert [v["persistentVolumeClaim"]["claimName"] for v in ca["volumes"]] == ["kube1-pqc-ca-data"]


def test_play_gives_the_addresses_in_the_order_of_the_deployments() -> None:
    h = LAB.hierarchy("rsa")
    create, play = play_commands(LAB, h)
    assert create[:5] == ["podman", "network", "create", "--subnet", str(h.subnet)]
    assert "isolate=true" in create and create[-1] == "kube1-rsa"
    assert play == ["podman", "kube", "play", "--network", "kube1-rsa",
                    "--ip", str(h.ca.address), "--ip", str(h.ra.address), "kube1-rsa.yaml"]  # fmt: skip
    assert shlex.join(play) in render_kube_play(LAB, IMAGE)[PLAY_SCRIPT]


def test_a_container_without_a_static_address_is_a_topology_error() -> None:
    h = LAB.hierarchy("ecc")
    moved = dataclasses.replace(h, ra=dataclasses.replace(h.ra, address=None))
    lab = dataclasses.replace(LAB, hierarchies=tuple(moved if x.name == "ecc" else x for x in LAB.hierarchies))
    with pytest.raises(TopologyError, match="'ecc': kube-play needs a static address"):
        render_kube_play(lab, IMAGE)
