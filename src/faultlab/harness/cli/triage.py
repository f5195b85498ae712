"""`faultlab triage PATH...`: the storage-fault timeline and KB diagnoses of log folders, bundles or stdin.

typer's view of the command (help, errors); what it does is `triage_run.run_triage`, which plain command lines
reach without typer (see triage_run). The scanner, the catalog and rich load when the command runs.
"""

from __future__ import annotations

from typing import Annotated

import typer

from faultlab.harness.cli.triage_run import TriageArgs, parse_time, run_triage


def _check_time(value: str | None, option: str) -> None:
    if value is None:
        return
    try:
        parse_time(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO 8601 time (e.g. 2024-05-07T16:29:50Z)", param_hint=option
        ) from None


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
    _check_time(since, "--since")
    _check_time(until, "--until")
    args = TriageArgs(
        paths=list(paths),
        json_out=json_out,
        since=since,
        until=until,
        host=list(host or ()),
        signature=list(signature or ()),
        all_lines=all_lines,
        twins=twins,
    )
    code = run_triage(args)
    if code:
        raise typer.Exit(code)
