"""The run's timeline as one inline SVG: fault window, phases, a lane per log and vSphere object, steps, recoveries."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape

from faultlab.assertions import events as event_table
from faultlab.harness.anchors import HEALED, INJECTED
from faultlab.harness.judgement import StepStatus
from faultlab.harness.report.data import Mark, RunView, StepView
from faultlab.harness.utc import iso

WIDTH = 1200
GUTTER = 210  # lane titles
RIGHT = 40
LANE_H = 46
CHAR_W = 6.3  # average glyph width of the 11 px sans-serif labels, for collision estimates
CLUSTER_PX = 7.0  # marks of one name closer than this on one lane are drawn as one
STEP_ROW_H = 22
SPAN_ROW_H = 20
TICK_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)

PROPERTY_COLOUR, VCENTER_COLOUR, OTHER_COLOUR = "#0c8599", "#364fc7", "#495057"
MET, MISSED, UNKNOWN = "#2b8a3e", "#c92a2a", "#e67700"
PHASE_COLOURS = {"ok": "#dbe4ff", "error": "#ffc9c9", "interrupted": "#ffe8cc", "running": "#e9ecef"}


def colour_of(mark: Mark) -> str:
    if mark.source == "property":
        return PROPERTY_COLOUR
    if mark.source == "vcenter":
        return VCENTER_COLOUR
    row = event_table.info(mark.name)  # colours by catalog family, from the one event table
    return row.colour if row else OTHER_COLOUR


def utc(t: datetime) -> str:
    """A report's UTC time: milliseconds, Z."""
    return iso(t, "milliseconds")


def tick_text(t: float, minutes: bool = False) -> str:
    """Axis labels: "+30 s", or "+2.5 min" on an axis long enough to think in minutes."""
    if t == 0:
        return "0"
    return f"{t / 60:+g} min" if minutes else f"{t:+g} s"


def seconds_text(s: float) -> str:
    if abs(s) >= 120:
        return f"{s / 60:.1f} min"
    return f"{s:.1f} s" if abs(s) < 100 else f"{s:.0f} s"


@dataclass
class Scale:
    """Seconds relative to the origin -> x pixels."""

    lo: float
    hi: float
    x0: float = GUTTER
    x1: float = WIDTH - RIGHT

    def x(self, rel_s: float) -> float:
        span = self.hi - self.lo or 1.0
        return self.x0 + (rel_s - self.lo) / span * (self.x1 - self.x0)

    def ticks(self, target: int = 10) -> list[float]:
        raw = (self.hi - self.lo) / target
        step = next((s for s in TICK_STEPS if s >= raw), TICK_STEPS[-1])
        first = math.ceil(self.lo / step) * step
        return [round(first + i * step, 6) for i in range(int((self.hi - first) / step) + 1)]


