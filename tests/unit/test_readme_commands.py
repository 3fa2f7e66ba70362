"""README.md shows verbatim every command the docs-as-written e2e test runs: the two cannot drift apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e import test_docs_as_written as docs
from tests.rootless import test_rootless_lab as rootless

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
COMMANDS = [
    *docs.README_COMMANDS,
    *docs.CACERTS_COMMANDS,
    docs.ENROLL,
    docs.REENROLL,
    docs.REVOKE,
    docs.STATUS,
    docs.HOSTS_APPLY,
    *docs.CURL_CACERTS,
    docs.CURL_CSR,
    docs.CURL_ENROLL_NO_CREDENTIALS,
    *docs.CURL_ENROLL,
    docs.HOSTS_REMOVE,
]


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_shows_the_command_as_the_test_runs_it(command: str) -> None:
    assert command in README


def test_readme_gives_the_two_fresh_machine_commands() -> None:
    assert "\n    ./scripts/lab\n" in README
    assert "\n    ./scripts/test\n" in README


@pytest.mark.parametrize(
    "command",
    [rootless.CREATE_USER, rootless.TUN_MODE, rootless.RUNTIME_DIR, rootless.USER_ENV, rootless.FIRST_COMMAND],
)
def test_readme_shows_the_rootless_preparation_as_the_test_runs_it(command: str) -> None:
    assert f"\n    {command}" in README
