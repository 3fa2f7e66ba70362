"""Hidden commands run inside a lab container by labctl itself (labctl.clients hands them their
files): the in-network halves of the EST commands, of `verify` and of `iot enroll`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from labctl import iot as iot_client
from labctl.cli import Context, main
from labctl.cli.output import print_results
from labctl.clients import est_call, verify_with_files
from labctl.state import read_credentials


@main.command("est-call", hidden=True)
@click.argument(
    "operation", type=click.Choice(["cacerts", "simpleenroll", "simplereenroll", "serverkeygen", "fullcmc"])
)
@click.option("--ra-url", required=True)
@click.option("--trust", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--credentials", type=click.Path(path_type=Path, exists=True))
@click.option("--csr", type=click.Path(path_type=Path, exists=True))
@click.option("--cert", type=click.Path(path_type=Path, exists=True))
@click.option("--key", type=click.Path(path_type=Path, exists=True))
@click.option(
    "--key-password", type=click.Path(path_type=Path, exists=True), help="serverkeygen: encrypt the key with it"
)
def est_call_command(
    operation: str,
    ra_url: str,
    trust: Path,
    credentials: Path | None,
    csr: Path | None,
    cert: Path | None,
    key: Path | None,
    key_password: Path | None,
) -> None:
    """The in-network half of the EST commands: one exchange; PEM out, or one JSON error line (in a lab container)."""
    output = est_call(
        operation, ra_url, trust=trust, credentials=credentials, csr=csr, cert=cert, key=key, key_password=key_password
    )
    click.echo(output, nl=False)


@main.command("verify-endpoint", hidden=True)
@click.option("--hierarchy", required=True)
@click.option("--ra-url", required=True)
@click.option("--ca-url", required=True)
@click.option("--trust", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--credentials", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--admin-cert", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--admin-key", type=click.Path(path_type=Path, exists=True), required=True)
@click.pass_obj
def verify_endpoint_command(
    obj: Context,
    hierarchy: str,
    ra_url: str,
    ca_url: str,
    trust: Path,
    credentials: Path,
    admin_cert: Path,
    admin_key: Path,
) -> None:
    """The in-network half of `labctl verify`: check one RA, print JSON lines (run inside a lab container)."""
    results = verify_with_files(
        obj.lab.hierarchy(hierarchy),
        ra_url=ra_url,
        ca_url=ca_url,
        trust=trust,
        credentials=credentials,
        admin_cert=admin_cert,
        admin_key=admin_key,
    )
    print_results(results, as_json=True)


@main.command("iot-device", hidden=True)
@click.option("--hierarchy", required=True)
@click.option("--cn", required=True)
@click.option("--ra-url", required=True)
@click.option("--ca-url", required=True)
@click.option("--trust", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--est-credentials", type=click.Path(path_type=Path, exists=True))
@click.option("--bootstrap-credential", type=click.Path(path_type=Path, exists=True))
@click.option("--data-dir", type=click.Path(path_type=Path), required=True)
@click.pass_obj
def iot_device(
    obj: Context,
    hierarchy: str,
    cn: str,
    ra_url: str,
    ca_url: str,
    trust: Path,
    est_credentials: Path | None,
    bootstrap_credential: Path | None,
    data_dir: Path,
) -> None:
    """The IoT client itself (run inside a lab container): log lines, then one JSON summary line."""
    device = iot_client.IoTDevice(
        common_name=cn,
        algorithm=obj.lab.hierarchy(hierarchy).algorithm,
        data_dir=data_dir,
        ra_url=ra_url,
        ca_url=ca_url,
        trust_file=trust,
        est_credentials=read_credentials(est_credentials) if est_credentials is not None else None,
        bootstrap_credential=bootstrap_credential.read_text(encoding="utf-8").strip() if bootstrap_credential else None,
    )
    code, summary = iot_client.run_device(device, log=click.echo)
    click.echo(summary)
    if code != 0:
        sys.exit(code)
