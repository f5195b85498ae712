"""`faultlab report RUN`: (re)write a finished run's artifacts (HTML, JUnit, vCenter events) and print its timeline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from faultlab.harness.artifacts import write_artifacts
from faultlab.harness.console import report_console
from faultlab.harness.record import load_record
from faultlab.harness.report.text import print_report

EXIT_OK, EXIT_USAGE, EXIT_PROBLEMS = 0, 2, 3


def report(
    run: Annotated[Path, typer.Argument(help="A run record (record.json) or its run folder.")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only write the files; print their paths.")] = False,
) -> None:
    """Write report.html, junit.xml and vcenter-events.json next to the record, and print the run's timeline.
    Exit 0 when every artifact was written, 3 when some could not be (listed), 2 for an unreadable record."""
    err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
    try:
        record, run_dir = load_record(run)
    except ValueError as exc:
        err.print(f"faultlab report: {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    out = write_artifacts(record, run_dir)
    console = report_console(soft_wrap=False)
    if not quiet:
        print_report(record, run_dir, console)
    for path in out.written:
        console.print(str(path), markup=False)
    for problem in out.problems:
        err.print(f"faultlab report: {problem}")
    raise typer.Exit(EXIT_PROBLEMS if out.problems else EXIT_OK)
