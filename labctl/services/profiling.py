"""cProfile over a service's whole run, when LABCTL_PROFILE names a directory (issue 16: where an
enrollment's CPU goes). The profile is written there at exit, as `<service>-<pid>.prof`, for pstats
or snakeviz; unset, nothing is profiled and nothing costs anything."""

from __future__ import annotations

import contextlib
import cProfile
import os
from collections.abc import Iterator
from pathlib import Path

PROFILE_ENV = "LABCTL_PROFILE"


@contextlib.contextmanager
def profiled(service: str) -> Iterator[None]:
    """Profile the block if LABCTL_PROFILE is set; the file is written however the block ends (SIGTERM included)."""
    directory = os.environ.get(PROFILE_ENV)
    if not directory:
        yield
        return
    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        Path(directory).mkdir(parents=True, exist_ok=True)
        profile.dump_stats(Path(directory) / f"{service}-{os.getpid()}.prof")
