"""The Kubernetes rendering: every object is valid against Kubernetes' API schemas (kubernetes-validate,
strict: no unknown fields), carries its spec's values, and the NetworkPolicies isolate the
hierarchies as the podman networks do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from labctl import specs
from labctl.errors import TopologyError
from labctl.runtime.base import MANAGED_BY_LABEL, ROLE_LABEL, ContainerSpec
from labctl.targets.kube import ALIASES_ANNOTATION, network_selector, render_kube
from labctl.topology import DEFAULT_LAB_FILE, Lab, load_lab, parse_lab, renamed

IMAGE = "localhost/labctl:0123456789ab"
LABS = {"default": load_lab(), "renamed": renamed(load_lab(), "ci1")}
# The oldest schemas kubernetes-validate ships, and the newest.
KUBE_VERSIONS = ["1.25", latest_version()]

# k8s.io/apimachinery's rules, written out here independently of labctl.targets.kube.
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@pytest.fixture(params=sorted(LABS))
def lab(request: pytest.FixtureRequest) -> Lab:
    return LABS[request.param]


def _objects(lab: Lab) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(render_kube(lab, IMAGE)) if document is not None]


def _of_kind(lab: Lab, kind: str) -> dict[str, dict[str, Any]]:
    return {item["metadata"]["name"]: item for item in _objects(lab) if item["kind"] == kind}


def _containers(lab: Lab) -> tuple[ContainerSpec, ...]:
    return specs.lab_specs(lab, IMAGE).containers


# --- schema and naming rules ---------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_every_object_is_valid_against_the_kubernetes_schemas(lab: Lab, version: str) -> None:
    for item in _objects(lab):
        kubernetes_validate.validate(item, version, strict=True)


def test_schema_check_catches_an_unknown_field() -> None:
    service = next(iter(_of_kind(LABS["default"], "Service").values()))
    service["spec"]["clusterAddress"] = "10.0.0.1"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(service, KUBE_VERSIONS[-1], strict=True)


def _check_label_map(labels: Mapping[str, str]) -> None:
    for key, value in labels.items():
        prefix, _, name = key.rpartition("/")
        assert not prefix or (len(prefix) <= 253 and DNS_SUBDOMAIN.match(prefix)), key
        assert len(name) <= 63 and QUALIFIED_NAME.match(name), key
        assert len(value) <= 63 and LABEL_VALUE.match(value), f"{key}={value}"


def test_names_and_labels_follow_the_kubernetes_rules(lab: Lab) -> None:
    for item in _objects(lab):
        metadata = item["metadata"]
        # Services and Namespaces need RFC 1123 labels; the rest RFC 1123 subdomains.
        pattern = DNS_LABEL if item["kind"] in {"Service", "Namespace"} else DNS_SUBDOMAIN
        assert len(metadata["name"]) <= 63 and pattern.match(metadata["name"]), metadata["name"]
        _check_label_map(metadata.get("labels", {}))
        _check_label_map(metadata.get("annotations", {}))


def test_io_labctl_label_keys_are_kept_as_they_are() -> None:
    # Valid Kubernetes label keys already (a name segment may hold dots): the same selectors as on podman.
    spec = _containers(LABS["default"])[0]
    deployment = _of_kind(LABS["default"], "Deployment")[spec.name]
    assert deployment["spec"]["selector"]["matchLabels"] == dict(spec.labels)
    assert all(key.startswith("io.labctl.") for key in spec.labels)


@pytest.mark.parametrize(
    ("old", "new"),
    [('container = "dogtag-est-ca"', 'container = "Dogtag_EST"'), ('name = "cert-lab"', 'name = "cert-lab-"')],
    ids=["container", "lab"],
)
def test_a_name_kubernetes_refuses_is_a_topology_error(old: str, new: str) -> None:
    text = DEFAULT_LAB_FILE.read_text(encoding="utf-8")
    assert old in text
    lab = parse_lab(text.replace(old, new, 1), source="lab.toml")
    with pytest.raises(TopologyError, match=r"^lab\.toml: .* is not valid in Kubernetes \(") as caught:
        render_kube(lab, IMAGE)
    assert "\n" not in str(caught.value)


# --- objects against the specs -------------------------------------------------------------------


def test_one_namespace_named_after_the_lab_holds_everything(lab: Lab) -> None:
    objects = _objects(lab)
    namespaces = [item for item in objects if item["kind"] == "Namespace"]
    assert [item["metadata"]["name"] for item in namespaces] == [lab.name]
    assert namespaces[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert {item["metadata"]["namespace"] for item in objects if item["kind"] != "Namespace"} == {lab.name}
    assert all(item["metadata"]["labels"][MANAGED_BY_LABEL] == "kubernetes" for item in objects)


def test_the_config_map_holds_the_lab_file(lab: Lab) -> None:
    (config_map,) = _of_kind(lab, "ConfigMap").values()
    parsed = parse_lab(config_map["data"]["lab.toml"], source=lab.source)
    assert parsed == lab


def test_one_claim_per_ca_data_volume(lab: Lab) -> None:
    claims = _of_kind(lab, "PersistentVolumeClaim")
    volumes = specs.lab_specs(lab, IMAGE).volumes
    assert list(claims) == [volume.name for volume in volumes]
    for volume in volumes:
        claim = claims[volume.name]
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
        assert claim["metadata"]["labels"] == {**volume.labels, MANAGED_BY_LABEL: "kubernetes"}


def _pod_container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def test_one_deployment_per_container_running_its_spec(lab: Lab) -> None:
    deployments = _of_kind(lab, "Deployment")
    assert list(deployments) == [spec.name for spec in _containers(lab)]
    for spec in _containers(lab):
        deployment = deployments[spec.name]
        template = deployment["spec"]["template"]
        assert deployment["spec"]["replicas"] == 1
        assert deployment["spec"]["selector"]["matchLabels"] == dict(spec.labels)
        assert template["metadata"]["labels"] == {**spec.labels, MANAGED_BY_LABEL: "kubernetes"}
        container = _pod_container(deployment)
        assert container["image"] == spec.image
        assert container["args"] == list(spec.command)
        assert "command" not in container  # the image's ENTRYPOINT stays, as under podman
        assert [p["containerPort"] for p in container["ports"]] == [p.container_port for p in spec.ports]
        assert "hostAliases" not in template["spec"]  # podman-only addresses: Services replace them


def test_the_ca_keeps_its_data_on_its_claim_and_is_recreated_not_rolled(lab: Lab) -> None:
    deployments = _of_kind(lab, "Deployment")
    for spec in _containers(lab):
        deployment = deployments[spec.name]
        pod = deployment["spec"]["template"]["spec"]
        claims = {
            v["name"]: v["persistentVolumeClaim"]["claimName"]
            for v in pod.get("volumes", [])
            if "persistentVolumeClaim" in v
        }
        mounts = {m["name"]: m["mountPath"] for m in _pod_container(deployment).get("volumeMounts", [])}
        assert {claims[name]: mounts[name] for name in claims} == {m.volume: m.target for m in spec.mounts}
        assert ("strategy" in deployment["spec"]) is bool(spec.mounts)
        if spec.mounts:
            assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_an_ra_keeps_its_written_configuration_across_container_restarts(lab: Lab) -> None:
    deployments = _of_kind(lab, "Deployment")
    for hierarchy in lab.hierarchies:
        deployment = deployments[hierarchy.ra.container]
        pod = deployment["spec"]["template"]["spec"]
        empty = [v["name"] for v in pod["volumes"] if "emptyDir" in v]
        mounted = {m["name"]: m["mountPath"] for m in _pod_container(deployment)["volumeMounts"]}
        assert [mounted[name] for name in empty] == [specs.RA_CONF_DIR]


def test_each_container_runs_as_its_spec_user_without_privileges(lab: Lab) -> None:
    deployments = _of_kind(lab, "Deployment")
    for spec in _containers(lab):
        assert spec.user is not None
        uid, gid = (int(part) for part in spec.user.split(":"))
        pod = deployments[spec.name]["spec"]["template"]["spec"]
        context = _pod_container(deployments[spec.name])["securityContext"]
        assert context["runAsUser"] == uid and context["runAsGroup"] == gid
        assert context["runAsNonRoot"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": list(spec.cap_drop)}
        assert context.get("readOnlyRootFilesystem", False) is spec.read_only
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["securityContext"]["fsGroup"] == gid
        assert pod["automountServiceAccountToken"] is False


def test_each_health_check_becomes_the_probes(lab: Lab) -> None:
    deployments = _of_kind(lab, "Deployment")
    for spec in _containers(lab):
        assert spec.health is not None
        container = _pod_container(deployments[spec.name])
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["exec"] == {"command": list(spec.health.command)}
            assert container[probe]["timeoutSeconds"] >= spec.health.timeout_s
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["periodSeconds"] == spec.health.interval_s
            assert container[probe]["failureThreshold"] == spec.health.retries
        startup = container["startupProbe"]
        # A CA awaiting its certificate or an RA awaiting its configuration is not restarted for an hour.
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 3600


def test_one_service_per_container_under_its_name(lab: Lab) -> None:
    services = _of_kind(lab, "Service")
    assert list(services) == [spec.name for spec in _containers(lab)]
    for spec in _containers(lab):
        service = services[spec.name]
        assert service["spec"]["type"] == "ClusterIP"
        assert service["spec"]["selector"] == dict(spec.labels)
        assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [
            (p.container_port, p.container_port) for p in spec.ports
        ]


def test_each_service_selects_exactly_its_own_pod(lab: Lab) -> None:
    templates = {name: d["spec"]["template"]["metadata"]["labels"] for name, d in _of_kind(lab, "Deployment").items()}
    for name, service in _of_kind(lab, "Service").items():
        selector = service["spec"]["selector"]
        assert [pod for pod, labels in templates.items() if selector.items() <= labels.items()] == [name]


def test_every_name_a_container_resolves_by_hosts_file_is_a_service_or_an_alias(lab: Lab) -> None:
    services = _of_kind(lab, "Service")
    aliases = {
        alias: name
        for name, service in services.items()
        for alias in service["metadata"].get("annotations", {}).get(ALIASES_ANNOTATION, "").split(",")
        if alias
    }
    for spec in _containers(lab):
        for host, address in spec.extra_hosts.items():
            target = next(other.name for other in _containers(lab) if str(other.ip) == address)
            assert (host == target and host in services) or aliases.get(host) == target, host


def test_the_ra_hostname_is_documented_on_its_service(lab: Lab) -> None:
    services = _of_kind(lab, "Service")
    for hierarchy in lab.hierarchies:
        annotations = services[hierarchy.ra.container]["metadata"]["annotations"]
        assert annotations[ALIASES_ANNOTATION] == hierarchy.ra.hostname


# --- isolation: the NetworkPolicies against the podman networks ----------------------------------


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str
    labels: Mapping[str, str]


def _selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A label selector (matchLabels and matchExpressions) against a label set; {} selects everything."""
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        matches = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not matches:
            return False
    return True


