"""The final terminal report (rich): a thinned timeline with the fault window, the expected steps, and the verdict."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from faultlab.harness.anchors import HEALED, INJECTED
from faultlab.harness.judgement import StepStatus, Verdict
from faultlab.harness.record import ERROR, PASSED, RunRecord
from faultlab.harness.report.data import Mark, RunView, build_view
from faultlab.harness.report.html import HEADLINE
from faultlab.harness.report.svg import seconds_text

MAX_ROWS = 60  # beyond this, only expected steps, offending events and the first of each (lane, name) are listed
OUTCOME_STYLES = {PASSED: "bold green", ERROR: "bold yellow"}
STATUS_STYLES = {
    StepStatus.MET: "green",
    StepStatus.MISSED: "bold red",
    StepStatus.UNKNOWN: "yellow",
    StepStatus.NOT_REACHED: "dim",
}
VERDICT_STYLES = {Verdict.TRUE: "green", Verdict.FALSE: "bold red", Verdict.UNKNOWN: "yellow"}


@dataclass
class _Row:
    time: datetime
    lane: str
    name: str
    count: int
    step: int | None
    offending: bool
    detail: str
    anchor: bool = False


def _rows(view: RunView) -> list[_Row]:
    """Marks in time order, a run of one name on one lane (no step among them) folded into one row, with anchors."""
    rows: list[_Row] = []
    open_runs: dict[tuple[str, str], _Row] = {}
    for m in view.marks():
        key = (m.lane, m.name)
        prev = open_runs.get(key)
        if prev is not None and rows and rows[-1] is prev and m.step is None and not m.offending and prev.step is None:
            prev.count += 1
            continue
        row = _Row(m.time, m.lane, m.name, 1, m.step, m.offending, _detail(m))
        rows.append(row)
        open_runs[key] = row
    for name, t in ((INJECTED, view.injected), (HEALED, view.healed)):
        if t is not None:
            rows.append(_Row(t, "", name, 1, None, False, "", anchor=True))
    rows.sort(key=lambda r: (r.time, not r.anchor))
    if len(rows) > MAX_ROWS:
        seen: set[tuple[str, str]] = set()
        kept = []
        for r in rows:
            if r.anchor or r.step is not None or r.offending or (r.lane, r.name) not in seen:
                kept.append(r)
            seen.add((r.lane, r.name))
        rows = kept
    return rows


def _detail(m: Mark) -> str:
    return m.detail if len(m.detail) <= 60 else m.detail[:57] + "..."


def timeline_table(view: RunView) -> Table:
    table = Table(title="timeline (seconds from fault.injected)", title_justify="left", expand=False, box=None)
    table.add_column("s", justify="right", style="cyan", no_wrap=True)
    table.add_column("lane", no_wrap=True, overflow="ellipsis", max_width=26)
    table.add_column("event (✓n: expected step n)", no_wrap=True)
    table.add_column("detail", max_width=60)  # the only wrappable column: rich shrinks it first; cells cut themselves
    rows = _rows(view)
    in_window = False
    for r in rows:
        rel = f"{view.rel(r.time):+.3f}"
        if r.anchor:
            in_window = r.name == INJECTED
            style = "bold red" if in_window else "bold green"
            table.add_row(rel, "", Text(f"── {r.name} ──", style=style), "")
            continue
        name = Text()
        if r.step:
            name.append(f"✓{r.step} ", style="bold green")
        elif r.offending:
            name.append("✗ forbidden ", style="bold red")
        name.append(r.name + (f" ×{r.count}" if r.count > 1 else ""), style="bold" if r.step else "")
        lane = Text(r.lane, style="on grey19" if in_window else "")
        table.add_row(rel, lane, name, Text(r.detail, no_wrap=True, overflow="ellipsis"))
    total = len(view.marks())
    shown = sum(r.count for r in rows if not r.anchor)
    if shown < total:
        table.caption = f"{total - shown} more events not listed: see report.html"
    return table


def verdict_panel(view: RunView) -> Panel:
    r = view.record
    lines: list[RenderableType] = []
    for s in view.steps:
        style = STATUS_STYLES.get(s.status, "")
        at = f" at {view.rel(s.time):+.3f} s ({s.where})" if s.time else ""
        lines.append(Text(f"[{s.status}] step {s.index} {s.label}{at}", style=style))
        if s.status in (StepStatus.MISSED, StepStatus.UNKNOWN) and s.message:
            lines.append(Text("    " + s.message.replace("\n", "\n    "), style=style))
    for c in view.checks:
        if c.matched:  # the in-order check: its steps are above
            continue
        lines.append(Text(f"{c.verdict.value.upper()}: {c.check}: {c.message}", style=VERDICT_STYLES[c.verdict]))
    for sp in view.spans:
        if sp.met:
            after = "heal" if sp.since == HEALED else sp.since
            lines.append(Text(f"recovered: {sp.label} {seconds_text(sp.seconds or 0.0)} after {after}", style="green"))
        elif sp.met is False and sp.detail.startswith("not attempted"):
            lines.append(Text(f"NOT recovered: {sp.label}: {sp.detail}", style="bold red"))
        elif sp.met is False:
            lines.append(Text(f"NOT recovered: {sp.label} within {seconds_text(sp.budget_s or 0.0)}", style="bold red"))
    figures = [f"{label} {seconds_text(view.measures[k])}" for k, label in HEADLINE if k in view.measures]
    if figures:
        lines.append(Text(" · ".join(figures), style="cyan"))
    if r.outcome != PASSED and r.message:
        lines.append(Text(r.message, style=OUTCOME_STYLES.get(r.outcome, "bold red")))
    if r.lab_timing == "fast":
        lines.append(
            Text("embedded lab, timing fast: lab-scaled ESXi timings, not a real host's numbers", style="yellow")
        )
    elif r.lab_timing == "real":
        lines.append(Text("embedded lab, timing real: ESXi's default timings", style="cyan"))
    title = Text(f"{r.scenario_name}: {r.outcome.upper()}", style=OUTCOME_STYLES.get(r.outcome, "bold red"))
    return Panel(Group(*lines), title=title, subtitle=f"run {r.run_id}", title_align="left", expand=False)


def render(view: RunView) -> Group:
    return Group(timeline_table(view), verdict_panel(view))


def print_report(record: RunRecord, run_dir: Path | None = None, console: Console | None = None) -> None:
    """What the runner/CLI prints at the end of a run."""
    (console or Console(highlight=False)).print(render(build_view(record, run_dir)))


def plain_text(view: RunView, width: int = 140) -> str:
    """The same report without colours (JUnit system-out, logs)."""
    buf = io.StringIO()
    Console(file=buf, width=width, no_color=True, highlight=False, force_terminal=False).print(render(view))
    return buf.getvalue()
