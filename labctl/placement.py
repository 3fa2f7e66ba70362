"""Which lab a command acts on, and where on the host it sits (names, subnets, ports).

Several labs share one host: `--lab NAME` gives a lab its own containers, networks, volumes and
state dir (topology.renamed), and `up --subnets auto --ports auto` moves it off the addresses and
ports other labs use. The lab a lab was brought up as is recorded in its state dir, so every later
command (`verify`, `status`, `est-enroll`, ...) given the same `--lab` finds the same ports and
subnets without repeating the options, and a second `up` keeps them.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import shlex
from collections.abc import Iterable, Iterator
from pathlib import Path

from labctl.errors import TopologyError
from labctl.files import write_atomic
from labctl.ports import with_free_ports
from labctl.runtime.base import ContainerRuntime
from labctl.state import default_state_dir, remove_lab_secrets
from labctl.topology import Lab, dump_lab, load_lab, renamed, with_subnets

log = logging.getLogger(__name__)

RECORDED_LAB = "lab.toml"
# Where `--subnets auto` looks: away from podman's own pool (10.88/10.89) and the 172.16/12 range
# Docker and the default lab use.
AUTO_SUBNET_POOL = ipaddress.IPv4Network("10.210.0.0/16")
ROUTES_FILE = Path("/proc/net/route")


@dataclasses.dataclass(frozen=True, slots=True)
class Selection:
    lab: Lab
    state_dir: Path
    recorded: bool  # the lab came from its state dir's record


def select_lab(config: Path | None, name: str | None, state_dir: Path | None) -> Selection:
    """The lab a command acts on.

    The lab file (`config`, else the shipped default) renamed to `name`; without `config`, the lab
    recorded in the state dir by the last `up` wins, so auto-chosen ports and subnets are found again.
    """
    base = load_lab(config)
    lab = renamed(base, base.name if name is None else name)  # checks the name before it makes a path
    directory = state_dir or default_state_dir(lab.name)
    record = directory / RECORDED_LAB
    if config is None and record.is_file():
        recorded = load_lab(record)
        if recorded.name != lab.name:
            raise TopologyError(
                f"{record} records lab {recorded.name!r}, not {lab.name!r}", hint="use that lab's own --state-dir"
            )
        return Selection(recorded, directory, recorded=True)
    return Selection(lab, directory, recorded=False)


def labctl_command(command: str, lab_name: str, state_dir: Path, config: Path | None = None) -> str:
    """The labctl command line that runs `command` (e.g. "up") on this lab, for hints.

    It names only what `select_lab` would not find by itself: `--config` when one was given, `--lab`
    unless it is the lab file's own name, `--state-dir` unless it is the lab's default.
    """
    options = [] if config is None else ["--config", str(config)]
    if lab_name != load_lab(config).name:
        options += ["--lab", lab_name]
    if state_dir != default_state_dir(lab_name):
        options += ["--state-dir", str(state_dir)]
    return shlex.join(["labctl", *options, *command.split()])


def record_lab(lab: Lab, state_dir: Path) -> None:
    """Remember the lab as brought up (atomically: an interrupted write leaves the old record)."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(state_dir / RECORDED_LAB, dump_lab(lab).encode())


def forget_lab(state_dir: Path, lab: Lab | None = None, *, keep_secrets: bool = False) -> None:
    """After `down --volumes`: the lab's record, and (unless `keep_secrets`) its keys and credentials.

    With its CAs' data gone, the root keys, admin credentials and EST passwords left on the host would
    only pile up, one set per ephemeral lab (see state.remove_lab_secrets).
    """
    if not keep_secrets:
        names = None if lab is None else [h.name for h in lab.hierarchies]
        removed = remove_lab_secrets(state_dir, names)
        log.info("removed %s", ", ".join(str(path) for path in removed) or "no secrets (none were there)")
    (state_dir / RECORDED_LAB).unlink(missing_ok=True)


def recorded_lab(state_dir: Path) -> Lab | None:
    record = state_dir / RECORDED_LAB
    return load_lab(record) if record.is_file() else None


def settle(
    lab: Lab,
    state_dir: Path,
    runtime: ContainerRuntime,
    *,
    auto_subnets: bool,
    auto_ports: bool,
    keep_place: bool = True,
) -> Lab:
    """Place the lab (see `place`; with `keep_place`, where it was recorded last) and record it."""
    if auto_subnets or auto_ports:
        lab = place(
            lab,
            previous=recorded_lab(state_dir) if keep_place else None,
            auto_subnets=auto_subnets,
            auto_ports=auto_ports,
            used_subnets=runtime.network_subnets() if auto_subnets else (),
        )
    record_lab(lab, state_dir)
    return lab


def place(
    lab: Lab,
    *,
    previous: Lab | None,
    auto_subnets: bool,
    auto_ports: bool,
    used_subnets: Iterable[ipaddress.IPv4Network] = (),
) -> Lab:
    """The lab with free subnets and/or ports when asked; a lab placed before keeps its place."""
    keep = previous if previous is not None and _same_hierarchies(lab, previous) else None
    if auto_subnets:
        if keep is not None:
            lab = with_subnets(lab, [h.subnet for h in keep.hierarchies])
        else:
            taken = [*used_subnets, *host_routes()]
            lab = with_subnets(lab, list(free_subnets(len(lab.hierarchies), taken)))
    if auto_ports:
        lab = _ports_of(lab, keep) if keep is not None else with_free_ports(lab)
    return lab


def free_subnets(count: int, taken: Iterable[ipaddress.IPv4Network]) -> Iterator[ipaddress.IPv4Network]:
    """`count` /24 subnets from the auto pool that overlap nothing taken."""
    taken = list(taken)
    found = 0
    for candidate in AUTO_SUBNET_POOL.subnets(new_prefix=24):
        if found == count:
            return
        if not any(candidate.overlaps(other) for other in taken):
            found += 1
            yield candidate
    if found < count:
        raise TopologyError(f"no {count} free /24 subnets left in {AUTO_SUBNET_POOL}", hint="remove unused networks")


def host_routes(routes_file: Path = ROUTES_FILE) -> list[ipaddress.IPv4Network]:
    """The host's IPv4 routes but the default: a lab subnet on one of them would shadow it."""
    try:
        lines = routes_file.read_text(encoding="ascii").splitlines()[1:]
    except OSError:
        return []
    routes = []
    for line in lines:
        fields = line.split()
        if len(fields) < 8 or fields[1] == "00000000":
            continue
        # /proc/net/route writes addresses as little-endian hex.
        destination = ipaddress.IPv4Address(int.from_bytes(bytes.fromhex(fields[1]), "little"))
        mask = ipaddress.IPv4Address(int.from_bytes(bytes.fromhex(fields[7]), "little"))
        routes.append(ipaddress.IPv4Network(f"{destination}/{mask}", strict=False))
    return routes


def _same_hierarchies(lab: Lab, other: Lab) -> bool:
    return [h.name for h in lab.hierarchies] == [h.name for h in other.hierarchies]


def _ports_of(lab: Lab, previous: Lab) -> Lab:
    hierarchies = tuple(
        dataclasses.replace(
            h,
            ca=dataclasses.replace(h.ca, port=p.ca.port, http_port=p.ca.http_port),
            ra=dataclasses.replace(h.ra, port=p.ra.port),
        )
        for h, p in zip(lab.hierarchies, previous.hierarchies, strict=True)
    )
    return dataclasses.replace(lab, hierarchies=hierarchies)