def _peer_allows(peer: Mapping[str, Any], policy_namespace: str, source: Pod) -> bool:
    assert "ipBlock" not in peer, "the evaluator knows pod and namespace selectors only"
    if "namespaceSelector" in peer:
        # The API server labels every namespace with its name (Kubernetes >= 1.21).
        namespace_ok = _selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": source.namespace})
    else:
        namespace_ok = source.namespace == policy_namespace
    return namespace_ok and _selects(peer.get("podSelector", {}), source.labels)


def _rule_allows(rule: Mapping[str, Any], policy_namespace: str, source: Pod, port: int) -> bool:
    peers = rule.get("from") or []
    ports = rule.get("ports") or []
    peer_ok = not peers or any(_peer_allows(peer, policy_namespace, source) for peer in peers)
    port_ok = not ports or any(item["port"] == port and item.get("protocol", "TCP") == "TCP" for item in ports)
    return peer_ok and port_ok


def ingress_allowed(policies: list[dict[str, Any]], source: Pod, target: Pod, port: int) -> bool:
    """NetworkPolicy semantics for ingress: isolated once any policy selects the pod, then the union of their rules."""
    selecting = [
        policy
        for policy in policies
        if policy["metadata"]["namespace"] == target.namespace
        and "Ingress" in policy["spec"]["policyTypes"]
        and _selects(policy["spec"]["podSelector"], target.labels)
    ]
    if not selecting:
        return True
    return any(
        _rule_allows(rule, policy["metadata"]["namespace"], source, port)
        for policy in selecting
        for rule in policy["spec"].get("ingress", [])
    )


