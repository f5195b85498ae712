"""Runs of one scenario side by side (before/after a change): outcome, expected steps, recovery times, regressions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from faultlab.harness.judgement import StepStatus
from faultlab.harness.measures import JUDGED_MEASURES, shown_by_conditions
from faultlab.harness.record import ERROR, FAILED, PASSED, RUNNING, RunRecord
from faultlab.harness.report.data import RunView, build_view

# How a row changed. Recovery times (from heal) are judged: slower beyond the tolerance is a regression.
# Sequence times (from the fault) are reported as later/earlier only: a different APD timeout moves them on
# purpose, and the scenario's own checks already say whether they are within what VMware documents.
SAME, SLOWER, FASTER, LATER, EARLIER = "same", "slower", "faster", "later", "earlier"
WORSE, BETTER, CHANGED, NEW, GONE = "worse", "better", "changed", "new", "gone"
_OUTCOME_RANK: dict[str, int] = {PASSED: 0, FAILED: 1, ERROR: 2, RUNNING: 3}
_STEP_RANK: dict[str, int] = {StepStatus.MET: 0, StepStatus.UNKNOWN: 1, StepStatus.NOT_REACHED: 2, StepStatus.MISSED: 2}
# How a recovery condition ended, worst last.
MET, UNOBSERVABLE, NOT_MET = "met", "unobservable", "not met"
_RECOVERY_RANK = {MET: 0, UNOBSERVABLE: 1, NOT_MET: 2}


@dataclass(frozen=True)
class Tolerance:
    """A time difference counts when it exceeds both `ratio` of the baseline and `min_s` (lab noise)."""

    ratio: float = 0.20
    min_s: float = 1.0

    def allows(self, baseline: float, delta: float) -> bool:
        return abs(delta) <= max(self.min_s, self.ratio * abs(baseline))


@dataclass(frozen=True)
class Row:
    """One compared quantity. `baseline`/`candidate` are seconds, a status word, or None (not seen)."""

    section: str  # outcome | setting | step | measure | recovery
    label: str
    baseline: float | str | None
    candidate: float | str | None
    change: str
    delta_s: float | None = None
    regression: bool = False
    why: str = ""  # for a regression: what got worse, in one line


@dataclass
class Comparison:
    """A candidate run against the baseline run of the same scenario."""

    scenario: str
    baseline_run: str
    candidate_run: str
    tolerance: Tolerance
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.regression]

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "baseline_run": self.baseline_run,
            "candidate_run": self.candidate_run,
            "tolerance": asdict(self.tolerance),
            "regressions": len(self.regressions),
            "rows": [asdict(r) for r in self.rows],
            "notes": self.notes,
        }


class CompareError(ValueError):
    """Two records that cannot be compared (different scenarios)."""


def _timed(section: str, label: str, base: float | None, cand: float | None, tol: Tolerance, judged: bool) -> Row:
    """A time row: judged rows (recovery) go slower/faster, the others later/earlier."""
    if base is None and cand is None:
        return Row(section, label, None, None, SAME)
    if base is None:
        return Row(section, label, None, cand, NEW)
    if cand is None:
        return Row(section, label, base, None, GONE, regression=judged, why=f"{label}: not seen in the candidate")
    delta = round(cand - base, 3)
    if tol.allows(base, delta):
        return Row(section, label, base, cand, SAME, delta)
    if not judged:
        return Row(section, label, base, cand, LATER if delta > 0 else EARLIER, delta)
    if delta < 0:
        return Row(section, label, base, cand, FASTER, delta)
    why = f"{label}: {cand:.1f}s against {base:.1f}s (+{delta:.1f}s, more than {_tolerance_text(tol)})"
    return Row(section, label, base, cand, SLOWER, delta, True, why)


def _tolerance_text(tol: Tolerance) -> str:
    return f"{tol.ratio * 100:.0f}% or {tol.min_s:g}s"


def _ranked(section: str, label: str, base: str | None, cand: str | None, rank: dict[str, int]) -> Row:
    """A status row: worse by `rank` is a regression."""
    if base == cand:
        return Row(section, label, base, cand, SAME)
    if base is None:
        return Row(section, label, None, cand, NEW)
    b, c = rank.get(base, 9), rank.get(str(cand), 9)
    if c > b:
        return Row(section, label, base, cand, WORSE, regression=True, why=f"{label}: {base} -> {cand}")
    return Row(section, label, base, cand, BETTER if c < b else CHANGED)


def _step_times(view: RunView) -> dict[str, tuple[str, float | None]]:
    """'3 apd.timeout' -> (status, seconds from fault.injected)."""
    out: dict[str, tuple[str, float | None]] = {}
    for step in view.steps:
        seconds = round(view.rel(step.time), 3) if step.time is not None and view.injected is not None else None
        out[f"{step.index} {step.label}"] = (step.status, seconds)
    return out


def _recovery(record: RunRecord) -> dict[str, tuple[str, float | None]]:
    out: dict[str, tuple[str, float | None]] = {}
    for r in record.recovery:
        status = MET if r.met else UNOBSERVABLE if r.met is None else NOT_MET
        out[r.condition] = (status, round(r.seconds, 3) if r.met and r.seconds is not None else None)
    return out


def _keys(a: Iterable[str], b: Iterable[str]) -> list[str]:
    """The union of two key lists, in the baseline's order, then the candidate's new ones."""
    return list(dict.fromkeys([*a, *b]))


def compare(
    baseline: RunRecord,
    candidate: RunRecord,
    tolerance: Tolerance | None = None,
    baseline_dir: Path | None = None,
    candidate_dir: Path | None = None,
) -> Comparison:
    """Compare `candidate` against `baseline` (records of the same scenario). With their run folders, a record
    that was never judged is judged from its collected logs."""
    tol = tolerance or Tolerance()
    if baseline.scenario_name != candidate.scenario_name:
        raise CompareError(
            f"runs of different scenarios cannot be compared: {baseline.run_id} ran {baseline.scenario_name!r}, "
            f"{candidate.run_id} ran {candidate.scenario_name!r}"
        )
    out = Comparison(baseline.scenario_name, baseline.run_id, candidate.run_id, tol)
    if baseline.scenario_text.strip() != candidate.scenario_text.strip():
        out.notes.append("the scenario file differs between the runs: steps are matched by position and name")

    out.rows.append(_ranked("outcome", "outcome", baseline.outcome, candidate.outcome, _OUTCOME_RANK))
    if candidate.outcome != PASSED and candidate.message:
        out.notes.append(f"candidate {candidate.outcome}: {candidate.message.splitlines()[0]}")

    # Host settings the run read (Misc.APDTimeout, ...): a change here explains moved timings.
    for key in _keys(baseline.settings, candidate.settings):
        b, c = baseline.settings.get(key), candidate.settings.get(key)
        if b != c:
            out.rows.append(Row("setting", key, b, c, CHANGED))

    b_view = build_view(baseline, baseline_dir)
    c_view = build_view(candidate, candidate_dir)
    b_steps, c_steps = _step_times(b_view), _step_times(c_view)
    for key in _keys(b_steps, c_steps):
        b_status, b_s = b_steps.get(key, (None, None))
        c_status, c_s = c_steps.get(key, (None, None))
        status_row = _ranked("step", key, b_status, c_status, _STEP_RANK)
        if status_row.change != SAME:
            out.rows.append(status_row)
        else:
            out.rows.append(_timed("step", key, b_s, c_s, tol, judged=False))

    b_rec, c_rec = _recovery(baseline), _recovery(candidate)
    for key in _keys(b_rec, c_rec):
        b_status, b_s = b_rec.get(key, (None, None))
        c_status, c_s = c_rec.get(key, (None, None))
        status_row = _ranked("recovery", key, b_status, c_status, _RECOVERY_RANK)
        if status_row.change != SAME or b_status != MET:
            out.rows.append(status_row)
        else:
            out.rows.append(_timed("recovery", key, b_s, c_s, tol, judged=True))

    # Measures that a recovery condition already shows are not repeated.
    shown = shown_by_conditions(baseline) | shown_by_conditions(candidate)
    b_m, c_m = b_view.run_measures, c_view.run_measures
    for key in _keys(b_m, c_m):
        if key in shown:
            continue
        out.rows.append(_timed("measure", key, b_m.get(key), c_m.get(key), tol, judged=key in JUDGED_MEASURES))
    return out
