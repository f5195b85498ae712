"""`faultlab triage` without typer: what the command does, and the plain command lines read straight here.

Loading typer (its click, its parameter machinery) is a third of a triage's start-up; a command line made
only of `triage`, paths and its known options is parsed here, anything else (help, a bad value, an unknown
option, `--`) goes to typer, which answers as usual. A unit test holds both parsers to the same options.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

# option -> field of TriageArgs; typer's `triage_cmd` declares the same (tests/unit/harness/test_cli_triage.py)
VALUE_OPTIONS = {
    "--json": "json_out",
    "--since": "since",
    "--until": "until",
    "--host": "host",
    "--signature": "signature",
    "-s": "signature",
}
FLAG_OPTIONS = {"--all-lines": "all_lines", "--twins": "twins"}
REPEATABLE = {"host", "signature"}


@dataclass(slots=True)
class TriageArgs:
    """A `faultlab triage` command line, read."""

    paths: list[str]
    json_out: str | None = None
    since: str | None = None
    until: str | None = None
    host: list[str] = field(default_factory=list)
    signature: list[str] = field(default_factory=list)
    all_lines: bool = False
    twins: bool = False


def parse_time(value: str) -> datetime:
    """An ISO 8601 time, UTC when it names no zone; ValueError when it is not one."""
    t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def parse_plain(argv: list[str]) -> TriageArgs | None:
    """The arguments after `faultlab triage` when they are plain (known options with good values, at least
    one path); None for anything typer must answer (help, errors, `--`, `--opt=value`, unknown options)."""
    args = TriageArgs(paths=[])
    seen: set[str] = set()
    i = 0
    while i < len(argv):
        token = argv[i]
        if token in VALUE_OPTIONS:
            if i + 1 >= len(argv):
                return None
            name, value = VALUE_OPTIONS[token], argv[i + 1]
            if name in REPEATABLE:
                getattr(args, name).append(value)
            elif name in seen:
                return None  # given twice: typer's rule (the last one) applies there
            else:
                setattr(args, name, value)
            seen.add(name)
            i += 2
            continue
        if token in FLAG_OPTIONS:
            setattr(args, FLAG_OPTIONS[token], True)
        elif token.startswith("-") and token != "-":
            return None
        else:
            args.paths.append(token)
        i += 1
    if not args.paths:
        return None
    for stamp in (args.since, args.until):
        if stamp is not None:
            try:
                parse_time(stamp)
            except ValueError:
                return None  # typer names the option and the expected form
    return args


def run_triage(args: TriageArgs) -> int:
    """Triage, write the JSON Lines or the console view; the exit code (2: a path that cannot be read)."""
    from faultlab.assertions.sources import SourceError
    from faultlab.assertions.triage import TriageFilter, triage
    from faultlab.harness.report.triage_json import ProgressLine, write_json_lines

    flt = TriageFilter(
        since=parse_time(args.since) if args.since is not None else None,
        until=parse_time(args.until) if args.until is not None else None,
        hosts=tuple(args.host),
        signatures=tuple(args.signature),
    )
    try:
        with ProgressLine(sys.stderr) as progress:
            report = triage(args.paths, flt=flt, every_line=args.all_lines, progress=progress.update)
    except SourceError as exc:
        print(f"faultlab triage: {exc}", file=sys.stderr)
        return 2
    if args.json_out is not None:
        if args.json_out == "-":  # stdout is the JSON: skipped and damaged files are its `file` records
            write_json_lines(report, sys.stdout)
            return 0
        with Path(args.json_out).open("w", encoding="utf-8") as fh:
            write_json_lines(report, fh)
        print(f"wrote {len(report.events)} events to {args.json_out}", file=sys.stderr)
        for line in report.skipped_lines():
            print(line, file=sys.stderr)
        return 0
    # rich and the console view load only for the console: `--json` imports neither
    from faultlab.harness.console import report_console
    from faultlab.harness.report.triage_view import render

    render(report, report_console(), show_twins=args.twins)
    return 0