def test_the_evaluator_knows_an_unselected_pod_is_open() -> None:
    pod = Pod("a", "ns", {"app": "x"})
    assert ingress_allowed([], pod, pod, 1)
    deny = {"metadata": {"namespace": "ns"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}
    assert not ingress_allowed([deny], pod, pod, 1)


UNPUBLISHED_PORT = 9999


def _podman_allows(source: ContainerSpec | None, target: ContainerSpec, port: int) -> bool:
    """What the podman lab allows: anything on the same network; from outside, only published ports.

    source None is a client outside the lab (the host, through the ports published on 127.0.0.1).
    """
    if source is None:
        return port in {p.container_port for p in target.ports}
    return source.network == target.network


def test_network_policies_isolate_the_hierarchies_as_the_podman_networks_do(lab: Lab) -> None:
    policies = list(_of_kind(lab, "NetworkPolicy").values())
    deployments = _of_kind(lab, "Deployment")
    pods = {
        spec.name: Pod(spec.name, lab.name, deployments[spec.name]["spec"]["template"]["metadata"]["labels"])
        for spec in _containers(lab)
    }
    outside = Pod("client", "elsewhere", {"app": "client"})
    sources: list[tuple[Pod, ContainerSpec | None]] = [(pods[s.name], s) for s in _containers(lab)]
    sources.append((outside, None))
    checked = 0
    for target in _containers(lab):
        for port in [*(p.container_port for p in target.ports), UNPUBLISHED_PORT]:
            for source_pod, source_spec in sources:
                expected = _podman_allows(source_spec, target, port)
                actual = ingress_allowed(policies, source_pod, pods[target.name], port)
                assert actual is expected, f"{source_pod.name} -> {target.name}:{port}"
                checked += 1
    # Each container's published ports and one unpublished, from every lab container and from outside.
    assert checked == sum(len(t.ports) + 1 for t in _containers(lab)) * (len(_containers(lab)) + 1)


def test_a_stranger_pod_in_the_lab_namespace_reaches_nothing(lab: Lab) -> None:
    # On podman a container on none of the lab's networks reaches no lab container.
    policies = list(_of_kind(lab, "NetworkPolicy").values())
    stranger = Pod("debug", lab.name, {"app": "debug"})
    for spec in _containers(lab):
        target = Pod(spec.name, lab.name, dict(spec.labels))
        assert not any(ingress_allowed(policies, stranger, target, p.container_port) for p in spec.ports)


def test_a_pod_of_another_hierarchy_cannot_use_the_published_port(lab: Lab) -> None:
    # On podman the ports are published on the host's 127.0.0.1, which no other network reaches.
    policies = list(_of_kind(lab, "NetworkPolicy").values())
    first, second = lab.hierarchies[0], lab.hierarchies[1]
    containers = {spec.name: spec for spec in _containers(lab)}
    source = Pod("x", lab.name, dict(containers[second.ra.container].labels))
    target = Pod("y", lab.name, dict(containers[first.ra.container].labels))
    assert not ingress_allowed(policies, source, target, first.ra.port)


def test_a_network_selector_is_what_its_containers_share() -> None:
    lab_specs = specs.lab_specs(LABS["default"], IMAGE)
    network = lab_specs.networks[0]
    members = tuple(spec for spec in lab_specs.containers if spec.network == network.name)
    assert network_selector(network, members) == {k: v for k, v in network.labels.items() if k != ROLE_LABEL}
    assert network_selector(network, members[:1]) == dict(members[0].labels)
    with pytest.raises(ValueError, match="no container"):
        network_selector(network, ())


def test_a_pod_no_other_policy_selects_is_closed_too(lab: Lab) -> None:
    # "Deny everything else": whatever else runs in the namespace accepts no traffic by default.
    policies = list(_of_kind(lab, "NetworkPolicy").values())
    stranger = Pod("debug", lab.name, {"app": "debug"})
    for source in (stranger, Pod("client", "elsewhere", {})):
        assert not ingress_allowed(policies, source, stranger, UNPUBLISHED_PORT)
