"""The lab's names in /etc/hosts, so the lab docs' URLs (https://est-ca.cert-lab.local:8447/...) work
on the workstation: each RA hostname and each CA container name maps to the lab's bind address.

The lines live in a marked block (`# BEGIN labctl <lab>` ... `# END labctl <lab>`); applying it again
replaces the block and leaves every other byte of the file as it was. The text functions are pure;
only `update_hosts_file` touches a file.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from labctl.errors import LabctlError
from labctl.topology import Lab

HOSTS_FILE = Path("/etc/hosts")
DEFAULT_NAME = "cert-lab"


def begin_marker(name: str = DEFAULT_NAME) -> str:
    return f"# BEGIN labctl {name}"


def end_marker(name: str = DEFAULT_NAME) -> str:
    return f"# END labctl {name}"


def hosts_lines(lab: Lab) -> list[str]:
    """`<address> <name>` for each RA hostname and each CA container name of the lab."""
    address = "127.0.0.1" if str(lab.bind_address) == "0.0.0.0" else str(lab.bind_address)
    lines = []
    for hierarchy in lab.hierarchies:
        lines.append(f"{address} {hierarchy.ra.hostname}")
        lines.append(f"{address} {hierarchy.ca.container}")
    return lines


def _block_span(lines: list[str], name: str) -> tuple[int, int] | None:
    """Indexes of the BEGIN and END marker lines, or None when there is no block.

    Raises:
        LabctlError: a BEGIN without an END after it (or the other way round).
    """
    begin, end = begin_marker(name), end_marker(name)
    stripped = [line.strip() for line in lines]
    starts = [i for i, line in enumerate(stripped) if line == begin]
    ends = [i for i, line in enumerate(stripped) if line == end]
    if not starts and not ends:
        return None
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise LabctlError(
            f"hosts file has {len(starts)} {begin!r} and {len(ends)} {end!r} lines, not one block; fix the file by hand"
        )
    return starts[0], ends[0]


def has_block(text: str, *, name: str = DEFAULT_NAME) -> bool:
    return _block_span(text.splitlines(keepends=True), name) is not None


def apply_block(text: str, lines: Sequence[str], *, name: str = DEFAULT_NAME) -> str:
    """`text` with the lab's block holding `lines`: an existing block is replaced in place, else appended."""
    existing = text.splitlines(keepends=True)
    newline = "\r\n" if existing and existing[0].endswith("\r\n") else "\n"
    block = [f"{line}{newline}" for line in (begin_marker(name), *lines, end_marker(name))]
    span = _block_span(existing, name)
    if span is not None:
        start, end = span
        if not existing[end].endswith(("\n", "\r")):  # the block ended the file without a newline
            block[-1] = block[-1].rstrip("\r\n")
        return "".join([*existing[:start], *block, *existing[end + 1 :]])
    if text and not text.endswith(("\n", "\r")):
        text += newline
    return text + "".join(block)


def remove_block(text: str, *, name: str = DEFAULT_NAME) -> str:
    """`text` without the lab's block (unchanged when there is none)."""
    existing = text.splitlines(keepends=True)
    span = _block_span(existing, name)
    if span is None:
        return text
    start, end = span
    return "".join([*existing[:start], *existing[end + 1 :]])


def root_command(argv: Sequence[str], *, python: str = sys.executable) -> list[str]:
    """The labctl command that changes the hosts file as `argv` (a labctl command line) meant to, for root.

    `hosts ...` stays as typed; `down` (removing the block) becomes `hosts --remove` with the same global
    options (`--lab NAME`, `--config FILE`); nothing else is ever given to root (it would act on root's
    podman, not the user's). The program becomes an absolute path: sudo's PATH has neither the venv nor
    ~/.local/bin.
    """
    program = argv[0] if argv else "labctl"
    if program.endswith(".py"):  # `python -m labctl.cli`: argv[0] is the module's file
        head = [python, "-m", "labctl.cli"]
    else:
        head = [os.path.abspath(program) if os.sep in program else program]
    rest = list(argv[1:])
    if "hosts" in rest:
        return [*head, *rest]
    if "down" in rest:
        return [*head, *rest[: rest.index("down")], "hosts", "--remove"]
    return [*head, "hosts", "--apply"]  # never another command as root: it would act on root's podman


def apply_lab_block(path: Path, lab: Lab) -> bool:
    """Write (or refresh) lab's block of hosts lines into `path`; False when it was already up to date.

    Raises:
        LabctlError: the file cannot be read or written (not root: the hint is the command to run with sudo).
    """
    lines = hosts_lines(lab)
    return update_hosts_file(path, lambda text: apply_block(text, lines, name=lab.name))


def remove_lab_block(path: Path, *, name: str) -> bool:
    """Take lab `name`'s block out of `path`; False when there was no file or no block.

    Raises:
        LabctlError, OSError, UnicodeDecodeError: the file cannot be read or rewritten.
    """
    if not path.exists() or not has_block(path.read_text(encoding="utf-8"), name=name):
        return False
    update_hosts_file(path, lambda text: remove_block(text, name=name))
    return True


def update_hosts_file(path: Path, change: Callable[[str], str], *, argv: Sequence[str] | None = None) -> bool:
    """Rewrite `path` with `change(text)`, atomically where possible; False when nothing changed.

    Writes a temporary file next to it and renames it over, keeping mode and owner. Where the rename
    fails (/etc/hosts is often a bind mount in containers: EBUSY), it rewrites the file in place.

    Args:
        argv: the labctl command line being run (default: this process's), for the sudo command a
            user without root is given.

    Raises:
        LabctlError: the file cannot be read or written (not root: the hint is the command to run with
            sudo) or holds a broken block.
    """
    try:
        with path.open(encoding="utf-8", errors="surrogateescape", newline="") as handle:
            text = handle.read()
    except OSError as exc:
        raise LabctlError(f"cannot read {path}: {exc.strerror or exc}") from exc
    new = change(text)
    if new == text:
        return False
    try:
        _replace_atomically(path, new)
    except OSError:
        try:
            with path.open("w", encoding="utf-8", errors="surrogateescape", newline="") as handle:
                handle.write(new)
        except PermissionError as exc:
            if os.geteuid() == 0:
                raise LabctlError(f"cannot write {path}: {exc.strerror or exc}") from exc
            # Rootless labs run without root, but the hosts file stays root's: one command for an admin.
            command = shlex.join(["sudo", *root_command(sys.argv if argv is None else argv)])
            raise LabctlError(
                f"writing {path} needs root (labctl runs as uid {os.geteuid()})",
                hint=f"run: {command}   (or add the lines `labctl hosts` prints by hand)",
            ) from exc
        except OSError as exc:
            raise LabctlError(
                f"cannot write {path}: {exc.strerror or exc} (run as root, or add the lines by hand:"
                " `labctl hosts` prints them)"
            ) from exc
    return True


def _replace_atomically(path: Path, text: str) -> None:
    info = path.stat()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".labctl", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), info.st_mode & 0o7777)
            with contextlib.suppress(PermissionError):  # not root: the file stays ours, as it was
                os.fchown(handle.fileno(), info.st_uid, info.st_gid)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
