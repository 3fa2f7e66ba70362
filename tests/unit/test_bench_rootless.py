"""benchmarks.rootless: one table of what the rootful and the rootless runs both measured."""

from __future__ import annotations

from typing import Any

from benchmarks.rootless import comparison


def _report(warm_up: float, per_s: float) -> dict[str, Any]:
    row = {"keepalive": True, "concurrency": 8, "per_s": per_s, "p95_ms": 40.0}
    return {
        "podman": {
            "lifecycle": {"phases": {"warm_up": {"spread": {"n": 3, "min": 1.0, "median": warm_up, "max": 9.0}}}},
            "container": {"enrollment": {"ecc": [{**row, "concurrency": 1}, row]}},
            "published": {"ecc": [row]},
        }
    }


def test_rows_put_rootless_beside_rootful_with_the_ratio() -> None:
    table = comparison(_report(4.0, 300.0), _report(5.0, 150.0)).splitlines()
    assert "| warm up (s, median) | 4 | 5 | 1.25 |" in table
    assert "| ecc enrollment c=8 keep-alive, from the host, published port (/s) | 300 | 150 | 0.50 |" in table
    assert "| ecc enrollment c=8 keep-alive, from a container on its network (/s) | 300 | 150 | 0.50 |" in table


def test_a_missing_half_shows_dashes_not_an_error() -> None:
    table = comparison(_report(4.0, 300.0), {}).splitlines()
    assert "| warm up (s, median) | 4 | - | - |" in table
    assert "| verify (s, median) | - | - | - |" in table
