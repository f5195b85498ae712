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


def heal_ledgers(
    paths: list[Path], inventory: Path | None, echo: Callable[[str], None], verify_timeout_s: float = 20.0
) -> int:
    """Heal each ledger with the inventory it names (or `inventory`); 0 when everything is healed, else 1."""
    failed = False
    for path in paths:
        try:
            ledger = Ledger.load(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            echo(f"failed         {path}: unreadable ledger: {exc}")
            failed = True
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
) -> None:
    """Heal every open fault the ledgers list (iptables rules by tag, stopped/frozen services, removed LUNs)."""
    paths = [ledger] if ledger is not None else list(ledger_files(state_dir or default_state_dir()))
    if not paths:
        typer.echo(f"nothing to heal: no ledger in {state_dir or default_state_dir()}")
        return
    raise typer.Exit(heal_ledgers(paths, inventory, typer.echo, verify_timeout))


heal_app = typer.Typer(add_completion=False)
heal_app.command("heal")(heal)
