"""The lab's host state dir: root CA keys (0600, never copied into a container), the lab admin
credential, EST realm credentials and the RAs' rendered configuration.

Layout: <state>/<hierarchy>/{root.key,root.crt,admin.key,admin.crt,ca-chain.pem,est-credentials,
iot-bootstrap-credential,ra/} (ra/ also holds est-ra-1.password, the EST RA user's CA password), <state>/devices/ (keys of devices enrolled from the host),
<state>/serve-local/ (the processes of `labctl serve-local`: their files and the CA data).
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from labctl.errors import LabctlError
from labctl.files import write_secret
from labctl.topology import Hierarchy

EST_USERNAME = "est-client"
# The EST RA's CA user of Dogtag's installation guide (docs/installation/est/installing-est-pki-server.adoc):
# a password agent of each hierarchy's CA, for a backend.conf with `username` and `passwordFile`.
EST_RA_USER = "est-ra-1"
DEVICES_DIR = "devices"
PROCESSES_DIR = "serve-local"
# What marks a directory of the state dir as a hierarchy's (for a state dir whose lab is not known).
_HIERARCHY_MARKERS = ("root.key", "admin.key", "est-credentials", "iot-bootstrap-credential", "ca-chain.pem", "ra")


def default_state_dir(lab_name: str) -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "labctl" / lab_name


def read_credentials(path: Path) -> tuple[str, str]:
    """A `user:password` file (EST realm credentials, as curl -u takes them)."""
    user, sep, password = path.read_text(encoding="utf-8").strip().partition(":")
    if not sep or not user or not password:
        raise LabctlError(f"{path} is not user:password", hint="delete it to regenerate")
    return user, password


@dataclass(frozen=True, slots=True)
class HierarchyState:
    """Paths of one hierarchy's host state."""

    root: Path

    @classmethod
    def of(cls, state_dir: Path, hierarchy: Hierarchy) -> HierarchyState:
        path = state_dir / hierarchy.name
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o700)
        return cls(path)

    @property
    def root_key(self) -> Path:
        return self.root / "root.key"

    @property
    def root_cert(self) -> Path:
        return self.root / "root.crt"

    @property
    def admin_key(self) -> Path:
        return self.root / "admin.key"

    @property
    def admin_cert(self) -> Path:
        return self.root / "admin.crt"

    @property
    def chain(self) -> Path:
        """The Intermediate CA certificate and the root, PEM: the hierarchy's trust file."""
        return self.root / "ca-chain.pem"

    @property
    def ra_dir(self) -> Path:
        return self.root / "ra"

    @property
    def credentials_file(self) -> Path:
        return self.root / "est-credentials"

    @property
    def bootstrap_file(self) -> Path:
        """The IoT devices' bootstrap credential (the CA keeps only its SHA-256)."""
        return self.root / "iot-bootstrap-credential"

    def bootstrap_credential(self) -> str:
        """Generated once, then kept (0600)."""
        if self.bootstrap_file.exists():
            return self.bootstrap_file.read_text(encoding="utf-8").strip()
        credential = secrets.token_urlsafe(24)
        write_secret(self.bootstrap_file, f"{credential}\n".encode())
        return credential

    @property
    def est_ra_password_file(self) -> Path:
        """EST_RA_USER's password as DogtagRABackend reads a `passwordFile`: a properties file, `password=...`."""
        return self.ra_dir / f"{EST_RA_USER}.password"

    def est_ra_password(self) -> str:
        """EST_RA_USER's CA password: a random 32-byte token, generated once, then kept (0600)."""
        path = self.est_ra_password_file
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                key, sep, value = line.partition("=")
                if sep and key.strip() == "password" and value.strip():
                    return value.strip()
        password = secrets.token_urlsafe(32)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_secret(path, f"password={password}\n".encode())
        return password

    def est_credentials(self) -> tuple[str, str]:
        """The EST realm user and password: generated once, then kept (0600)."""
        if self.credentials_file.exists():
            return read_credentials(self.credentials_file)
        password = secrets.token_urlsafe(18)
        write_secret(self.credentials_file, f"{EST_USERNAME}:{password}\n".encode())
        return EST_USERNAME, password


def remove_lab_secrets(state_dir: Path, hierarchies: Iterable[str] | None = None) -> list[Path]:
    """Delete what labctl keeps of a lab on the host that is secret or belongs to its CAs: each hierarchy's
    directory (root and admin keys, EST and bootstrap credentials, the RA's configuration and keys),
    enrolled devices' keys and the processes' files. Only labctl's own entries are touched, never the
    rest of a state dir a user named.

    Args:
        hierarchies: the lab's hierarchy names; None: every directory that holds a hierarchy's files.

    Returns:
        What was removed.
    """
    if not state_dir.is_dir():
        return []
    if hierarchies is None:
        names = [
            d.name for d in state_dir.iterdir() if d.is_dir() and any((d / m).exists() for m in _HIERARCHY_MARKERS)
        ]
    else:
        names = list(hierarchies)
    removed = []
    for name in [*names, DEVICES_DIR, PROCESSES_DIR]:
        target = state_dir / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
            removed.append(target)
    return removed
