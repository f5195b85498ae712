"""Render a triage report for people (rich timeline, diagnoses, odd lines) and for scripts (JSON Lines)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from types import TracebackType
from typing import Any, TextIO

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from faultlab.assertions import events as event_table
from faultlab.assertions.model import Event
from faultlab.assertions.triage import TriageReport

SCHEMA_VERSION = 1
MAX_SKIPPED_SHOWN = 40  # the console lists this many skipped files; the JSON lists all


class ProgressLine:
    """Bytes read so far, on stderr, for scans that take a while: a line rewritten in place on a terminal, a
    plain line every `plain_every_s` elsewhere; nothing for a scan shorter than `show_after_s`. Never on
    stdout, so never in the JSON."""

    def __init__(
        self,
        stream: TextIO,
        *,
        show_after_s: float = 1.0,
        plain_every_s: float = 10.0,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._out = stream
        self._tty = stream.isatty() if tty is None else tty
        self._clock = clock
        self._start = clock()
        self._show_after = show_after_s
        self._every = 0.25 if self._tty else plain_every_s
        self._last = -1e9
        self._width = 0

    def update(self, name: str, done: int, size: int | None) -> None:
        now = self._clock()
        if now - self._start < self._show_after or now - self._last < self._every:
            return
        self._last = now
        total = f" of {size / 1e6:,.0f} MB ({100 * done / size:.0f}%)" if size else ""
        text = f"triage: {name}: {done / 1e6:,.0f} MB read{total}, {now - self._start:.0f} s"
        if self._tty:
            self._out.write("\r" + text.ljust(self._width))
            self._width = len(text)
        else:
            self._out.write(text + "\n")
        self._out.flush()

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None) -> None:
        if self._tty and self._width:
            self._out.write("\r" + " " * self._width + "\r")
            self._out.flush()


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


def json_records(report: TriageReport) -> Iterator[dict[str, Any]]:
    """JSON Lines records: one per event, one per diagnosis, one per file, a final summary (see README)."""
    for e in report.events:
        yield {"record": "event", "schema": SCHEMA_VERSION, **e.to_json()}
    for d in report.diagnoses:
        yield {"record": "diagnosis", "schema": SCHEMA_VERSION, **d.to_json()}
    for f in report.to_json()["files"]:
        yield {"record": "file", "schema": SCHEMA_VERSION, **f}
    yield {
        "record": "summary",
        "schema": SCHEMA_VERSION,
        "files": len(report.stats),
        "lines": report.total_lines,
        "events": len(report.events),
        "odd_lines": report.odd_lines,
        "skipped_files": len(report.skipped),
        "damaged_files": len(report.damaged),
    }


def write_json_lines(report: TriageReport, out: TextIO) -> None:
    for rec in json_records(report):
        out.write(json.dumps(rec, default=str, ensure_ascii=False))
        out.write("\n")
