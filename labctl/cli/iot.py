"""`labctl iot`: the lab's IoT device client, run in a container on a hierarchy's network."""

from __future__ import annotations

import click

from labctl.cli import Context, main, pki_type_option
from labctl.clients import run_iot_device
from labctl.endpoint import endpoint_for
from labctl.errors import LabctlError


@main.group()
def iot() -> None:
    """The lab's IoT device client: EST first, the CA's REST API when the RA is unavailable."""


@iot.command("enroll")
@pki_type_option()
@click.option("--cn", help="the device's name (default: iot-device-01.<lab>.local, e.g. iot-device-01.cert-lab.local)")
@click.option(
    "--bootstrap-credential/--no-bootstrap-credential",
    default=True,
    show_default=True,
    help="give the device the hierarchy's bootstrap credential (without it, a fallback request stays pending)",
)
@click.pass_obj
def iot_enroll(obj: Context, pki_type: str, cn: str | None, bootstrap_credential: bool) -> None:
    """Run the IoT client once in a container on the hierarchy's network; key and certificate stay on its volume."""
    hierarchy = obj.lab.hierarchy(pki_type)
    cn = cn or f"iot-device-01.{obj.lab.name}.local"
    with obj.locked("iot enroll"), obj.clients() as clients:
        endpoint = endpoint_for(obj.lab, obj.state_dir, hierarchy)
        code, lines, summary = run_iot_device(
            clients, endpoint, common_name=cn, with_bootstrap_credential=bootstrap_credential
        )
    for line in lines:
        if line.strip():
            click.echo(f"  {line}")
    if code != 0 or "error" in summary:
        raise LabctlError(str(summary.get("error", f"the IoT client exited {code}")))
    click.echo(f"labctl: {cn} enrolled via {summary['path']}: serial {summary['serial']}, {summary['subject']}")
