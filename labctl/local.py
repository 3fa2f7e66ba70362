"""The lab's services as processes on this host (`labctl serve-local`): the same Plan and Orchestrator as
`labctl up`, run on a ProcessRuntime, so both bring a hierarchy up by one flow and one description of
each service's command line (labctl.specs). For workstations without podman, and for the integration
tests. ML-DSA hierarchies need OpenSSL >= 3.5 on the host.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from labctl.endpoint import Endpoint
from labctl.errors import LabctlError, TopologyError
from labctl.events import EventSink, ignore_events
from labctl.orchestrator import Orchestrator
from labctl.probe import host_probe
from labctl.readiness import Clock
from labctl.runtime.base import LAB_LABEL
from labctl.runtime.process import ProcessRuntime, host_image
from labctl.state import PROCESSES_DIR
from labctl.tls import host_supports_tls
from labctl.topology import Lab


class LocalLab:
    """Bring hierarchies up as host processes, wait on them, stop them."""

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
        self.hierarchies = [lab.hierarchy(name) for name in hierarchies] if hierarchies else list(lab.hierarchies)
        for hierarchy in self.hierarchies:
            if not host_supports_tls(hierarchy.algorithm):
                raise TopologyError(
                    f"hierarchy '{hierarchy.name}' ({hierarchy.algorithm.label}) needs ML-DSA TLS, which this host's"
                    " OpenSSL cannot do",
                    hint="pick others with --hierarchy, or run the full lab in containers (labctl up)",
                )
        self.runtime = ProcessRuntime(state_dir / PROCESSES_DIR)
        self._orchestrator = Orchestrator(
            lab, self.runtime, state_dir, on_event=on_event, clock=clock, build_image=host_image, probe=host_probe
        )

    def up(self, *, timeout: float = 60.0) -> list[Endpoint]:
        """Start and bootstrap every hierarchy; on any failure stop what was started and re-raise."""
        try:
            return self._orchestrator.up([h.name for h in self.hierarchies], timeout=timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL after a grace period); the CA data stays."""
        self.runtime.close()

    def wait(self, *, poll_s: float = 0.5) -> None:
        """Block until a service exits (or Ctrl-C); raise naming the one that died."""
        while True:
            for info in self.runtime.list_containers({LAB_LABEL: self.lab.name}):
                if not info.is_running:
                    raise LabctlError(
                        f"{info.name} exited with code {info.exit_code}", hint=self.runtime.logs(info.name, tail=15)
                    )
            time.sleep(poll_s)
