"""`faultlab heal`: heal every fault the ledgers list (after a crash or Ctrl-C), one line per fault."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from faultlab.harness.faults import HealOutcome, heal_ledger
from faultlab.harness.ledger import Ledger, default_state_dir, ledger_files
from faultlab.lab.errors import FaultlabError
from faultlab.lab.inventory import load_inventory
from faultlab.lab.ssh import SshPool

EMBEDDED_STATE_ROOT = Path("/run/faultlab")  # an embedded lab's inventory: <root>/<lab id>/inventory.yaml


def embedded_lab_gone(inventory: str | None) -> str | None:
    """The id of the embedded lab whose inventory the ledger names, when that lab no longer exists (its state
    folder went with `faultlab lab down`); None for a real lab's inventory or a lab still there. A real lab's
    ledger is never closed this way: its faults may still be on the lab whatever happened to the file."""
    if not inventory:
        return None
    path = Path(inventory)
    if path.parent.parent != EMBEDDED_STATE_ROOT or path.name != "inventory.yaml" or path.parent.exists():
        return None
    return path.parent.name


def heal_ledgers(
    paths: list[Path],
    inventory: Path | None,
    echo: Callable[[str], None],
    verify_timeout_s: float = 20.0,
    *,
    force: bool = False,
) -> int:
    """Heal each ledger with the inventory it names (or `inventory`); 0 when everything is healed, else 1.

    A ledger whose run is still alive (its own heal will run when its hold ends) is left alone unless `force`;
    a ledger of an embedded lab that no longer exists is closed with a note."""
    failed = False
    for path in paths:
        try:
            ledger = Ledger.load(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            echo(f"failed         {path}: unreadable ledger: {exc}")
            failed = True
            continue
        if ledger.owner_alive() and not force:
            faults = ", ".join(e.fault_id for e in ledger.open_entries()) or "none applied yet"
            echo(
                f"left alone     {path}: run {ledger.run_id} is live (pid {ledger.owner_pid}) and heals its own"
                f" faults ({faults}); --force heals them now"
            )
            continue
        gone = embedded_lab_gone(ledger.inventory) if inventory is None else None
        if gone is not None:
            ledger.close_gone(f"lab {gone} no longer exists (taken down); its faults went with it")
            echo(f"closed         {path}: run {ledger.run_id}: lab {gone} no longer exists; nothing left to heal")
            continue
        source = inventory or (Path(ledger.inventory) if ledger.inventory else None)
        if source is None:
            echo(f"failed         {path}: the ledger names no inventory; give --inventory")
            failed = True
            continue
        try:
            with SshPool(load_inventory(source)) as pool:
                outcomes: list[HealOutcome] = heal_ledger(pool, ledger, verify_timeout_s)
        except FaultlabError as exc:
            echo(f"failed         {path}: {exc}")
            failed = True
            continue
        for outcome in outcomes:
            echo(f"{outcome.line()}  [{path.name}]")
            failed |= not outcome.ok
    return 1 if failed else 0


def heal(
    ledger: Annotated[Path | None, typer.Option(help="one ledger file; default: every ledger in --state-dir")] = None,
    state_dir: Annotated[Path | None, typer.Option(help="ledger folder (default: /var/lib/faultlab/ledger)")] = None,
    inventory: Annotated[Path | None, typer.Option(help="inventory to reach the nodes (default: the ledger's)")] = None,
    verify_timeout: Annotated[float, typer.Option(help="seconds to wait for each heal to take effect")] = 20.0,
    force: Annotated[
        bool, typer.Option(help="also heal the faults of runs still alive (they then judge a shortened outage)")
    ] = False,
) -> None:
    """Heal every open fault the ledgers list (iptables rules by tag, stopped/frozen services, removed LUNs) of
    runs that are gone (crashed, killed); a live run's faults are left to that run unless --force."""
    paths = [ledger] if ledger is not None else list(ledger_files(state_dir or default_state_dir()))
    if not paths:
        typer.echo(f"nothing to heal: no ledger in {state_dir or default_state_dir()}")
        return
    raise typer.Exit(heal_ledgers(paths, inventory, typer.echo, verify_timeout, force=force))


heal_app = typer.Typer(add_completion=False)
heal_app.command("heal")(heal)
