"""What each of a lab's networks, volumes and service containers is, as runtime-neutral specs.

One source for every target: the orchestrator hands these to podman's API, and the compose and
Kubernetes renderings (labctl.targets) translate the same values, so the three never disagree on a
command, a port, a health check or a label.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from labctl.images import IMAGE_UID
from labctl.runtime.base import (
    HIERARCHY_LABEL,
    LAB_LABEL,
    ROLE_LABEL,
    ContainerSpec,
    FileContent,
    HealthCheck,
    NetworkSpec,
    PortSpec,
    VolumeMount,
    VolumeSpec,
)
from labctl.tls import needs_compat_tls
from labctl.topology import Events, Hierarchy, Lab, gateway, network_name, volume_name

CA_DATA_DIR = "/var/lib/labctl/ca"
RA_CONF_DIR = "/etc/labctl/est"
CLIENT_DIR = "/tmp/labctl"
HEALTH_TIMEOUT_S = 5.0
NO_EVENTS = Events()
# The RA's flag for "start without configuration; labctl writes it into the running container".
WAIT_FOR_CONFIG = "--wait-for-config"


@dataclass(frozen=True, slots=True)
class Addressing:
    """Where a lab's services listen, and the name one uses for another."""

    listen_host: str
    host_network: bool  # processes on the host (labctl serve-local) rather than containers on the lab's networks

    def peer(self, container: str) -> str:
        """How a service reaches `container`: by name on the hierarchy's network, on loopback on the host's."""
        return "127.0.0.1" if self.host_network else container


ON_LAB_NETWORKS = Addressing("0.0.0.0", host_network=False)


def addressing_for(lab: Lab, *, host_network: bool) -> Addressing:
    """Containers listen on every address of their own network namespace; processes on the host only on the
    lab's bind address (127.0.0.1 unless the lab file says otherwise)."""
    return Addressing(str(lab.bind_address), host_network=True) if host_network else ON_LAB_NETWORKS


def ra_ca_url(hierarchy: Hierarchy, addressing: Addressing = ON_LAB_NETWORKS) -> str:
    """The CA's URL in the RA's configuration (backend.conf)."""
    return f"https://{addressing.peer(hierarchy.ca.container)}:{hierarchy.ca.port}"


def labels(lab: Lab, hierarchy: Hierarchy, role: str) -> dict[str, str]:
    """The labels on everything labctl makes: `down` and `status` select by them, never by name."""
    return {LAB_LABEL: lab.name, HIERARCHY_LABEL: hierarchy.name, ROLE_LABEL: role}


def network_spec(lab: Lab, hierarchy: Hierarchy) -> NetworkSpec:
    return NetworkSpec(network_name(lab, hierarchy), hierarchy.subnet, labels(lab, hierarchy, "network"))


def volume_spec(lab: Lab, hierarchy: Hierarchy) -> VolumeSpec:
    return VolumeSpec(volume_name(lab, hierarchy), labels(lab, hierarchy, "ca-data"))


def ca_command(
    hierarchy: Hierarchy, addressing: Addressing = ON_LAB_NETWORKS, *, events: Events = NO_EVENTS
) -> tuple[str, ...]:
    """The CA's command line, wherever it runs (in its container, or as a process on the host)."""
    ca = hierarchy.ca
    command = [
        "python", "-m", "labctl.services.ca",
        "--data-dir", CA_DATA_DIR,
        "--algorithm", hierarchy.algorithm.value,
        "--common-name", ca.common_name,
        "--host", addressing.listen_host,
        "--port", str(ca.port),
        "--tls-name", ca.container, "--tls-name", "localhost", "--tls-name", "127.0.0.1",
        "--workers", "auto" if ca.workers is None else str(ca.workers),
    ]  # fmt: skip
    if needs_compat_tls(hierarchy):
        command.append("--tls-compat-rsa")
    if ca.http_port is not None:
        # The URLs in its certificates name the container: its network resolves it, and the host does
        # after `labctl hosts --apply` (the port is published on the same number).
        command += ["--http-port", str(ca.http_port), "--public-name", ca.container]
    return (*command, *ca_event_args(events, hierarchy, addressing))


def ca_event_args(events: Events, hierarchy: Hierarchy, addressing: Addressing = ON_LAB_NETWORKS) -> tuple[str, ...]:
    """The CA's event options: its hierarchy's name, and the lab's webhooks with `{gateway}` filled in (the
    hierarchy network's gateway, where the host is reachable from the CA's container; for a CA running on
    the host, its listen address)."""
    host = addressing.listen_host if addressing.host_network else str(gateway(hierarchy))
    args = ["--hierarchy", hierarchy.name]
    for url in events.webhook_urls(hierarchy, gateway=host):
        args += ["--webhook", url]
    if events.webhooks:
        args += ["--events-report-after", f"{events.report_after_s:g}"]
    return tuple(args)


