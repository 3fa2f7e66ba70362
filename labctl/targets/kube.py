"""The lab as Kubernetes manifests, translated from labctl.specs.lab_specs like the compose file.

Per lab: a Namespace (the lab's name) and a ConfigMap with the lab file. Per CA data volume: a
PersistentVolumeClaim of the volume's name. Per container: a Deployment and a ClusterIP Service of
the container's name, so the RA reaches its CA by the same name as under podman.

What podman gives and Kubernetes does not:
- Static container addresses (spec.ip) and the /etc/hosts entries pointing at them
  (spec.extra_hosts) have no equivalent: those addresses exist only on the podman networks. The
  Services' names replace both: each container name (the RA reaches its CA at
  https://<CA container>:<port>) is a Service in the lab's namespace, resolved by cluster DNS.
  hostAliases with the podman addresses would send that traffic nowhere, so none are written.
- Network aliases (the RA's hostname, e.g. est-ca.cert-lab.local) are not DNS names a Service can
  have: the RA's Service carries them in an annotation. Clients in the cluster use the Service
  name, which is in the RA's TLS certificate too.
- Isolated bridges become NetworkPolicies (see _network_policies); host port publishing on
  127.0.0.1 becomes ingress from outside the namespace to the same ports: `kubectl port-forward`,
  or a NodePort/LoadBalancer/Ingress added for the cluster at hand.

The io.labctl.* label keys are valid Kubernetes label keys as they are (a name segment may hold
dots; the DNS-subdomain prefix before a '/' is optional), so pods are selected by the same labels
`labctl down` and `status` use.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from labctl import specs
from labctl.errors import TopologyError
from labctl.runtime.base import (
    CONTAINER_LABEL,
    LAB_LABEL,
    MANAGED_BY_LABEL,
    ContainerSpec,
    HealthCheck,
    NetworkSpec,
    PortSpec,
    VolumeSpec,
)
from labctl.targets._yaml import dump_documents
from labctl.topology import Lab, dump_lab

MANAGER = "kubernetes"
# The same objects played by `podman kube play` (labctl.targets.kube_play) carry this manager instead.
PODMAN_MANAGER = "podman-kube-play"
LAB_CONFIGMAP = "labctl-lab"
LAB_FILE_KEY = "lab.toml"
ALIASES_ANNOTATION = "io.labctl.aliases"
# The CA keeps a SQLite database and its key pair: small. Clusters round up to their own minimum.
CA_DATA_SIZE = "1Gi"
# How long a container may stay unhealthy after start before the kubelet restarts it: the CA turns
# healthy once labctl installed its certificate and the RA once its configuration is written, both
# steps run by a person or CI after `kubectl apply`. A restart within the window loses nothing (the
# CA's key and CSR are on its volume; the RA has no configuration yet), it only starts the wait anew.
BOOTSTRAP_WINDOW_S = 3600
STARTUP_PERIOD_S = 5
# Set by the API server on every namespace (Kubernetes >= 1.21): lets a policy say "not this namespace".
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
CONFIG_VOLUME = "labctl-config"

# Kubernetes' own rules (k8s.io/apimachinery validation): names of Services, Namespaces and pod
# volumes are RFC 1123 labels; label values are at most 63 of [A-Za-z0-9_.-], alphanumeric at the ends.
_DNS_LABEL = (
    re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"),
    "lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63",
)
_LABEL_VALUE = (
    re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$"),
    "letters, digits, '-', '_' and '.', starting and ending with a letter or digit, at most 63",
)


def render_kube(lab: Lab, image: str, *, labctl: str = "labctl") -> str:
    """Namespace, ConfigMap, PersistentVolumeClaims, NetworkPolicies, Deployments and Services, one document each
    (`labctl` is not used: labctl cannot bootstrap a lab on a cluster yet, so there is no command to suggest).

    Raises:
        TopologyError: a name or label value of the lab is not valid in Kubernetes.
    """
    lab_specs = specs.lab_specs(lab, image)
    check_names(lab, lab_specs)
    documents = [
        _namespace(lab),
        _lab_file(lab),
        *(claim(lab, volume) for volume in lab_specs.volumes),
        *_network_policies(lab, lab_specs),
        *(item for spec in lab_specs.containers for item in (deployment(lab, spec), _service(lab, spec))),
    ]
    return dump_documents(documents, header=_header(lab))


def _header(lab: Lab) -> list[str]:
    return [
        f"labctl lab {lab.name!r} as Kubernetes manifests, rendered by `labctl render --target kube`:",
        "re-render them rather than edit them.",
        "",
        "    kubectl apply -f lab.yaml",
        "",
        "The Intermediate CAs then wait for their certificate, signed by the root key (which stays on",
        "the host), and the RAs for their configuration. labctl runs that bootstrap against podman",
        "containers only: on Kubernetes it needs kubectl exec/cp into the CA and RA pods, which labctl",
        "does not do yet.",
        "The image must be on the nodes (loaded, or pushed to a registry the cluster pulls from).",
        "The PersistentVolumeClaims use the cluster's default storage class; the NetworkPolicies need",
        "a CNI that enforces them.",
    ]


# --- names ---------------------------------------------------------------------------------------


def check_names(lab: Lab, lab_specs: specs.LabSpecs) -> None:
    _require(_DNS_LABEL, lab.name, f"lab name {lab.name!r} (the namespace)", lab)
    for volume in lab_specs.volumes:
        _require(_DNS_LABEL, volume.name, f"volume name {volume.name!r}", lab)
    for spec in lab_specs.containers:
        _require(_DNS_LABEL, spec.name, f"container name {spec.name!r}", lab)
        for key, value in spec.labels.items():
            _require(_LABEL_VALUE, value, f"label {key}={value!r} of {spec.name}", lab)


def _require(rule: tuple[re.Pattern[str], str], value: str, what: str, lab: Lab) -> None:
    pattern, text = rule
    if not pattern.match(value):
        raise TopologyError(f"{lab.source}: {what} is not valid in Kubernetes ({text})")


# --- objects -------------------------------------------------------------------------------------


def _manager(podman: bool) -> str:
    return PODMAN_MANAGER if podman else MANAGER


def _metadata(lab: Lab, name: str, labels: Mapping[str, str], *, podman: bool = False) -> dict[str, object]:
    return {"name": name, "namespace": lab.name, "labels": {**labels, MANAGED_BY_LABEL: _manager(podman)}}


def _namespace(lab: Lab) -> dict[str, object]:
    labels = {
        LAB_LABEL: lab.name,
        MANAGED_BY_LABEL: MANAGER,
        # The pods run as podman runs them (non-root, no capabilities, no privilege escalation,
        # the runtime's default seccomp profile): the "restricted" Pod Security level holds them to it.
        "pod-security.kubernetes.io/enforce": "restricted",
    }
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": lab.name, "labels": labels}}


def _lab_file(lab: Lab) -> dict[str, object]:
    """The lab file the manifests were rendered from, for `labctl --config` when bootstrapping."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(lab, LAB_CONFIGMAP, {LAB_LABEL: lab.name}),
        "data": {LAB_FILE_KEY: dump_lab(lab)},
    }


