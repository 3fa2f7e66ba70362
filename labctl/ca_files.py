"""A CA's data dir as labctl reaches it: through the runtime that runs the CA (a container's volume,
or a directory of processes on the host), with the files that never change remembered on the host."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Protocol

from labctl.files import write_atomic
from labctl.images import IMAGE_UID
from labctl.runtime.base import ContainerRuntime, FileContent

# Host state file remembering a CA container's stable files (see ContainerCAFiles).
CA_FILES_MEMO = ".ca-files.json"
# The CA's password agents (labctl/services/ca/authority.py AGENTS_FILE): `username sha256hex(password)` lines.
AGENTS_FILE = "agents.sha256"
# Written once per CA container (at install, or by labctl) and never changed by the CA afterwards.
STABLE_CA_FILES = frozenset({"ca.crt", "root.crt", "admin.crt", "bootstrap.sha256", AGENTS_FILE})


class CAFiles(Protocol):
    """The files of Dogtag's two-step install and of labctl's bootstrap, by name in the CA's data dir."""

    def read(self, name: str) -> bytes | None: ...

    def write(self, name: str, data: bytes) -> None: ...


class ContainerCAFiles:
    """A CA's data dir inside its container (on its volume), read and written through the runtime.

    Each read is a tar copy out of the container (about 0.3 s with podman). Files that do not change
    while the container lives (STABLE_CA_FILES) are remembered in `memo`, a host state file keyed by
    the container's id: a no-op `up` reads nothing, and a recreated container is read afresh.
    """

    def __init__(
        self,
        runtime: ContainerRuntime,
        container: str,
        directory: str,
        *,
        memo: Path | None = None,
        instance: str = "",
    ) -> None:
        self._runtime = runtime
        self._container = container
        self._directory = directory
        self._memo = memo if instance else None
        self._instance = instance
        self._seen: dict[str, bytes] = self._load_memo()

    def read(self, name: str) -> bytes | None:
        """A file's content; files once read are remembered (each read is a tar copy out of the container)."""
        if name in self._seen:
            return self._seen[name]
        data = self._runtime.read_file(self._container, f"{self._directory}/{name}")
        if data is not None:  # a missing file may appear later: ask again next time
            self._remember(name, data)
        return data

    def write(self, name: str, data: bytes) -> None:
        self._runtime.write_files(
            self._container, self._directory, {name: FileContent(data, 0o644)}, owner=(IMAGE_UID, IMAGE_UID)
        )
        self._remember(name, data)

    def _remember(self, name: str, data: bytes) -> None:
        self._seen[name] = data
        if self._memo is None or name not in STABLE_CA_FILES:
            return
        stable = {k: base64.b64encode(v).decode() for k, v in self._seen.items() if k in STABLE_CA_FILES}
        write_atomic(self._memo, json.dumps({"container": self._instance, "files": stable}).encode())

    def _load_memo(self) -> dict[str, bytes]:
        if self._memo is None:
            return {}
        try:
            memo = json.loads(self._memo.read_bytes())
            if memo.get("container") != self._instance:
                return {}
            return {k: base64.b64decode(v) for k, v in memo["files"].items() if k in STABLE_CA_FILES}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return {}  # no memo, or an unreadable one: read from the container
