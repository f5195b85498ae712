"""`faultlab lab up | down | status`: the embedded lab's commands (also `python -m faultlab.harness.cli.lab`)."""

from __future__ import annotations

from typing import Annotated, Literal, NoReturn

import typer

from faultlab.harness.cli.lease import lease_app
from faultlab.sim import preflight
from faultlab.sim.errors import LabError, MissingPackagesError, NeedsRootError
from faultlab.sim.lab import EmbeddedLab, down_all, down_lab, find_lab, lab_status
from faultlab.sim.manifest import all_manifests

lab_app = typer.Typer(
    help="Start, stop and inspect the embedded lab (needs root).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

lab_app.add_typer(lease_app, name="lease")  # works on any inventory, embedded or real

EXIT_ENVIRONMENT = 2  # not root / missing packages: nothing was attempted


def _fail(err: LabError) -> NoReturn:
    typer.echo(str(err), err=True)
    code = EXIT_ENVIRONMENT if isinstance(err, NeedsRootError | MissingPackagesError) else 1
    raise typer.Exit(code)


def _settings(pairs: list[str]) -> dict[str, int | str]:
    out: dict[str, int | str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--setting")
        out[key] = int(value) if value.lstrip("-").isdigit() else value
    return out


@lab_app.command()
def up(
    hosts: Annotated[int, typer.Option(help="Simulated ESXi hosts (1-9).")] = 1,
    vms: Annotated[int, typer.Option(help="VMs on the NFS datastore (win01, win02, ...).")] = 2,
    vmfs_vms: Annotated[
        int, typer.Option("--vmfs-vms", help="VMs on the iSCSI LUN's VMFS datastore (win-vmfs01, ...).")
    ] = 1,
    version: Annotated[str, typer.Option(help="Version profile of the hosts: 7.0, 8.0 or 4.1 (ESX classic).")] = "8.0",
    esxi_host: Annotated[
        bool, typer.Option("--esxi-host/--no-esxi-host", help="Start the simulated ESXi host processes.")
    ] = True,
    setting: Annotated[
        list[str] | None, typer.Option(help="Host advanced setting override KEY=VALUE (repeatable).")
    ] = None,
    vcenter: Annotated[
        bool, typer.Option("--vcenter/--no-vcenter", help="Start the simulated vCenter (node vc) and its feed.")
    ] = True,
) -> None:
    """Build a lab that stays up until `faultlab lab down`; prints its id and inventory path."""
    if version not in ("7.0", "8.0", "4.1"):
        raise typer.BadParameter("must be 7.0, 8.0 or 4.1", param_hint="--version")
    profile: Literal["7.0", "8.0", "4.1"] = "4.1" if version == "4.1" else "7.0" if version == "7.0" else "8.0"
    try:
        lab = EmbeddedLab.create(
            hosts,
            vms,
            profile,
            start_hosts=esxi_host,
            settings=_settings(setting or []),
            detached=True,
            vcenter=vcenter,
            vmfs_vms=vmfs_vms,
        )
    except LabError as err:
        _fail(err)
    typer.echo(f"lab {lab.lab_id} up ({lab.layout.cidr}); ESXi host processes running: {lab.hosts_running}")
    typer.echo(f"inventory: {lab.inventory_path}")
    if lab.vcenter is not None:  # the password itself is never printed
        typer.echo(f'vCenter: {lab.vcenter.url} (export FAULTLAB_VC_PASSWORD="$(cat {lab.vcenter.password_file})")')


@lab_app.command()
def down(
    lab_id: Annotated[str | None, typer.Argument(help="Lab to remove (default: the only lab).")] = None,
    all_labs: Annotated[
        bool,
        typer.Option("--all", help="Remove crashed and detached labs and leftovers (not labs a live process holds)."),
    ] = False,
    force: Annotated[bool, typer.Option(help="With --all: also labs held by live processes.")] = False,
) -> None:
    """Remove a lab: its namespaces, processes, links and files."""
    try:
        preflight.check()
        if all_labs:
            removed = down_all(force=force)
            typer.echo(f"removed labs: {' '.join(removed.labs) or 'none'}")
            for orphan in removed.orphans:
                typer.echo(f"removed leftover {orphan}")
            return
        if lab_id is None:
            ids = [m.lab_id for m in all_manifests()]
            if len(ids) != 1:
                raise LabError(f"{len(ids)} labs on this machine ({' '.join(ids)}): name one, or use --all")
            lab_id = ids[0]
        down_lab(find_lab(lab_id))
    except LabError as err:
        _fail(err)
    typer.echo(f"lab {lab_id} down")


@lab_app.command()
def status() -> None:
    """List the labs on this machine, their nodes, process counts and SSH reachability."""
    try:
        preflight.check()
        labs = lab_status()
    except LabError as err:
        _fail(err)
    if not labs:
        typer.echo("no lab")
        return
    for lab in labs:
        typer.echo(f"lab {lab.lab_id} {lab.state} {lab.cidr} owner {lab.owner} inventory {lab.inventory}")
        for n in lab.nodes:
            ssh = "ssh ok" if n.ssh_open else "ssh closed"
            ns = f"{n.processes} processes" if n.netns_present else "no namespace"
            typer.echo(f"  {n.name:<8} {n.ip:<15} {ns}, {ssh}")
        for vm in lab.vms:
            typer.echo(f"  vm {vm.name} on {vm.host}, datastore {vm.datastore}")


if __name__ == "__main__":
    lab_app()
