"""A service's health check run from the host, through the port the lab publishes it on.

It is the check podman runs in the container (labctl.services.health, the same code), without what an
exec costs (runc exec, conmon, a Python start: most of a no-op `labctl up`). The orchestrator asks it
first and takes only a healthy answer; anything else sends it to the container's own check, so a
broken service is still found. Where the host cannot run the same check, there is no target and the
container's check runs as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from labctl.endpoint import published_host
from labctl.services import health
from labctl.state import HierarchyState
from labctl.tls import host_supports_tls, needs_compat_tls
from labctl.topology import Hierarchy, Lab

log = logging.getLogger(__name__)

# Short: a healthy service answers in milliseconds, and any other answer costs the exec anyway.
PROBE_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    """One service as the host reaches it."""

    role: health.Role
    host: str
    port: int
    trust: Path | None = None  # the RA's: the chain its container's check verifies against


# True only for a healthy answer.
Probe = Callable[[ProbeTarget], bool]


def probe_target(lab: Lab, state_dir: Path, hierarchy: Hierarchy, role: health.Role) -> ProbeTarget | None:
    """The hierarchy's CA or RA on its published port; None where the host cannot run the container's check."""
    host = published_host(lab)
    if role == "ca":
        # The CA's check verifies nothing; without ML-DSA TLS the host gets the RSA compatibility certificate.
        reachable = host_supports_tls(hierarchy.algorithm) or needs_compat_tls(hierarchy)
        return ProbeTarget("ca", host, hierarchy.ca.port) if reachable else None
    if not host_supports_tls(hierarchy.algorithm):
        return None  # the RA's check verifies the hierarchy's chain (ML-DSA): not with OpenSSL before 3.5
    # The chain copied into the RA's container (its spec, hashed), not a copy that may have moved on.
    trust = HierarchyState(state_dir / hierarchy.name).ra_dir / "ca-chain.pem"  # no mkdir: a probe changes nothing
    return ProbeTarget("ra", host, hierarchy.ra.port, trust)


def host_probe(target: ProbeTarget) -> bool:
    """Run the service's health check from the host."""
    trust = str(target.trust) if target.trust is not None else None
    healthy, detail = health.check(target.role, target.host, target.port, trust=trust, timeout_s=PROBE_TIMEOUT_S)
    log.debug("host probe of the %s on %s:%d: %s", target.role, target.host, target.port, detail)
    return healthy
