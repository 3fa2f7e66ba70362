"""The lab's host state dir: root CA keys (0600, never copied into a container), the lab admin
credential, EST realm credentials and the RAs' rendered configuration.

Layout: <state>/<hierarchy>/{root.key,root.crt,admin.key,admin.crt,est-credentials,ra/,ca-data/}.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from labctl.errors import LabctlError
from labctl.files import write_secret
from labctl.topology import Hierarchy

EST_USERNAME = "est-client"


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
    def ca_data(self) -> Path:
        """The CA's data dir when it runs as a local process (a named volume in containers)."""
        return self.root / "ca-data"

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

    def est_credentials(self) -> tuple[str, str]:
        """The EST realm user and password: generated once, then kept (0600)."""
        if self.credentials_file.exists():
            return read_credentials(self.credentials_file)
        password = secrets.token_urlsafe(18)
        write_secret(self.credentials_file, f"{EST_USERNAME}:{password}\n".encode())
        return EST_USERNAME, password
