"""The whole lab for other tools (compose, Kubernetes), translated from the specs labctl runs itself."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from labctl.targets.compose import render_compose
from labctl.targets.kube import render_kube
from labctl.targets.kube_play import render_kube_play
from labctl.topology import Lab


@dataclass(frozen=True, slots=True)
class Target:
    render: Callable[[Lab, str], Mapping[str, str]]  # (lab, image reference) -> {file name: text}
    file_name: str | None  # the one file's name in an output directory; None: several files, --out DIR


def _single(render: Callable[[Lab, str], str], file_name: str) -> Target:
    return Target(lambda lab, image: {file_name: render(lab, image)}, file_name)


__all__ = ["TARGETS", "Target", "render_compose", "render_kube", "render_kube_play"]

TARGETS = {
    "compose": _single(render_compose, "compose.yaml"),
    "kube": _single(render_kube, "lab.yaml"),
    # One manifest per hierarchy (each is played onto its own network) and play.sh.
    "kube-play": Target(render_kube_play, None),
}
