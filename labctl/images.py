"""The lab's image: built offline from a wheelhouse, on a base bootstrapped with mmdebstrap when
no registry can provide it, and rebuilt only when its inputs change (a content-hash label).
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from labctl.errors import RuntimeBackendError
from labctl.runtime.base import CONTENT_HASH_LABEL, ContainerRuntime

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONTAINERFILE = PROJECT_ROOT / "compose" / "Containerfile"
DEFAULT_BASE = "localhost/labctl-base:trixie"
IMAGE_REPOSITORY = "localhost/labctl"
IMAGE_PYTHON = "3.13"  # Debian trixie's
IMAGE_UID = 10001
SUITE = "trixie"
BASE_PACKAGES = "python3,python3-venv,ca-certificates,openssl"


@dataclass(frozen=True, slots=True)
class ImageResult:
    reference: str
    built: bool
    content_hash: str


Progress = Callable[[str], None]


def quiet(_: str) -> None:
    return None


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "labctl"


def ensure_image(
    runtime: ContainerRuntime,
    *,
    base: str = DEFAULT_BASE,
    repository: str = IMAGE_REPOSITORY,
    force: bool = False,
    progress: Progress = quiet,
) -> ImageResult:
    """Build the lab image unless one with the same content hash exists.

    Args:
        progress: told, one line each, of the long steps (base bootstrap, wheel download, build).
        repository: where the image is tagged; older tags of this repository only are pruned.
        force: rebuild even when the image is up to date, without the layer cache (a cached
            rebuild of the same inputs would change nothing).
    """
    ensure_base(runtime, base, progress=progress)
    base_labels = runtime.image_labels(base) or {}
    wheelhouse = ensure_wheelhouse(progress=progress)
    digest = content_hash(base, base_labels, wheelhouse)
    reference = image_reference(digest, repository)
    labels = runtime.image_labels(reference)
    if not force and labels is not None and labels.get(CONTENT_HASH_LABEL) == digest:
        return ImageResult(reference, False, digest)
    replaced = runtime.image_id(reference)  # a forced rebuild takes its tag: removed below, not left untagged
    progress(f"building {reference} from {base} (podman build, offline; about 15 s)")
    with tempfile.TemporaryDirectory(prefix="labctl-build-") as scratch:
        context = Path(scratch)
        shutil.copy(CONTAINERFILE, context / "Containerfile")
        wheels = context / "wheels"
        shutil.copytree(wheelhouse, wheels)
        _build_project_wheel(wheels)
        runtime.build_image(
            context,
            "Containerfile",
            reference,
            labels={CONTENT_HASH_LABEL: digest},
            build_args={"BASE": base, "UID": str(IMAGE_UID)},
            no_cache=force,
        )
    log.info("built %s", reference)
    if replaced is not None and replaced != runtime.image_id(reference) and not runtime.remove_image(replaced):
        log.info("kept the image %s replaced (%s): a container still uses it", reference, replaced[:12])
    _prune(runtime, keep=reference, repository=repository)
    return ImageResult(reference, True, digest)


def image_reference(digest: str, repository: str = IMAGE_REPOSITORY) -> str:
    """The image's tag names its content, so running labs built from different labctl sources (two
    checkouts, a CI job beside a workstation lab) keep their own image instead of rebuilding one tag in
    turn. A build prunes the repository's other tags that no container uses (`--image-repository`
    keeps a checkout's images apart entirely)."""
    return f"{repository}:{digest[:12]}"


def _prune(runtime: ContainerRuntime, *, keep: str, repository: str) -> None:
    """Remove the older lab images no container uses any more (each is a few hundred MB)."""
    for tag in runtime.image_tags(repository):
        if tag != keep and not runtime.remove_image(tag):
            log.info("kept %s: a container still uses it", tag)


def ensure_base(runtime: ContainerRuntime, base: str, *, progress: Progress = quiet) -> bool:
    """Make sure the base image exists: bootstrap the default with mmdebstrap (no registry needed)."""
    if runtime.image_labels(base) is not None:
        return False
    if base != DEFAULT_BASE:
        raise RuntimeBackendError(
            f"base image {base} is not present", hint=f"pull or import it first, or use the default {DEFAULT_BASE}"
        )
    progress(f"bootstrapping the base image {base} with mmdebstrap (Debian {SUITE}; about 30 s, once)")
    bootstrap_base(runtime, base)
    return True


