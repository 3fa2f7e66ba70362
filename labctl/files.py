"""Writing files safely: secrets readable by their owner only from the first byte, and whole-file
replacement so a reader (the CA polling its data dir, a restarted service) never sees half a file."""

from __future__ import annotations

import os
from pathlib import Path


def write_secret(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only (0600 from the first byte, no umask window)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace a file in one step: write a sibling temp file, then rename it over the target."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
