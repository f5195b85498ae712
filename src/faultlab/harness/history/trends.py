"""Reading the history: runs summarised from their records, drifts of recovery times and flaky scenarios."""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from faultlab.harness.compare import Tolerance
from faultlab.harness.history.store import RunSummary
from faultlab.harness.measures import JUDGED_MEASURES, run_measures
from faultlab.harness.record import RunRecord, parse_iso

BASELINE_RUNS = 5  # a point is judged against the median of up to this many runs before it


def summarise(record: RunRecord, run_dir: Path, *, lab: str | None = None, timing: str | None = None) -> RunSummary:
    """What the history keeps of a finished run: its outcome, settings, versions and recovery times."""
    # the runner stores the measures it computed; a record without them (an old one) gets them computed again
    measures = dict(record.measures) or run_measures(record, run_dir)
    for rec in record.recovery:  # each recovery condition's time from heal is a measure too
        if rec.met and rec.seconds is not None:
            measures[f"recover_{rec.condition.replace(' ', '_')}_s"] = rec.seconds  # as the JUnit properties
    judged = frozenset(k for k in measures if k in JUDGED_MEASURES or k.startswith("recover_"))
    ended = max((p.ended for p in record.phases if p.ended), default=None)
    started = parse_iso(record.started)
    versions = dict(getattr(record, "versions", {}) or {})
    report = run_dir / "report.html"
    return RunSummary(
        run_id=record.run_id,
        scenario=record.scenario_name,
        outcome=record.outcome,
        started=started,
        duration_s=(parse_iso(ended) - started).total_seconds() if ended else None,
        lab=lab,
        timing=timing or record.lab_timing,
        message=(record.message or "").splitlines()[0] if record.message else "",
        settings=dict(record.settings),
        versions={str(k): str(v) for k, v in versions.items()},
        measures=measures,
        judged=judged,
        artifacts_dir=str(run_dir.resolve()),
        report=str(report.resolve()) if report.exists() else None,
    )


@dataclass(frozen=True)
class Point:
    """One run's value of one measure, and whether it drifted from the runs before it."""

    run_id: str
    seconds: float
    baseline_s: float | None
    drift: bool
    why: str = ""


@dataclass
class ScenarioTrend:
    """One scenario across the runs shown: outcomes in time order, each measure's series, flakiness."""

    scenario: str
    runs: list[RunSummary]
    series: dict[str, list[Point]] = field(default_factory=dict)
    flaky: list[str] = field(default_factory=list)  # one line per configuration whose outcome flips

    @property
    def drifts(self) -> list[tuple[str, Point]]:
        return [(m, p) for m, pts in self.series.items() for p in pts if p.drift]


ConfigKey = tuple[tuple[tuple[str, float], ...], tuple[tuple[str, str], ...]]


def _config_key(run: RunSummary) -> ConfigKey:
    return tuple(sorted(run.settings.items())), tuple(sorted(run.versions.items()))


def trend(scenario: str, runs: list[RunSummary], tolerance: Tolerance | None = None) -> ScenarioTrend:
    """Judge each judged measure against the median of the runs before it with compare's rule (slower beyond
    the tolerance's ratio and minimum is a drift); a configuration (settings and versions) whose outcome
    flips between passed and failed is flaky."""
    tol = tolerance or Tolerance()
    runs = sorted(runs, key=lambda r: r.started)
    out = ScenarioTrend(scenario, runs)
    names = sorted({m for r in runs for m in r.measures})
    for name in names:
        pts: list[Point] = []
        history: list[float] = []
        for run in runs:
            if name not in run.measures:
                continue
            value = run.measures[name]
            base = statistics.median(history[-BASELINE_RUNS:]) if history else None
            drift, why = False, ""
            if base is not None and name in run.judged and not tol.allows(base, value - base) and value > base:
                drift = True
                why = (
                    f"{name}: {value:.1f}s against a median of {base:.1f}s over the {min(len(history), BASELINE_RUNS)}"
                    f" runs before (+{value - base:.1f}s, more than {tol.ratio:.0%} and {tol.min_s:g}s)"
                )
            pts.append(Point(run.run_id, value, base, drift, why))
            history.append(value)
        out.series[name] = pts
    by_config: dict[ConfigKey, list[RunSummary]] = defaultdict(list)
    for run in runs:
        by_config[_config_key(run)].append(run)
    for key, group in by_config.items():
        outcomes = [r.outcome for r in group]
        flips = sum(1 for a, b in itertools.pairwise(outcomes) if a != b)
        if "passed" in outcomes and any(o != "passed" for o in outcomes) and flips:
            settings, versions = key
            what = ", ".join(f"{k}={v:g}" for k, v in settings) or "default settings"
            if versions:
                what += "; " + ", ".join(f"{k} {v}" for k, v in versions)
            out.flaky.append(
                f"{scenario} is flaky: {outcomes.count('passed')} passed and "
                f"{len(outcomes) - outcomes.count('passed')} not, {flips} flip(s), with the same settings and "
                f"versions ({what})"
            )
    return out


def trends(runs: list[RunSummary], tolerance: Tolerance | None = None) -> list[ScenarioTrend]:
    by_scenario: dict[str, list[RunSummary]] = defaultdict(list)
    for run in runs:
        by_scenario[run.scenario].append(run)
    return [trend(s, rs, tolerance) for s, rs in sorted(by_scenario.items())]
