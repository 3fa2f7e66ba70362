"""The Kubernetes manifests in the form `podman kube play` (podman 4.3) runs: one file per hierarchy.

The objects are labctl.targets.kube's, built with `podman=True`; what podman 4.3 does with each kind
decides what is kept (checked with podman 4.3.1):

- Deployment: played as a pod `<deployment>-pod-0` (plus an infra container `<id>-infra`) with one
  container `<pod>-<container>`. The template's labels land on the pod and on that container (not on
  the infra container). The container name cannot be the lab's, so the template also carries
  CONTAINER_LABEL with it, and labctl's runtime finds the container by that label. The
  livenessProbe becomes the container's health check (startupProbe and readinessProbe are ignored).
- PersistentVolumeClaim: a named volume of the claim's name with its labels; `podman kube down`
  keeps it (as `labctl down` keeps CA data without --volumes).
- Namespace, ConfigMap (unless a pod reads it), Service and NetworkPolicy: ignored without a word.
  They are left out rather than written for nothing. The isolation the NetworkPolicies describe comes
  from the hierarchy's own podman network instead (isolate=true), as under `labctl up`: each file is
  played onto its hierarchy's network with `--network`, which is why there is one file per hierarchy.
- emptyDir: a named volume of the volume's name, shared by every pod naming it; the RAs keep their
  configuration in their writable layer instead (see kube._pod).
- Ports: Services are ignored, so the pods publish on the host themselves (hostPort on hostIP, the
  lab's bind address). A containerPort without hostPort is published on 0.0.0.0 by podman 4.3.
- Addresses: `--ip` (one per pod, in the order of the file) gives the pods the lab's static addresses,
  and hostAliases the /etc/hosts entries labctl's runtime writes (specs.static_hosts).

podman creates no network from a manifest, so play.sh creates them first, as labctl would.
"""

from __future__ import annotations

import shlex

from labctl import specs
from labctl.errors import TopologyError
from labctl.runtime.base import MANAGED_BY_LABEL
from labctl.targets._yaml import dump_documents
from labctl.targets.kube import PODMAN_MANAGER, check_names, claim, deployment
from labctl.topology import Hierarchy, Lab, network_name

PLAY_SCRIPT = "play.sh"


def render_kube_play(lab: Lab, image: str, *, labctl: str = "labctl") -> dict[str, str]:
    """{file name: text}: a manifest per hierarchy, and play.sh that creates the networks and plays them.

    `labctl`: the command line that finds this lab (e.g. `labctl --lab ci1`), for play.sh's hints.

    Raises:
        TopologyError: a name or label value is not valid in Kubernetes, or a container has no
            static address (the RA reaches its CA by a hosts entry for it).
    """
    check_names(lab, specs.lab_specs(lab, image))
    files = {manifest_name(lab, h): _manifest(lab, h, image) for h in lab.hierarchies}
    files[PLAY_SCRIPT] = _play_script(lab, labctl)
    return files


def manifest_name(lab: Lab, hierarchy: Hierarchy) -> str:
    return f"{network_name(lab, hierarchy)}.yaml"


def _manifest(lab: Lab, hierarchy: Hierarchy, image: str) -> str:
    ca = specs.ca_spec(lab, hierarchy, image)
    ra = specs.ra_spec(lab, hierarchy, image, {}, wait_for_config=True)
    documents = [
        claim(lab, specs.volume_spec(lab, hierarchy), podman=True),
        # The CA before the RA: `podman kube play --ip` gives the addresses in this order (play_commands).
        deployment(lab, ca, podman=True),
        deployment(lab, ra, podman=True),
    ]
    header = [
        f"labctl lab {lab.name!r}, hierarchy {hierarchy.name!r}, for `podman kube play` (podman 4.3),",
        "rendered by `labctl render --target kube-play`: re-render it rather than edit it.",
        "Played by play.sh beside it, onto the hierarchy's network with the lab's addresses:",
        "    " + shlex.join(play_commands(lab, hierarchy)[-1]),
    ]
    return dump_documents(documents, header=header)


def play_commands(lab: Lab, hierarchy: Hierarchy) -> list[list[str]]:
    """The commands that play the hierarchy's manifest: create its network when missing, then play.

    Raises:
        TopologyError: the CA or the RA has no static address.
    """
    addresses = [hierarchy.ca.address, hierarchy.ra.address]
    if None in addresses:
        raise TopologyError(
            f"{lab.source}: hierarchy {hierarchy.name!r}: kube-play needs a static address for the CA and the RA",
            hint="give both an address in the lab file (or place the lab with --subnets auto)",
        )
    network = specs.network_spec(lab, hierarchy)
    create = ["podman", "network", "create", "--subnet", str(network.subnet)]
    if network.isolate:
        create += ["--opt", "isolate=true"]
    for key, value in {**network.labels, MANAGED_BY_LABEL: PODMAN_MANAGER}.items():
        create += ["--label", f"{key}={value}"]
    play = ["podman", "kube", "play", "--network", network.name]
    for address in addresses:
        play += ["--ip", str(address)]
    return [[*create, network.name], [*play, manifest_name(lab, hierarchy)]]


def _play_script(lab: Lab, labctl: str) -> str:
    lines = [
        "#!/bin/sh",
        f"# labctl lab {lab.name!r} for podman kube play, rendered by `labctl render --target kube-play`.",
        f"# Then: {labctl} up (installs the CA certificates, configures the RAs), {labctl} verify.",
        f"# Remove: {labctl} down [--volumes] (the pods, in dependency order, and the networks).",
        "set -eu",
        'cd "$(dirname "$0")"',
    ]
    for hierarchy in lab.hierarchies:
        create, play = play_commands(lab, hierarchy)
        network = network_name(lab, hierarchy)
        lines.append(f"podman network exists {shlex.quote(network)} || {shlex.join(create)}")
        lines.append(shlex.join(play))
    return "\n".join(lines) + "\n"
