#!/usr/bin/env python3
"""The lab docs' revocation tool, on labctl.revocation:

    scripts/pki-cli.py revoke 0x1a2b3c --ca intermediate --reason key_compromise [--pki-type rsa]
    scripts/pki-cli.py release 0x1a2b3c --ca intermediate [--pki-type rsa]   (off hold: certificate_hold only)
    scripts/pki-cli.py status 0x1a2b3c --ca intermediate [--pki-type rsa]

(plus --lab NAME, --state-dir D, --config F, --json). It finds the lab as labctl does
(labctl.placement.select_lab): the lab `labctl [--lab NAME] up` recorded in its state dir,
$XDG_STATE_HOME/labctl/<lab>. The roots are offline, so --ca root only explains that.
Errors are one line on stderr, exit 1.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

try:
    import labctl.revocation  # noqa: F401  (labctl and its dependencies)
except ImportError:
    # Run by a python without labctl or its dependencies (the shebang's): use the repository's venv, once.
    _VENV_PYTHON = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "python"
    if _VENV_PYTHON.exists() and not os.environ.get("LABCTL_PKI_CLI_REEXEC"):
        os.environ["LABCTL_PKI_CLI_REEXEC"] = "1"
        os.execv(_VENV_PYTHON, [str(_VENV_PYTHON), os.path.abspath(__file__), *sys.argv[1:]])
    sys.exit(
        f"pki-cli: error: labctl is not importable by {sys.executable} and {_VENV_PYTHON} "
        + ("did not help" if _VENV_PYTHON.exists() else "does not exist")
        + " (scripts/setup-host makes the venv)"
    )

import argparse
import contextlib
import json

from labctl import revocation
from labctl.errors import LabctlError
from labctl.lock import lab_lock
from labctl.placement import select_lab

LOCK_WAIT_S = 60.0  # as labctl's: a revocation waits for an `up` or `down` of the same lab


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("serial", help="certificate serial number, 0x-prefixed hex (as Dogtag prints it)")
    common.add_argument(
        "--ca", choices=("intermediate", "root"), default="intermediate", help="which CA (default: intermediate)"
    )
    common.add_argument("--pki-type", default="rsa", help="hierarchy: rsa, ecc or pqc (default: rsa)")
    common.add_argument(
        "--lab", help="the lab's name, as given to `labctl --lab NAME up` (default: the lab file's, cert-lab)"
    )
    common.add_argument("--state-dir", type=Path, help="labctl's state dir (default: $XDG_STATE_HOME/labctl/<lab>)")
    common.add_argument(
        "--config", type=Path, help="lab file (default: the lab's recorded one, else labctl's lab.toml)"
    )
    common.add_argument("--json", action="store_true", help="print the certificate's status as one JSON object")

    parser = argparse.ArgumentParser(
        prog="pki-cli.py", description="Revoke lab certificates, release them from hold, and show their status."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    revoke = commands.add_parser("revoke", parents=[common], help="revoke a certificate")
    revoke.add_argument("--reason", required=True, help=f"one of: {', '.join(revocation.REASONS)}")
    # Dogtag's CLI: pki ca-cert-release-hold (base/tools/.../cmstools/ca/CACertReleaseHoldCLI.java).
    commands.add_parser("release", parents=[common], help="release a certificate from hold (unrevoke)")
    commands.add_parser("status", parents=[common], help="show a certificate's status")
    return parser


def _run(args: argparse.Namespace) -> None:
    selection = select_lab(args.config, args.lab, args.state_dir)
    lab, state_dir = selection.lab, selection.state_dir
    hierarchy = lab.hierarchy(args.pki_type)
    if args.ca == "root":
        raise LabctlError(
            f"the {hierarchy.name} Root CA is offline: its key stays in labctl's state dir"
            f" ({state_dir / hierarchy.name}) and it has no REST API; EST-issued certificates live on the"
            f" Intermediate CA of their hierarchy: use --ca intermediate --pki-type {hierarchy.name}"
        )
    if args.command in ("revoke", "release"):
        # Locked as `labctl revoke` is; a lab that is not up has no state dir, and gets none from us.
        with (
            lab_lock(state_dir, wait_s=LOCK_WAIT_S, command=f"pki-cli.py {args.command}")
            if state_dir.is_dir()
            else contextlib.nullcontext()
        ):
            if args.command == "revoke":
                info = revocation.revoke(lab, state_dir, hierarchy.name, args.serial, args.reason, config=args.config)
            else:
                info = revocation.unrevoke(lab, state_dir, hierarchy.name, args.serial, config=args.config)
    else:
        info = revocation.certificate_status(lab, state_dir, hierarchy.name, args.serial, config=args.config)
    if args.json:
        print(json.dumps(revocation.status_record(hierarchy.name, info)))
    else:
        print("\n".join(revocation.status_lines(info)))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        _run(args)
    except LabctlError as exc:
        hint = f" ({exc.hint})" if exc.hint else ""
        print(f"pki-cli: error: {exc}{hint}".replace("\n", " "), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
