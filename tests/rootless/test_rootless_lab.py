"""The default lab for a workstation user without root, on rootless podman, as the README documents it.

Runs as root (it creates the user): prepares the host as the README's "As a user, with rootless
podman" section says (useradd, /dev/net/tun, the runtime directory), gives the user a checkout of its
own, and then runs the README's commands as that user: `./scripts/setup-host` (which must name what an
administrator still has to do, and install nothing), `./scripts/lab`, `labctl verify`, `labctl
est-enroll` on every hierarchy, `labctl hosts --apply` (root's: one line and the sudo command) and
`labctl down --volumes`. At the end the user is removed with everything it had (home, image store,
processes), and /dev/net/tun gets its mode back, so a rerun starts clean.

The default lab's ports are the root e2e lab's too: this marker runs on its own (`pytest -m rootless`,
.ci/run does, after the main suite has taken its lab down). Under CI it never skips.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from labctl.placement import host_routes
from labctl.topology import load_lab, published_ports

pytestmark = pytest.mark.rootless

REPO = Path(__file__).resolve().parents[2]
USER = "labctl-rootless"
# The README's host preparation for a user (`alice` there), as printed; run as root with our user's name.
README_USER = "alice"
CREATE_USER = "sudo useradd -m alice"
TUN_MODE = "sudo chmod 0666 /dev/net/tun"
RUNTIME_DIR = "sudo install -d -m 0700 -o alice -g alice /run/user/$(id -u alice)"
# Then, as the user, in a checkout of their own.
USER_ENV = "export XDG_RUNTIME_DIR=/run/user/$(id -u)"
FIRST_COMMAND = "./scripts/lab"
TUN = Path("/dev/net/tun")
# What a user's shell would carry over for PyPI and the Debian mirror (proxies, an index).
PASSED_ON = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "PIP_INDEX_URL", "CI")


def _require(condition: bool, reason: str) -> None:
    """Skip when the host cannot run this test, except under CI, where that fails the run."""
    if not condition:
        if os.environ.get("CI"):
            pytest.fail(f"the rootless e2e test must run in CI: {reason}")
        pytest.skip(reason)


def _root(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)


def _as_admin(readme_command: str) -> None:
    """A README line for the administrator, for our user, as root (so without its `sudo `)."""
    command = readme_command.removeprefix("sudo ").replace(README_USER, USER)
    subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True, timeout=120)


@dataclass
class User:
    name: str
    uid: int
    home: Path

    @property
    def checkout(self) -> Path:
        return self.home / "labctl"

    def shell(
        self, command: str, *, timeout: float = 900, runtime_dir: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """`command` in a login shell of the user, in its checkout: a clean environment, as after `su - USER`,
        after the README's `export XDG_RUNTIME_DIR=...` unless `runtime_dir` is False."""
        env = {"HOME": str(self.home), "USER": self.name, "LOGNAME": self.name, "PATH": "/usr/local/bin:/usr/bin:/bin"}
        env.update({key: os.environ[key] for key in PASSED_ON if key in os.environ})
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        setup = f"{USER_ENV} && " if runtime_dir else ""
        assignments = [f"{key}={value}" for key, value in env.items()]
        return subprocess.run(
            [
                "runuser",
                "-u",
                self.name,
                "--",
                "env",
                "-i",
                *assignments,
                "bash",
                "-lc",
                f"{setup}cd ~/labctl && {command}",
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ok(self, command: str, *, timeout: float = 900) -> str:
        result = self.shell(command, timeout=timeout)
        assert result.returncode == 0, f"{command} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def podman_json(self, *args: str) -> list[dict[str, object]]:
        return list(json.loads(self.ok(f"podman {' '.join(args)} --format json") or "[]"))


def _remove_user(name: str) -> None:
    """The user and everything it had: its processes (started by this test), home, image store, runtime dir."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return
    for _ in range(3):
        pids = subprocess.run(["ps", "-u", str(entry.pw_uid), "-o", "pid="], capture_output=True, text=True).stdout
        if not pids.split():
            break
        for pid in pids.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        time.sleep(0.5)
    subprocess.run(["userdel", "-r", name], capture_output=True, text=True, check=False)
    shutil.rmtree(f"/run/user/{entry.pw_uid}", ignore_errors=True)
    for leftover in Path("/tmp").glob("*"):
        try:
            if leftover.lstat().st_uid == entry.pw_uid:
                shutil.rmtree(leftover) if leftover.is_dir() and not leftover.is_symlink() else leftover.unlink()
        except OSError:
            pass


def _checkout_files() -> bytes:
    """The repository's files as a clone has them (tracked, plus new ones not ignored), NUL-separated."""
    return subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout


@pytest.fixture(scope="module")
def user() -> Iterator[User]:
    _require(os.geteuid() == 0, "it creates a user: run as root")
    for tool in ("podman", "runuser", "useradd", "git"):
        _require(shutil.which(tool) is not None, f"{tool} is not installed (scripts/setup-host installs podman)")
    lab = load_lab()
    busy = [port for h in lab.hierarchies for port in published_ports(h) if _listening(port)]
    assert not busy, f"ports {busy} are in use (the root e2e lab? `labctl down`): the rootless lab needs them"
    # Rootless netavark refuses a subnet a host interface has ("already used on the host"): root's
    # cert-lab networks (`labctl down` removes them) must be gone.
    taken = [str(h.subnet) for h in lab.hierarchies if any(h.subnet.overlaps(route) for route in host_routes())]
    assert not taken, (
        f"subnets {taken} are routed on this host (root's cert-lab networks?): the rootless lab needs them"
    )
    _remove_user(USER)  # a previous run that died
    tun_mode = stat.S_IMODE(TUN.stat().st_mode)
    # The README's host preparation, part 1: the user (useradd gives it /etc/subuid and /etc/subgid ranges).
    _as_admin(CREATE_USER)
    entry = pwd.getpwnam(USER)
    account = User(USER, entry.pw_uid, Path(entry.pw_dir))
    try:
        # The user's own checkout, as a clone would give it.
        account.checkout.mkdir()
        tar = subprocess.run(
            ["tar", "--null", "-T", "-", "-cf", "-"], cwd=REPO, input=_checkout_files(), capture_output=True, check=True
        )
        subprocess.run(["tar", "-xf", "-", "-C", str(account.checkout)], input=tar.stdout, check=True)
        _root("chown", "-R", f"{USER}:{USER}", str(account.checkout))
        yield account
    finally:
        if (account.checkout / ".venv" / "bin" / "labctl").exists():  # a failed test may have left the lab up
            with contextlib.suppress(subprocess.TimeoutExpired):
                account.shell(".venv/bin/labctl down --volumes", timeout=180)
        _remove_user(USER)
        TUN.chmod(tun_mode)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def prepared(user: User) -> User:
    """setup-host before the administrator's steps names them and installs nothing; then the steps."""
    before = user.shell("./scripts/setup-host", runtime_dir=False)
    assert before.returncode == 1, before.stdout + before.stderr
    assert f"sudo install -d -m 0700 -o {user.name} -g {user.name} /run/user/{user.uid}" in before.stdout
    if not os.access(TUN, os.R_OK | os.W_OK, effective_ids=False) or stat.S_IMODE(TUN.stat().st_mode) & 0o006 != 0o006:
        assert "sudo chmod 0666 /dev/net/tun" in before.stdout
    assert "installing" not in before.stdout  # no apt without root
    # The README's host preparation, part 2 (as root): /dev/net/tun for slirp4netns, the runtime directory.
    _as_admin(TUN_MODE)
    _as_admin(RUNTIME_DIR)
    return user


@pytest.fixture(scope="module")
def lab_up(prepared: User) -> User:
    """The README's first command, as the user: `./scripts/lab` (setup-host, then `labctl up --verify`)."""
    started = time.monotonic()
    output = prepared.ok(FIRST_COMMAND, timeout=1200)
    print(
        f"rootless ./scripts/lab (venv, base bootstrap, wheels, build, up, verify): {time.monotonic() - started:.0f}s"
    )
    assert "labctl: lab cert-lab up" in output, output
    info = prepared.ok("podman info --format '{{.Host.Security.Rootless}} {{.Store.GraphDriverName}}'")
    assert info.split()[0] == "true", info
    return prepared


def test_setup_host_configured_the_users_podman(lab_up: User) -> None:
    config = lab_up.home / ".config" / "containers"
    assert (config / "storage.conf").exists()  # native overlay, not vfs
    assert "overlay" in lab_up.ok("podman info --format '{{.Store.GraphDriverName}}'")


def test_verify_passes_every_check_isolation_included(lab_up: User) -> None:
    results = [
        json.loads(line) for line in lab_up.ok(".venv/bin/labctl verify --json").splitlines() if line.startswith("{")
    ]
    checks = {(r["hierarchy"], r["check"]): r["passed"] for r in results if "check" in r}
    assert {h for h, c in checks if c == "network-isolated"} == {"rsa", "ecc", "pqc"}
    assert all(checks.values()), [key for key, passed in checks.items() if not passed]


@pytest.mark.parametrize("hierarchy", ["rsa", "ecc", "pqc"])
def test_enroll_on_each_hierarchy(lab_up: User, hierarchy: str) -> None:
    cn = f"rootless-{hierarchy}.cert-lab.local"
    output = lab_up.ok(f".venv/bin/labctl est-enroll --cn {cn} --pki-type {hierarchy}")
    assert cn in output
    device = lab_up.home / ".local/state/labctl/cert-lab/devices" / hierarchy / cn
    assert (device / "device.crt").exists() and stat.S_IMODE((device / "device.key").stat().st_mode) == 0o600


# The README's "Using the lab" and "Clients" commands, as the user (after the enrollments above).
USER_COMMANDS = (
    ".venv/bin/labctl status",
    ".venv/bin/labctl credentials --pki-type ecc",
    ".venv/bin/labctl logs ecc/ra",
    ".venv/bin/labctl up",
    ".venv/bin/labctl est-cacerts --pki-type pqc",
    ".venv/bin/labctl est-reenroll --cn rootless-ecc.cert-lab.local --pki-type ecc",
    ".venv/bin/labctl iot enroll --pki-type ecc",
)


@pytest.mark.parametrize("command", USER_COMMANDS)
def test_documented_commands_work_as_the_user(lab_up: User, command: str) -> None:
    result = lab_up.shell(command)
    assert result.returncode == 0, f"{command} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr


def test_containers_run_in_the_users_podman_with_ports_on_loopback(lab_up: User) -> None:
    containers = lab_up.podman_json("ps", "--filter", "label=io.labctl.lab=cert-lab")
    assert len(containers) == 6
    published = {(p["host_ip"], p["host_port"]) for c in containers for p in c.get("Ports") or []}  # type: ignore[union-attr]
    lab = load_lab()
    assert published == {("127.0.0.1", port) for h in lab.hierarchies for port in published_ports(h)}
    root_sees = subprocess.run(
        ["podman", "ps", "-q", "--filter", "label=io.labctl.lab=cert-lab"], capture_output=True, text=True
    )
    assert root_sees.stdout.strip() == ""  # the user's containers, not root's


def test_hosts_apply_needs_root_and_says_what_to_run(lab_up: User) -> None:
    result = lab_up.shell(".venv/bin/labctl hosts --apply")
    assert result.returncode == 1
    error, hint = result.stderr.strip().splitlines()
    assert error == f"Error: writing /etc/hosts needs root (labctl runs as uid {lab_up.uid})"
    assert hint.startswith(f"hint: run: sudo {lab_up.checkout}/.venv/bin/labctl hosts --apply")


def test_down_volumes_leaves_nothing_of_the_lab(lab_up: User) -> None:
    """Runs last in this module."""
    lab_up.ok(".venv/bin/labctl down --volumes")
    label = "label=io.labctl.lab=cert-lab"
    assert lab_up.podman_json("ps", "-a", "--filter", label) == []
    assert lab_up.podman_json("network", "ls", "--filter", label) == []
    assert lab_up.podman_json("volume", "ls", "--filter", label) == []
    state = lab_up.home / ".local/state/labctl/cert-lab"
    assert sorted(p.name for p in state.rglob("*")) in ([], [".lock"])
    lab = load_lab()
    assert not [port for h in lab.hierarchies for port in published_ports(h) if _listening(port)]


def test_down_leaves_no_process_of_the_lab(lab_up: User) -> None:
    """Runs after down: of the user's processes, only podman's own may stay (its pause process, and its
    service until it exits when idle); no conmon, rootlessport, slirp4netns or aardvark-dns runs.

    A helper that exited may still be a zombie (holding nothing but a pid) until its parent reaps it:
    podman 4.3's API service reaps what it started only when it exits, and orphans go to pid 1, which
    on this machine is the sandbox's process_api (no init), reaping them late. Zombies are allowed as
    long as their parent is one of those two. (A conmon of an API exec session stayed *alive*
    for exit_command_delay, 300 s, even after its container was removed; labctl execs with the
    podman CLI since: labctl.runtime.podman.PodmanRuntime._exec_with_cli.)"""
    lab_processes = ("conmon", "rootlessport", "slirp4netns", "aardvark-dns")
    table = subprocess.run(
        ["ps", "-u", str(lab_up.uid), "-o", "stat=,ppid=,pid=,comm=,etimes="], capture_output=True, text=True
    ).stdout
    rows = [line.split() for line in table.splitlines() if len(line.split()) == 5]
    commands = {pid: command for _, _, pid, command, _ in rows}
    mine = [row for row in rows if row[3] in lab_processes]
    assert [row for row in mine if not row[0].startswith("Z")] == []
    assert [row for row in mine if row[1] != "1" and commands.get(row[1]) != "podman"] == []
