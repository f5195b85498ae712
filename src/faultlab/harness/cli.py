"""The `faultlab` command line: triage logs, run the embedded lab, run and judge scenarios."""

from __future__ import annotations

import importlib.util
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from faultlab.assertions.sources import SourceError
from faultlab.assertions.triage import TriageFilter, triage
from faultlab.harness.console import report_console
from faultlab.harness.triage_view import render, write_json_lines
from faultlab.harness.utc import parse_iso

app = typer.Typer(
    name="faultlab",
    help="Reproduce vSphere storage faults on purpose and judge, from ESXi logs, what happened.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """faultlab: storage faults on purpose, judged from ESXi logs and the vSphere API."""


_lab = None
if importlib.util.find_spec("faultlab.harness.cli_lab") is not None:  # the embedded lab's commands
    _lab = importlib.import_module("faultlab.harness.cli_lab")
    app.add_typer(_lab.lab_app, name="lab", help="Start, stop and inspect the embedded lab (needs root).")


def _parse_time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_iso(value)  # no offset given: UTC
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO 8601 time (e.g. 2024-05-07T16:29:50Z)", param_hint=option
        ) from None


@app.command("triage")
def triage_cmd(
    paths: Annotated[list[str], typer.Argument(help="Log files, folders, vm-support bundles (.tgz), or - for stdin.")],
    json_out: Annotated[
        str | None, typer.Option("--json", help="Write JSON Lines to this file ('-' for standard output).")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Only events at or after this UTC time (ISO 8601).")] = None,
    until: Annotated[str | None, typer.Option(help="Only events at or before this UTC time (ISO 8601).")] = None,
    host: Annotated[list[str] | None, typer.Option("--host", help="Only this host (repeatable).")] = None,
    signature: Annotated[
        list[str] | None, typer.Option("--signature", "-s", help="Only these event names or globs, e.g. 'apd.*'.")
    ] = None,
    all_lines: Annotated[
        bool, typer.Option("--all-lines", help="Parse every line (slower): reports every malformed line.")
    ] = False,
    twins: Annotated[bool, typer.Option("--twins", help="Also show vob.*/esx.* twin events.")] = False,
) -> None:
    """Show the storage-fault timeline and the KB 392634 / KB 308590 diagnoses found in ESXi logs."""
    flt = TriageFilter(
        since=_parse_time(since, "--since"),
        until=_parse_time(until, "--until"),
        hosts=tuple(host or ()),
        signatures=tuple(signature or ()),
    )
    err = Console(stderr=True)
    try:
        report = triage(paths, flt=flt, every_line=all_lines)
    except SourceError as exc:
        err.print(f"faultlab triage: {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    if json_out is not None:
        if json_out == "-":
            write_json_lines(report, sys.stdout)
            return
        with Path(json_out).open("w", encoding="utf-8") as fh:
            write_json_lines(report, fh)
        err.print(f"wrote {len(report.events)} events to {json_out}", highlight=False)
        return
    render(report, report_console(), show_twins=twins)


def _register_harness_commands() -> None:
    from faultlab.harness import cli_compare, cli_heal, cli_history, cli_lease, cli_report, cli_run

    app.command("run")(cli_run.run)
    app.command("judge")(cli_run.judge)
    app.command("report")(cli_report.report)
    app.command("compare")(cli_compare.compare_cmd)
    app.command("heal", help="Heal every fault a ledger lists (after a crashed or killed run).")(cli_heal.heal)
    app.command("history")(cli_history.history)
    if _lab is not None:
        _lab.lab_app.add_typer(cli_lease.lease_app, name="lease")


_register_harness_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
