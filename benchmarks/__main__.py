"""Run labctl's benchmarks and print markdown tables (JSON with --json-out).

    python -m benchmarks [--duration 5] [--repeat 3] [--quick] [--json-out results.json]
                         [--hierarchy rsa ...] [--container-hierarchy pqc ...]
                         [--scale-certificates N] [--no-host] [--no-podman] [--no-base-bootstrap]

On the host, no podman needed: the load client's own ceiling, the crypto and TLS handshake
ceilings, and enrollment, serverkeygen and OCSP through a real EST RA and Intermediate CA run as
processes on 127.0.0.1 (rsa and ecc: the host's OpenSSL cannot do ML-DSA TLS); and a CA seeded with
--scale-certificates against an empty one, in-process (benchmarks/scale.py).

With podman, in a lab of its own (`bench`, see benchmarks/lab.py) that is removed at the end: the
base image bootstrap (once), the lifecycle (cold, warm and no-op up, verify, down: best of
--repeat, broken down by step), the image sizes, each container's memory at idle and under load,
and enrollment and serverkeygen for every hierarchy, pqc included, by a load client in a container
on the hierarchy's network, against ceilings measured in such a container; OCSP for every hierarchy
from the host on each CA's published plain-HTTP port (no TLS: the host can be pqc's client). Without
podman those parts are skipped, with one line saying why.

Ratios, not absolute numbers, are what carries over between runs on this noisy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmarks.cpu import add_cpu, service_sampler
from benchmarks.footprint import PeakSampler, idle_memory
from benchmarks.in_network import ceilings_in_network, enroll_in_network
from benchmarks.lab import BenchLab
from benchmarks.lifecycle import Lifecycle, describe, require_up, run_lifecycle
from benchmarks.ocsp import ocsp_load
from benchmarks.report import markdown
from benchmarks.scale import run_scale
from benchmarks.stats import step_spreads, summarize
from labctl.ceiling import measure_ceiling
from labctl.clients import ClientRunner
from labctl.endpoint import Endpoint, endpoint_for
from labctl.errors import LabctlError
from labctl.est_client import est_ssl_context
from labctl.loadgen import (
    LoadReport,
    Operation,
    measure_client_ceiling,
    measure_enrollment,
    measure_handshake_ceiling,
    measure_serverkeygen,
)
from labctl.local import LocalLab
from labctl.ports import with_free_ports
from labctl.runtime.process import ProcessRuntime
from labctl.tls import host_supports_tls
from labctl.topology import Hierarchy, Lab, load_lab, with_workers


def _progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


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


# --- host ------------------------------------------------------------------------------------------


def _host_ceilings(lab: Lab, args: argparse.Namespace, report: dict[str, Any]) -> None:
    _progress("host: the load client's own ceiling")
    report["client_ceiling"] = [asdict(row) for row in asyncio.run(measure_client_ceiling(args.duration))]
    report["errors"] += _load_errors("host client ceiling", report["client_ceiling"])
    for hierarchy in lab.hierarchies:
        _progress(f"host: {hierarchy.name} crypto and TLS handshake ceilings")
        ceiling = measure_ceiling(hierarchy.algorithm, seconds=args.crypto_seconds)
        entry: dict[str, Any] = {
            "issue_per_s": round(ceiling.issue_per_s, 1),
            "sign_per_s": round(ceiling.sign_per_s, 1),
            "serverkeygen_per_s": round(ceiling.serverkeygen_per_s, 1),
            "issue_cpu_ms": ceiling.issue_cpu_ms,
            "pop_cpu_ms": ceiling.pop_cpu_ms,
        }
        if host_supports_tls(hierarchy.algorithm):
            handshakes = asyncio.run(measure_handshake_ceiling(hierarchy.algorithm, args.duration))
            entry["handshake_per_s"] = handshakes.per_s
            entry["handshake"] = asdict(handshakes)
        else:
            entry["handshake_per_s"] = None  # the host's OpenSSL cannot do this algorithm's TLS
        report["ceiling"][hierarchy.name] = entry


def _host_enrollment(lab: Lab, names: list[str], duration: float, report: dict[str, Any]) -> None:
    """simpleenroll, serverkeygen and OCSP against one LocalLab per hierarchy (CA and RA as processes)."""
    for name in names:
        hierarchy = lab.hierarchy(name)
        if not host_supports_tls(hierarchy.algorithm):
            report["errors"].append(
                f"host enrollment {name}: the host's OpenSSL cannot do {hierarchy.algorithm.label} TLS"
            )
            continue
        _progress(f"host: {name} enrollment, serverkeygen and OCSP (CA and RA as processes)")
        with tempfile.TemporaryDirectory(prefix="labctl-bench-") as state:
            runner = LocalLab(lab, Path(state), hierarchies=[name])
            try:
                [endpoint] = runner.up(timeout=90)
                _host_loads(lab, Path(state), endpoint, runner.runtime, duration, report)
            except LabctlError as exc:
                report["errors"].append(f"host {name}: {describe(exc)}")
            finally:
                runner.stop()


def _host_loads(
    lab: Lab, state: Path, endpoint: Endpoint, runtime: ProcessRuntime, duration: float, report: dict[str, Any]
) -> None:
    name = endpoint.hierarchy.name
    url = urlsplit(endpoint.ra_url)
    host, port = url.hostname or "127.0.0.1", url.port or 443
    context, auth = est_ssl_context(endpoint.trust_file), (endpoint.username, endpoint.password)
    with service_sampler(runtime, endpoint.hierarchy) as cpu:
        rows = asyncio.run(
            measure_enrollment(
                label=name, algorithm=endpoint.hierarchy.algorithm, host=host, port=port, context=context,
                auth=auth, duration_s=duration, server_hostname="localhost",
            )
        )  # fmt: skip
    report["enrollment"][name] = [asdict(row) for row in rows]
    add_cpu(report["enrollment"][name], cpu)
    report["errors"] += _load_errors(f"host enrollment {name}", report["enrollment"][name])
    _progress(f"host: {name} serverkeygen")
    rows = asyncio.run(
        measure_serverkeygen(
            label=name, host=host, port=port, context=context, auth=auth, duration_s=duration,
            server_hostname="localhost",
        )
    )  # fmt: skip
    report["serverkeygen"][name] = [asdict(row) for row in rows]
    report["errors"] += _load_errors(f"host serverkeygen {name}", report["serverkeygen"][name])
    _progress(f"host: {name} OCSP (plain HTTP)")
    report["ocsp"][name] = [asdict(row) for row in ocsp_load(lab, state, endpoint.hierarchy, duration=duration)]
    report["errors"] += _load_errors(f"host OCSP {name}", report["ocsp"][name])


def _host_scale(certificates: int, report: dict[str, Any]) -> None:
    _progress(f"host: a CA with {certificates} certificates against an empty one (in-process)")
    report["scale"] = run_scale(certificates)
    report["errors"] += [f"scale: {error}" for error in report["scale"]["errors"]]


# --- podman ----------------------------------------------------------------------------------------


def _podman(args: argparse.Namespace, report: dict[str, Any]) -> None:
    section: dict[str, Any] = {"available": False}
    report["podman"] = section
    if args.no_podman:
        section["reason"] = "--no-podman"
        _progress("podman: skipped (--no-podman): no lifecycle, footprint or in-network enrollment")
        return
    try:
        if shutil.which("podman") is None:
            raise LabctlError("podman is not installed; scripts/setup-host installs it")
        bench = BenchLab(workers=args.workers)
    except LabctlError as exc:
        section["reason"] = str(exc).splitlines()[0]
        _progress(
            f"podman: not available: {section['reason']}. Skipped the lifecycle, footprint and in-network enrollment."
        )
        return
    section["available"] = True
    section["lab"] = {
        "name": bench.lab.name,
        "subnets": {h.name: str(h.subnet) for h in bench.lab.hierarchies},
        "algorithms": {h.name: h.algorithm.value for h in bench.lab.hierarchies},
    }
    try:
        _podman_parts(bench, args, section, report["errors"])
    except LabctlError as exc:
        report["errors"].append(f"podman: {describe(exc)}")
    finally:
        _progress("podman: removing the bench lab (volumes, images, podman service)")
        report["errors"] += bench.close()


def _podman_parts(bench: BenchLab, args: argparse.Namespace, section: dict[str, Any], errors: list[str]) -> None:
    if args.base_bootstrap:
        _progress("podman: base image bootstrap (mmdebstrap + import, bench-only tag)")
        section["base_bootstrap_s"] = round(bench.bootstrap_base(), 2)
    section["base_image"] = bench.base
    _progress(f"podman: lifecycle, {args.repeat} run(s)")
    section["lifecycle"] = _lifecycle_json(run_lifecycle(bench, args.repeat, errors), args.repeat)
    require_up(bench)
    clients = bench.clients()
    runtime = bench.runtime
    image = bench.image()
    section["images"] = {
        "lab": {"reference": image, "size_bytes": runtime.image_size(image) if image else None},
        "base": {"reference": bench.base, "size_bytes": runtime.image_size(bench.base)},
    }
    containers = [name for h in bench.lab.hierarchies for name in (h.ca.container, h.ra.container)]
    _progress("podman: idle memory")
    idle = idle_memory(runtime, containers)
    chosen = [bench.lab.hierarchy(name) for name in args.container_hierarchy] or list(bench.lab.hierarchies)
    # Any network will do for the ceilings; the pqc one is where the host cannot be the client.
    network = next((h for h in chosen if not host_supports_tls(h.algorithm)), chosen[0])
    section["container"] = {"ceilings": None, "enrollment": {}}
    _progress(f"podman: ceilings in a container on the {network.name} network")
    try:
        ceilings = ceilings_in_network(
            clients,
            network,
            [h.algorithm for h in chosen],
            duration=args.duration,
            crypto_seconds=args.crypto_seconds,
        )
        section["container"]["ceilings"] = _load_report_json(ceilings)
        errors += _load_errors("container client ceiling", [asdict(row) for row in ceilings.client_ceiling])
    except LabctlError as exc:
        errors.append(f"in-network ceilings: {describe(exc)}")
    peaks = {}
    for hierarchy in chosen:
        _progress(f"podman: {hierarchy.name} enrollment from a container on its network")
        with PeakSampler(bench.socket_url, [hierarchy.ca.container, hierarchy.ra.container]) as sampler:
            try:
                endpoint = endpoint_for(bench.lab, bench.state_dir, hierarchy)
                with service_sampler(runtime, hierarchy) as cpu:
                    load = enroll_in_network(clients, endpoint, duration=args.duration)
                rows = [asdict(row) for row in load.enrollment]
                add_cpu(rows, cpu)  # the client in its container says when each row ran; the host reads the CPU
                section["container"]["enrollment"][hierarchy.name] = rows
                errors += _load_errors(f"in-network enrollment {hierarchy.name}", rows)
            except LabctlError as exc:
                errors.append(f"in-network enrollment {hierarchy.name}: {describe(exc)}")
        if sampler.error:
            errors.append(sampler.error)
        peaks.update(sampler.peaks())
    section["published"] = _published_enrollment(bench, chosen, args.duration, errors)
    section["container"]["serverkeygen"] = _serverkeygen_in_network(bench, clients, chosen, args.duration, errors)
    section["ocsp"] = _published_ocsp(bench, chosen, args.duration, errors)
    section["footprint"] = {
        name: {
            "idle": asdict(idle[name]) if name in idle else None,
            "load_peak": asdict(peaks[name]) if name in peaks else None,
        }
        for name in containers
    }


def _published_enrollment(
    bench: BenchLab, chosen: list[Hierarchy], duration: float, errors: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """Enrollment from the host through the RA's published port on 127.0.0.1, as a workstation's clients
    reach the lab: rootful podman forwards it in the kernel (NAT), rootless podman in user space
    (rootlessport). Hierarchies whose TLS the host's OpenSSL can do; keep-alive c=1 and c=8, new TLS
    connections c=8."""
    published: dict[str, list[dict[str, Any]]] = {}
    for hierarchy in (h for h in chosen if host_supports_tls(h.algorithm)):
        _progress(f"podman: {hierarchy.name} enrollment from the host through the published port")
        endpoint = bench.orchestrator().endpoint(hierarchy)
        url = urlsplit(endpoint.ra_url)
        try:
            with service_sampler(bench.runtime, hierarchy) as cpu:
                rows = asyncio.run(
                    measure_enrollment(
                        label=hierarchy.name, algorithm=hierarchy.algorithm, host=url.hostname or "127.0.0.1",
                        port=url.port or 443, context=est_ssl_context(endpoint.trust_file),
                        auth=(endpoint.username, endpoint.password), duration_s=duration,
                        concurrency=(1, 8), new_connection=(8,),
                    )
                )  # fmt: skip
        except LabctlError as exc:
            errors.append(f"published enrollment {hierarchy.name}: {describe(exc)}")
            continue
        published[hierarchy.name] = [asdict(row) for row in rows]
        add_cpu(published[hierarchy.name], cpu)
        errors += _load_errors(f"published enrollment {hierarchy.name}", published[hierarchy.name])
    return published


def _serverkeygen_in_network(
    bench: BenchLab, clients: ClientRunner, chosen: list[Hierarchy], duration: float, errors: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """serverkeygen (keep-alive c=8) from a container on each hierarchy's network, as in-network enrollment:
    the same client for all three, pqc's ML-DSA TLS included."""
    rows_by_hierarchy: dict[str, list[dict[str, Any]]] = {}
    for hierarchy in chosen:
        _progress(f"podman: {hierarchy.name} serverkeygen from a container on its network")
        try:
            endpoint = endpoint_for(bench.lab, bench.state_dir, hierarchy)
            load = enroll_in_network(clients, endpoint, duration=duration, operation=Operation.SERVERKEYGEN)
        except LabctlError as exc:
            errors.append(f"in-network serverkeygen {hierarchy.name}: {describe(exc)}")
            continue
        rows_by_hierarchy[hierarchy.name] = [asdict(row) for row in load.serverkeygen]
        errors += _load_errors(f"in-network serverkeygen {hierarchy.name}", rows_by_hierarchy[hierarchy.name])
    return rows_by_hierarchy


