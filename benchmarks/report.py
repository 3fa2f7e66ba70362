"""The benchmark report (the JSON `python -m benchmarks` writes) as markdown tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from labctl.cputime import efficiency, efficiency_bound

MB = 1000 * 1000

PHASE_LABELS = {
    "cold_up": "cold `up`: nothing of the lab, image rebuilt without layer cache",
    "warm_up": "warm `up`: after `down`, volumes kept",
    "noop_up": "no-op `up` on the running lab (in-process)",
    "noop_up_cli": "no-op `labctl up` (CLI process)",
    "cli_start": "`labctl --help` (CLI process: interpreter and imports)",
    "verify": "`verify`",
    "down": "`down` (volumes kept)",
}

STEP_LABELS = {
    "image": "image (build, or check its content hash)",
    "network": "network",
    "volume": "CA data volume",
    "ca/container": "CA start (create + start)",
    "ca/installed": "CA signing (CSR wait, root signs)",
    "ca/healthy": "CA health wait",
    "ra/credentials": "RA certificate issuance",
    "ra/container": "RA start (create + start)",
    "ra/healthy": "RA health wait",
    "ca/removed": "CA stop + remove",
    "ra/removed": "RA stop + remove",
}
STEP_PHASES = {"cold_up": "cold up", "warm_up": "warm up", "noop_up": "no-op up", "down": "down"}


def _enrollment_table(
    rows_by_hierarchy: Mapping[str, Sequence[Mapping[str, Any]]], ceilings: Mapping[str, float]
) -> list[str]:
    lines = [
        "| hierarchy | mode | c | enrollments/s | p50 ms | p95 ms | p99 ms | errors | ceiling (issue/s) | achieved/ceiling |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, rows in rows_by_hierarchy.items():
        ceiling = ceilings.get(name)
        for row in rows:
            mode = "keep-alive" if row["keepalive"] else "new TLS conn"
            ratio = f"{row['per_s'] / ceiling:.2f}" if ceiling else "-"
            lines.append(
                f"| {name} | {mode} | {row['concurrency']} | {row['per_s']} | {row['p50_ms']} | {row['p95_ms']}"
                f" | {row['p99_ms']} | {row['errors']} | {ceiling or '-'} | {ratio} |"
            )
    return lines


CPU_COLUMNS = (
    "| hierarchy | mode | c | enrollments/s | errors | p99 ms | RA CPU ms | CA CPU ms | RA+CA CPU ms"
    " | issuance CPU ms (1 core) | efficiency (issuance / RA+CA) | PoP check CPU ms (1 core)"
    " | bound (issuance / (issuance + 2 PoP)) |"
)


def cpu_table(
    rows_by_hierarchy: Mapping[str, Sequence[Mapping[str, Any]]],
    issue_cpu_ms: Mapping[str, float],
    pop_cpu_ms: Mapping[str, float],
) -> list[str]:
    """RA, CA and RA+CA CPU ms per successful enrollment of each load row that measured them (labctl.cputime),
    beside the one-core issuance CPU ms of the same algorithm in the same run (labctl.ceiling) and their ratio;
    then the one-core CPU ms of a proof-of-possession check and the bound it puts on that ratio (the RA and the
    CA each make one, as Dogtag's do: labctl.cputime.efficiency_bound)."""
    lines = [CPU_COLUMNS, "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, rows in rows_by_hierarchy.items():
        issuance, pop = issue_cpu_ms.get(name), pop_cpu_ms.get(name)
        for row in rows:
            cpu = row.get("cpu")
            if not isinstance(cpu, Mapping):
                continue
            mode = "keep-alive" if row["keepalive"] else "new TLS conn"
            lines.append(
                f"| {name} | {mode} | {row['concurrency']} | {row['per_s']} | {row['errors']} | {row['p99_ms']}"
                f" | {_number(cpu.get('ra_ms'))} | {_number(cpu.get('ca_ms'))} | {_number(cpu.get('total_ms'))}"
                f" | {_number(issuance)} | {_number(efficiency(issuance, cpu.get('total_ms')))}"
                f" | {_number(pop)} | {_number(efficiency_bound(issuance, pop))} |"
            )
    return lines if len(lines) > 2 else []


def _cpu_section(
    title: str,
    rows_by_hierarchy: Mapping[str, Sequence[Mapping[str, Any]]],
    issue_cpu_ms: Mapping[str, float],
    pop_cpu_ms: Mapping[str, float],
) -> list[str]:
    table = cpu_table(rows_by_hierarchy, issue_cpu_ms, pop_cpu_ms)
    return ["", f"CPU per enrollment, {title}:", "", *table] if table else []


def _checked_table(
    rows_by_hierarchy: Mapping[str, Sequence[Mapping[str, Any]]],
    ceilings: Mapping[str, float],
    *,
    rate: str,
    ceiling: str,
) -> list[str]:
    """Keep-alive rows of a load whose answers are checked (serverkeygen, OCSP): `rate` per second against
    `ceiling` per second on one core; "checked in full" counts the sampled answers."""
    lines = [
        f"| hierarchy | c | {rate}/s | p50 ms | p95 ms | p99 ms | errors | checked in full | {ceiling} | achieved/ceiling |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, rows in rows_by_hierarchy.items():
        limit = ceilings.get(name)
        for row in rows:
            ratio = f"{row['per_s'] / limit:.2f}" if limit else "-"
            lines.append(
                f"| {name} | {row['concurrency']} | {row['per_s']} | {row['p50_ms']} | {row['p95_ms']}"
                f" | {row['p99_ms']} | {row['errors']} | {row.get('verified', '-')} of {row['requests']}"
                f" | {limit or '-'} | {ratio} |"
            )
    return lines


SERVERKEYGEN_CEILING = "ceiling (key + CSR + issue/s, 1 core)"
OCSP_CEILING = "ceiling (signatures/s, 1 core)"


def serverkeygen_tables(report: Mapping[str, Any]) -> list[str]:
    """serverkeygen/s on the host and in the podman lab against each place's key generation + issuance ceiling."""
    lines: list[str] = []
    podman = report.get("podman") or {}
    container = podman.get("container") or {}
    if report.get("serverkeygen"):
        ceilings = {name: c["serverkeygen_per_s"] for name, c in report["ceiling"].items() if "serverkeygen_per_s" in c}
        lines += ["", "Serverkeygen, CA and RA as processes on the host (load client on the host, keep-alive):", ""]
        lines += _checked_table(report["serverkeygen"], ceilings, rate="serverkeygen", ceiling=SERVERKEYGEN_CEILING)
    if container.get("serverkeygen"):
        ceilings = _container_ceilings(podman, "serverkeygen_per_s")
        lines += [
            "",
            "Serverkeygen, the podman lab (load client in a container on the hierarchy's network, keep-alive):",
            "",
        ]
        lines += _checked_table(container["serverkeygen"], ceilings, rate="serverkeygen", ceiling=SERVERKEYGEN_CEILING)
    return lines


def ocsp_tables(report: Mapping[str, Any]) -> list[str]:
    """OCSP answers/s on the host and in the podman lab against each place's signature ceiling."""
    lines: list[str] = []
    podman = report.get("podman") or {}
    if report.get("ocsp"):
        ceilings = {name: c["sign_per_s"] for name, c in report["ceiling"].items()}
        lines += ["", "OCSP, CA as a process on the host (load client on the host, plain HTTP, keep-alive):", ""]
        lines += _checked_table(report["ocsp"], ceilings, rate="OCSP answers", ceiling=OCSP_CEILING)
    if podman.get("ocsp"):
        ceilings = _container_ceilings(podman, "sign_per_s")
        lines += [
            "",
            "OCSP, the podman lab (load client on the host, the CA's published plain-HTTP port, keep-alive):",
            "",
        ]
        lines += _checked_table(podman["ocsp"], ceilings, rate="OCSP answers", ceiling=OCSP_CEILING)
    return lines


def _container_ceilings(podman: Mapping[str, Any], key: str, *, digits: int = 1) -> dict[str, float]:
    """A crypto ceiling measured in a container, by hierarchy: the services run there, wherever the client is."""
    algorithms = (podman.get("lab") or {}).get("algorithms", {})
    crypto = ((podman.get("container") or {}).get("ceilings") or {}).get("crypto_ceiling", {})
    return {
        name: round(crypto[algorithm][key], digits)
        for name, algorithm in algorithms.items()
        if algorithm in crypto and key in crypto[algorithm]
    }


def _number(value: Any) -> str:
    return "-" if value is None else str(value)


def markdown(report: Mapping[str, Any]) -> str:
    machine = report["machine"]
    lines = [
        f"Machine: {machine['cores']} cores, {machine['memory_gib']} GiB, Python {machine['python']},"
        f" {machine['openssl']}, {machine['podman']}; {report.get('duration_s', '-')} s per load run",
    ]
    podman = report.get("podman") or {}
    container = podman.get("container") or {}
    algorithms = (podman.get("lab") or {}).get("algorithms", {})
    container_crypto = (container.get("ceilings") or {}).get("crypto_ceiling", {})

    host_issue_cpu = {name: c["issue_cpu_ms"] for name, c in report["ceiling"].items() if c.get("issue_cpu_ms")}
    host_pop_cpu = {name: c["pop_cpu_ms"] for name, c in report["ceiling"].items() if c.get("pop_cpu_ms")}
    if report["enrollment"]:
        lines += ["", "Enrollment, CA and RA as processes on the host (load client on the host):", ""]
        ceilings = {name: c["issue_per_s"] for name, c in report["ceiling"].items()}
        lines += _enrollment_table(report["enrollment"], ceilings)
        lines += _cpu_section("CA and RA as processes on the host", report["enrollment"], host_issue_cpu, host_pop_cpu)
    # The CA issues in its container: the container's ceilings, wherever the load client runs.
    in_container = {
        name: round(container_crypto[algorithm]["issue_per_s"], 1)
        for name, algorithm in algorithms.items()
        if algorithm in container_crypto
    }
    container_issue_cpu = _container_ceilings(podman, "issue_cpu_ms", digits=3)
    container_pop_cpu = _container_ceilings(podman, "pop_cpu_ms", digits=3)
    if container.get("enrollment"):
        lines += ["", "Enrollment, the podman lab (load client in a container on the hierarchy's network):", ""]
        lines += _enrollment_table(container["enrollment"], in_container)
        lines += _cpu_section(
            "the podman lab (load client in a container on the hierarchy's network)",
            container["enrollment"],
            container_issue_cpu,
            container_pop_cpu,
        )
    if podman.get("published"):
        lines += ["", "Enrollment, the podman lab (load client on the host, through the RA's published port):", ""]
        lines += _enrollment_table(podman["published"], in_container)
        lines += _cpu_section(
            "the podman lab (load client on the host, through the RA's published port)",
            podman["published"],
            container_issue_cpu,
            container_pop_cpu,
        )
    lines += serverkeygen_tables(report)
    lines += ocsp_tables(report)
    if report.get("scale"):
        lines += ["", *scale_tables(report["scale"])]

    ceiling_rows = [
        f"| {name} | host | {c['issue_per_s']} | {c['sign_per_s']} | {_number(c.get('serverkeygen_per_s'))}"
        f" | {_number(c.get('handshake_per_s'))} |"
        for name, c in report["ceiling"].items()
    ]
    handshakes = (container.get("ceilings") or {}).get("handshake_ceiling", {})
    for name, algorithm in algorithms.items():
        if algorithm in container_crypto:
            crypto = container_crypto[algorithm]
            handshake = handshakes.get(algorithm, {}).get("per_s")
            serverkeygen = crypto.get("serverkeygen_per_s")
            ceiling_rows.append(
                f"| {name} | container | {round(crypto['issue_per_s'], 1)} | {round(crypto['sign_per_s'], 1)}"
                f" | {_number(None if serverkeygen is None else round(serverkeygen, 1))} | {_number(handshake)} |"
            )
    if ceiling_rows:
        lines += [
            "",
            "| crypto ceiling | where | certificates issued/s (1 core) | signatures/s (server key)"
            " | serverkeygen: key + CSR + issue/s (1 core) | TLS handshakes/s (c=8, new conn) |",
            "|---|---|---|---|---|---|",
            *ceiling_rows,
        ]

    client_rows = [
        f"| host | {row['concurrency']} | {row['per_s']} | {row['p99_ms']} |" for row in report["client_ceiling"]
    ]
    client_rows += [
        f"| container | {row['concurrency']} | {row['per_s']} | {row['p99_ms']} |"
        for row in (container.get("ceilings") or {}).get("client_ceiling", [])
    ]
    if client_rows:
        lines += ["", "| load client vs trivial TLS server (keep-alive) | c | req/s | p99 ms |", "|---|---|---|---|"]
        lines += client_rows
    environment = (container.get("ceilings") or {}).get("environment")
    if environment:
        lines += ["", f"In the container: Python {environment['python']}, {environment['openssl']}."]

    if not podman.get("available"):
        lines += ["", f"Podman parts not run: {podman.get('reason', 'not attempted')}."]
    else:
        lines += _lifecycle(podman)
        lines += _footprint(podman)

    errors = report.get("errors") or []
    if report.get("total_s") is not None:
        lines += ["", f"Run time: {report['total_s']} s"]
    lines += ["", f"Errors: {len(errors)}", *(f"- {error}" for error in errors)]
    return "\n".join(lines)


def _lifecycle(podman: Mapping[str, Any]) -> list[str]:
    lifecycle = podman.get("lifecycle")
    lines: list[str] = []
    if podman.get("base_bootstrap_s") is not None:
        lines += ["", f"Base image bootstrap (mmdebstrap + import, once): {podman['base_bootstrap_s']} s"]
    if not lifecycle:
        return lines
    phases = lifecycle["phases"]
    lines += [
        "",
        f"| lab lifecycle (podman), {lifecycle['repeat']} run(s) | min s | median s | max s |",
        "|---|---|---|---|",
    ]
    for name, label in PHASE_LABELS.items():
        spread = phases.get(name, {}).get("spread")
        if name == "verify":
            label = f"{label} ({lifecycle['verify_checks']} checks)"
        if spread:
            lines.append(f"| {label} | {spread['min']} | {spread['median']} | {spread['max']} |")
    verify = lifecycle.get("verify_by_hierarchy") or {}
    if verify:
        parts = ", ".join(f"{name} {spread['median']}" for name, spread in verify.items() if spread)
        lines += ["", f"`verify` by hierarchy, median s (the sum of its checks' times): {parts}"]
    lines += [
        "",
        f"| by step: median s of the slowest hierarchy | {' | '.join(STEP_PHASES.values())} |",
        "|---|" + "---|" * len(STEP_PHASES),
    ]
    kinds = [k for k in STEP_LABELS if any(k in phases.get(p, {}).get("step_spread", {}) for p in STEP_PHASES)]
    for kind in kinds:
        cells = []
        for phase in STEP_PHASES:
            spread = phases.get(phase, {}).get("step_spread", {}).get(kind)
            cells.append(str(spread["median"]) if spread else "")
        lines.append(f"| {STEP_LABELS[kind]} | {' | '.join(cells)} |")
    return lines


def _footprint(podman: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    footprint = podman.get("footprint")
    if footprint:
        lines += [
            "",
            "| container, MiB: idle / under load (peak) | RSS | PSS | cgroup usage |",
            "|---|---|---|---|",
        ]
        for name, memory in footprint.items():
            idle, load = memory.get("idle") or {}, memory.get("load_peak") or {}
            cells = [
                f"{_number(idle.get(key))} / {_number(load.get(key))}" for key in ("rss_mib", "pss_mib", "cgroup_mib")
            ]
            lines.append(f"| {name} | {' | '.join(cells)} |")
    images = podman.get("images")
    if images:
        lines += ["", "| image | size MB |", "|---|---|"]
        for role, image in images.items():
            size = image.get("size_bytes")
            lines.append(f"| {role}: {image['reference']} | {_number(round(size / MB, 1) if size else None)} |")
    return lines


def scale_markdown(scale: Mapping[str, Any]) -> str:
    """`python -m benchmarks.scale`'s report: the tables, then its errors."""
    errors = scale.get("errors") or []
    return "\n".join([*scale_tables(scale), f"Errors: {len(errors)}", *(f"- {error}" for error in errors)])


def scale_tables(scale: Mapping[str, Any]) -> list[str]:
    """The scale benchmark (benchmarks/scale.py): seeding, bytes per certificate, empty vs full CA."""
    seeding, database = scale["seeding"], scale["database"]
    empty, full = scale["issuance"]["empty"], scale["issuance"]["full"]
    lines = [
        f"A CA with {scale['certificates']:,} certificates ({scale['algorithm']}): seeded in {seeding['seconds']} s"
        f" ({seeding['per_s']:,}/s, {seeding['cpu_s']} s CPU); database {_mb(database['db'])} MB + WAL"
        f" {_mb(database['wal'])} MB after a checkpoint ({_mb(database['wal_after_seeding'])} MB before),"
        f" {database['bytes_per_certificate']:,} bytes per certificate"
        f" (DER {scale['der_bytes_mean']} bytes, CSR {scale['csr_bytes_mean']} bytes, reused from"
        f" {scale['templates']} real ones).",
        "",
        "Bytes per certificate by table and index: "
        + ", ".join(
            f"{name} {size / max(scale['certificates'], 1):,.0f}"
            for name, size in database.get("objects", {}).items()
            if size >= scale["certificates"]  # at least a byte each: the small tables are noise
        ),
        "",
        "| per enrollment (submit as agent, P-384) | n | CPU ms mean | wall ms mean | p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {name} CA | {t['n']} | {t['cpu_ms_mean']} | {t['wall_ms_mean']} | {t['p50_ms']} | {t['p95_ms']}"
            f" | {t['p99_ms']} |"
            for name, t in (("empty", empty), ("full", full))
        ),
        "",
        f"Issuance CPU, full / empty: {scale['issuance_cpu_ratio']}",
        "",
        "| look-up (HTTP, in-process client) | n | empty: wall p50 / p95 / p99 ms | full: wall p50 / p95 / p99 ms"
        " | full: CPU p50 / p99 ms | errors |",
        "|---|---|---|---|---|---|",
    ]
    queries = scale["queries"]
    for kind, f in queries["full"].items():
        e = queries["empty"].get(kind, {})
        lines.append(
            f"| {kind} | {f['n']} | {e.get('p50_ms', '-')} / {e.get('p95_ms', '-')} / {e.get('p99_ms', '-')}"
            f" | {f['p50_ms']} / {f['p95_ms']} / {f['p99_ms']} | {f['cpu_p50_ms']} / {f['cpu_p99_ms']}"
            f" | {f['errors'] + e.get('errors', 0)} |"
        )
    migration = scale.get("migration")
    if migration:
        lines += [
            "",
            f"Opening the store: {migration['open_current_s']} s; opening it with the schema before issue 16"
            f" (its migration: indexes, kept counts, CN table built on these rows): {migration['seconds']} s"
            f" ({migration['cpu_s']} s CPU).",
        ]
    missed = [name for name, met in scale.get("targets", {}).items() if not met]
    lines += ["", f"Targets missed: {', '.join(missed) if missed else 'none'}"]
    return lines


def _mb(size: int) -> str:
    return f"{size / MB:.1f}"
