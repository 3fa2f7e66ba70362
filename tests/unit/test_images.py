"""ensure_image's repository: a lab built into its own repository prunes that repository's old tags only."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

import labctl.images as images
from labctl.images import DEFAULT_BASE, IMAGE_REPOSITORY, ensure_image
from labctl.runtime.fake import FakeRuntime

BENCH = "localhost/labctl-bench"


class RecordingRuntime(FakeRuntime):
    def __init__(self) -> None:
        super().__init__()
        self.no_cache: list[bool] = []

    def build_image(
        self,
        context: Path,
        containerfile: str,
        reference: str,
        *,
        labels: Mapping[str, str],
        build_args: Mapping[str, str],
        no_cache: bool = False,
    ) -> None:
        self.no_cache.append(no_cache)
        super().build_image(context, containerfile, reference, labels=labels, build_args=build_args)


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RecordingRuntime:
    """A runtime holding the base, another lab's image and an old bench image; no download, no wheel build."""
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    monkeypatch.setattr(images, "ensure_wheelhouse", lambda **_: wheelhouse)
    monkeypatch.setattr(images, "_build_project_wheel", lambda destination: None)
    fake = RecordingRuntime()
    fake.images.update({DEFAULT_BASE: {}, f"{IMAGE_REPOSITORY}:0123456789ab": {}, f"{BENCH}:old": {}})
    return fake


def test_build_into_another_repository_prunes_only_its_tags(runtime: RecordingRuntime) -> None:
    result = ensure_image(runtime, repository=BENCH)
    assert result.built and result.reference.startswith(f"{BENCH}:")
    assert runtime.image_tags(BENCH) == [result.reference]
    assert runtime.image_tags(IMAGE_REPOSITORY) == [f"{IMAGE_REPOSITORY}:0123456789ab"]


def test_forced_rebuild_skips_the_layer_cache(runtime: RecordingRuntime) -> None:
    ensure_image(runtime, repository=BENCH)
    again = ensure_image(runtime, repository=BENCH)
    forced = ensure_image(runtime, repository=BENCH, force=True)
    assert (again.built, forced.built) == (False, True)
    assert runtime.no_cache == [False, True]


def test_forced_rebuild_leaves_no_untagged_image(runtime: RecordingRuntime) -> None:
    ensure_image(runtime, repository=BENCH)
    ensure_image(runtime, repository=BENCH, force=True)
    assert runtime.dangling == set()  # the image the rebuild took the tag from is removed, by its id


def test_forced_rebuild_keeps_the_replaced_image_a_container_uses(runtime: RecordingRuntime) -> None:
    first = ensure_image(runtime, repository=BENCH)
    runtime.image_id(first.reference)
    runtime.remove_image = lambda reference: False  # type: ignore[method-assign]  # podman's 409: in use
    ensure_image(runtime, repository=BENCH, force=True)
    assert len(runtime.dangling) == 1


def test_long_steps_say_what_they_do(runtime: RecordingRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    del runtime.images[DEFAULT_BASE]
    monkeypatch.setattr(images, "bootstrap_base", lambda rt, base: rt.images.update({base: {}}))
    lines: list[str] = []
    ensure_image(runtime, repository=BENCH, progress=lines.append)
    assert [line.split()[0] for line in lines] == ["bootstrapping", "building"]
