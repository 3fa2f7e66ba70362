"""The lab's services as plain processes on loopback: each hierarchy's Intermediate CA and EST RA
on the lab file's ports, bootstrapped exactly as in containers. For workstations without podman,
and for the integration tests. ML-DSA hierarchies need OpenSSL >= 3.5 on the host.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from labctl.bootstrap import (
    LocalCAFiles,
    admin_client,
    collect_admin_credential,
    host_supports_tls,
    install_intermediate,
    issue_ra_credentials,
    write_ra_config,
)
from labctl.ca_client import CAClient, ca_ssl_context
from labctl.endpoint import Endpoint
from labctl.errors import CAError, ESTError, LabctlError, NotReadyError, TopologyError
from labctl.est_client import ESTClient, est_ssl_context
from labctl.events import EventSink, ignore_events, timed_step
from labctl.readiness import Clock, wait_until
from labctl.state import HierarchyState
from labctl.topology import Hierarchy, Lab

LOOPBACK = "127.0.0.1"
STOP_TIMEOUT_S = 5.0


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:])


class LocalLab:
    def __init__(
        self,
        lab: Lab,
        state_dir: Path,
        *,
        hierarchies: Sequence[str] = (),
        on_event: EventSink = ignore_events,
        clock: Clock | None = None,
    ) -> None:
        self.lab = lab
        self.state_dir = state_dir
        self.hierarchies = [lab.hierarchy(name) for name in hierarchies] if hierarchies else list(lab.hierarchies)
        for hierarchy in self.hierarchies:
            if not host_supports_tls(hierarchy.algorithm):
                raise TopologyError(
                    f"hierarchy '{hierarchy.name}' ({hierarchy.algorithm.label}) needs ML-DSA TLS, which this host's"
                    " OpenSSL cannot do",
                    hint="pick others with --hierarchy, or run the full lab in containers (labctl up)",
                )
        self._emit = on_event
        self._clock = clock
        self._processes: list[_Process] = []

    # --- lifecycle -----------------------------------------------------------------------------

    def up(self, *, timeout: float = 60.0) -> list[Endpoint]:
        """Start and bootstrap every hierarchy; on any failure stop what was started and re-raise."""
        try:
            return [self._up_hierarchy(hierarchy, timeout) for hierarchy in self.hierarchies]
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGTERM every process, then SIGKILL what is still there after a grace period."""
        for process in reversed(self._processes):
            if process.popen.poll() is None:
                process.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in self._processes:
            try:
                process.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait()
        self._processes.clear()

    def wait(self) -> None:
        """Block until a service exits (or Ctrl-C); raise naming the one that died."""
        while True:
            for process in self._processes:
                code = process.popen.poll()
                if code is not None:
                    raise LabctlError(f"{process.name} exited with code {code}", hint=process.tail())
            time.sleep(0.5)

    # --- one hierarchy -------------------------------------------------------------------------

    def _up_hierarchy(self, hierarchy: Hierarchy, timeout: float) -> Endpoint:
        state = HierarchyState.of(self.state_dir, hierarchy)
        name = hierarchy.name
        ca_url = f"https://{LOOPBACK}:{hierarchy.ca.port}"
        ra_url = f"https://{LOOPBACK}:{hierarchy.ra.port}"
        files = LocalCAFiles(state.ca_data)

        with timed_step(self._emit, f"{name}/ca/started"):
            ca = self._start(
                hierarchy.ca.container,
                [
                    "labctl.services.ca",
                    "--data-dir", str(state.ca_data),
                    "--algorithm", hierarchy.algorithm.value,
                    "--common-name", hierarchy.ca.common_name,
                    "--host", LOOPBACK,
                    "--port", str(hierarchy.ca.port),
                    "--tls-name", "localhost", "--tls-name", LOOPBACK,
                ],
                state.root / "ca.log",
            )  # fmt: skip
        with timed_step(self._emit, f"{name}/ca/awaiting-certificate"):
            self._wait_ca(ca, ca_url, {"awaiting-certificate", "running"}, timeout)
        with timed_step(self._emit, f"{name}/ca/installed"):
            install_intermediate(hierarchy, state, files)
        with timed_step(self._emit, f"{name}/ca/running"):
            self._wait_ca(ca, ca_url, {"running"}, timeout)
            collect_admin_credential(hierarchy, state, files)
        with timed_step(self._emit, f"{name}/ra/credentials"), admin_client(hierarchy, state, ca_url) as admin:
            issue_ra_credentials(hierarchy, state, admin, tls_names=("localhost", LOOPBACK), compat_tls=False)
        with timed_step(self._emit, f"{name}/ra/config"):
            write_ra_config(hierarchy, state, ca_url=ca_url, compat_tls=False, listen_host=LOOPBACK)
        conf = state.ra_dir
        username, password = state.est_credentials()
        with timed_step(self._emit, f"{name}/ra/started"):
            ra = self._start(
                hierarchy.ra.container, ["labctl.services.est_ra", "--conf-dir", str(conf)], state.root / "ra.log"
            )
        with timed_step(self._emit, f"{name}/ra/healthy"):
            self._wait_ra(ra, ra_url, state.chain, timeout)
        return Endpoint(hierarchy, ra_url, ca_url, state.chain, username, password)

    def _start(self, name: str, module_args: list[str], log: Path) -> _Process:
        handle = log.open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        popen = subprocess.Popen(
            [sys.executable, "-m", *module_args],
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # Ctrl-C reaches labctl only; labctl stops its children in order
        )
        handle.close()
        process = _Process(name, popen, log)
        self._processes.append(process)
        return process

    def _wait_ca(self, process: _Process, url: str, wanted: set[str], timeout: float) -> None:
        # Status only, nothing secret: the CA's TLS certificate is self-signed until it is installed.
        def probe() -> tuple[bool | None, str]:
            self._check_alive(process)
            try:
                with CAClient(url, ssl_context=ca_ssl_context(None), timeout_s=2) as client:
                    status = client.status().status
            except CAError as exc:
                return None, f"unreachable: {exc}"
            if status == "install-failed":
                raise NotReadyError(f"{process.name} refused its certificate", hint=process.tail())
            return (True if status in wanted else None), f"status={status}"

        wait_until(probe, what=process.name, timeout=timeout, clock=self._clock, diagnose=process.tail)

    def _wait_ra(self, process: _Process, url: str, trust: Path, timeout: float) -> None:
        """Healthy means a real cacerts round trip through the CA."""

        def probe() -> tuple[bool | None, str]:
            self._check_alive(process)
            try:
                with ESTClient(url, ssl_context=est_ssl_context(trust), timeout_s=3) as client:
                    client.cacerts()
            except ESTError as exc:
                return None, str(exc)
            return True, "cacerts ok"

        wait_until(probe, what=process.name, timeout=timeout, clock=self._clock, diagnose=process.tail)

    @staticmethod
    def _check_alive(process: _Process) -> None:
        code = process.popen.poll()
        if code is not None:
            raise NotReadyError(f"{process.name} exited with code {code} while starting", hint=process.tail())
