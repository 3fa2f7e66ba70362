"""The compose rendering: each service, network and volume is its spec's, the file is valid
compose-spec, and podman-compose 1.6.0 turns it into podman calls carrying every spec value.

The compose-spec schema is the copy check-jsonschema ships (builtin_schemas/vendor/compose-spec.json,
vendored from github.com/compose-spec/compose-spec schema/compose-spec.json, Apache-2.0: see
builtin_schemas/vendor/licenses/LICENSE.compose-spec in that package).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from labctl import specs
from labctl.runtime.base import MANAGED_BY_LABEL, ContainerSpec
from labctl.targets.compose import duration, render_compose
from labctl.topology import Lab, load_lab, renamed

IMAGE = "localhost/labctl:0123456789ab"
LABS = {"default": load_lab(), "renamed": renamed(load_lab(), "ci1")}

# A podman that records its arguments (NUL-separated, a record separator after each call) and
# answers podman-compose's questions as podman 4.3 would. A shell script: podman-compose calls it
# some forty times per run.
FAKE_PODMAN = r"""#!/bin/sh
calls="$FAKE_PODMAN_STATE/calls"
printf '%s\0' "$@" >> "$calls"
printf '\036' >> "$calls"
case "$1 $2" in
  "--version "*) echo "podman version 4.3.1" ;;
  "network exists" | "volume inspect") grep -qxF "$3" "$FAKE_PODMAN_STATE/$1" 2>/dev/null || exit 1 ;;
  "network create" | "volume create") for last; do :; done; echo "$last" >> "$FAKE_PODMAN_STATE/$1" ;;
  "ps "*) echo "[]" ;;
