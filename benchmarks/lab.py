"""The benchmarks' own lab in podman, beside any other lab on this host.

The shipped lab renamed `bench` (its containers, networks and volumes carry io.labctl.lab=bench),
on 10.99.{0,1,2}.0/24 and free ports, with its state in a temp dir, its lab image in a bench-only
repository (so a build prunes no other lab's image) and, when asked, its own base image. It talks
to a podman service of its own on a socket in that temp dir, so it neither depends on nor stops a
service someone else started. close() removes all of it.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from labctl.clients import ClientRunner
from labctl.errors import LabctlError
from labctl.events import EventSink, ignore_events
from labctl.images import DEFAULT_BASE, ImageResult, bootstrap_base, ensure_image
from labctl.orchestrator import Orchestrator
from labctl.ports import with_free_ports
from labctl.runtime.base import LAB_LABEL, ContainerRuntime
from labctl.runtime.podman import PodmanRuntime
from labctl.topology import dump_lab, load_lab, renamed, with_subnets, with_workers

log = logging.getLogger(__name__)

LAB_NAME = "bench"
SUBNETS = tuple(ipaddress.IPv4Network(f"10.99.{index}.0/24") for index in range(3))
IMAGE_REPOSITORY = "localhost/labctl-bench"
BASE_IMAGE = "localhost/labctl-bench-base:trixie"
UP_TIMEOUT_S = 90.0


class BenchLab:
    """The bench lab's files, podman service and images. Raises RuntimeBackendError when podman is unavailable."""

    def __init__(self, *, workers: int | None = None) -> None:
        """`workers`: every CA's and RA's worker processes (None: the lab file's, auto by default)."""
        self.work = Path(tempfile.mkdtemp(prefix="labctl-bench-"))
        try:
            shipped = with_workers(load_lab(), ca=workers, ra=workers)
            lab = with_free_ports(with_subnets(renamed(shipped, LAB_NAME), SUBNETS))
            self.lab_file = self.work / "lab.toml"
            self.lab_file.write_text(dump_lab(lab), encoding="utf-8")
            self.lab = load_lab(self.lab_file)  # its source is a file: in-network clients are handed it
            self.state_dir = self.work / "state"
            self.socket_url = f"unix://{self.work / 'podman.sock'}"
            self.runtime = PodmanRuntime(self.socket_url)
        except BaseException:
            shutil.rmtree(self.work, ignore_errors=True)
            raise
        self.base = DEFAULT_BASE  # until bootstrap_base() makes the bench's own
        self._own_base = False

    # --- images --------------------------------------------------------------------------------

    def bootstrap_base(self) -> float:
        """A base image of the bench's own, bootstrapped from scratch (mmdebstrap + import); its seconds."""
        started = time.perf_counter()
        self._own_base = True
        bootstrap_base(self.runtime, BASE_IMAGE)
        self.base = BASE_IMAGE
        return time.perf_counter() - started

    def _build(self, runtime: ContainerRuntime, base: str) -> ImageResult:
        return ensure_image(runtime, base=base, repository=IMAGE_REPOSITORY)

    def _cold_build(self, runtime: ContainerRuntime, base: str) -> ImageResult:
        return ensure_image(runtime, base=base, repository=IMAGE_REPOSITORY, force=True)

    def image(self) -> str | None:
        """The bench lab image's reference, when one exists."""
        tags = self.runtime.image_tags(IMAGE_REPOSITORY)
        return tags[-1] if tags else None

    def _remove_images(self) -> None:
        for tag in self.runtime.image_tags(IMAGE_REPOSITORY):
            if not self.runtime.remove_image(tag):
                raise LabctlError(f"cannot remove {tag}: a container still uses it")

    # --- the lab -------------------------------------------------------------------------------

    def orchestrator(self, on_event: EventSink = ignore_events, *, cold_image: bool = False) -> Orchestrator:
        """An orchestrator of the bench lab; with `cold_image` its image step rebuilds without the layer cache."""
        return Orchestrator(
            self.lab,
            self.runtime,
            self.state_dir,
            on_event=on_event,
            base_image=self.base,
            build_image=self._cold_build if cold_image else self._build,
        )

    def clients(self) -> ClientRunner:
        """Client containers of the bench lab's image on its networks (the in-network load client)."""
        return ClientRunner(
            self.lab, self.runtime, self.state_dir, ensure_image=lambda: self._build(self.runtime, self.base).reference
        )

    def make_cold(self) -> None:
        """Nothing of the bench lab left: containers, networks, volumes, host state, lab image."""
        self.orchestrator().down(volumes=True)
        self._remove_images()
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def cli(self, *args: str) -> list[str]:
        """The `labctl` command line a user would type for this lab."""
        labctl = Path(sys.executable).with_name("labctl")
        program = [str(labctl)] if labctl.exists() else [sys.executable, "-m", "labctl.cli"]
        return [
            *program,
            "--config", str(self.lab_file),
            "--state-dir", str(self.state_dir),
            "--base-image", self.base,
            "--image-repository", IMAGE_REPOSITORY,
            *args,
        ]  # fmt: skip

    def run_cli(self, args: Sequence[str], *, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        """Run a labctl command line against this lab's podman service."""
        env = {**os.environ, "CONTAINER_HOST": self.socket_url}
        return subprocess.run(list(args), env=env, capture_output=True, text=True, timeout=timeout, check=False)

    def leftovers(self) -> list[str]:
        """What still carries the bench lab's label (nothing, after close)."""
        selector = {LAB_LABEL: self.lab.name}
        return [
            *(f"container {c.name}" for c in self.runtime.list_containers(selector)),
            *(f"network {n}" for n in self.runtime.list_networks(selector)),
            *(f"volume {v}" for v in self.runtime.list_volumes(selector)),
            *(f"image {t}" for t in self.runtime.image_tags(IMAGE_REPOSITORY)),
        ]

    def close(self) -> list[str]:
        """Remove the lab (volumes too), its images, its podman service and its files; what could not be removed."""
        problems: list[str] = []
        try:
            self.make_cold()
            if self._own_base and not self.runtime.remove_image(BASE_IMAGE):
                problems.append(f"cannot remove {BASE_IMAGE}: a container still uses it")
            problems += [f"left behind: {item}" for item in self.leftovers()]
        except LabctlError as exc:
            problems.append(f"teardown: {exc}")
        finally:
            self.runtime.close()
            shutil.rmtree(self.work, ignore_errors=True)
        return problems
