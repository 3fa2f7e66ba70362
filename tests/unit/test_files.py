"""labctl.files: a file is replaced whole or not at all, and a secret is 0600 from its first byte."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from labctl.files import TEMP_SUFFIX, write_atomic, write_secret

Writer = Callable[[Path, bytes], None]
WRITERS = [write_atomic, write_secret]
WRITER_IDS = ["atomic", "secret"]


@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    """Set the process umask for the test; restored afterwards."""
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(TEMP_SUFFIX))


@pytest.mark.parametrize("write", WRITERS, ids=WRITER_IDS)
def test_write_replaces_the_content_and_leaves_no_temporary_file(tmp_path: Path, write: Writer) -> None:
    target = tmp_path / "ca-chain.pem"
    target.write_bytes(b"old")
    write(target, b"new")
    assert target.read_bytes() == b"new"
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("write", WRITERS, ids=WRITER_IDS)
def test_write_creates_missing_parent_directories(tmp_path: Path, write: Writer) -> None:
    target = tmp_path / "ecc" / "ra" / "server.conf"
    write(target, b"data")
    assert target.read_bytes() == b"data"


@pytest.mark.parametrize("write", WRITERS, ids=WRITER_IDS)
@pytest.mark.parametrize(
    "failure", [KeyboardInterrupt(), OSError(errno.ENOSPC, "No space left on device")], ids=["ctrl-c", "disk-full"]
)
def test_write_stopped_before_the_rename_keeps_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write: Writer, failure: BaseException
) -> None:
    target = tmp_path / "root.crt"
    target.write_bytes(b"the old certificate")

    def stop(*_: object) -> None:
        assert _leftovers(tmp_path), "the new content should be in a temporary file by now"
        raise failure

    monkeypatch.setattr(os, "replace", stop)
    with pytest.raises(type(failure)):
        write(target, b"the new certificate")
    assert target.read_bytes() == b"the old certificate"
    assert _leftovers(tmp_path) == []


def test_write_secret_is_owner_only_whatever_the_umask(tmp_path: Path, umask: Callable[[int], None]) -> None:
    umask(0)
    target = tmp_path / "root.key"
    target.write_bytes(b"was world-readable")
    target.chmod(0o644)
    write_secret(target, b"key")
    assert target.stat().st_mode & 0o777 == 0o600


def test_write_atomic_gives_new_files_the_umask_mode(tmp_path: Path, umask: Callable[[int], None]) -> None:
    umask(0o027)
    target = tmp_path / "ca-chain.pem"
    write_atomic(target, b"chain")
    assert target.stat().st_mode & 0o777 == 0o640
