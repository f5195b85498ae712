"""`faultlab lab lease show|break INVENTORY`: who holds a lab's lease, and removing one whose holder is gone."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from faultlab.lab.errors import FaultlabError
from faultlab.lab.inventory import load_inventory
from faultlab.lab.lease import DEFAULT_PATH, LabLease, LeaseError, lease_node
from faultlab.lab.ssh import SshPool

lease_app = typer.Typer(no_args_is_help=True, help="Show or break a lab's lease (one run injects at a time).")


def _open(inventory: Path) -> tuple[SshPool, LabLease]:
    inv = load_inventory(inventory)
    node = lease_node(inv)
    pool = SshPool(inv)
    return pool, LabLease(pool.get(node), node=node, path=DEFAULT_PATH)


@lease_app.command("show")
def show(inventory: Annotated[Path, typer.Argument(help="The lab's inventory.")]) -> None:
    """Print who holds the lab's lease (exit 0), or that the lab is free (exit 1)."""
    out = Console(highlight=False, soft_wrap=True, markup=False)
    try:
        pool, lease = _open(inventory)
        with pool:
            info = lease.read()
    except (FaultlabError, LeaseError) as exc:
        Console(stderr=True, markup=False).print(f"faultlab lab lease show: {exc}")
        raise typer.Exit(3) from None
    if info is None:
        out.print(f"{lease.node}:{lease.path}: free")
        raise typer.Exit(1)
    out.print(f"{lease.node}:{lease.path}: held by {info.describe()}")


@lease_app.command("break")
def break_(
    inventory: Annotated[Path, typer.Argument(help="The lab's inventory.")],
    force: Annotated[bool, typer.Option(help="Also break a lease that has not expired.")] = False,
) -> None:
    """Remove the lab's lease when it has expired (or with --force, a live one: its run is then unprotected)."""
    out = Console(highlight=False, soft_wrap=True, markup=False)
    try:
        pool, lease = _open(inventory)
        with pool:
            info = lease.read()
            if info is None:
                out.print(f"{lease.node}:{lease.path}: free, nothing to break")
                return
            if not info.expired and not force:
                out.print(f"not broken: {info.describe()} is live; --force breaks it anyway")
                raise typer.Exit(1)
            broken = lease.break_expired(info)
    except (FaultlabError, LeaseError) as exc:
        Console(stderr=True, markup=False).print(f"faultlab lab lease break: {exc}")
        raise typer.Exit(3) from None
    if not broken:
        out.print("not broken: the lease changed while breaking it (renewed or taken again); look again")
        raise typer.Exit(1)
    out.print(f"broke {info.describe()} on {lease.node}:{lease.path}")
