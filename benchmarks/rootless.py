"""Rootless beside rootful podman, measured in one run: the benchmarks' podman parts as root, then as a user.

    sudo .venv/bin/python -m benchmarks.rootless --user alice [--checkout DIR] [--duration 5] [--repeat 3]
                                                 [--json-out benchmarks/rootless.json]

Run as root. The user is prepared as the README's "As a user, with rootless podman" says, with a checkout
of their own (default ~USER/labctl) whose `./scripts/setup-host` made its `.venv`. Both halves run
`python -m benchmarks --no-host` (the bench lab: its own name, subnets, free ports and podman service;
base bootstrap, lifecycle, in-network and published-port enrollment; everything removed at the end),
root's in this checkout, the user's in theirs, one after the other; then one table of the figures the
two share: cold, warm and no-op up, verify, down (median of --repeat), enrollment at c=8 from a
container on the hierarchy's network and from the host through the published port.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PHASES = (
    ("cold_up", "cold up"),
    ("warm_up", "warm up"),
    ("noop_up", "no-op up"),
    ("verify", "verify"),
    ("down", "down"),
)
PASSED_ON = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "PIP_INDEX_URL")


def _progress(message: str) -> None:
    print(f"bench-rootless: {message}", file=sys.stderr, flush=True)


def _bench_args(args: argparse.Namespace, json_out: Path) -> list[str]:
    extra = [] if args.base_bootstrap else ["--no-base-bootstrap"]
    return [
        "--no-host",
        "--duration",
        str(args.duration),
        "--repeat",
        str(args.repeat),
        *extra,
        "--json-out",
        str(json_out),
    ]


def _run_rootful(args: argparse.Namespace, json_out: Path) -> int:
    _progress("rootful: python -m benchmarks --no-host (as root)")
    command = [sys.executable, "-m", "benchmarks", *_bench_args(args, json_out)]
    return subprocess.run(command, cwd=REPO, stdout=subprocess.DEVNULL, check=False).returncode


def _run_rootless(args: argparse.Namespace, json_out: Path) -> int:
    entry = pwd.getpwnam(args.user)
    checkout = Path(args.checkout or Path(entry.pw_dir) / "labctl")
    python = checkout / ".venv" / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{python} is missing: run ./scripts/setup-host as {args.user} in {checkout} first")
    _progress(f"rootless: python -m benchmarks --no-host (as {args.user}, in {checkout})")
    env = {
        "HOME": entry.pw_dir,
        "USER": args.user,
        "LOGNAME": args.user,
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "XDG_RUNTIME_DIR": f"/run/user/{entry.pw_uid}",
        **{key: os.environ[key] for key in PASSED_ON if key in os.environ},
    }
    command = [str(python), "-m", "benchmarks", *_bench_args(args, json_out)]
    runuser = ["runuser", "-u", args.user, "--", "env", "-i", *(f"{k}={v}" for k, v in env.items())]
    return subprocess.run([*runuser, *command], cwd=checkout, stdout=subprocess.DEVNULL, check=False).returncode


def _phase(report: dict[str, Any], name: str) -> float | None:
    phase = (((report.get("podman") or {}).get("lifecycle") or {}).get("phases") or {}).get(name) or {}
    spread = phase.get("spread")
    return float(spread["median"]) if spread else None


def _c8(rows: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    return next((r for r in rows or () if r["keepalive"] and r["concurrency"] == 8), None)


def _enrollment(report: dict[str, Any], where: str) -> dict[str, dict[str, Any] | None]:
    podman = report.get("podman") or {}
    section = (podman.get("container") or {}).get("enrollment") if where == "container" else podman.get("published")
    return {name: _c8(rows) for name, rows in (section or {}).items()}


def _ratio(rootful: float | None, rootless: float | None) -> str:
    return f"{rootless / rootful:.2f}" if rootful and rootless is not None else "-"


def _cell(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:g}{unit}"


def comparison(rootful: dict[str, Any], rootless: dict[str, Any]) -> str:
    """The markdown table of what both runs measured: rootful, rootless, rootless/rootful."""
    lines = [
        "| measurement | rootful | rootless | rootless / rootful |",
        "|---|---|---|---|",
    ]
    for key, label in PHASES:
        a, b = _phase(rootful, key), _phase(rootless, key)
        lines.append(f"| {label} (s, median) | {_cell(a)} | {_cell(b)} | {_ratio(a, b)} |")
    for where, label in (
        ("container", "from a container on its network"),
        ("published", "from the host, published port"),
    ):
        ours, theirs = _enrollment(rootful, where), _enrollment(rootless, where)
        for name in sorted(set(ours) | set(theirs)):
            a_row, b_row = ours.get(name), theirs.get(name)
            a = a_row["per_s"] if a_row else None
            b = b_row["per_s"] if b_row else None
            lines.append(
                f"| {name} enrollment c=8 keep-alive, {label} (/s) | {_cell(a)} | {_cell(b)} | {_ratio(a, b)} |"
            )
            a95 = a_row["p95_ms"] if a_row else None
            b95 = b_row["p95_ms"] if b_row else None
            lines.append(f"| {name} same, p95 (ms) | {_cell(a95)} | {_cell(b95)} | {_ratio(a95, b95)} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.rootless", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--user", required=True, help="the prepared user whose rootless podman is measured")
    parser.add_argument("--checkout", help="the user's checkout with its .venv (default ~USER/labctl)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per load run (default 5)")
    parser.add_argument("--repeat", type=int, default=3, help="lifecycle runs (default 3)")
    parser.add_argument("--no-base-bootstrap", dest="base_bootstrap", action="store_false")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    if os.geteuid() != 0:
        parser.error("run as root: it measures root's podman, then the user's (runuser)")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="labctl-bench-rootless-") as scratch:
        work = Path(scratch)
        shutil.chown(work, user=args.user)  # the user's half writes its JSON here
        work.chmod(0o755)
        codes = {
            "rootful": _run_rootful(args, work / "rootful.json"),
            "rootless": _run_rootless(args, work / "rootless.json"),
        }
        reports = {
            name: json.loads((work / f"{name}.json").read_text()) if (work / f"{name}.json").exists() else {}
            for name in codes
        }
    combined = {
        "total_s": round(time.perf_counter() - started, 1),
        "exit_codes": codes,
        "rootful": reports["rootful"],
        "rootless": reports["rootless"],
    }
    if args.json_out:
        args.json_out.write_text(json.dumps(combined, indent=2) + "\n")
    machine = reports["rootful"].get("machine") or {}
    print(
        f"Machine: {machine.get('cores')} cores, {machine.get('memory_gib')} GiB, {machine.get('podman')};"
        f" {args.duration:g} s per load run, lifecycle x{args.repeat}; total {combined['total_s']} s\n"
    )
    print(comparison(reports["rootful"], reports["rootless"]))
    errors = [f"{name}: {e}" for name, report in reports.items() for e in report.get("errors") or ()]
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    return 1 if errors or any(codes.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