esac
"""


@pytest.fixture(params=sorted(LABS))
def lab(request: pytest.FixtureRequest) -> Lab:
    return LABS[request.param]


def _document(lab: Lab) -> dict[str, Any]:
    document = yaml.safe_load(render_compose(lab, IMAGE))
    assert isinstance(document, dict)
    return document


def _lab_specs(lab: Lab) -> specs.LabSpecs:
    return specs.lab_specs(lab, IMAGE)


# --- the document against the specs --------------------------------------------------------------


def test_one_service_per_container_keyed_and_named_by_the_container(lab: Lab) -> None:
    services = _document(lab)["services"]
    names = [spec.name for spec in _lab_specs(lab).containers]
    assert list(services) == names
    assert [service["container_name"] for service in services.values()] == names


def test_each_service_runs_its_spec(lab: Lab) -> None:
    services = _document(lab)["services"]
    for spec in _lab_specs(lab).containers:
        service = services[spec.name]
        assert service["image"] == IMAGE == spec.image
        assert service["command"] == list(spec.command)
        assert service["user"] == spec.user
        assert service["cap_drop"] == list(spec.cap_drop) == ["ALL"]
        assert service.get("read_only", False) is spec.read_only
        assert service["labels"] == {**spec.labels, MANAGED_BY_LABEL: "compose"}
        assert service.get("environment", {}) == dict(spec.environment)


def test_each_service_is_attached_as_its_spec_says(lab: Lab) -> None:
    services = _document(lab)["services"]
    for spec in _lab_specs(lab).containers:
        service = services[spec.name]
        assert service["ports"] == [f"{p.host_ip}:{p.host_port}:{p.container_port}" for p in spec.ports]
        assert service.get("volumes", []) == [
            {"type": "volume", "source": m.volume, "target": m.target} for m in spec.mounts
        ]
        attachment = service["networks"][spec.network]
        assert list(service["networks"]) == [spec.network]
        assert attachment.get("ipv4_address") == (str(spec.ip) if spec.ip else None)
        assert attachment.get("aliases", []) == list(spec.aliases)
        assert service.get("extra_hosts", []) == [f"{name}:{address}" for name, address in spec.extra_hosts.items()]


def test_each_health_check_is_its_spec(lab: Lab) -> None:
    services = _document(lab)["services"]
    for spec in _lab_specs(lab).containers:
        assert spec.health is not None
        assert services[spec.name]["healthcheck"] == {
            "test": ["CMD", *spec.health.command],
            "interval": duration(spec.health.interval_s),
            "timeout": duration(spec.health.timeout_s),
            "retries": spec.health.retries,
        }


def test_each_ra_depends_on_its_ca_started_and_nothing_else(lab: Lab) -> None:
    services = _document(lab)["services"]
    for hierarchy in lab.hierarchies:
        ra = services[hierarchy.ra.container]
        assert ra["depends_on"] == {hierarchy.ca.container: {"condition": "service_started"}}
        assert "depends_on" not in services[hierarchy.ca.container]


def test_networks_are_the_specs_isolated_bridges(lab: Lab) -> None:
    networks = _document(lab)["networks"]
    assert list(networks) == [network.name for network in _lab_specs(lab).networks]
    for network in _lab_specs(lab).networks:
        assert network.isolate
        assert networks[network.name] == {
            "name": network.name,
            "driver": "bridge",
            "driver_opts": {"isolate": "true"},
            "ipam": {"config": [{"subnet": str(network.subnet)}]},
            "labels": {**network.labels, MANAGED_BY_LABEL: "compose"},
        }


def test_volumes_are_the_specs(lab: Lab) -> None:
    volumes = _document(lab)["volumes"]
    assert volumes == {
        volume.name: {"name": volume.name, "labels": {**volume.labels, MANAGED_BY_LABEL: "compose"}}
        for volume in _lab_specs(lab).volumes
    }


def test_project_is_the_lab_outside_any_pod(lab: Lab) -> None:
    document = _document(lab)
    assert document["name"] == lab.name
    assert document["x-podman"] == {"in_pod": False}


def test_header_names_the_lab_the_follow_up_and_the_health_condition(lab: Lab) -> None:
    text = render_compose(lab, IMAGE)
    header = text[: text.index("\nname:")]
    assert all(line.startswith("#") for line in header.splitlines())
    assert f"labctl lab {lab.name!r}" in header
    assert "podman-compose -f compose.yaml up -d" in header
    assert "labctl up" in header
    assert "labctl verify" in header
    assert "podman < 4.6" in header


def test_rendering_is_stable(lab: Lab) -> None:
    assert render_compose(lab, IMAGE) == render_compose(lab, IMAGE)


# --- the file as YAML and compose-spec -----------------------------------------------------------


def _compose_schema() -> dict[str, Any]:
    vendored = resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / "compose-spec.json"
    schema = json.loads(vendored.read_text(encoding="utf-8"))
    assert isinstance(schema, dict)
    return schema


def test_document_is_valid_compose_spec(lab: Lab) -> None:
    schema = _compose_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator_class(schema).iter_errors(_document(lab))]
    assert errors == []


def test_schema_check_catches_an_unknown_key() -> None:
    document = _document(LABS["default"])
    service = next(iter(document["services"].values()))
    service["healthcheck"]["every"] = "30s"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, _compose_schema())


def _string_values(node: yaml.Node) -> list[yaml.ScalarNode]:
    """Every scalar string in the node that is not a mapping key."""
    if isinstance(node, yaml.MappingNode):
        return [found for _key, value in node.value for found in _string_values(value)]
    if isinstance(node, yaml.SequenceNode):
        return [found for item in node.value for found in _string_values(item)]
    return [node] if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str" else []


def test_every_string_value_is_double_quoted(lab: Lab) -> None:
    # Plain `8447:8447`, `on` or `0o17` would be read as other types by YAML 1.1 or 1.2 parsers.
    root = yaml.compose(render_compose(lab, IMAGE))
    assert root is not None
    assert {node.style for node in _string_values(root)} == {'"'}


def _with_ca_common_name(lab: Lab, common_name: str) -> Lab:
    first = lab.hierarchies[0]
    hierarchy = dataclasses.replace(first, ca=dataclasses.replace(first.ca, common_name=common_name))
    return dataclasses.replace(lab, hierarchies=(hierarchy, *lab.hierarchies[1:]))


@pytest.mark.parametrize("common_name", ["on", "yes", "1:30", "8447:8447", "0o17", "null", "~", "- a", "#x", "a: b"])
def test_yaml_lookalikes_stay_strings(common_name: str) -> None:
    lab = _with_ca_common_name(LABS["default"], common_name)
    ca = _document(lab)["services"][lab.hierarchies[0].ca.container]
    assert common_name in ca["command"]


def test_dollar_is_escaped_from_compose_interpolation() -> None:
    lab = _with_ca_common_name(LABS["default"], "Lab $HOME ${USER} CA")
    ca = _document(lab)["services"][lab.hierarchies[0].ca.container]
    assert "Lab $$HOME $${USER} CA" in ca["command"]


def test_duration_is_exact_to_the_millisecond() -> None:
    assert [duration(30.0), duration(5), duration(2.5), duration(0.25)] == ["30s", "5s", "2500ms", "250ms"]


def test_a_spec_with_files_to_copy_in_is_refused() -> None:
    # labctl's runtime copies such files in before start; compose cannot, so nothing may drop them silently.
    from labctl.targets import compose

    spec = _lab_specs(LABS["default"]).containers[1]
    with_files = ContainerSpec(
        **{f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)} | {"files": {"/x": {}}}
    )
    with pytest.raises(ValueError, match="files"):
        compose._service(with_files, None)


# --- podman-compose 1.6.0 against a fake podman ---------------------------------------------------


def _podman_compose_up(lab: Lab, tmp_path: Path) -> list[list[str]]:
    """The podman calls `podman-compose up -d` makes for the rendered file, in order."""
    fake = tmp_path / "podman"
    fake.write_text(FAKE_PODMAN, encoding="utf-8")
    fake.chmod(0o755)
    (tmp_path / "compose.yaml").write_text(render_compose(lab, IMAGE), encoding="utf-8")
    environment = {**os.environ, "FAKE_PODMAN_STATE": str(tmp_path), "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "podman_compose", "--podman-path", str(fake), "-f", "compose.yaml", "up", "-d"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    records = (tmp_path / "calls").read_text(encoding="utf-8").split("\036")[:-1]
    return [record.split("\0")[:-1] for record in records]


@pytest.fixture(scope="module", params=sorted(LABS))
def compose_up(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Lab, list[list[str]]]:
    """A lab and the podman calls podman-compose made for it (one run per lab, shared by the tests)."""
    lab = LABS[request.param]
    return lab, _podman_compose_up(lab, tmp_path_factory.mktemp(f"compose-{request.param}"))


def _call(calls: list[list[str]], *prefix: str, last: str) -> list[str]:
    found = [call for call in calls if call[: len(prefix)] == list(prefix) and call[-1] == last]
    assert len(found) == 1, f"expected one `podman {' '.join(prefix)} ... {last}`, got {found}"
    return found[0]


def _create(calls: list[list[str]], name: str) -> list[str]:
    found = [call for call in calls if call[:1] == ["create"] and f"--name={name}" in call]
    assert len(found) == 1, f"expected one `podman create --name={name}`, got {found}"
    return found[0]


def _pairs(call: list[str], flag: str) -> list[str]:
    """The values given to `flag` in the call, in order."""
    return [call[i + 1] for i, item in enumerate(call[:-1]) if item == flag]


def _label_args(labels: dict[str, str]) -> list[str]:
    return [f"{key}={value}" for key, value in labels.items()]


def test_podman_compose_creates_the_networks_as_specified(compose_up: tuple[Lab, list[list[str]]]) -> None:
    lab, calls = compose_up
    for network in _lab_specs(lab).networks:
        create = _call(calls, "network", "create", last=network.name)
        assert _pairs(create, "--driver") == ["bridge"]
        assert _pairs(create, "--opt") == ["isolate=true"]
        assert _pairs(create, "--subnet") == [str(network.subnet)]
        assert set(_label_args({**network.labels, MANAGED_BY_LABEL: "compose"})) <= set(_pairs(create, "--label"))


def test_podman_compose_creates_the_volumes_as_specified(compose_up: tuple[Lab, list[list[str]]]) -> None:
    lab, calls = compose_up
    for volume in _lab_specs(lab).volumes:
        create = _call(calls, "volume", "create", last=volume.name)
        assert set(_label_args({**volume.labels, MANAGED_BY_LABEL: "compose"})) <= set(_pairs(create, "--label"))


def _expected_network_arg(spec: ContainerSpec) -> str:
    # podman-compose adds the service's name (here the container's) as an alias of its own.
    options = [f"ip={spec.ip}", f"alias={spec.name}", *(f"alias={alias}" for alias in spec.aliases)]
    return f"--network={spec.network}:{','.join(options)}"


def test_podman_compose_creates_each_container_as_specified(compose_up: tuple[Lab, list[list[str]]]) -> None:
    lab, calls = compose_up
    for spec in _lab_specs(lab).containers:
        create = _create(calls, spec.name)
        assert spec.health is not None
        assert create[-len(spec.command) - 1 :] == [spec.image, *spec.command]
        assert _expected_network_arg(spec) in create
        assert _pairs(create, "-p") == [f"{p.host_ip}:{p.host_port}:{p.container_port}" for p in spec.ports]
        assert _pairs(create, "-u") == [spec.user]
        assert _pairs(create, "--cap-drop") == list(spec.cap_drop)
        assert ("--read-only" in create) is spec.read_only
        assert _pairs(create, "--add-host") == [f"{name}:{address}" for name, address in spec.extra_hosts.items()]
        assert _pairs(create, "--mount") == [
            f"type=volume,source={m.volume},destination={m.target}" for m in spec.mounts
        ]
        assert _pairs(create, "--health-cmd") == [json.dumps(list(spec.health.command))]
        assert _pairs(create, "--health-interval") == [duration(spec.health.interval_s)]
        assert _pairs(create, "--health-timeout") == [duration(spec.health.timeout_s)]
        assert _pairs(create, "--health-retries") == [str(spec.health.retries)]
        assert set(_label_args({**spec.labels, MANAGED_BY_LABEL: "compose"})) <= set(_pairs(create, "--label"))


def test_podman_compose_starts_each_ra_after_its_ca(compose_up: tuple[Lab, list[list[str]]]) -> None:
    lab, calls = compose_up
    starts = [call[1] for call in calls if call[:1] == ["start"]]
    assert sorted(starts) == sorted(spec.name for spec in _lab_specs(lab).containers)
    for hierarchy in lab.hierarchies:
        assert starts.index(hierarchy.ca.container) < starts.index(hierarchy.ra.container)
        assert f"--requires={hierarchy.ca.container}" in _create(calls, hierarchy.ra.container)


def test_podman_compose_passes_dollar_through_as_is(tmp_path: Path) -> None:
    lab = _with_ca_common_name(LABS["default"], "Lab $HOME CA")
    calls = _podman_compose_up(lab, tmp_path)
    assert "Lab $HOME CA" in _create(calls, lab.hierarchies[0].ca.container)