def claim(lab: Lab, volume: VolumeSpec, *, podman: bool = False) -> dict[str, object]:
    """The volume as a claim of its name (podman kube play makes a named volume of it, with its labels)."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _metadata(lab, volume.name, volume.labels, podman=podman),
        # No storageClassName: the cluster's default class.
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": CA_DATA_SIZE}}},
    }


def deployment(lab: Lab, spec: ContainerSpec, *, podman: bool = False) -> dict[str, object]:
    """One replica. The CA is a Deployment, not a StatefulSet: its claim keeps the podman volume's name
    (a StatefulSet's volumeClaimTemplate would name it <template>-<set>-0) and needs no headless Service.
    Recreate for a container with a volume: its claim is ReadWriteOnce, so the old pod must let go
    of it before the new one starts (a rolling update would wait for it forever on another node).

    With `podman`, the variant `podman kube play` (4.3) runs as labctl's runtime would: see _pod and
    _container, and labctl.targets.kube_play.
    """
    deployment_spec: dict[str, object] = {"replicas": 1, "selector": {"matchLabels": dict(spec.labels)}}
    if spec.mounts:
        deployment_spec["strategy"] = {"type": "Recreate"}
    template_labels = {**spec.labels, MANAGED_BY_LABEL: _manager(podman)}
    if podman:
        # podman names the container <deployment>-pod-0-<container>; labctl finds it by this label
        # (labctl.runtime.podman), so every labctl command keeps using the lab's container names.
        template_labels[CONTAINER_LABEL] = spec.name
    deployment_spec["template"] = {"metadata": {"labels": template_labels}, "spec": _pod(spec, podman=podman)}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(lab, spec.name, spec.labels, podman=podman),
        "spec": deployment_spec,
    }


def _pod(spec: ContainerSpec, *, podman: bool) -> dict[str, object]:
    volumes: list[dict[str, object]] = [
        {"name": mount.volume, "persistentVolumeClaim": {"claimName": mount.volume}} for mount in spec.mounts
    ]
    # podman 4.3 makes an emptyDir a named volume of the volume's name, shared by every pod that
    # names it (the three RAs would share one configuration directory). Under podman the RA keeps its
    # written configuration in its container's writable layer across restarts anyway.
    if _waits_for_config(spec) and not podman:
        volumes.append({"name": CONFIG_VOLUME, "emptyDir": {}})
    security: dict[str, object] = {"seccompProfile": {"type": "RuntimeDefault"}}
    user = _user(spec.user)
    if volumes and user is not None and user[1] is not None:
        # podman gives a new named volume the image directory's owner; a Kubernetes volume is
        # root-owned unless the pod names a group for it.
        security["fsGroup"] = user[1]
    pod: dict[str, object] = {
        # The services never call the Kubernetes API.
        "automountServiceAccountToken": False,
        "securityContext": security,
        "containers": [_container(spec, podman=podman)],
    }
    if podman and spec.extra_hosts:
        # Under podman the pods keep the static addresses (`podman kube play --ip`), so the hosts
        # entries labctl's runtime writes hold there too (see specs.static_hosts: no DNS lookups).
        pod["hostAliases"] = _host_aliases(spec.extra_hosts)
    if volumes:
        pod["volumes"] = volumes
    return pod


def _host_aliases(hosts: Mapping[str, str]) -> list[dict[str, object]]:
    by_address: dict[str, list[str]] = {}
    for name, address in hosts.items():
        by_address.setdefault(address, []).append(name)
    return [{"ip": address, "hostnames": names} for address, names in by_address.items()]


def _waits_for_config(spec: ContainerSpec) -> bool:
    """An RA started before its configuration exists; labctl writes it into the running container.

    Under podman the files stay in the container's writable layer across restarts; in Kubernetes a
    restarted container gets a fresh one. An emptyDir keeps the files for the pod's lifetime instead.
    """
    return specs.WAIT_FOR_CONFIG in spec.command


def _container(spec: ContainerSpec, *, podman: bool) -> dict[str, object]:
    # podman's command replaces the image's CMD, which Kubernetes calls args (command is the ENTRYPOINT).
    container: dict[str, object] = {
        "name": spec.name,
        "image": spec.image,
        # A localhost/ image is never in a registry: use the one on the node.
        "imagePullPolicy": "IfNotPresent",
        "args": list(spec.command),
    }
    if spec.environment:
        container["env"] = [{"name": name, "value": value} for name, value in spec.environment.items()]
    if spec.ports:
        container["ports"] = [_container_port(port, podman=podman) for port in spec.ports]
    container["securityContext"] = _security_context(spec)
    mounts = [{"name": mount.volume, "mountPath": mount.target} for mount in spec.mounts]
    if _waits_for_config(spec) and not podman:
        mounts.append({"name": CONFIG_VOLUME, "mountPath": specs.RA_CONF_DIR})
    if mounts:
        container["volumeMounts"] = mounts
    if spec.health is not None:
        container.update(_probes(spec.health))
    return container


def _container_port(port: PortSpec, *, podman: bool) -> dict[str, object]:
    described: dict[str, object] = {
        "name": _port_name(port.container_port),
        "containerPort": port.container_port,
        "protocol": "TCP",
    }
    if podman:
        # podman ignores Services: it publishes on the host what the pod spec names. Without a
        # hostPort, podman 4.3 publishes the containerPort on every address (0.0.0.0), not on the
        # lab's bind address.
        described["hostPort"] = port.host_port
        described["hostIP"] = port.host_ip
    return described


def _port_name(port: int) -> str:
    return f"tcp-{port}"  # at most 15 characters, as Kubernetes requires of port names


def _user(user: str | None) -> tuple[int, int | None] | None:
    """podman's "uid[:gid]" as numbers (runAsUser takes no user names; labctl's specs use numbers)."""
    if user is None:
        return None
    uid, _, gid = user.partition(":")
    return int(uid), int(gid) if gid else None


def _security_context(spec: ContainerSpec) -> dict[str, object]:
    context: dict[str, object] = {}
    user = _user(spec.user)
    if user is not None:
        context["runAsUser"] = user[0]
        if user[1] is not None:
            context["runAsGroup"] = user[1]
    context["runAsNonRoot"] = True
    context["allowPrivilegeEscalation"] = False
    if spec.cap_drop:
        context["capabilities"] = {"drop": list(spec.cap_drop)}
    if spec.read_only:
        context["readOnlyRootFilesystem"] = True
    return context


def _probes(health: HealthCheck) -> dict[str, object]:
    """The health check as readiness and liveness probes, held back by a startup probe until first healthy."""
    check = {"exec": {"command": list(health.command)}, "timeoutSeconds": math.ceil(health.timeout_s)}
    steady = {**check, "periodSeconds": math.ceil(health.interval_s), "failureThreshold": health.retries}
    startup = {**check, "periodSeconds": STARTUP_PERIOD_S, "failureThreshold": BOOTSTRAP_WINDOW_S // STARTUP_PERIOD_S}
    return {"startupProbe": startup, "readinessProbe": steady, "livenessProbe": steady}


def _service(lab: Lab, spec: ContainerSpec) -> dict[str, object]:
    metadata = _metadata(lab, spec.name, spec.labels)
    if spec.aliases:
        metadata["annotations"] = {ALIASES_ANNOTATION: ",".join(spec.aliases)}
    # The Service stands in for the container's address on its podman network: same ports.
    ports = [
        {
            "name": _port_name(port.container_port),
            "port": port.container_port,
            "targetPort": port.container_port,
            "protocol": "TCP",
        }
        for port in spec.ports
    ]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {"type": "ClusterIP", "selector": dict(spec.labels), "ports": ports},
    }


# --- isolation -----------------------------------------------------------------------------------


def _network_policies(lab: Lab, lab_specs: specs.LabSpecs) -> list[dict[str, object]]:
    """The podman networks' isolation, for ingress.

    - every pod of the lab: no ingress but what a policy below allows;
    - per network: its pods accept anything from pods on the same network (one bridge);
    - per container with published ports: those ports accept traffic from outside the namespace,
      as podman's publishing on the host does (a pod of another hierarchy in the namespace stays out).

    Egress stays open, as on podman's bridges (which NAT to the outside); another hierarchy's pods
    refuse it by their own ingress policy.
    """
    policies = [_deny_all(lab)]
    policies += [_same_network(lab, network, lab_specs.containers) for network in lab_specs.networks]
    policies += [_published(lab, spec) for spec in lab_specs.containers if spec.ports]
    return policies


def _policy(lab: Lab, name: str, labels: Mapping[str, str], spec: Mapping[str, object]) -> dict[str, object]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(lab, name, labels),
        "spec": {**spec, "policyTypes": ["Ingress"]},
    }


def _deny_all(lab: Lab) -> dict[str, object]:
    return _policy(lab, f"{lab.name}-deny-ingress", {LAB_LABEL: lab.name}, {"podSelector": {}, "ingress": []})


def network_selector(network: NetworkSpec, containers: tuple[ContainerSpec, ...]) -> dict[str, str]:
    """The labels every container on the network carries (lab and hierarchy): its pods' selector."""
    members = [dict(spec.labels) for spec in containers if spec.network == network.name]
    if not members:
        raise ValueError(f"network {network.name} has no container: a selector for it would select nothing")
    first, *others = members
    return {key: value for key, value in first.items() if all(other.get(key) == value for other in others)}


def _same_network(lab: Lab, network: NetworkSpec, containers: tuple[ContainerSpec, ...]) -> dict[str, object]:
    selector = {"matchLabels": network_selector(network, containers)}
    rules = [{"from": [{"podSelector": selector}]}]
    return _policy(lab, network.name, network.labels, {"podSelector": selector, "ingress": rules})


def _published(lab: Lab, spec: ContainerSpec) -> dict[str, object]:
    outside = {"matchExpressions": [{"key": NAMESPACE_NAME_LABEL, "operator": "NotIn", "values": [lab.name]}]}
    rule = {
        "from": [{"namespaceSelector": outside}],
        "ports": [{"protocol": "TCP", "port": port.container_port} for port in spec.ports],
    }
    return _policy(
        lab,
        f"{spec.name}-published",
        spec.labels,
        {"podSelector": {"matchLabels": dict(spec.labels)}, "ingress": [rule]},
    )
