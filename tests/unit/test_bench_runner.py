"""`python -m benchmarks` exits non-zero when any part of its run failed, and zero otherwise (issue 16)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pytest

import benchmarks.__main__ as runner


def _run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, host_error: str | None) -> tuple[int, dict[str, Any]]:
    def host_ceilings(_lab: object, _args: argparse.Namespace, report: dict[str, Any]) -> None:
        if host_error is not None:
            report["errors"].append(host_error)

    monkeypatch.setattr(runner, "_host_ceilings", host_ceilings)
    monkeypatch.setattr(runner, "_host_enrollment", lambda *_args: None)
    out = tmp_path / "report.json"
    argv = ["benchmarks", "--no-podman", "--scale-certificates", "0", "--json-out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    code = runner.main()
    return code, json.loads(out.read_text())


def test_a_failed_part_makes_the_run_exit_non_zero(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = _run(monkeypatch, tmp_path, host_error="host enrollment ecc: 3 errors")
    assert code == 1
    assert report["errors"] == ["host enrollment ecc: 3 errors"]
    assert "host enrollment ecc: 3 errors" in capsys.readouterr().out  # listed under the tables


def test_a_clean_run_exits_zero(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, report = _run(monkeypatch, tmp_path, host_error=None)
    assert code == 0
    assert report["errors"] == []
