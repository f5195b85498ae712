"""`faultlab compare BASELINE CANDIDATE...`: runs of one scenario side by side; exit 1 on a regression."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from faultlab.harness.cli.history import HISTORY_HELP
from faultlab.harness.compare import SLOWER, WORSE, CompareError, Comparison, Row, Tolerance, compare
from faultlab.harness.console import report_console
from faultlab.harness.record import load_record

EXIT_SAME, EXIT_REGRESSION, EXIT_USAGE = 0, 1, 2
_STYLE = {SLOWER: "bold red", WORSE: "bold red", "gone": "red", "faster": "green", "better": "green"}


def _value(v: float | str | None) -> str:
    if v is None:
        return "-"
    if isinstance(v, float | int) and not isinstance(v, bool):
        return f"{v:.2f}s"
    return str(v)


def _setting(v: float | str | None) -> str:
    return "-" if v is None else f"{v:g}" if isinstance(v, float | int) else str(v)


def _change(row: Row) -> str:
    text = row.change if row.delta_s is None else f"{row.change} ({row.delta_s:+.2f}s)"
    return text + ("  REGRESSION" if row.regression else "")


def table(cmp: Comparison) -> Table:
    t = Table(box=None, expand=False)
    for name in ("", "baseline", "candidate", "change"):
        t.add_column(name, justify="right" if name in ("baseline", "candidate") else "left", no_wrap=True)
    for row in cmp.rows:
        fmt = _setting if row.section == "setting" else _value
        label = {"step": "step ", "setting": "setting ", "recovery": "recover "}.get(row.section, "") + row.label
        t.add_row(label, fmt(row.baseline), fmt(row.candidate), _change(row), style=_STYLE.get(row.change))
    return t


def resolve_run(arg: Path, history: str | None, artifacts: Path) -> Path:
    """A record file or run folder as given, else a run id looked up in the history (its artifacts folder)."""
    if arg.exists() or len(arg.parts) != 1:
        return arg
    from faultlab.harness.history import HistoryError, HistoryStore, history_url

    url = history_url(history, artifacts)
    try:
        with HistoryStore(url) as store:
            found = store.get(str(arg))
    except HistoryError as exc:
        raise ValueError(f"{arg}: not a file or folder, and the history cannot be read: {exc}") from None
    if found is None or not found.artifacts_dir:
        raise ValueError(f"{arg}: not a file or folder, nor a run id in the history")
    return Path(found.artifacts_dir)


def compare_cmd(
    baseline: Annotated[
        Path, typer.Argument(help="The baseline run (record.json, its run folder, or a run id from the history).")
    ],
    candidates: Annotated[list[Path], typer.Argument(help="One or more runs of the same scenario to compare.")],
    tolerance: Annotated[
        float, typer.Option(help="Percent by which a recovery time may grow before it is a regression.")
    ] = 20.0,
    min_delta: Annotated[
        float, typer.Option("--min-delta", help="Seconds below which a difference is noise, whatever the percent.")
    ] = 1.0,
    json_out: Annotated[
        str | None, typer.Option("--json", help="Write one JSON object per candidate to this file ('-': stdout).")
    ] = None,
    history: Annotated[str | None, typer.Option(help=HISTORY_HELP)] = None,
    artifacts: Annotated[Path, typer.Option(help="Artifacts folder (where the default history lives).")] = Path(
        "artifacts"
    ),
) -> None:
    """Compare runs of one scenario (before/after a firmware or configuration change): the outcome, each expected
    step's time from the fault, each recovery condition's and measure's time from heal, the host settings read.
    Exit 0: no regression; 1: a candidate regressed (worse outcome, a step or condition lost, a recovery slower
    than the tolerance); 2: unreadable records or different scenarios."""
    err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
    if tolerance < 0 or min_delta < 0:
        err.print("faultlab compare: --tolerance and --min-delta must not be negative")
        raise typer.Exit(EXIT_USAGE)
    tol = Tolerance(ratio=tolerance / 100.0, min_s=min_delta)
    try:
        base, base_dir = load_record(resolve_run(baseline, history, artifacts))
        loaded = [load_record(resolve_run(c, history, artifacts)) for c in candidates]
        results = [compare(base, rec, tol, base_dir, folder) for rec, folder in loaded]
    except (ValueError, CompareError) as exc:
        err.print(f"faultlab compare: {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    out = report_console(soft_wrap=False)
    text = Console(highlight=False, soft_wrap=True, markup=False)
    if json_out == "-":
        for cmp in results:
            sys.stdout.write(json.dumps(cmp.to_json()) + "\n")
    else:
        if json_out is not None:
            Path(json_out).write_text("".join(json.dumps(c.to_json()) + "\n" for c in results), encoding="utf-8")
        for cmp in results:
            text.print(f"{cmp.scenario}: {cmp.candidate_run} against the baseline {cmp.baseline_run}")
            out.print(table(cmp))
            for note in cmp.notes:
                text.print(f"note: {note}")
            if cmp.regressions:
                text.print(f"{cmp.candidate_run}: {len(cmp.regressions)} regression(s) against {cmp.baseline_run}:")
                for row in cmp.regressions:
                    text.print(f"  - {row.why}")
            else:
                text.print(f"{cmp.candidate_run}: no regression against {cmp.baseline_run}")
            text.print("")
    raise typer.Exit(EXIT_REGRESSION if any(c.regressions for c in results) else EXIT_SAME)
