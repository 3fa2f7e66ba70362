"""Jinja2 rendering (StrictUndefined): a hierarchy's model -> its RA configuration files."""

from __future__ import annotations

import functools
from pathlib import Path

import jinja2

from labctl.errors import TemplateError
from labctl.files import write_atomic, write_secret
from labctl.images import CONTAINERFILE
from labctl.pki.names import ReservedNames
from labctl.plan import build_plan
from labctl.specs import ra_ca_url
from labctl.state import HierarchyState
from labctl.tls import needs_compat_tls
from labctl.topology import Hierarchy, Lab, reserved_names

TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "templates"
RA_FILES = ("backend.conf", "authorizer.conf", "realm.conf", "server.conf")
AGENT_NICKNAME = "ra-agent"
EST_ROLE = "EST Users"


# backend.conf retryAfter: the 202's Retry-After in manual approval mode (RFC 7030 section 4.2.3).
RA_RETRY_AFTER_S = 5


@functools.cache
def environment(template_dir: Path = TEMPLATE_DIR) -> jinja2.Environment:
    """One per directory and process, so each template compiles once: every `up`, a no-op one too, renders
    each hierarchy's RA configuration to compare it (a compile is ~10 ms; Jinja's cache is thread-safe)."""
    if not template_dir.is_dir():
        raise TemplateError(
            f"template directory {template_dir} not found",
            hint="run labctl from its source checkout (pip install -e .)",
        )
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        autoescape=False,
    )


def render_ra_config(
    hierarchy: Hierarchy,
    *,
    ca_url: str,
    username: str,
    password: str,
    compat_tls: bool,
    reserved: ReservedNames,
    listen_host: str = "0.0.0.0",
    env: jinja2.Environment | None = None,
) -> dict[str, str]:
    """The RA's four configuration files, by file name; `reserved`: what EST may never issue (labctl.pki.names)."""
    jinja = env or environment()
    context = {
        "hierarchy": hierarchy,
        "ca_url": ca_url,
        "agent_nickname": AGENT_NICKNAME,
        "backend_timeout_s": 10,
        "retry_after_s": RA_RETRY_AFTER_S,
        "role": EST_ROLE,
        "username": username,
        "password": password,
        "compat_tls": compat_tls,
        "listen_host": listen_host,
        "reserved": reserved,
        "max_body_bytes": 64 * 1024,
    }
    files = {}
    for name in RA_FILES:
        try:
            files[name] = jinja.get_template(f"est/{name}.j2").render(context)
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(f"template est/{name}.j2 not found in {TEMPLATE_DIR}") from exc
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"template est/{name}.j2: {exc.message}") from exc
    return files


def write_lab_config(lab: Lab, state_dir: Path, out: Path) -> None:
    """What `up` would use, into `out`: each RA's configuration (<hierarchy>/ra/), the Containerfile, the plan."""
    for hierarchy in lab.hierarchies:
        username, password = HierarchyState.of(state_dir, hierarchy).est_credentials()
        files = render_ra_config(
            hierarchy,
            ca_url=ra_ca_url(hierarchy),
            username=username,
            password=password,
            compat_tls=needs_compat_tls(hierarchy),
            reserved=reserved_names(lab, hierarchy),
        )
        for name, text in files.items():
            write_secret(out / hierarchy.name / "ra" / name, text.encode())  # realm.conf holds the EST password
    write_atomic(out / "Containerfile", CONTAINERFILE.read_bytes())
    write_atomic(out / "plan.txt", ("\n".join(build_plan(list(lab.hierarchies)).order()) + "\n").encode())
