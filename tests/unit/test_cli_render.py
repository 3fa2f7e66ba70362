"""`labctl render --target compose|kube`: parse, render, print or write; errors in one line."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from labctl.cli import lifecycle as lab_commands
from labctl.cli import main
from labctl.images import DEFAULT_BASE, ImageResult
from labctl.targets import TARGETS, render_compose, render_kube
from labctl.topology import DEFAULT_LAB_FILE, load_lab

IMAGE = "localhost/labctl:0123456789ab"


def _invoke(*args: str, state_dir: Path) -> Any:
    return CliRunner().invoke(main, ["--state-dir", str(state_dir), "render", *args])


@pytest.mark.parametrize(("target", "render"), [("compose", render_compose), ("kube", render_kube)])
def test_render_target_prints_the_document(tmp_path: Path, target: str, render: Any) -> None:
    result = _invoke("--target", target, "--image", IMAGE, state_dir=tmp_path)
    assert result.exit_code == 0, result.output
    # The hints in the file name the state dir given: that is how later commands find this lab.
    assert result.stdout == render(load_lab(), IMAGE, labctl=f"labctl --state-dir {tmp_path}")


@pytest.mark.parametrize(("target", "file_name"), [("compose", "compose.yaml"), ("kube", "lab.yaml")])
def test_render_target_into_a_directory_names_the_file(tmp_path: Path, target: str, file_name: str) -> None:
    result = _invoke("--target", target, "--image", IMAGE, "--out", str(tmp_path), state_dir=tmp_path)
    assert result.exit_code == 0, result.output
    assert list(yaml.safe_load_all((tmp_path / file_name).read_text(encoding="utf-8")))
    assert str(tmp_path / file_name) in result.stdout


def test_render_target_into_a_file(tmp_path: Path) -> None:
    out = tmp_path / "lab-compose.yml"
    result = _invoke("--target", "compose", "--image", IMAGE, "--out", str(out), state_dir=tmp_path)
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == render_compose(load_lab(), IMAGE, labctl=f"labctl --state-dir {tmp_path}")


def test_render_target_uses_the_lab_file_given(tmp_path: Path) -> None:
    lab_file = tmp_path / "lab.toml"
    lab_file.write_text(DEFAULT_LAB_FILE.read_text(encoding="utf-8").replace('"cert-lab"', '"other-lab"'))
    args = ["--config", str(lab_file), "--state-dir", str(tmp_path), "render", "--target", "compose"]
    result = CliRunner().invoke(main, [*args, "--image", IMAGE])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.stdout)["name"] == "other-lab"


def test_render_target_without_image_uses_the_image_up_would(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def ensure_image(runtime: object, *, base: str, repository: str, force: bool = False, **_: object) -> ImageResult:
        asked.append(base)
        return ImageResult("localhost/labctl:feedfacecafe", False, "feedfacecafe" * 5)

    monkeypatch.setattr(lab_commands, "PodmanRuntime", nullcontext)
    monkeypatch.setattr("labctl.images.ensure_image", ensure_image)  # Context.build_image imports it when called
    result = _invoke("--target", "compose", state_dir=tmp_path)
    assert result.exit_code == 0, result.output
    assert asked == [DEFAULT_BASE]
    assert yaml.safe_load(result.stdout)["services"]["dogtag-est-ca"]["image"] == "localhost/labctl:feedfacecafe"


def test_render_target_kubernetes_refuses_is_one_line(tmp_path: Path) -> None:
    lab_file = tmp_path / "lab.toml"
    text = DEFAULT_LAB_FILE.read_text(encoding="utf-8")
    lab_file.write_text(text.replace('container = "dogtag-est-ca"', 'container = "Dogtag_EST"'))
    args = ["--config", str(lab_file), "--state-dir", str(tmp_path), "render", "--target", "kube", "--image", IMAGE]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: {lab_file}: container name 'Dogtag_EST' is not valid in Kubernetes (lower-case letters, digits"
        " and '-', starting and ending with a letter or digit, at most 63)"
    ]


def test_render_target_into_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "missing" / "compose.yaml"
    result = _invoke("--target", "compose", "--image", IMAGE, "--out", str(out), state_dir=tmp_path)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"Error: cannot write {out}: No such file or directory"]


def test_render_target_refuses_an_unknown_target(tmp_path: Path) -> None:
    result = _invoke("--target", "helm", "--image", IMAGE, state_dir=tmp_path)
    assert result.exit_code == 2
    assert "'helm' is not one of 'compose', 'kube'" in result.output


def test_the_target_choices_are_the_renderable_targets() -> None:
    assert list(lab_commands.TARGET_NAMES) == sorted(TARGETS)


def test_image_without_target_is_a_usage_error(tmp_path: Path) -> None:
    result = _invoke("--image", IMAGE, state_dir=tmp_path)
    assert result.exit_code == 2
    assert "--image, --subnets and --ports need --target" in result.output


def test_render_without_target_still_writes_the_ra_configuration(tmp_path: Path) -> None:
    out = tmp_path / "rendered"
    result = _invoke("--out", str(out), state_dir=tmp_path / "state")
    assert result.exit_code == 0, result.output
    assert (out / "Containerfile").is_file()
    assert (out / "plan.txt").is_file()
    assert {path.parent.parent.name for path in out.glob("*/ra/*")} == {h.name for h in load_lab().hierarchies}


def test_render_kube_play_needs_a_directory(tmp_path: Path) -> None:
    result = _invoke("--target", "kube-play", "--image", IMAGE, state_dir=tmp_path)
    assert result.exit_code == 2 and "--out DIRECTORY" in result.output


def test_render_kube_play_writes_a_file_per_hierarchy_and_the_play_script(tmp_path: Path) -> None:
    out = tmp_path / "play"
    result = _invoke("--target", "kube-play", "--image", IMAGE, "--out", str(out), state_dir=tmp_path)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "cert-lab-ecc.yaml",
        "cert-lab-pqc.yaml",
        "cert-lab-rsa.yaml",
        "play.sh",
    ]


def test_rendered_hints_name_the_lab_as_later_commands_find_it(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    result = CliRunner().invoke(
        main, ["--lab", "ci7", "render", "--target", "kube-play", "--image", IMAGE, "--out", str(tmp_path / "play")],
        env={"XDG_STATE_HOME": str(xdg)},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    play = (tmp_path / "play" / "play.sh").read_text(encoding="utf-8")
    assert "labctl --lab ci7 up" in play and "labctl --lab ci7 down" in play and "LAB_FILE" not in play