def bootstrap_base(runtime: ContainerRuntime, base: str) -> None:
    """Bootstrap a Debian base image with mmdebstrap and import it as `base`."""
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        raise RuntimeBackendError("mmdebstrap is not installed", hint="run scripts/setup-host")
    with tempfile.TemporaryDirectory(prefix="labctl-base-") as scratch:
        tarball = Path(scratch) / "rootfs.tar"
        mode = mmdebstrap_mode(os.geteuid())
        log.info("bootstrapping %s with mmdebstrap (%s, %s mode)", base, SUITE, mode)
        result = subprocess.run(
            [
                mmdebstrap,
                "--quiet",
                f"--mode={mode}",
                "--variant=apt",
                f"--include={BASE_PACKAGES}",
                SUITE,
                str(tarball),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeBackendError(
                f"mmdebstrap ({mode} mode) failed ({result.returncode}): {result.stderr.strip()[-500:]}",
                hint=None if mode == "root" else UNSHARE_HINT,
            )
        runtime.import_rootfs(tarball, base)


# mmdebstrap's unshare mode maps the chroot's uids into the user's /etc/subuid range (newuidmap).
UNSHARE_HINT = (
    "without root, mmdebstrap needs the user's /etc/subuid and /etc/subgid ranges and the uidmap package;"
    " scripts/setup-host says what is missing"
)


def mmdebstrap_mode(euid: int) -> str:
    """root mode as root, else unshare mode (user namespaces, no root needed): named, not mmdebstrap's auto
    mode, so a failure names unshare's cause (no subuid range) instead of a fallback's (fakechroot)."""
    return "root" if euid == 0 else "unshare"


def _requirements() -> list[str]:
    data = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return [str(item) for item in data["project"]["dependencies"]]


def _platforms() -> list[str]:
    machine = platform.machine()
    return [
        f"manylinux_2_34_{machine}",
        f"manylinux_2_28_{machine}",
        f"manylinux_2_17_{machine}",
        f"manylinux2014_{machine}",
        "any",
    ]


def ensure_wheelhouse(*, progress: Progress = quiet) -> Path:
    """The dependencies' wheels for the image's Python, downloaded once per dependency set."""
    requirements = _requirements()
    key = hashlib.sha256("\n".join([IMAGE_PYTHON, platform.machine(), *requirements]).encode()).hexdigest()[:16]
    wheelhouse = cache_dir() / f"wheelhouse-{key}"
    if (wheelhouse / ".complete").exists():
        return wheelhouse
    wheelhouse.mkdir(parents=True, exist_ok=True)
    progress(f"downloading the image's wheels for Python {IMAGE_PYTHON} into {wheelhouse} (once per dependency set)")
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "-d", str(wheelhouse)]
    command += ["--only-binary=:all:", "--python-version", IMAGE_PYTHON, "--implementation", "cp"]
    for tag in _platforms():
        command += ["--platform", tag]
    result = subprocess.run([*command, *requirements], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeBackendError(
            f"downloading wheels for the image failed: {result.stderr.strip()[-500:]}",
            hint="the first build needs PyPI; later builds reuse the wheelhouse offline",
        )
    (wheelhouse / ".complete").write_text("\n".join(requirements))
    return wheelhouse


def _build_project_wheel(destination: Path) -> None:
    # No build isolation: the venv's setuptools builds it, so no download is needed (offline).
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(destination),
            str(PROJECT_ROOT),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeBackendError(f"building the labctl wheel failed: {result.stderr.strip()[-500:]}")


def _project_files() -> Iterable[Path]:
    yield PROJECT_ROOT / "pyproject.toml"
    yield CONTAINERFILE
    yield from sorted(p for p in (PROJECT_ROOT / "labctl").rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def content_hash(base: str, base_labels: object, wheelhouse: Path) -> str:
    """What the image is made of: Containerfile, labctl's sources, the wheels, the base."""
    digest = hashlib.sha256()
    digest.update(f"{base}\n{base_labels!r}\n{IMAGE_UID}\n".encode())
    for path in _project_files():
        digest.update(str(path.relative_to(PROJECT_ROOT)).encode() + b"\0" + path.read_bytes())
    for wheel in sorted(wheelhouse.glob("*.whl")):
        digest.update(wheel.name.encode())
    return digest.hexdigest()
