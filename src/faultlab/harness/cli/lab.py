"""`faultlab lab up | down | status`: the embedded lab's commands (also `python -m faultlab.harness.cli.lab`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, NoReturn

import typer

from faultlab.harness.cli.heal import heal_ledgers
from faultlab.harness.cli.lease import lease_app
from faultlab.harness.ledger import Ledger, default_state_dir, live_runs_on
from faultlab.sim import preflight
from faultlab.sim.errors import EmbeddedLabError, MissingPackagesError, NeedsRootError
from faultlab.sim.lab import EmbeddedLab, down_all, down_lab, find_lab, lab_status
from faultlab.sim.manifest import Manifest, all_manifests

lab_app = typer.Typer(
    help="Start, stop and inspect the embedded lab (needs root).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

lab_app.add_typer(lease_app, name="lease")  # works on any inventory, embedded or real

EXIT_ENVIRONMENT = 2  # not root / missing packages / a live run on the lab: nothing was attempted


def _fail(err: EmbeddedLabError) -> NoReturn:
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


def _timing_text(timing: str) -> str:
    if timing == "real":
        return "real (ESXi's defaults and limits)"
    return "fast (lab-scaled: NOT a real host's timings)"


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
    timing: Annotated[
        str,
        typer.Option(
            help="Host timing profile: fast (lab-scaled, e.g. APD timeout 6 s: not a real host's numbers) or "
            "real (ESXi's defaults and limits: APD timeout 140 s, minimum 20)."
        ),
    ] = "fast",
    vcls_vms: Annotated[
        int,
        typer.Option(
            "--vcls-vms", help="vCLS system VMs each ESXi host lists in vim-cmd vmsvc/getallvms (0-3; default none)."
        ),
    ] = 0,
) -> None:
    """Build a lab that stays up until `faultlab lab down`; prints its id and inventory path."""
    if timing not in ("fast", "real"):
        raise typer.BadParameter("must be fast or real", param_hint="--timing")
    profile_timing: Literal["fast", "real"] = "real" if timing == "real" else "fast"
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
            timing=profile_timing,
            vcls_vms=vcls_vms,
        )
    except EmbeddedLabError as err:
        _fail(err)
    typer.echo(f"lab {lab.lab_id} up ({lab.layout.cidr}); ESXi host processes running: {lab.hosts_running}")
    typer.echo(f"timing: {_timing_text(profile_timing)}")
    typer.echo(f"inventory: {lab.inventory_path}")
    if lab.vcenter is not None:  # the password itself is never printed
        typer.echo(f'vCenter: {lab.vcenter.url} (export FAULTLAB_VC_PASSWORD="$(cat {lab.vcenter.password_file})")')


def _live_runs(manifests: list[Manifest], state_dir: Path | None) -> dict[str, list[Ledger]]:
    """Lab id -> the live runs (their ledgers) acting on it."""
    out: dict[str, list[Ledger]] = {}
    for m in manifests:
        runs = live_runs_on(m.layout.inventory_path, state_dir)
        if runs:
            out[m.lab_id] = runs
    return out


def _runs_text(runs: list[Ledger]) -> str:
    return ", ".join(f"run {r.run_id} (pid {r.owner_pid})" for r in runs)


def _heal_first(busy: dict[str, list[Ledger]]) -> None:
    """--force: heal the live runs' faults while the lab still answers; a fault that cannot be healed goes with
    the lab (its ledger is closed by the next `faultlab heal`: the lab no longer exists)."""
    for lab_id, runs in busy.items():
        typer.echo(f"lab {lab_id}: healing the faults of {_runs_text(runs)} before taking it down")
        heal_ledgers([r.path for r in runs], None, typer.echo, force=True)


@lab_app.command()
def down(
    lab_id: Annotated[str | None, typer.Argument(help="Lab to remove (default: the only lab).")] = None,
    all_labs: Annotated[
        bool,
        typer.Option("--all", help="Remove crashed and detached labs and leftovers (not labs a live process holds)."),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            help="Also a lab a live run is faulting (its faults are healed first); with --all: also labs held by "
            "live processes."
        ),
    ] = False,
    state_dir: Annotated[
        Path | None, typer.Option(help="Fault ledger folder of the runs (default: /var/lib/faultlab/ledger).")
    ] = None,
) -> None:
    """Remove a lab: its namespaces, processes, links and files. A lab a live run is faulting is refused unless
    --force (which heals that run's faults first)."""
    ledgers = state_dir or default_state_dir()
    try:
        preflight.check()
        if all_labs:
            busy = _live_runs(all_manifests(), ledgers)
            if force:
                _heal_first(busy)
            for busy_id, runs in busy.items() if not force else ():
                typer.echo(f"kept lab {busy_id}: {_runs_text(runs)} is faulting it (--force heals and removes it)")
            removed = down_all(force=force, keep_labs=set(busy) if not force else set())
            typer.echo(f"removed labs: {' '.join(removed.labs) or 'none'}")
            for orphan in removed.orphans:
                typer.echo(f"removed leftover {orphan}")
            return
        if lab_id is None:
            ids = [m.lab_id for m in all_manifests()]
            if len(ids) != 1:
                raise EmbeddedLabError(f"{len(ids)} labs on this machine ({' '.join(ids)}): name one, or use --all")
            lab_id = ids[0]
        manifest = find_lab(lab_id)
        busy = _live_runs([manifest], ledgers)
        if busy and not force:
            typer.echo(
                f"refusing to take down lab {lab_id}: {_runs_text(busy[lab_id])} is faulting it; taking the lab away"
                " would leave that run judging a lab that is gone. Wait for it or stop it (Ctrl-C heals), or"
                f" `faultlab lab down {lab_id} --force` to heal its faults first. Nothing was changed.",
                err=True,
            )
            raise typer.Exit(EXIT_ENVIRONMENT)
        _heal_first(busy)
        down_lab(manifest)
    except EmbeddedLabError as err:
        _fail(err)
    typer.echo(f"lab {lab_id} down")


@lab_app.command()
def status() -> None:
    """List the labs on this machine, their nodes, process counts and SSH reachability."""
    try:
        preflight.check()
        labs = lab_status()
    except EmbeddedLabError as err:
        _fail(err)
    if not labs:
        typer.echo("no lab")
        return
    for lab in labs:
        typer.echo(f"lab {lab.lab_id} {lab.state} {lab.cidr} owner {lab.owner} inventory {lab.inventory}")
        typer.echo(f"  timing {_timing_text(lab.timing)}")
        for n in lab.nodes:
            ssh = "ssh ok" if n.ssh_open else "ssh closed"
            ns = f"{n.processes} processes" if n.netns_present else "no namespace"
            typer.echo(f"  {n.name:<8} {n.ip:<15} {ns}, {ssh}")
        for vm in lab.vms:
            typer.echo(f"  vm {vm.name} on {vm.host}, datastore {vm.datastore}")


if __name__ == "__main__":
    lab_app()
