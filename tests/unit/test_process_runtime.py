"""ProcessRuntime: containers as host processes, so `serve-local` runs the same Plan as `up`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from labctl import specs
from labctl.errors import RuntimeBackendError
from labctl.runtime.base import ContainerSpec, FileContent, HealthCheck, PortSpec, VolumeMount, VolumeSpec
from labctl.runtime.process import ProcessRuntime
from labctl.topology import load_lab

LABELS = {"io.labctl.lab": "t"}
SLEEPER = (
    "python",
    "-c",
    "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *_: sys.exit(0)); time.sleep(60)",
)


def _spec(name: str = "c1", command: tuple[str, ...] = SLEEPER, **kwargs: object) -> ContainerSpec:
    return ContainerSpec(name=name, image="host-python", command=command, network="n", labels=LABELS, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def runtime(tmp_path: Path):
    with ProcessRuntime(tmp_path / "rt", stop_timeout_s=5) as rt:
        yield rt


def test_files_land_in_the_container_directory_and_volumes(runtime: ProcessRuntime) -> None:
    runtime.create_volume(VolumeSpec("v1", LABELS))
    spec = _spec(
        mounts=(VolumeMount("v1", "/var/lib/data"),),
        files={"/etc/conf": {"a.conf": FileContent(b"x=1\n", 0o600)}},
    )
    runtime.create_container(spec)
    runtime.write_files("c1", "/var/lib/data/sub", {"f": FileContent(b"data")}, owner=(0, 0))
    assert runtime.read_file("c1", "/etc/conf/a.conf") == b"x=1\n"
    assert (runtime.root / "containers" / "c1" / "etc" / "conf" / "a.conf").stat().st_mode & 0o777 == 0o600
    assert (runtime.root / "volumes" / "v1" / "sub" / "f").read_bytes() == b"data"
    assert runtime.read_file("c1", "/nowhere") is None


def test_volumes_outlive_containers_and_keep_their_labels(tmp_path: Path) -> None:
    with ProcessRuntime(tmp_path) as first:
        first.create_volume(VolumeSpec("v1", LABELS))
    with ProcessRuntime(tmp_path) as second:
        assert second.list_volumes(LABELS) == ["v1"]
        assert second.list_volumes({"io.labctl.lab": "other"}) == []
        second.remove_volume("v1")
        assert not second.volume_exists("v1")


def test_command_paths_are_mapped_and_python_is_this_one(runtime: ProcessRuntime) -> None:
    runtime.create_volume(VolumeSpec("v1", LABELS))
    script = "import sys; open(sys.argv[1] + '/out', 'w').write(sys.executable)"
    runtime.create_container(_spec(command=("python", "-c", script, "/data"), mounts=(VolumeMount("v1", "/data"),)))
    runtime.start_container("c1")
    runtime._processes["c1"].popen.wait(30)  # type: ignore[union-attr]
    assert runtime.read_file("c1", "/data/out") == sys.executable.encode()
    info = runtime.inspect_container("c1")
    assert info is not None and (info.state, info.exit_code) == ("exited", 0)


def test_health_check_runs_with_mapped_paths(runtime: ProcessRuntime) -> None:
    check = HealthCheck(("python", "-c", "import os, sys; sys.exit(0 if os.path.exists(sys.argv[1]) else 1)", "/ok"))
    runtime.create_container(_spec(health=check))
    runtime.start_container("c1")
    assert runtime.run_healthcheck("c1").value == "starting"
    runtime.write_files("c1", "/", {"ok": FileContent(b"")}, owner=(0, 0))
    assert runtime.run_healthcheck("c1").value == "healthy"


def test_stop_and_remove_leave_the_volume_only(runtime: ProcessRuntime) -> None:
    runtime.create_container(_spec(files={"/etc": {"secret": FileContent(b"pw", 0o600)}}))
    runtime.start_container("c1")
    assert [c.state for c in runtime.list_containers(LABELS)] == ["running"]
    runtime.remove_container("c1")
    assert runtime.inspect_container("c1") is None
    assert not (runtime.root / "containers" / "c1").exists()


def test_main_pid_is_the_running_process(runtime: ProcessRuntime) -> None:
    runtime.create_container(_spec())
    assert runtime.main_pid("c1") is None  # created, not started
    runtime.start_container("c1")
    pid = runtime.main_pid("c1")
    assert pid is not None and Path(f"/proc/{pid}/stat").exists()
    runtime.stop_container("c1")
    assert runtime.main_pid("c1") is None
    assert runtime.main_pid("missing") is None


def test_published_port_must_be_the_listening_port(runtime: ProcessRuntime) -> None:
    with pytest.raises(RuntimeBackendError, match="listens on the port it is given"):
        runtime.create_container(_spec(ports=(PortSpec(8443, 9443),)))


def test_serve_local_runs_the_ca_command_of_the_specs() -> None:
    """One description of each service's command line: the process runtime only maps paths and Python."""
    lab = load_lab()
    hierarchy = lab.hierarchy("ecc")
    addressing = specs.addressing_for(lab, host_network=True)
    spec = specs.ca_spec(lab, hierarchy, "host-python", addressing)
    assert spec.command == specs.ca_command(hierarchy, addressing)
    assert spec.command[spec.command.index("--host") + 1] == "127.0.0.1"
    assert specs.ra_ca_url(hierarchy, addressing) == f"https://127.0.0.1:{hierarchy.ca.port}"
    assert specs.ra_ca_url(hierarchy) == f"https://{hierarchy.ca.container}:{hierarchy.ca.port}"


def test_containers_whose_names_differ_after_a_dot_keep_their_own_logs(runtime: ProcessRuntime) -> None:
    for name in ("lab.a", "lab.b"):
        runtime.create_container(_spec(name, ("python", "-c", f"print({name!r})")))
        runtime.start_container(name)
        runtime._processes[name].popen.wait(30)  # type: ignore[union-attr]
    assert [runtime.logs(name).strip() for name in ("lab.a", "lab.b")] == ["lab.a", "lab.b"]