def ca_ports(hierarchy: Hierarchy) -> tuple[int, ...]:
    """The CA's ports, each published on the same number: TLS, then plain HTTP (when the lab file sets it)."""
    ca = hierarchy.ca
    return (ca.port,) if ca.http_port is None else (ca.port, ca.http_port)


def ca_health(hierarchy: Hierarchy) -> HealthCheck:
    return HealthCheck(
        ("python", "-m", "labctl.services.health", "ca", "--port", str(hierarchy.ca.port)), timeout_s=HEALTH_TIMEOUT_S
    )


def ra_health(hierarchy: Hierarchy) -> HealthCheck:
    command = ("python", "-m", "labctl.services.health", "ra", "--port", str(hierarchy.ra.port))
    return HealthCheck((*command, "--trust", f"{RA_CONF_DIR}/ca-chain.pem"), timeout_s=HEALTH_TIMEOUT_S)


def static_hosts(hierarchy: Hierarchy) -> dict[str, str]:
    """The hierarchy's names with static addresses, for /etc/hosts inside its containers.

    aardvark-dns reloads whenever a container joins the network; a lookup that lands in the reload
    is lost, and glibc retries after 5 s, twice: the RA's CA requests then time out. Names with
    fixed addresses need no DNS at all.
    """
    hosts = {}
    if hierarchy.ca.address is not None:
        hosts[hierarchy.ca.container] = str(hierarchy.ca.address)
    if hierarchy.ra.address is not None:
        hosts[hierarchy.ra.container] = str(hierarchy.ra.address)
        hosts[hierarchy.ra.hostname] = str(hierarchy.ra.address)
    return hosts


def ca_spec(lab: Lab, hierarchy: Hierarchy, image: str, addressing: Addressing = ON_LAB_NETWORKS) -> ContainerSpec:
    ca = hierarchy.ca
    return ContainerSpec(
        name=ca.container,
        image=image,
        command=ca_command(hierarchy, addressing, events=lab.events),
        network=network_name(lab, hierarchy),
        labels=labels(lab, hierarchy, "ca"),
        ip=ca.address,
        ports=tuple(PortSpec(port, port, str(lab.bind_address)) for port in ca_ports(hierarchy)),
        mounts=(VolumeMount(volume_name(lab, hierarchy), CA_DATA_DIR),),
        health=ca_health(hierarchy),
        user=f"{IMAGE_UID}:{IMAGE_UID}",
        read_only=True,  # the CA writes only its data volume (and nothing in /tmp, which is read-only too)
    )


def ra_spec(
    lab: Lab, hierarchy: Hierarchy, image: str, config: Mapping[str, FileContent], *, wait_for_config: bool = False
) -> ContainerSpec:
    """The RA container; `config` (its rendered configuration files) is copied in before it starts.

    With `wait_for_config` the RA starts without its configuration and waits for it to be written
    (compose and kube start the containers before labctl can issue the RA's credentials).
    """
    ra = hierarchy.ra
    command: tuple[str, ...] = ("python", "-m", "labctl.services.est_ra", "--conf-dir", RA_CONF_DIR)
    if wait_for_config:
        command += (WAIT_FOR_CONFIG,)
    return ContainerSpec(
        name=ra.container,
        image=image,
        command=command,
        network=network_name(lab, hierarchy),
        labels=labels(lab, hierarchy, "ra"),
        aliases=(ra.hostname,),
        ip=ra.address,
        ports=(PortSpec(ra.port, ra.port, str(lab.bind_address)),),
        health=ra_health(hierarchy),
        user=f"{IMAGE_UID}:{IMAGE_UID}",
        # The RA writes nothing; its configuration is copied in before start. Started before its
        # configuration exists (compose, kube), it must be writable for labctl to copy it in later.
        read_only=not wait_for_config,
        files={RA_CONF_DIR: dict(config)} if config else {},
        files_owner=(IMAGE_UID, IMAGE_UID),
        extra_hosts=static_hosts(hierarchy),
    )


@dataclass(frozen=True, slots=True)
class LabSpecs:
    """Everything a lab is made of, for targets that describe the whole lab at once (compose, kube)."""

    networks: tuple[NetworkSpec, ...]
    volumes: tuple[VolumeSpec, ...]
    containers: tuple[ContainerSpec, ...]


def lab_specs(lab: Lab, image: str) -> LabSpecs:
    """The whole lab, RAs waiting for the configuration labctl writes once their CA is installed."""
    return LabSpecs(
        networks=tuple(network_spec(lab, h) for h in lab.hierarchies),
        volumes=tuple(volume_spec(lab, h) for h in lab.hierarchies),
        containers=tuple(
            spec
            for h in lab.hierarchies
            for spec in (ca_spec(lab, h, image), ra_spec(lab, h, image, {}, wait_for_config=True))
        ),
    )
