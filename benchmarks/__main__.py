"""Run labctl's benchmarks and print a markdown table (JSON with --json-out).

    python -m benchmarks [--duration 5] [--hierarchy rsa --hierarchy ecc] [--json-out results.json]

This slice measures enrollment through a real EST RA and Intermediate CA over TLS, run as processes
on 127.0.0.1 (the rsa and ecc hierarchies; the host's OpenSSL cannot do ML-DSA TLS), against the
crypto ceiling and the load client's own ceiling, all in one run. Ratios, not absolute numbers, are
what carries over between runs on this noisy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import shutil
import ssl
import subprocess
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization

from benchmarks.ceiling import measure_ceiling
from benchmarks.load import build_request, run_load, trivial_server
from labctl.local import LocalLab
from labctl.pki.issue import build_csr, certificates_pem, common_name_subject, create_root_ca
from labctl.pki.keys import KeyAlgorithm, generate_private_key, write_private_key
from labctl.ports import with_free_ports
from labctl.topology import load_lab

CONCURRENCY = (1, 8, 32)
CSR_POOL = 16


def _machine() -> dict[str, Any]:
    podman = shutil.which("podman")
    version = subprocess.run([podman, "--version"], capture_output=True, text=True).stdout.strip() if podman else "-"
    memory_kb = next(
        (
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "openssl": ssl.OPENSSL_VERSION,
        "podman": version,
    }


async def _client_ceiling(duration: float) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as scratch:
        key = generate_private_key(KeyAlgorithm.EC_P384)
        cert = create_root_ca(key, "localhost", days=1).certificate
        write_private_key(Path(scratch) / "k.pem", key)
        (Path(scratch) / "c.pem").write_bytes(certificates_pem([cert]))
        server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_context.load_cert_chain(Path(scratch) / "c.pem", Path(scratch) / "k.pem")
        client_context = ssl.create_default_context()
        client_context.check_hostname = False
        client_context.verify_mode = ssl.CERT_NONE
        server, port = await trivial_server(server_context)
        request = build_request("127.0.0.1", "/", b"", auth=None, keepalive=True)
        rows = []
        async with server:
            for concurrency in CONCURRENCY:
                result = await run_load(
                    label="trivial", host="127.0.0.1", port=port, context=client_context, requests=[request],
                    concurrency=concurrency, keepalive=True, duration_s=duration,
                )  # fmt: skip
                rows.append(result.summary())
        return rows


async def _enrollment(endpoint: Any, duration: float) -> list[dict[str, Any]]:
    hierarchy = endpoint.hierarchy
    url = urlsplit(endpoint.ra_url)
    context = ssl.create_default_context(cafile=str(endpoint.trust_file))
    bodies = []
    for index in range(CSR_POOL):
        csr = build_csr(generate_private_key(hierarchy.algorithm), common_name_subject(f"bench-{index}.cert-lab.local"))
        bodies.append(base64.b64encode(csr.public_bytes(serialization.Encoding.DER)))
    rows = []
    for keepalive, levels in ((True, CONCURRENCY), (False, (8,))):
        requests = [
            build_request(
                url.netloc,
                "/.well-known/est/simpleenroll",
                body,
                auth=(endpoint.username, endpoint.password),
                keepalive=keepalive,
            )
            for body in bodies
        ]
        for concurrency in levels:
            result = await run_load(
                label=hierarchy.name, host=url.hostname or "127.0.0.1", port=url.port or 443, context=context,
                requests=requests, concurrency=concurrency, keepalive=keepalive, duration_s=duration,
                server_hostname="localhost",
            )  # fmt: skip
            rows.append(result.summary())
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per load run")
    parser.add_argument("--hierarchy", action="append", default=[], help="rsa and/or ecc (default both)")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    hierarchies = args.hierarchy or ["rsa", "ecc"]
    report: dict[str, Any] = {"machine": _machine(), "ceiling": {}, "client_ceiling": [], "enrollment": {}}
    report["client_ceiling"] = asyncio.run(_client_ceiling(args.duration))
    lab = with_free_ports(load_lab())
    for name in hierarchies:
        hierarchy = lab.hierarchy(name)
        ceiling = measure_ceiling(hierarchy.algorithm)
        report["ceiling"][name] = {
            "issue_per_s": round(ceiling.issue_per_s, 1),
            "sign_per_s": round(ceiling.sign_per_s, 1),
        }
        with tempfile.TemporaryDirectory(prefix="labctl-bench-") as state:
            runner = LocalLab(lab, Path(state), hierarchies=[name])
            try:
                [endpoint] = runner.up(timeout=90)
                report["enrollment"][name] = asyncio.run(_enrollment(endpoint, args.duration))
            finally:
                runner.stop()
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))


def markdown(report: dict[str, Any]) -> str:
    machine = report["machine"]
    lines = [
        f"Machine: {machine['cores']} cores, {machine['memory_gib']} GiB, Python {machine['python']}, {machine['openssl']}, {machine['podman']}",
        "",
        "| hierarchy | mode | c | enrollments/s | p50 ms | p95 ms | p99 ms | errors | ceiling (issue/s) | achieved/ceiling |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, rows in report["enrollment"].items():
        ceiling = report["ceiling"][name]["issue_per_s"]
        for row in rows:
            mode = "keep-alive" if row["keepalive"] else "new TLS conn"
            lines.append(
                f"| {name} | {mode} | {row['concurrency']} | {row['per_s']} | {row['p50_ms']} | {row['p95_ms']}"
                f" | {row['p99_ms']} | {row['errors']} | {ceiling} | {row['per_s'] / ceiling:.2f} |"
            )
    lines += ["", "| crypto ceiling | issue/s (1 core) | sign/s (server key) |", "|---|---|---|"]
    for name, ceiling in report["ceiling"].items():
        lines.append(f"| {name} | {ceiling['issue_per_s']} | {ceiling['sign_per_s']} |")
    lines += ["", "| load client vs trivial TLS server (keep-alive) | c | req/s | p99 ms |", "|---|---|---|---|"]
    for row in report["client_ceiling"]:
        lines.append(f"| trivial | {row['concurrency']} | {row['per_s']} | {row['p99_ms']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
