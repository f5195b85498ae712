"""The history page: per scenario a pass/fail strip and a trend line per recovery measure (self-contained HTML)."""

from __future__ import annotations

from html import escape
from pathlib import Path
from urllib.parse import quote

from faultlab.harness.history.store import RunSummary
from faultlab.harness.history.trends import Point, ScenarioTrend
from faultlab.harness.record import ERROR, FAILED, PASSED, write_atomic
from faultlab.harness.report.html import CSS
from faultlab.harness.report.svg import MET, MISSED, UNKNOWN

OUTCOME_COLOURS: dict[str, str] = {PASSED: MET, FAILED: MISSED, ERROR: UNKNOWN}
EXTRA_CSS = """
.strip a{display:inline-block;width:14px;height:22px;margin:0 2px 0 0;border-radius:2px}
.trend{margin:6px 0 14px}.trend h3{font-size:13px;margin:8px 0 2px}
.flag{color:#c92a2a;font-weight:600}.flaky{color:#e67700;font-weight:600}
"""
W, H, PAD = 640, 120, 28


def _link(run: RunSummary, page_dir: Path) -> str:
    if not run.report:
        return ""
    target = Path(run.report)
    try:
        rel = target.relative_to(page_dir)
    except ValueError:
        return target.as_uri()
    return quote(str(rel))


def _strip(t: ScenarioTrend, page_dir: Path) -> str:
    cells = []
    for run in t.runs:
        colour = OUTCOME_COLOURS.get(run.outcome, UNKNOWN)
        title = f"{run.run_id}: {run.outcome} at {run.started:%Y-%m-%d %H:%M}Z" + (
            f" ({run.message})" if run.message else ""
        )
        href = _link(run, page_dir)
        cells.append(
            f'<a style="background:{colour}" title="{escape(title)}"'
            + (f' href="{escape(href)}"' if href else "")
            + "></a>"
        )
    return f'<div class="strip">{"".join(cells)}</div>'


def _trend_svg(name: str, pts: list[Point], runs: dict[str, RunSummary], page_dir: Path) -> str:
    if not pts:
        return ""
    lo, hi = min(p.seconds for p in pts), max(p.seconds for p in pts)
    span = (hi - lo) or max(hi, 1.0)
    step = (W - 2 * PAD) / max(1, len(pts) - 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return PAD + i * step, H - PAD - (v - lo) / span * (H - 2 * PAD)

    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, p.seconds) for i, p in enumerate(pts)))
    dots = []
    for i, p in enumerate(pts):
        x, y = xy(i, p.seconds)
        colour = MISSED if p.drift else "#1c7ed6"
        tip = f"{p.run_id}: {p.seconds:.2f} s" + (f" (median before {p.baseline_s:.2f} s)" if p.baseline_s else "")
        if p.drift:
            tip += f". DRIFT: {p.why}"
        href = _link(runs[p.run_id], page_dir) if p.run_id in runs else ""
        dot = (
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{5 if p.drift else 3.5}" fill="{colour}">'
            f"<title>{escape(tip)}</title></circle>"
        )
        dots.append(f'<a href="{escape(href)}">{dot}</a>' if href else dot)
    axis = (
        f'<text class="axis" x="2" y="{PAD - 8}">{hi:.1f} s</text>'
        f'<text class="axis" x="2" y="{H - 6}">{lo:.1f} s</text>'
    )
    return (
        f'<div class="trend"><h3>{escape(name)}</h3><svg width="{W}" height="{H}" role="img" '
        f'aria-label="{escape(name)} across runs"><polyline points="{line}" fill="none" stroke="#1c7ed6" '
        f'stroke-width="1.5"/>{"".join(dots)}{axis}</svg></div>'
    )


def render_history(trends: list[ScenarioTrend], page_dir: Path, source: str) -> str:
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>faultlab history</title>",
        f"<style>{CSS}{EXTRA_CSS}</style></head><body><main>",
        f"<h1>faultlab run history</h1><p class=meta>{escape(source)}: "
        f"{sum(len(t.runs) for t in trends)} runs of {len(trends)} scenarios</p>",
    ]
    if not trends:
        parts.append("<p>No runs recorded yet.</p>")
    for t in trends:
        runs = {r.run_id: r for r in t.runs}
        passed = sum(1 for r in t.runs if r.outcome == PASSED)
        parts.append(f"<h2>{escape(t.scenario)} <span class=meta>{passed}/{len(t.runs)} passed</span></h2>")
        parts.append(f'<div class="panel">{_strip(t, page_dir)}')
        for line in t.flaky:
            parts.append(f'<p class="flaky">{escape(line)}</p>')
        for name, p in t.drifts:
            parts.append(f'<p class="flag">drift in {escape(p.run_id)}: {escape(p.why or name)}</p>')
        for name, pts in t.series.items():
            parts.append(_trend_svg(name, pts, runs, page_dir))
        parts.append("</div>")
    parts.append("</main></body></html>")
    return "\n".join(parts)


def write_history_page(trends: list[ScenarioTrend], path: Path, source: str) -> Path:
    write_atomic(path, render_history(trends, path.parent.resolve(), source))
    return path
