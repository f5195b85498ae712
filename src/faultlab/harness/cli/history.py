"""`faultlab history`: the runs in the history database, as a table, JSON or a trend page."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from faultlab.harness.compare import Tolerance
from faultlab.harness.history import HistoryError, HistoryStore, RunSummary, history_url, shown
from faultlab.harness.history.page import write_history_page
from faultlab.harness.history.trends import trends

HISTORY_HELP = (
    "History database URL (sqlite:///FILE or postgresql://...); default $FAULTLAB_HISTORY, else SQLite in the "
    "artifacts folder."
)


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 time (e.g. 2026-12-01T00:00:00Z)") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def run_json(run: RunSummary) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "scenario": run.scenario,
        "outcome": run.outcome,
        "started": run.started.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "duration_s": run.duration_s,
        "lab": run.lab,
        "timing": run.timing,
        "message": run.message,
        "settings": run.settings,
        "versions": run.versions,
        "measures": run.measures,
        "artifacts_dir": run.artifacts_dir,
        "report": run.report,
    }


def history(
    scenario: Annotated[str | None, typer.Argument(help="Only this scenario's runs.")] = None,
    since: Annotated[str | None, typer.Option(help="Only runs started at or after this UTC time.")] = None,
    json_out: Annotated[str | None, typer.Option("--json", help="Write JSON Lines to FILE ('-': stdout).")] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Write the trend page to this file.")] = None,
    history_db: Annotated[str | None, typer.Option("--history", help=HISTORY_HELP)] = None,
    artifacts: Annotated[Path, typer.Option(help="Artifacts folder (where the default SQLite lives).")] = Path(
        "artifacts"
    ),
    tolerance: Annotated[float, typer.Option(help="Drift: slower by more than this percent ...")] = 20.0,
    min_delta: Annotated[float, typer.Option(help="... and more than this many seconds.")] = 1.0,
) -> None:
    """List recorded runs with outcome, lab, settings, versions and recovery measures; flag drifts and flaky
    scenarios (exit 0; 2 when the history cannot be read)."""
    err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
    url = history_url(history_db, artifacts)
    try:
        with HistoryStore(url) as store:
            runs = store.runs(scenario, _since(since))
    except HistoryError as exc:
        err.print(f"faultlab history: {exc}")
        raise typer.Exit(2) from None
    found = trends(runs, Tolerance(ratio=tolerance / 100, min_s=min_delta))
    if json_out is not None:
        lines = [json.dumps({"record": "run", **run_json(r)}) for r in runs]
        for t in found:
            lines += [json.dumps({"record": "flaky", "scenario": t.scenario, "why": w}) for w in t.flaky]
            lines += [
                json.dumps({"record": "drift", "scenario": t.scenario, "run_id": p.run_id, "measure": m, "why": p.why})
                for m, p in t.drifts
            ]
        text = "\n".join(lines) + ("\n" if lines else "")
        if json_out == "-":
            sys.stdout.write(text)
        else:
            Path(json_out).write_text(text, encoding="utf-8")
    if html is not None:
        write_history_page(found, html, shown(url))
        err.print(f"history page: {html}")
    if json_out == "-":
        return
    out = Console(highlight=False, soft_wrap=True)
    table = Table(title=f"{len(runs)} runs in {escape(shown(url))}")
    for col in ("started (UTC)", "scenario", "outcome", "lab", "settings", "recovery measures", "run"):
        table.add_column(col)
    for r in runs:
        table.add_row(
            f"{r.started:%Y-%m-%d %H:%M:%S}",
            escape(r.scenario),
            r.outcome,
            escape(r.lab or ""),
            escape(", ".join(f"{k}={v:g}" for k, v in sorted(r.settings.items()))),
            escape(", ".join(f"{k}={v:.1f}" for k, v in sorted(r.measures.items()) if k in r.judged)),
            escape(r.run_id),
        )
    out.print(table)
    for t in found:
        for w in t.flaky:
            out.print(f"[yellow]flaky:[/] {escape(w)}")
        for _m, p in t.drifts:
            out.print(f"[red]drift:[/] {escape(p.run_id)}: {escape(p.why)}")
