"""The lab as a compose file (compose-spec) that podman-compose 1.6.0 runs as is.

A translation of labctl.specs.lab_specs, key by key; nothing here states a command, port, label or
health check of its own. Every key written is one podman-compose 1.6.0 passes on to podman 4.3
(podman_compose.py: get_network_create_args, assert_volume, container_to_args):

- networks: name, driver, driver_opts (`--opt`), ipam.config.subnet, labels;
- volumes: name, labels;
- services: container_name, image, command, user, cap_drop, read_only, labels, environment,
  ports, volumes, networks (ipv4_address and aliases -> `--network NAME:ip=...,alias=...`),
  extra_hosts (a list: podman-compose iterates it, so a mapping would pass only the names),
  healthcheck (test, interval, timeout, retries), depends_on (ordering, `--requires` and the
  condition, see below);
- top level: name (the project) and x-podman.in_pod.

podman-compose ignores no key written here; it reads depends_on's condition only on podman >= 4.6
(see _RA_CONDITION).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from labctl import specs
from labctl.runtime.base import MANAGED_BY_LABEL, ContainerSpec, HealthCheck, NetworkSpec, VolumeSpec
from labctl.targets._yaml import dump_documents
from labctl.topology import Lab

MANAGER = "compose"

# An RA waits for the configuration labctl writes once its CA is installed (specs.WAIT_FOR_CONFIG),
# so it needs its CA started, not healthy. A CA is healthy only after `labctl up` installed its
# root-signed certificate: with service_healthy, podman-compose on podman >= 4.6 would wait for that
# before starting the RA, and `podman-compose up -d` would not return until `labctl up` ran in
# another shell. With podman < 4.6 podman-compose ignores service_healthy anyway (it logs a warning
# and starts the dependent at once).
_RA_CONDITION = "service_started"


def render_compose(lab: Lab, image: str, *, labctl: str = "labctl") -> str:
    """The compose file; `labctl`: the command line that finds this lab, for the header's hints."""
    """The lab's networks, volumes and containers as one compose document, with a header comment."""
    lab_specs = specs.lab_specs(lab, image)
    depends_on = {h.ra.container: h.ca.container for h in lab.hierarchies}
    document = {
        # The project name: podman-compose labels what it creates with it (default: the directory's name).
        "name": lab.name,
        # No pod: labctl's own runtime makes none, and `labctl down` (which removes what carries the
        # lab's labels) would leave it behind. podman-compose's default pod shares no namespace anyway.
        "x-podman": {"in_pod": False},
        "services": {spec.name: _service(spec, depends_on.get(spec.name)) for spec in lab_specs.containers},
        "networks": {network.name: _network(network) for network in lab_specs.networks},
        "volumes": {volume.name: _volume(volume) for volume in lab_specs.volumes},
    }
    escaped = {key: _escape_interpolation(value) for key, value in document.items()}
    return dump_documents([escaped], header=_header(lab, labctl))


def _header(lab: Lab, labctl: str) -> list[str]:
    return [
        f"labctl lab {lab.name!r} for podman-compose, rendered by `labctl render --target compose`:",
        "re-render it rather than edit it (labctl finds containers, networks and volumes by these names).",
        "",
        "The image must exist locally first: `labctl build`.",
        "    podman-compose -f compose.yaml up -d",
        f"    {labctl} up",
        "        installs each Intermediate CA's certificate, signed by the root key (which stays on the",
        "        host), and writes the RAs' configuration into the running RA containers",
        f"    {labctl} verify",
        f"    {labctl} down --volumes    # removes the lab (RAs before the CAs they depend on)",
        "",
        "The RAs depend on their CA with condition service_started, not service_healthy: a CA turns",
        "healthy only once `labctl up` installed its certificate, so podman-compose on podman >= 4.6",
        "would hold the RA back until then. podman-compose ignores service_healthy with podman < 4.6",
        "anyway (it logs a warning and starts the dependent at once).",
    ]


def _service(spec: ContainerSpec, depends_on: str | None) -> dict[str, object]:
    if spec.files:
        # Files are copied in by labctl's runtime before start; compose has no such step.
        raise ValueError(f"{spec.name}: a spec with files to copy in has no compose form")
    service: dict[str, object] = {"container_name": spec.name, "image": spec.image, "command": list(spec.command)}
    if spec.user is not None:
        service["user"] = spec.user
    if spec.cap_drop:
        service["cap_drop"] = list(spec.cap_drop)
    if spec.read_only:
        service["read_only"] = True
    service["labels"] = _labels(spec.labels)
    if spec.environment:
        service["environment"] = dict(spec.environment)
    if spec.ports:
        service["ports"] = [f"{port.host_ip}:{port.host_port}:{port.container_port}" for port in spec.ports]
    if spec.mounts:
        service["volumes"] = [{"type": "volume", "source": m.volume, "target": m.target} for m in spec.mounts]
    service["networks"] = {spec.network: _attachment(spec)}
    if spec.extra_hosts:
        service["extra_hosts"] = [f"{name}:{address}" for name, address in spec.extra_hosts.items()]
    if spec.health is not None:
        service["healthcheck"] = _healthcheck(spec.health)
    if depends_on is not None:
        service["depends_on"] = {depends_on: {"condition": _RA_CONDITION}}
    return service


def _attachment(spec: ContainerSpec) -> dict[str, object]:
    attachment: dict[str, object] = {}
    if spec.ip is not None:
        attachment["ipv4_address"] = str(spec.ip)
    if spec.aliases:
        attachment["aliases"] = list(spec.aliases)
    return attachment


def _healthcheck(health: HealthCheck) -> dict[str, object]:
    return {
        "test": ["CMD", *health.command],
        "interval": duration(health.interval_s),
        "timeout": duration(health.timeout_s),
        "retries": health.retries,
    }


def duration(seconds: float) -> str:
    """A compose duration (Go's syntax: 30s, 2500ms), exact to the millisecond."""
    if seconds == math.floor(seconds):
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"


def _network(network: NetworkSpec) -> dict[str, object]:
    # The gateway is left to podman, which takes the subnet's first host address, as labctl's
    # runtime does (and as topology's address validation assumes).
    described: dict[str, object] = {"name": network.name, "driver": "bridge"}
    if network.isolate:
        # podman routes between bridges unless a network is isolated; driver_opts become `--opt`.
        described["driver_opts"] = {"isolate": "true"}
    described["ipam"] = {"config": [{"subnet": str(network.subnet)}]}
    described["labels"] = _labels(network.labels)
    return described


def _volume(volume: VolumeSpec) -> dict[str, object]:
    return {"name": volume.name, "labels": _labels(volume.labels)}


def _labels(labels: Mapping[str, str]) -> dict[str, str]:
    return {**labels, MANAGED_BY_LABEL: MANAGER}


def _escape_interpolation(value: object) -> object:
    """Every string value with `$` written `$$`: compose (podman-compose too) substitutes variables in values."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, Mapping):
        return {key: _escape_interpolation(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_escape_interpolation(item) for item in value]
    return value
