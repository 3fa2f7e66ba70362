"""The whole lab for other tools (compose, Kubernetes), translated from the specs labctl runs itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from labctl.targets.compose import render_compose
from labctl.targets.kube import render_kube
from labctl.topology import Lab


@dataclass(frozen=True, slots=True)
class Target:
    render: Callable[[Lab, str], str]  # (lab, image reference) -> the file's text
    file_name: str  # the file's name in an output directory


__all__ = ["TARGETS", "Target", "render_compose", "render_kube"]

TARGETS = {
    "compose": Target(render_compose, "compose.yaml"),
    "kube": Target(render_kube, "lab.yaml"),
}
