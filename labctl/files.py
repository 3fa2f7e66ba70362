"""Writing files safely: secrets readable by their owner only from the first byte, and whole-file
replacement so a reader (the CA polling its data dir, a restarted service, the next `labctl up`)
never sees half a file, even when labctl is interrupted or killed in the middle of a write.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

# Temporary siblings are named ".<name>.<random>.tmp": hidden, and unique, so two writers of the same
# file never share one.
TEMP_SUFFIX = ".tmp"


def write_secret(path: Path, data: bytes) -> None:
    """Replace a file in one step with one readable by its owner only (0600 from the first byte)."""
    _replace(path, data, mode=0o600, exact_mode=True)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace a file in one step (mode 0666 less the umask, as for any new file)."""
    _replace(path, data, mode=0o666, exact_mode=False)


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")


def _replace(path: Path, data: bytes, *, mode: int, exact_mode: bool) -> None:
    """Write a temporary sibling, flush it to disk, then rename it over the target.

    rename(2) within a directory is atomic: the target is the old file or the new one, never a mix.
    The fsync comes first so that after a crash the renamed file holds its data, not zeros (ext4 and
    xfs may commit the rename before the data otherwise). Whatever stops the write, including
    KeyboardInterrupt, removes the temporary file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path)
    # O_EXCL: never write through a file (or symlink) someone else put at the temporary name.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if exact_mode:  # the umask can only take bits away; a secret is 0600, whatever it says
                os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
