"""The HTML report of one run: a self-contained page (inline CSS and SVG, no script, no external asset)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

import yaml

from faultlab.assertions import events as event_table
from faultlab.harness.record import ERROR, FAILED, PASSED, RunRecord
from faultlab.harness.report.data import RunView
from faultlab.harness.report.svg import MET, MISSED, UNKNOWN, seconds_text, timeline_svg, utc

REPORT_FILE = "report.html"
MAX_EVENT_ROWS = 2000
OUTCOME_COLOURS = {PASSED: MET, FAILED: MISSED, ERROR: UNKNOWN}
VERDICT_COLOURS = {"true": MET, "false": MISSED, "unknown": UNKNOWN}
# The headline figures, in this order, when measured.
HEADLINE: tuple[tuple[str, str], ...] = (
    ("fault_window_s", "fault window"),
    ("fault_to_apd_start_s", "fault → APD start"),
    ("apd_start_to_timeout_s", "APD start → timeout"),
    ("heal_to_apd_exit_s", "heal → APD exit"),
    ("heal_to_datastore_accessible_s", "heal → datastore accessible"),
    ("heal_to_guest_heartbeat_green_s", "heal → guest heartbeat green"),
    ("heal_to_vm_powered_on_s", "heal → VM powered on"),
    ("wall_s", "wall time"),
    ("inherent_s", "inherent (hold + recovery)"),
)

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#212529;
background:#f1f3f5}
main{max-width:1260px;margin:0 auto;padding:20px 24px 60px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:600;font-size:13px;
vertical-align:middle;margin-left:8px;text-transform:uppercase}
.meta{color:#495057;font-size:13px}.story{max-width:900px;color:#343a40}
pre.message{background:#fff;border-left:4px solid var(--c);padding:8px 12px;white-space:pre-wrap;margin:10px 0}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
.card{background:#fff;border-radius:6px;padding:8px 12px;min-width:130px;box-shadow:0 1px 2px #0001}
.card b{display:block;font-size:18px}.card span{font-size:12px;color:#495057}
.panel{background:#fff;border-radius:6px;padding:10px;box-shadow:0 1px 2px #0001}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e9ecef;vertical-align:top}
th{background:#f8f9fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
td pre{margin:0;white-space:pre-wrap;font-size:12px}
.steps td:nth-child(-n+5),.events td:nth-child(-n+4),.phases td:nth-child(-n+4),
.checks td:first-child{white-space:nowrap}
.v-true,.met,.ok{color:#2b8a3e;font-weight:600}.v-false,.missed,.error{color:#c92a2a;font-weight:600}
.v-unknown,.unknown,.interrupted{color:#e67700;font-weight:600}.not-reached{color:#868e96}
.legend{font-size:12px;color:#495057;margin:6px 2px}.legend i{display:inline-block;width:10px;height:10px;
margin:0 4px 0 12px;vertical-align:-1px}
svg text{font-family:system-ui,"DejaVu Sans",sans-serif;font-size:11px}
svg .axis{fill:#868e96;font-size:10px}svg .band{font-weight:600;fill:#495057;font-size:11px}
svg .lane-title{fill:#343a40;font-size:12px}svg .lane-title.vsphere{fill:#0b7285}
svg .fw{fill:#c92a2a;font-weight:600}svg .step-num{font-size:10px;font-weight:700}
svg .step-label{font-weight:600}svg .phase-label{font-size:10px;fill:#364fc7}
svg .span-label{font-weight:600}
code{font-size:12px}
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _story(record: RunRecord) -> str:
    try:
        data = yaml.safe_load(record.scenario_text)
    except yaml.YAMLError:
        return ""
    if not isinstance(data, dict):
        return ""
    refs = data.get("references") or []
    story = str(data.get("story") or "").strip()
    return story + (f" ({', '.join(map(str, refs))})" if refs else "")


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "") -> str:
    """Cells are HTML already (escape before)."""
    h = "".join(f"<th>{c}</th>" for c in head)
    body = "".join("<tr>" + "".join(rows_cell for rows_cell in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>'


def _td(text: Any, cls: str = "") -> str:
    return f'<td class="{cls}">{_e(text)}</td>' if cls else f"<td>{_e(text)}</td>"


def _cards(measures: Mapping[str, float]) -> str:
    cards = [
        f'<div class="card" data-measure="{k}"><b>{_e(seconds_text(measures[k]))}</b><span>{_e(label)}</span></div>'
        for k, label in HEADLINE
        if k in measures
    ]
    if "bytes_collected" in measures:
        cards.append(
            f'<div class="card" data-measure="bytes_collected"><b>{measures["bytes_collected"]:,.0f} B</b>'
            "<span>log bytes collected</span></div>"
        )
    return f'<div class="cards">{"".join(cards)}</div>'


def _legend() -> str:
    families = dict.fromkeys((f.colour, f.label) for f in event_table.FAMILIES if f is not event_table.OTHER_FAMILY)
    items = [
        *families,
        ("#0c8599", "vSphere property (◆)"),
        ("#364fc7", "vCenter event (■)"),
    ]
    parts = "".join(f'<i style="background:{c}"></i>{_e(t)}' for c, t in items)
    return (
        f'<div class="legend">{parts}<i style="border:2px solid {MET};border-radius:50%"></i>expected step met'
        f'<i style="background:#ffe3e3"></i>fault window · ×N = N events of that name drawn as one · '
        "hover any mark for its UTC time and log line</div>"
    )


def _steps_table(view: RunView) -> str:
    if not view.steps:
        return "<p>No in-order expectation was judged.</p>"
    rows = []
    for s in view.steps:
        cls = s.status.replace(" ", "-")
        rel = f"{view.rel(s.time):+.3f} s" if s.time else ""
        rows.append(
            [
                _td(s.index, "num"),
                _td(s.label),
                _td(s.status, cls),
                _td(rel, "num"),
                _td(utc(s.time) if s.time else ""),
                _td(s.where),
                f"<td><pre>{_e(s.message)}</pre></td>",
            ]
        )
    return _table(["#", "step", "status", "from fault", "UTC", "where", "why"], rows, "steps")


def _checks_table(view: RunView) -> str:
    rows = [
        [
            _td(c.verdict.value.upper(), f"v-{c.verdict.value}"),
            _td(c.check),
            f"<td><pre>{_e(c.message)}</pre></td>",
        ]
        for c in view.checks
    ]
    return _table(["verdict", "check", "message"], rows, "checks") if rows else "<p>No checks were run.</p>"


def _recovery_table(view: RunView) -> str:
    rows = []
    for s in view.spans:
        state = "met" if s.met else "missed" if s.met is False else "unknown"
        secs = f"{s.seconds:.3f}" if s.seconds is not None else ""
        budget = f"{s.budget_s:g}" if s.budget_s is not None else ""
        rows.append([_td(s.label), _td(s.since), _td(state, state), _td(secs, "num"), _td(budget, "num")])
    return _table(["condition", "counted from", "", "seconds", "budget s"], rows, "recovery") if rows else ""


def _phases_table(view: RunView) -> str:
    rows = []
    for p in view.phases:
        secs = f"{(p.end - p.start).total_seconds():.3f}" if p.end else ""
        rows.append(
            [
                _td(p.name),
                _td(p.status, p.status),
                _td(f"{view.rel(p.start):+.3f}", "num"),
                _td(secs, "num"),
                _td(p.detail),
            ]
        )
    return _table(["phase", "status", "start (s from fault)", "seconds", "detail"], rows, "phases")


def _events_table(view: RunView) -> str:
    every = view.marks()
    # Steps and forbidden events always; the rest up to a cap that keeps the page light (record.json has them all).
    marks = [m for i, m in enumerate(every) if i < MAX_EVENT_ROWS or m.step is not None or m.offending]
    cut = len(every) - len(marks)
    rows = [
        [
            _td(f"{view.rel(m.time):+.3f}", "num"),
            _td(utc(m.time)),
            _td(m.lane),
            _td(m.name, "met" if m.step else "error" if m.offending else ""),
            _td(m.step or ""),
            _td(m.detail),
            _td(m.where),
        ]
        for m in marks
    ]
    rows += [
        [
            _td("?"),
            _td("(masked time)"),
            _td(ev.host),
            _td(ev.name),
            _td(""),
            _td(ev.subject),
            _td(ev.where),
        ]
        for ev in view.untimed
    ]
    table = _table(["s", "UTC", "lane", "event", "step", "detail", "where"], rows, "events")
    more = f"<p>{cut} more events are in record.json.</p>" if cut else ""
    return f"<details><summary>{len(every) + len(view.untimed)} events seen</summary>{table}{more}</details>"


def _figures_table(view: RunView) -> str:
    rows = [[_td(k), _td(f"{v:g}", "num")] for k, v in sorted(view.measures.items())]
    return f"<details><summary>Every figure ({len(rows)})</summary>{_table(['figure', 'value'], rows)}</details>"


def _artifacts(record: RunRecord, files: Sequence[str]) -> str:
    links = [f'<li><a href="{_e(f)}">{_e(f)}</a></li>' for f in files]
    links += [f'<li><a href="{_e(lf.file)}">{_e(lf.file)}</a> ({lf.bytes:,} bytes)</li>' for lf in record.logs]
    return f"<ul>{''.join(links)}</ul>"


def _timing(lab_timing: str | None) -> str:
    """The embedded lab's timing profile: fast numbers are lab-scaled, not a real host's."""
    if lab_timing == "fast":
        return ' · <b id="timing">embedded lab, timing fast: lab-scaled, not a real host\'s numbers</b>'
    if lab_timing == "real":
        return ' · <span id="timing">embedded lab, timing real (ESXi\'s defaults)</span>'
    return ""


def render_html(view: RunView, *, files: Sequence[str] = ()) -> str:
    """The whole page; `files` are the other artifacts of the run folder to link (relative paths)."""
    r = view.record
    colour = OUTCOME_COLOURS.get(r.outcome, UNKNOWN)
    verdict = r.judgement.verdict.value if r.judgement is not None else None
    notes = "".join(f"<li>{_e(n)}</li>" for n in view.notes)
    fault = r.fault or {}
    fault_text = f"{fault.get('kind', '?')} on {fault.get('node', '?')}" if fault else "no fault injected"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>faultlab {_e(r.scenario_name)}: {_e(r.outcome)}</title>
<style>{CSS}</style></head>
<body><main style="--c:{colour}">
<h1 id="scenario">{_e(r.scenario_name)}
<span class="badge" id="outcome" style="background:{colour}">{_e(r.outcome)}</span></h1>
<div class="meta">run <code>{_e(r.run_id)}</code> · started {_e(r.started)} · fault: {_e(fault_text)}
{f" · judge verdict <b class='v-{_e(verdict)}'>{_e(verdict)}</b>" if verdict else ""}{_timing(r.lab_timing)}</div>
<p class="story">{_e(_story(r))}</p>
<pre class="message" id="message">{_e(r.message or "(no message)")}</pre>
{_cards(view.measures)}
<h2>Timeline <span class="meta">(seconds from fault.injected;
{len(view.marks())} events on {len(view.lanes)} lanes)</span></h2>
<div class="panel">{timeline_svg(view)}{_legend()}</div>
<h2>Expected steps</h2>{_steps_table(view)}
<h2>Checks</h2>{_checks_table(view)}
<h2>Recovery</h2>{_recovery_table(view)}
<h2>Harness phases</h2>{_phases_table(view)}
<h2>Events</h2>{_events_table(view)}
<h2>Figures</h2>{_figures_table(view)}
{f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""}
<h2>Artifacts</h2>{_artifacts(r, files)}
</main></body></html>
"""
