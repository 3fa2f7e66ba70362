"""YAML for other tools' files: keys in the order given, every string value quoted.

The files are read by PyYAML (podman-compose, YAML 1.1) and by Go YAML libraries (kubectl, docker
compose; YAML 1.2), which disagree on plain scalars: `on`, `yes` and `1:30` (sexagesimal) are a
bool and an int in 1.1, `0o17` an int in 1.2 only. A double-quoted string is a string in both, so
every string value is written double-quoted, and multi-line text as a literal block. Keys stay
plain where they are plain words, so the files read like hand-written ones.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import yaml

_STR_TAG = "tag:yaml.org,2002:str"
# A word starting with a letter is a string in both YAML versions, except the words PyYAML's
# resolver quotes anyway (true, null, on, ...).
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_./-]*$")
# Wide enough that no quoted string is folded over two lines.
_WIDTH = 4096


class _Key(str):
    """A mapping key: written plain when that is safe."""

    __slots__ = ()


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Indent list items under their key (PyYAML puts them level with it by default).
        super().increase_indent(flow, False)


def _represent_value(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    return dumper.represent_scalar(_STR_TAG, data, style="|" if "\n" in data else '"')


def _represent_key(dumper: yaml.SafeDumper, data: _Key) -> yaml.ScalarNode:
    # style None lets PyYAML quote a key its own resolver would not read back as a string.
    return dumper.represent_scalar(_STR_TAG, str(data), style=None if _PLAIN_KEY.match(data) else '"')


def _represent_list(dumper: yaml.SafeDumper, data: list[object]) -> yaml.SequenceNode:
    # A command or a health check reads as one line: ["python", "-m", ...].
    flat = all(isinstance(item, str | int | float | bool) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)


_Dumper.add_representer(str, _represent_value)
_Dumper.add_representer(_Key, _represent_key)
_Dumper.add_representer(list, _represent_list)


def _mark_keys(value: object) -> object:
    if isinstance(value, Mapping):
        return {_Key(key): _mark_keys(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_mark_keys(item) for item in value]
    return value


def dump_documents(documents: Sequence[Mapping[str, object]], *, header: Sequence[str]) -> str:
    """The documents as one YAML stream (`---` between them), after a comment of `header` lines."""
    comment = "".join(f"# {line}".rstrip() + "\n" for line in header)
    body = yaml.dump_all(
        [_mark_keys(document) for document in documents],
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        explicit_start=len(documents) > 1,
        width=_WIDTH,
        allow_unicode=True,
    )
    return comment + body
