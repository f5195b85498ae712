"""Render a triage report for people: rich timeline, diagnoses, odd lines (JSON Lines: triage_json)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from faultlab.assertions import events as event_table
from faultlab.assertions.model import Event
from faultlab.assertions.triage import TriageReport

MAX_SKIPPED_SHOWN = 40  # the console lists this many skipped files; the JSON lists all


def _style(name: str) -> str:
    row = event_table.info(name)
    return row.console_style if row else ""


def _fmt_time(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z" if t else "(masked)"


def _detail(e: Event) -> str:
    f = e.fields
    if e.name == "guest.bsod":
        params = " ".join(f.get("params_hex") or [])
        return f"{f.get('code_hex', '?')} {f.get('name', '')} {params}".strip()
    if e.name == "hostd.slow_io":
        return f"{f.get('op', '')} took over {f.get('seconds', '?')} s"
    if e.name == "apd.timeout" and "seconds" in f:
        return f"after {f['seconds']} s in APD"
    if e.name == "host.memory.sample":
        procs = sorted(f.get("processes") or [], key=lambda p: -int(p.get("mem_kb", 0)))[:3]
        return ", ".join(f"{p['name']} {p['mem_kb']} kB" for p in procs)
    if e.source_id:
        return e.source_id
    return ""


def render(report: TriageReport, console: Console, *, show_twins: bool = False) -> None:
    """The timeline, then the diagnoses, then what could not be read."""
    days = sorted({e.time.date() for e in report.events if e.time is not None})
    single_day = len(days) == 1
    title = f"Timeline (UTC, {days[0]})" if single_day else "Timeline (UTC)"
    table = Table(title=title, show_lines=False, expand=True)
    table.add_column("time", no_wrap=True)
    table.add_column("host", overflow="fold", max_width=14)
    table.add_column("event", no_wrap=True)
    table.add_column("what (subject, detail, file:line)", overflow="fold", ratio=1)
    twins = 0
    last_day = ""
    for e in report.events:
        if e.twin is not None and not show_twins:
            twins += 1
            continue
        stamp = _fmt_time(e.time)
        day, _, clock = stamp.partition(" ")
        # the date is printed once per day: the clock is what people compare
        if single_day and e.time is not None:
            shown_time = clock  # one day: its date is in the title
        else:
            shown_time = stamp if (e.time is None or day != last_day) else clock
        last_day = day if e.time else last_day
        what = Text()
        if e.subject:
            what.append(e.subject)
        detail = _detail(e)
        if detail:
            what.append(("  " if e.subject else "") + detail, style="cyan")
        what.append(f"  {e.file}:{e.line_no}", style="dim")
        table.add_row(shown_time, Text(e.host), Text(e.name, style=_style(e.name)), what)
    console.print(table)
    if twins:
        console.print(f"[dim]{twins} vob/esx twin event(s) linked to the events above and not repeated.[/dim]")
    if report.hidden_untimed:
        console.print(f"[dim]{report.hidden_untimed} event(s) with masked timestamps hidden by --since/--until.[/dim]")
    for d in report.diagnoses:
        body: list[Any] = [Text(d.summary)]
        if d.figures:
            body.append(Text("Figures: " + ", ".join(f"{k} = {v}" for k, v in d.figures.items()), style="cyan"))
        for rec in d.recommendations:
            body.append(Text(f"- {rec}"))
        verdict = str(getattr(d.verdict, "value", d.verdict))
        colour = {"true": "red", "false": "green", "unknown": "yellow"}.get(verdict, "white")
        # titles are rich markup: log text ("[vob.scsi...]", a "[true]" verdict) must be escaped, not eaten
        title = escape(f"{d.kb}: {d.title} [{verdict}]")
        console.print(Panel(Group(*body), title=title, subtitle=escape(d.subject or ""), border_style=colour))
    odd = [s for s in report.stats if s.odd or s.error]
    console.print(
        f"{len(report.stats)} log file(s), {report.total_lines} lines, "
        f"{sum(1 for e in report.all_events if e.twin is None)} events, {report.odd_lines} odd line(s)"
        + (f", {len(report.skipped)} file(s) skipped" if report.skipped else "")
        + (f", {len(report.damaged)} file(s) damaged" if report.damaged else "")
        + "."
    )
    skipped_shown = report.skipped[:MAX_SKIPPED_SHOWN]
    for k in skipped_shown:
        console.print(Text(f"skipped {k.name}: {k.reason}", style="dim"))
    if len(report.skipped) > len(skipped_shown):
        console.print(
            Text(f"... and {len(report.skipped) - len(skipped_shown)} more skipped file(s), all in --json", style="dim")
        )
    for s in odd:
        if s.error:
            console.print(Text(f"{s.name}: not read to its end ({s.lines} lines read): {s.error}", style="red"))
        for o in s.odd_examples[:5]:
            text = escape(f"{s.name}:{o.line_no}: {o.problem}: {o.text[:120]!r}")
            console.print(f"[yellow]odd line[/yellow] {text}")
        if s.odd > 5:
            console.print(f"[dim]{escape(s.name)}: {s.odd - min(5, len(s.odd_examples))} more odd line(s).[/dim]")
