"""`faultlab triage PATH...`: the storage-fault timeline and KB diagnoses of log folders, bundles or stdin.

Only typer is imported at start-up; the scanner, the catalog and rich's renderers load when the command runs,
so `faultlab triage --help` answers at once.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer


def _parse_time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO 8601 time (e.g. 2024-05-07T16:29:50Z)", param_hint=option
        ) from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


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
    # rich and the console view load only for the console: `--json` imports neither
    from faultlab.assertions.sources import SourceError
    from faultlab.assertions.triage import TriageFilter, triage
    from faultlab.harness.report.triage_json import ProgressLine, write_json_lines

    flt = TriageFilter(
        since=_parse_time(since, "--since"),
        until=_parse_time(until, "--until"),
        hosts=tuple(host or ()),
        signatures=tuple(signature or ()),
    )
    try:
        with ProgressLine(sys.stderr) as progress:
            report = triage(paths, flt=flt, every_line=all_lines, progress=progress.update)
    except SourceError as exc:
        print(f"faultlab triage: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    if json_out is not None:
        if json_out == "-":  # stdout is the JSON: skipped and damaged files are its `file` records
            write_json_lines(report, sys.stdout)
            return
        with Path(json_out).open("w", encoding="utf-8") as fh:
            write_json_lines(report, fh)
        print(f"wrote {len(report.events)} events to {json_out}", file=sys.stderr)
        for line in report.skipped_lines():
            print(line, file=sys.stderr)
        return
    from faultlab.harness.console import report_console
    from faultlab.harness.report.triage_view import render

    render(report, report_console(), show_twins=twins)
