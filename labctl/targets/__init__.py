"""The whole lab for other tools (compose, Kubernetes), translated from the specs labctl runs itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from labctl.errors import LabctlError
from labctl.targets.compose import render_compose
from labctl.targets.kube import render_kube
from labctl.targets.kube_play import render_kube_play
from labctl.topology import Lab


class Render(Protocol):
    """(lab, image reference, the labctl command line that finds the lab, for hints) -> {file name: text}."""

    def __call__(self, lab: Lab, image: str, *, labctl: str = "labctl") -> Mapping[str, str]: ...


class RenderOne(Protocol):
    def __call__(self, lab: Lab, image: str, *, labctl: str = "labctl") -> str: ...


@dataclass(frozen=True, slots=True)
class Target:
    render: Render
    file_name: str | None  # the one file's name in an output directory; None: several files, --out DIR


def _single(render: RenderOne, file_name: str) -> Target:
    def render_files(lab: Lab, image: str, *, labctl: str = "labctl") -> Mapping[str, str]:
        return {file_name: render(lab, image, labctl=labctl)}

    return Target(render_files, file_name)


def write_rendered(target: Target, files: Mapping[str, str], out: Path) -> Path:
    """Write a target's files: into the directory `out` (several files), or as the file `out` or into the
    directory `out` (one file). Returns where they went.

    Raises:
        LabctlError: the directory cannot be made or a file cannot be written (naming it and why).
    """
    if target.file_name is None:
        paths = {out / name: text for name, text in files.items()}
        where = out
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LabctlError(f"cannot create {out}: {exc.strerror}") from exc
    else:
        where = out / target.file_name if out.is_dir() else out
        paths = {where: files[target.file_name]}
    for path, text in paths.items():
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise LabctlError(f"cannot write {path}: {exc.strerror}") from exc
    return where


__all__ = ["TARGETS", "Target", "render_compose", "render_kube", "render_kube_play", "write_rendered"]

TARGETS = {
    "compose": _single(render_compose, "compose.yaml"),
    "kube": _single(render_kube, "lab.yaml"),
    # One manifest per hierarchy (each is played onto its own network) and play.sh.
    "kube-play": Target(render_kube_play, None),
}