@dataclass
class Rows:
    """Greedy label placement: intervals already taken per row; `place` gives the first row with room, or None."""

    n: int
    taken: list[list[tuple[float, float]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.taken = [[] for _ in range(self.n)]

    def place(self, a: float, b: float, force: bool = False) -> int | None:
        for i, row in enumerate(self.taken):
            if all(b + 4 < lo or a - 4 > hi for lo, hi in row):
                row.append((a, b))
                return i
        if force:  # an expected step's label is never dropped: it goes on the last row, overlapping if it must
            self.taken[-1].append((a, b))
            return self.n - 1
        return None


@dataclass
class Cluster:
    marks: list[Mark]

    @property
    def head(self) -> Mark:
        return self.marks[0]


def clusters(marks: list[Mark], scale: Scale, rel: dict[int, float]) -> list[Cluster]:
    """Marks of one lane merged when the same name repeats within CLUSTER_PX; steps and offending marks stay alone."""
    out: list[Cluster] = []
    last: dict[str, Cluster] = {}
    for m in marks:
        alone = m.step is not None or m.offending
        prev = last.get(m.name)
        if (
            not alone
            and prev is not None
            and prev.head.step is None
            and not prev.head.offending
            and scale.x(rel[id(m)]) - scale.x(rel[id(prev.marks[-1])]) < CLUSTER_PX
        ):
            prev.marks.append(m)
            continue
        c = Cluster([m])
        out.append(c)
        last[m.name] = c
    return out


def _time_range(view: RunView) -> tuple[float, float]:
    points = [view.rel(m.time) for m in view.marks()]
    points += [view.rel(p.start) for p in view.phases] + [view.rel(p.end) for p in view.phases if p.end]
    if view.injected:
        points.append(0.0)
    if view.healed:
        healed = view.rel(view.healed)
        points.append(healed)
        anchors = view.record.anchor_times()
        for s in view.spans:
            start = view.rel(anchors[s.since]) if s.since in anchors else healed
            points.append(start + (s.seconds if s.seconds is not None else s.budget_s or 0.0))
    lo, hi = min(points, default=0.0), max(points, default=1.0)
    pad = max((hi - lo) * 0.03, 0.5)
    return lo - pad, hi + pad


def _title(*lines: str) -> str:
    return "<title>" + escape("\n".join(x for x in lines if x)) + "</title>"


def _text(x: float, y: float, text: str, *, cls: str = "", anchor: str = "start", fill: str = "") -> str:
    attrs = f' class="{cls}"' if cls else ""
    attrs += f' fill="{fill}"' if fill else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{attrs}>{escape(text)}</text>'


class _Svg:
    def __init__(self, view: RunView) -> None:
        self.view = view
        self.scale = Scale(*_time_range(view))
        self.parts: list[str] = []
        self.rel = {id(m): view.rel(m.time) for m in view.marks()}
        self.lane_y: dict[str, float] = {}
        self.step_xy: dict[int, tuple[float, float]] = {}
        self.step_status = {s.index: s.status for s in view.steps}
        self.lane_rows: dict[str, Rows] = {}  # two label rows per lane: above and below the line

    def abs_time(self, rel_s: float) -> str:
        origin = self.view.origin
        return utc(origin + timedelta(seconds=rel_s)) if origin else ""

    def render(self) -> str:
        v, sc = self.view, self.scale
        met = [s for s in v.steps if s.time is not None and s.status in (StepStatus.MET, StepStatus.UNKNOWN)]
        missed = [s for s in v.steps if s.status is not StepStatus.MET]
        step_rows = self._step_rows(met)
        y = 44.0  # below the top axis
        steps_top = y
        y += max(step_rows, 1) * STEP_ROW_H + 8
        phases_top = y
        y += 30
        lanes_top = y
        for lane in v.lanes:
            self.lane_y[lane.key] = y + LANE_H / 2
            y += LANE_H
        lanes_bottom = y
        spans_top = y + 10
        y = spans_top + max(len(v.spans), 1) * SPAN_ROW_H + 6
        missed_top = y
        y += len(missed) * 18 + (24 if missed else 0)
        untimed_y = y + 8
        y += 20 if v.untimed else 0
        height = y + 30

        p = self.parts
        p.append(
            f'<svg xmlns="http://www.w3.org/2000/svg" id="timeline" class="timeline" '
            f'viewBox="0 0 {WIDTH} {height:.0f}" width="100%" role="img" '
            f'aria-label="timeline of run {escape(v.record.run_id)}">'
        )
        p.append(_title(f"run {v.record.run_id}: time in seconds from fault.injected; hover a mark for UTC"))
        p.append(f'<rect x="0" y="0" width="{WIDTH}" height="{height:.0f}" fill="#ffffff"/>')
        self._fault_window(22, lanes_bottom)
        self._grid(22, height - 24)
        self._band_titles(steps_top, phases_top, spans_top)
        for i, lane in enumerate(v.lanes):
            self._lane(lane.key, lane.kind, len(lane.marks), lanes_top + i * LANE_H, i)
        self._phases(phases_top)
        for lane in v.lanes:
            # Expected steps take their label rows first; noise gets what is left (its tooltip keeps the rest).
            drawn = [(c, self._mark(c)) for c in sorted(clusters(lane.marks, sc, self.rel), key=_label_priority)]
            p.extend(svg for _c, svg in sorted(drawn, key=lambda d: -_label_priority(d[0])))  # steps on top
        self._steps(met, steps_top)
        self._spans(spans_top)
        self._missed(missed, missed_top)
        if v.untimed:
            names = ", ".join(sorted({e.name for e in v.untimed}))
            note = f"{len(v.untimed)} events with a masked timestamp cannot be placed (see the events table): {names}"
            p.append(_text(GUTTER, untimed_y + 4, _fit(note, WIDTH - GUTTER - 20), cls="axis"))
        p.append("</svg>")
        return "\n".join(p)

    # -- bands ---------------------------------------------------------------------------------------------
    def _fault_window(self, top: float, bottom: float) -> None:
        v, sc = self.view, self.scale
        if v.injected is None:
            return
        x0 = sc.x(0.0)
        x1 = sc.x(v.rel(v.healed)) if v.healed else sc.x1
        label = f"fault window {seconds_text(v.rel(v.healed))}" if v.healed else "fault window (not healed)"
        self.parts.append(
            f'<g class="fault-window"><rect x="{x0:.1f}" y="{top}" width="{max(x1 - x0, 1):.1f}" '
            f'height="{bottom - top:.1f}" fill="#ffe3e3" opacity="0.75"/>'
            + _title(label, f"injected {utc(v.injected)}", f"healed {utc(v.healed)}" if v.healed else "")
            + "</g>"
        )
        self.parts.append(_text((x0 + x1) / 2, top + 12, label, cls="fw", anchor="middle"))
        for name, x, colour in ((INJECTED, x0, MISSED), (HEALED, x1 if v.healed else None, MET)):
            if x is None:
                continue
            when = v.injected if name == INJECTED else v.healed
            self.parts.append(
                f'<g class="anchor" data-name="{name}"><line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom:.1f}" '
                f'stroke="{colour}" stroke-width="1.5" stroke-dasharray="5 3"/>'
                + _title(name, utc(when) if when else "")
                + "</g>"
            )

    def _grid(self, top: float, bottom: float) -> None:
        sc = self.scale
        ticks = sc.ticks()
        minutes = len(ticks) > 1 and ticks[1] - ticks[0] >= 30 and sc.hi - sc.lo > 300
        for t in ticks:
            x = sc.x(t)
            label = tick_text(t, minutes)
            self.parts.append(
                f'<g class="tick"><line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom:.1f}" stroke="#e9ecef"/>'
                + _text(x, 16, label, cls="axis", anchor="middle")
                + _text(x, bottom + 14, label, cls="axis", anchor="middle")
                + _title(self.abs_time(t))
                + "</g>"
            )

    def _band_titles(self, steps_top: float, phases_top: float, spans_top: float) -> None:
        self.parts.append(_text(12, steps_top + 15, "expected steps", cls="band"))
        self.parts.append(_text(12, phases_top + 16, "harness phases", cls="band"))
        self.parts.append(_text(12, spans_top + 14, "recovery from heal", cls="band"))

    def _lane(self, key: str, kind: str, marks: int, top: float, i: int) -> None:
        fill = "#f8f9fa" if i % 2 == 0 else "#ffffff"
        y = top + LANE_H / 2
        self.parts.append(
            f'<g class="lane" data-lane="{escape(key)}" data-kind="{kind}">'
            f'<rect x="0" y="{top:.1f}" width="{GUTTER - 6}" height="{LANE_H}" fill="{fill}"/>'
            f'<line x1="{GUTTER}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ced4da"/>'
            + _text(12, y + 4, _fit(key, GUTTER - 24), cls="lane-title" + (" vsphere" if kind != "log" else ""))
            + ("" if marks else _text(GUTTER + 6, y - 4, "no events", cls="axis"))
            + _title(key)
            + "</g>"
        )

    def _phases(self, top: float) -> None:
        sc, v = self.scale, self.view
        for ph in v.phases:
            x0 = sc.x(v.rel(ph.start))
            x1 = sc.x(v.rel(ph.end)) if ph.end else sc.x1
            w = max(x1 - x0, 1.5)
            secs = (ph.end - ph.start).total_seconds() if ph.end else None
            dur = seconds_text(secs) if secs is not None else "unfinished"
            fill = PHASE_COLOURS.get(ph.status, PHASE_COLOURS["running"])
            label = ph.name if len(ph.name) * CHAR_W + 6 < w else ""
            self.parts.append(
                f'<g class="phase" data-name="{escape(ph.name)}"><rect x="{x0:.1f}" y="{top + 4}" width="{w:.1f}" '
                f'height="18" rx="3" fill="{fill}" stroke="#adb5bd" stroke-width="0.5"/>'
                + (_text(x0 + w / 2, top + 17, label, cls="phase-label", anchor="middle") if label else "")
                + _title(f"phase {ph.name}: {ph.status}, {dur}", f"{utc(ph.start)}", ph.detail)
                + "</g>"
            )

    # -- marks ---------------------------------------------------------------------------------------------
    def _mark(self, c: Cluster) -> str:
        m, sc = c.head, self.scale
        x = sc.x(self.rel[id(m)])
        y = self.lane_y[m.lane]
        colour = colour_of(m)
        n = len(c.marks)
        label = m.name + (f" ×{n}" if n > 1 else "")
        x_last = sc.x(self.rel[id(c.marks[-1])])
        if x_last - x > 6:  # a burst: a capsule over the time it lasted, so density stays visible
            shape = (
                f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="{x_last - x + 8:.1f}" height="8" rx="4" '
                f'fill="{colour}" fill-opacity="0.35" stroke="{colour}"/>'
            )
            cx = (x + x_last) / 2
        else:
            shape, cx = self._shape(m.source, x, y, colour, 5.5 if n > 1 else 4.5), x
        extra = ""
        if m.step is not None:
            ring = MET if self.step_status.get(m.step) is StepStatus.MET else UNKNOWN
            extra = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="9" fill="none" stroke="{ring}" stroke-width="2.5"/>'
            self.step_xy[m.step] = (x, y)
        elif m.offending:
            extra = (
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="9" fill="none" stroke="{MISSED}" stroke-width="2.5" '
                f'stroke-dasharray="3 2"/>'
            )
        rows = self.lane_rows.setdefault(m.lane, Rows(2))
        width = len(label) * CHAR_W
        lx = min(max(cx, sc.x0 + width / 2), WIDTH - 4 - width / 2)  # keep the label inside the picture
        row = rows.place(lx - width / 2, lx + width / 2)
        text = ""
        if row is not None:
            ty = y - 12 if row == 0 else y + 20
            text = _text(lx, ty, label, cls="mark-label", anchor="middle", fill=colour)
        last = c.marks[-1]
        span = f"{n} {m.name} from {utc(m.time)} to {utc(last.time)}" if n > 1 else ""
        tip = _title(
            f"{m.name}" + (f"  (expected step {m.step})" if m.step else "") + (" FORBIDDEN" if m.offending else ""),
            f"{utc(m.time)}  ({self.rel[id(m)]:+.3f} s)",
            span,
            m.detail,
            m.where,
        )
        step_attr = f' data-step="{m.step}"' if m.step is not None else ""
        return (
            f'<g class="mark {m.source}" data-name="{escape(m.name)}" data-lane="{escape(m.lane)}" '
            f'data-count="{n}"{step_attr}>{tip}{extra}{shape}{text}</g>'
        )

    @staticmethod
    def _shape(source: str, x: float, y: float, colour: str, r: float) -> str:
        if source == "property":
            pts = f"{x:.1f},{y - r - 1:.1f} {x + r + 1:.1f},{y:.1f} {x:.1f},{y + r + 1:.1f} {x - r - 1:.1f},{y:.1f}"
            return f'<polygon points="{pts}" fill="{colour}" stroke="#fff" stroke-width="1"/>'
        if source == "vcenter":
            return (
                f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r:.1f}" height="{2 * r:.1f}" fill="{colour}" '
                f'stroke="#fff" stroke-width="1"/>'
            )
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{colour}" stroke="#fff" stroke-width="1"/>'

    # -- expected steps --------------------------------------------------------------------------------------
    def _step_box(self, s: StepView) -> tuple[float, float, float, bool]:
        """Badge x, the label's extent, and whether the label goes left of the badge (no room on the right)."""
        assert s.time is not None
        x = self.scale.x(self.view.rel(s.time))
        w = 14 + len(s.label) * CHAR_W
        if x + w > WIDTH - 4:
            return x, x - w, x + 10, True
        return x, x - 10, x + w, False

    def _step_rows(self, steps: list[StepView]) -> int:
        rows = Rows(8)
        used = 0
        for s in steps:
            _x, a, b, _left = self._step_box(s)
            row = rows.place(a, b, force=True)
            used = max(used, (row or 0) + 1)
        return used

    def _steps(self, steps: list[StepView], top: float) -> None:
        rows = Rows(8)
        for s in steps:
            assert s.time is not None
            x, a, b, left = self._step_box(s)
            row = rows.place(a, b, force=True) or 0
            y = top + row * STEP_ROW_H + 11
            colour = MET if s.status is StepStatus.MET else UNKNOWN
            target = self.step_xy.get(s.index)
            guide = ""
            if target is not None:
                guide = (
                    f'<line x1="{x:.1f}" x2="{target[0]:.1f}" y1="{y + 8:.1f}" y2="{target[1] - 9:.1f}" '
                    f'stroke="{colour}" stroke-width="1" stroke-dasharray="2 3" opacity="0.8"/>'
                )
            self.parts.append(
                f'<g class="step {s.status}" data-step="{s.index}" data-name="{escape(s.name)}">{guide}'
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="8" fill="{colour}"/>'
                + _text(x, y + 3.5, str(s.index), cls="step-num", anchor="middle", fill="#fff")
                + _text(
                    x - 12 if left else x + 12,
                    y + 4,
                    s.label,
                    cls="step-label",
                    fill=colour,
                    anchor="end" if left else "start",
                )
                + _title(
                    f"step {s.index} {s.label}: {s.status}",
                    f"{utc(s.time)}  ({self.view.rel(s.time):+.3f} s)",
                    s.where,
                    s.message,
                )
                + "</g>"
            )

    def _missed(self, steps: list[StepView], top: float) -> None:
        if not steps:
            return
        self.parts.append(_text(12, top + 14, "steps not met", cls="band", fill=MISSED))
        for i, s in enumerate(steps):
            y = top + 32 + i * 18
            colour = {StepStatus.MISSED: MISSED, StepStatus.UNKNOWN: UNKNOWN}.get(s.status, "#868e96")
            first = s.message.split("\n", 1)[0]
            self.parts.append(
                f'<g class="step {s.status.replace(" ", "-")}" data-step="{s.index}" data-name="{escape(s.name)}">'
                + _text(
                    GUTTER, y, f"✗ {s.index} {s.label} — {s.status}: {_fit(first, WIDTH - GUTTER - 160)}", fill=colour
                )
                + _title(f"step {s.index} {s.label}: {s.status}", s.message)
                + "</g>"
            )

    # -- recovery spans ------------------------------------------------------------------------------------
    def _spans(self, top: float) -> None:
        v, sc = self.view, self.scale
        if v.healed is None or not v.spans:
            self.parts.append(_text(GUTTER, top + 14, "no recovery measured", cls="axis"))
            return
        anchors = v.record.anchor_times()
        for i, s in enumerate(v.spans):
            y = top + i * SPAN_ROW_H + 10
            h = v.rel(anchors.get(s.since, v.healed))
            x0 = sc.x(h)
            if s.met and s.seconds is not None:
                x1, colour, dash, text = sc.x(h + s.seconds), MET, "", f"{s.label}: {seconds_text(s.seconds)}"
            elif s.met is False:
                budget = s.budget_s or 0.0
                x1, colour, dash = sc.x(h + budget), MISSED, ' stroke-dasharray="4 3"'
                text = f"{s.label}: not within {seconds_text(budget)}"
            else:
                x1, colour, dash, text = x0, UNKNOWN, "", f"{s.label}: not observable"
            budget_tip = f"budget {seconds_text(s.budget_s)}" if s.budget_s else ""
            self.parts.append(
                f'<g class="span" data-met="{str(s.met).lower()}">'
                f'<line x1="{x0:.1f}" x2="{max(x1, x0 + 1):.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{colour}" '
                f'stroke-width="5" stroke-linecap="round"{dash}/>'
                f'<line x1="{x0:.1f}" x2="{x0:.1f}" y1="{y - 5:.1f}" y2="{y + 5:.1f}" stroke="{colour}"/>'
                + self._span_text(max(x1, x0), y, text, colour)
                + _title(f"from {s.since}: {text}", budget_tip)
                + "</g>"
            )

    def _span_text(self, x: float, y: float, text: str, colour: str) -> str:
        if x + 8 + len(text) * CHAR_W > WIDTH - 4:  # no room right of the bar: write it to its left
            return _text(
                self.scale.x(self.view.rel(self.view.healed)) - 8 if self.view.healed else x,
                y + 4,
                text,
                cls="span-label",
                anchor="end",
                fill=colour,
            )
        return _text(x + 8, y + 4, text, cls="span-label", fill=colour)


def _label_priority(c: Cluster) -> int:
    """0 for expected steps and forbidden events, 1 for single events, 2 for bursts."""
    if c.head.step is not None or c.head.offending:
        return 0
    return 1 if len(c.marks) == 1 else 2


def _fit(text: str, px: float) -> str:
    n = int(px / CHAR_W)
    return text if len(text) <= n else text[: max(n - 1, 1)] + "…"


def timeline_svg(view: RunView) -> str:
    """The SVG element (no XML declaration) for embedding in the HTML report."""
    return _Svg(view).render()
