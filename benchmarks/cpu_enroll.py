"""RA + CA CPU ms per enrollment for one hierarchy, repeated: the figure issue 16's changes are measured by.

    python -m benchmarks.cpu_enroll [--hierarchy ecc] [--duration 5] [--repeat 3] [--concurrency 8]
                                     [--workers N] [--ca-workers N] [--ra-workers N]

Brings the hierarchy up as host processes (LocalLab) once, then runs simpleenroll keep-alive at the
given concurrency `--repeat` times, each with the RA's and the CA's CPU read from /proc around it
(benchmarks/cpu.py), and the one-core issuance and proof-of-possession CPU ms measured between them
(labctl.ceiling; "bound" is the efficiency the crypto alone allows). One line of JSON per run on
stdout. With LABCTL_PROFILE=DIR set, both services write a cProfile of their whole run into DIR when
they stop (labctl/services/profiling.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks.cpu import add_cpu, service_sampler
from labctl.ceiling import measure_ceiling
from labctl.cputime import efficiency, efficiency_bound
from labctl.est_client import est_ssl_context
from labctl.loadgen import measure_enrollment
from labctl.local import LocalLab
from labctl.ports import with_free_ports
from labctl.topology import load_lab, with_workers


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cpu_enroll", description=__doc__)
    parser.add_argument("--hierarchy", default="ecc")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=None, help="each service's worker processes (default: auto)")
    parser.add_argument("--ca-workers", type=int, default=None, help="the CA's, instead of --workers")
    parser.add_argument("--ra-workers", type=int, default=None, help="the RA's, instead of --workers")
    args = parser.parse_args()
    lab = with_workers(
        with_free_ports(load_lab()),
        ca=args.ca_workers if args.ca_workers is not None else args.workers,
        ra=args.ra_workers if args.ra_workers is not None else args.workers,
    )
    hierarchy = lab.hierarchy(args.hierarchy)
    failed = False
    with tempfile.TemporaryDirectory(prefix="labctl-cpu-") as state:
        runner = LocalLab(lab, Path(state), hierarchies=[hierarchy.name])
        try:
            [endpoint] = runner.up(timeout=90)
            url = urlsplit(endpoint.ra_url)
            for _ in range(args.repeat):
                with service_sampler(runner.runtime, hierarchy) as cpu:
                    [row] = asyncio.run(
                        measure_enrollment(
                            label=hierarchy.name, algorithm=hierarchy.algorithm, host=url.hostname or "127.0.0.1",
                            port=url.port or 443, context=est_ssl_context(endpoint.trust_file),
                            auth=(endpoint.username, endpoint.password), duration_s=args.duration,
                            server_hostname="localhost", concurrency=(args.concurrency,), new_connection=(),
                        )
                    )  # fmt: skip
                result = asdict(row)
                add_cpu([result], cpu)
                ceiling = measure_ceiling(hierarchy.algorithm, seconds=1.0)
                result["issue_cpu_ms"], result["pop_cpu_ms"] = ceiling.issue_cpu_ms, ceiling.pop_cpu_ms
                result["efficiency"] = efficiency(ceiling.issue_cpu_ms, result["cpu"]["total_ms"])
                result["bound"] = efficiency_bound(ceiling.issue_cpu_ms, ceiling.pop_cpu_ms)
                failed |= bool(row.errors)
                print(json.dumps(result), flush=True)
        finally:
            runner.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