def _published_ocsp(
    bench: BenchLab, chosen: list[Hierarchy], duration: float, errors: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """OCSP (keep-alive c=8) from the host on each CA's published plain-HTTP port, all three hierarchies:
    no TLS, so no ML-DSA TLS either (benchmarks/ocsp.py)."""
    rows_by_hierarchy: dict[str, list[dict[str, Any]]] = {}
    for hierarchy in chosen:
        _progress(f"podman: {hierarchy.name} OCSP from the host through the CA's published plain-HTTP port")
        try:
            rows = ocsp_load(bench.lab, bench.state_dir, hierarchy, duration=duration)
        except LabctlError as exc:
            errors.append(f"published OCSP {hierarchy.name}: {describe(exc)}")
            continue
        rows_by_hierarchy[hierarchy.name] = [asdict(row) for row in rows]
        errors += _load_errors(f"published OCSP {hierarchy.name}", rows_by_hierarchy[hierarchy.name])
    return rows_by_hierarchy


def _load_errors(what: str, rows: list[dict[str, Any]]) -> list[str]:
    """Failed requests are errors of the run (the issue's target: none in any run)."""
    return [
        f"{what}, {'keep-alive' if row['keepalive'] else 'new TLS conn'} c={row['concurrency']}: {row['errors']} failed requests"
        for row in rows
        if row["errors"]
    ]


def _lifecycle_json(lifecycle: Lifecycle, repeat: int) -> dict[str, Any]:
    phases = {}
    for name, phase in lifecycle.phases.items():
        spread = summarize(phase.seconds)
        phases[name] = {
            "seconds": [round(s, 3) for s in phase.seconds],
            "spread": asdict(spread) if spread else None,
            "steps": [{kind: asdict(timing) for kind, timing in run.items()} for run in phase.steps],
            "step_spread": {kind: asdict(s) for kind, s in step_spreads(phase.steps).items()},
        }
    by_hierarchy = {name: summarize(seconds) for name, seconds in lifecycle.verify_by_hierarchy.items()}
    return {
        "repeat": repeat,
        "verify_checks": lifecycle.verify_checks,
        "verify_by_hierarchy": {name: asdict(spread) if spread else None for name, spread in by_hierarchy.items()},
        "phases": phases,
    }


def _load_report_json(report: LoadReport) -> dict[str, Any]:
    return {
        "environment": asdict(report.environment) if report.environment else None,
        "client_ceiling": [asdict(row) for row in report.client_ceiling],
        "crypto_ceiling": {c.algorithm: asdict(c) for c in report.crypto_ceiling},
        "handshake_ceiling": {row.label: asdict(row) for row in report.handshake_ceiling},
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per load run (default 5)")
    parser.add_argument("--repeat", type=int, default=3, help="lifecycle runs, reported min/median/max (default 3)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="--duration 1 --repeat 1: checks every part runs, figures too short to quote",
    )
    parser.add_argument(
        "--hierarchy",
        action="append",
        default=[],
        help="host enrollment (repeatable; default: those the host's TLS can do)",
    )
    parser.add_argument(
        "--container-hierarchy",
        action="append",
        default=[],
        help="enrollment from a container on the hierarchy's network (repeatable; default: all)",
    )
    parser.add_argument(
        "--scale-certificates",
        type=int,
        default=1_000_000,
        help="certificates the scale part seeds a CA with (default 1000000, --quick 10000; 0 skips it)",
    )
    parser.add_argument("--no-podman", action="store_true", help="skip the podman parts")
    parser.add_argument("--no-host", action="store_true", help="skip the host parts")
    parser.add_argument(
        "--no-base-bootstrap",
        dest="base_bootstrap",
        action="store_false",
        help="build the bench image on the shared default base instead of bootstrapping one (mmdebstrap, Debian mirror)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="every CA's and RA's worker processes, on the host and in the podman lab (default: the lab file's, auto)",
    )
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    if args.quick:
        args.duration, args.repeat = 1.0, 1
        args.scale_certificates = min(args.scale_certificates, 10_000)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    args.crypto_seconds = min(2.0, args.duration)
    lab = with_free_ports(with_workers(load_lab(), ca=args.workers, ra=args.workers))
    host_names = args.hierarchy or [h.name for h in lab.hierarchies if host_supports_tls(h.algorithm)]
    try:
        for name in [*host_names, *args.container_hierarchy]:
            lab.hierarchy(name)
    except LabctlError as exc:
        parser.error(str(exc))
    report: dict[str, Any] = {
        "machine": _machine(),
        "duration_s": args.duration,
        "workers": args.workers,  # None: the lab file's (auto)
        "ceiling": {},
        "client_ceiling": [],
        "enrollment": {},
        "serverkeygen": {},
        "ocsp": {},
        "scale": None,
        "podman": None,
        "errors": [],
    }
    started = time.perf_counter()
    try:
        if not args.no_host:
            _host_ceilings(lab, args, report)
            _host_enrollment(lab, host_names, args.duration, report)
            if args.scale_certificates > 0:
                _host_scale(args.scale_certificates, report)
        _podman(args, report)
    except KeyboardInterrupt:
        report["errors"].append("interrupted")
    report["total_s"] = round(time.perf_counter() - started, 1)
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
