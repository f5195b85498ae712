"""Sequence, absence and count checks over a Timeline, with Jepsen-style verdicts and precise explanations."""

from __future__ import annotations

import enum
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from faultlab.assertions.durations import format_bound, format_seconds
from faultlab.assertions.sequence import Ref, Search, bounds_verdict, not_before
from faultlab.assertions.steps import Step, field_diffs, field_matches, identity_ok, steps_from_spec
from faultlab.assertions.timeline import (
    Entry,
    Timeline,
    format_fields,
    format_time,
    name_matches,
    require_aware,
    text_matches,
)

__all__ = [
    "SEARCH_BUDGET",
    "Candidate",
    "CheckResult",
    "Failure",
    "Step",
    "StepMatch",
    "Verdict",
    "check_count",
    "check_in_order",
    "check_never",
    "field_matches",
    "overall",
    "run_checks",
    "steps_from_spec",
]

MAX_CANDIDATES = 3
SEARCH_BUDGET = 200_000  # DFS nodes; beyond it the answer is UNKNOWN, never a guess


class Verdict(enum.StrEnum):
    """TRUE: the claim holds; FALSE: it provably does not; UNKNOWN: the record cannot tell (or a checker crashed)."""

    TRUE = "true"
    FALSE = "false"
    UNKNOWN = "unknown"


class Failure(enum.StrEnum):
    """Why a check did not give TRUE."""

    ABSENT = "absent"
    OUT_OF_ORDER = "out_of_order"
    TOO_EARLY = "too_early"
    TOO_LATE = "too_late"
    MISMATCH = "mismatch"
    UNTIMED = "untimed"  # a duration constraint met a masked timestamp -> UNKNOWN
    FORBIDDEN = "forbidden"  # check_never found events
    TOO_FEW = "too_few"
    TOO_MANY = "too_many"
    BUDGET = "budget"  # the search gave up -> UNKNOWN
    CRASHED = "crashed"  # the checker raised -> UNKNOWN


@dataclass(frozen=True)
class Candidate:
    """An event that came close, and why it did not do."""

    entry: Entry
    reason: str

    def to_json(self) -> dict[str, Any]:
        ev = self.entry.event
        return {
            "time": format_time(ev.time) if ev.time else None,
            "host": ev.host,
            "name": ev.name,
            "subject": ev.subject,
            "fields": ev.fields,
            "where": self.entry.where,
            "reason": self.reason,
        }

    def __str__(self) -> str:
        ev = self.entry.event
        subj = f" {ev.subject}" if ev.subject else ""
        flds = format_fields(ev.fields)
        return f"{format_time(ev.time)} {ev.host} {ev.name}{subj} {flds} ({self.entry.where}): {self.reason}"


@dataclass(frozen=True)
class StepMatch:
    """What one step got: the event it matched (met) or none (missed / not reached)."""

    label: str
    name: str
    entry: Entry | None
    status: str  # "met", "missed", "unknown", "not reached"

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "name": self.name,
            "status": self.status,
            "event": self.entry.to_json() if self.entry else None,
        }


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check. Never truthy by accident: use `.passed` (TRUE only)."""

    verdict: Verdict
    check: str
    message: str
    step: str | None = None
    step_index: int | None = None  # 1-based
    failure: Failure | None = None
    matched: tuple[StepMatch, ...] = ()
    candidates: tuple[Candidate, ...] = ()
    offending: tuple[Entry, ...] = ()
    measured: timedelta | None = None
    bound: timedelta | None = None

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.TRUE

    def __bool__(self) -> bool:
        raise TypeError("CheckResult has three outcomes: test .verdict or .passed, not truthiness")

    def lines(self) -> list[str]:
        """Plain text for a terminal: verdict and message, each step's outcome, the nearest candidates."""
        out = [f"{self.verdict.value.upper()}: {self.message}"]
        for n, m in enumerate(self.matched, 1):
            seen = f" at {format_time(m.entry.time)} ({m.entry.where})" if m.entry else ""
            out.append(f"  [{m.status}] step {n} {m.label}{seen}")
        out.extend(f"  nearest: {c}" for c in self.candidates)
        out.extend(f"  offending: {e.name} at {format_time(e.time)} ({e.where})" for e in self.offending)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "check": self.check,
            "message": self.message,
            "step": self.step,
            "step_index": self.step_index,
            "failure": self.failure.value if self.failure else None,
            "measured_s": self.measured.total_seconds() if self.measured is not None else None,
            "bound_s": self.bound.total_seconds() if self.bound is not None else None,
            "matched": [m.to_json() for m in self.matched],
            "candidates": [c.to_json() for c in self.candidates],
            "offending": [e.to_json() for e in self.offending],
        }


# -- matching helpers ---------------------------------------------------------------------------------


def _sequence_text(steps: Sequence[Step]) -> str:
    return "in order: " + " -> ".join(s.describe() for s in steps)


def _validate(steps: Sequence[Step], anchors: Mapping[str, datetime]) -> None:
    if not steps:
        raise ValueError("in_order needs at least one step")
    seen: set[str] = set()
    for i, s in enumerate(steps, 1):
        if s.tag in seen:
            raise ValueError(f"step {i} {s.tag}: label used twice; give one step a distinct label")
        if s.after is not None:
            if s.after in anchors and s.after in seen:
                raise ValueError(f"step {i} {s.tag}: {s.after!r} is both an anchor and a step label")
            if s.after not in seen and s.after not in anchors:
                known = ", ".join([*seen, *anchors]) or "none"
                raise ValueError(
                    f"step {i} {s.tag}: after {s.after!r} is neither an earlier step nor an anchor (known: {known})"
                )
        elif i == 1 and (s.at_least is not None or s.within is not None):
            raise ValueError(f"step 1 {s.tag}: at_least/within need 'after' (an anchor) on the first step")
        if s.at_least is not None and s.within is not None and s.within < s.at_least:
            raise ValueError(f"step {i} {s.tag}: within {s.within} is shorter than at_least {s.at_least}")
        seen.add(s.tag)


def _nearest(
    entries: Iterable[Entry], around: datetime | None, reason: Callable[[Entry], str]
) -> tuple[Candidate, ...]:
    def dist(e: Entry) -> tuple[int, float, int]:
        if e.time is None or around is None:
            return (1, 0.0, e.seq)
        return (0, abs((e.time - around).total_seconds()), e.seq)

    return tuple(Candidate(e, reason(e)) for e in sorted(entries, key=dist)[:MAX_CANDIDATES])


def _bound_text(kind: str, bound: timedelta, why: str | None) -> str:
    return f"expected {kind} {format_bound(bound)}" + (f" ({why})" if why else "")


def check_in_order(
    steps: Sequence[Step], timeline: Timeline, anchors: Mapping[str, datetime] | None = None
) -> CheckResult:
    """Prove that events matching `steps` occurred in this order, honouring every constraint.

    Twins are ignored. Returns TRUE with the earliest assignment, FALSE naming the first step that cannot
    be met and how (absent, mismatch, out_of_order, too_early, too_late) with the nearest candidates, or
    UNKNOWN when only a masked timestamp stands between the record and an answer.
    """
    all_anchors = {**timeline.anchors, **{k: require_aware(v, k) for k, v in (anchors or {}).items()}}
    _validate(steps, all_anchors)
    check = _sequence_text(steps)
    entries = [e for e in timeline if e.primary]
    cands = [[e for e in entries if identity_ok(s, e) and not field_diffs(s, e)] for s in steps]

    strict = Search(steps, cands, all_anchors, lenient=False, budget=SEARCH_BUDGET)
    found = strict.run()
    if found is not None:
        matched = tuple(StepMatch(s.tag, s.name, e, "met") for s, e in zip(steps, found, strict=True))
        first = found[0].time
        hops = [
            f"{s.tag} {format_time(e.time)}"
            if first is None or e.time is None or i == 0
            else f"{s.tag} +{format_seconds(e.time - first)}"
            for i, (s, e) in enumerate(zip(steps, found, strict=True))
        ]
        return CheckResult(
            Verdict.TRUE, check, f"all {len(steps)} steps in order: " + " -> ".join(hops), matched=matched
        )

    lenient = Search(steps, cands, all_anchors, lenient=True, budget=SEARCH_BUDGET)
    maybe = lenient.run()
    if strict.exhausted or lenient.exhausted:
        return CheckResult(
            Verdict.UNKNOWN,
            check,
            f"gave up after {SEARCH_BUDGET} search steps; narrow the steps (subject, host, window)",
            failure=Failure.BUDGET,
        )
    if maybe is not None:
        return _untimed_result(steps, maybe, strict, check)
    return _explain_failure(steps, entries, lenient, check)


def _untimed_result(steps: Sequence[Step], chosen: list[Entry], search: Search, check: str) -> CheckResult:
    for i, (s, e) in enumerate(zip(steps, chosen, strict=True)):
        ref = search.ref_of(i, chosen[:i])
        if ref is None or bounds_verdict(s, e, ref) is not None:
            continue
        masked = e if e.time is None else ref.entry
        assert masked is not None  # anchors always have a time
        who = "its event" if masked is e else f"the event of {ref.label}"
        parts = []
        if s.at_least is not None:
            parts.append(f"at least {format_bound(s.at_least)}")
        if s.within is not None:
            parts.append(f"within {format_bound(s.within)}")
        bound = " and ".join(parts) or "not before"
        msg = (
            f"step {i + 1} {s.tag}: untimed: {who} at {masked.where} has a masked timestamp, so "
            f"'{bound} after {ref.label}' cannot be checked"
        )
        matched = _matches(steps, chosen, upto=len(chosen), unknown_at=i)
        return CheckResult(
            Verdict.UNKNOWN,
            check,
            msg,
            step=s.tag,
            step_index=i + 1,
            failure=Failure.UNTIMED,
            matched=matched,
            candidates=(Candidate(e, "untimed"),),
        )
    raise AssertionError("lenient match without an untimed constraint")  # pragma: no cover


def _matches(
    steps: Sequence[Step], chosen: Sequence[Entry], upto: int, unknown_at: int | None = None
) -> tuple[StepMatch, ...]:
    out = []
    for i, s in enumerate(steps):
        if i < upto:
            status = "unknown" if i == unknown_at else "met"
            out.append(StepMatch(s.tag, s.name, chosen[i], status))
        else:
            out.append(StepMatch(s.tag, s.name, None, "missed" if i == upto else "not reached"))
    return tuple(out)


def _explain_failure(steps: Sequence[Step], entries: Sequence[Entry], search: Search, check: str) -> CheckResult:
    k = len(search.best)
    step = steps[k]
    prefix = search.best
    head = f"step {k + 1} {step.tag}"
    prev = prefix[-1] if prefix else None
    around = prev.time if prev else None
    matched = _matches(steps, prefix, upto=k)

    def result(
        failure: Failure,
        detail: str,
        cands: tuple[Candidate, ...],
        measured: timedelta | None = None,
        bound: timedelta | None = None,
    ) -> CheckResult:
        return CheckResult(
            Verdict.FALSE,
            check,
            f"{head}: {failure.value.replace('_', ' ')}: {detail}",
            step=step.tag,
            step_index=k + 1,
            failure=failure,
            matched=matched,
            candidates=cands,
            measured=measured,
            bound=bound,
        )

    named = [e for e in entries if name_matches(e.name, step.name)]
    ident = [e for e in named if identity_ok(step, e)]
    if not ident:
        wanted = ", ".join(
            p
            for p in (
                f"subject {step.subject}" if step.subject else "",
                f"vm {step.vm}" if step.vm else "",
                f"host {step.host}" if step.host else "",
            )
            if p
        )
        if not named:
            return result(Failure.ABSENT, f"no {step.name} event in the record", ())

        def other(e: Entry) -> str:
            return f"{e.event.subject or 'no subject'} on {e.event.host or 'unknown host'}"

        seen = sorted({other(e) for e in named})
        detail = (
            f"no {step.name} event for {wanted}; {len(named)} {step.name} seen for {', '.join(seen[:MAX_CANDIDATES])}"
        )
        return result(Failure.ABSENT, detail, _nearest(named, around, lambda e: f"not {wanted}"))

    fit = [e for e in ident if not field_diffs(step, e)]
    if not fit:
        first = _nearest(ident, around, lambda e: "; ".join(field_diffs(step, e)))
        of = f" for {first[0].entry.event.subject}" if first[0].entry.event.subject else ""
        detail = f"{step.name}{of} seen with {first[0].reason}"
        if len(ident) > 1:
            detail += f" ({len(ident)} such events, none matching)"
        return result(Failure.MISMATCH, detail, first)

    used = {e.seq for e in prefix}
    if prev is not None:
        later = [e for e in fit if e.seq not in used and not_before(e, prev)]
        if not later:
            prev_step = steps[k - 1]
            before = [e for e in fit if e.seq not in used]
            if before:
                last = max(before, key=lambda e: e.seq)
                ago = (
                    f", {format_seconds(prev.time - last.time)} before it"
                    if prev.time is not None and last.time is not None
                    else ""
                )
                detail = (
                    f"{step.name} seen only before step {k} {prev_step.tag} "
                    f"(latest at {format_time(last.time)} on {last.event.host}{ago})"
                )
            else:
                detail = f"its only {step.name} event is already step {k}'s"
            return result(
                Failure.OUT_OF_ORDER, detail, _nearest(before or fit, around, lambda e: f"before {prev_step.tag}")
            )
    else:
        later = list(fit)

    ref = search.ref_of(k, prefix)
    if ref is None or ref.time is None:  # pragma: no cover - the lenient search would have matched
        return result(
            Failure.OUT_OF_ORDER,
            f"no {step.name} event fits after the previous steps",
            _nearest(later, around, lambda e: "does not fit"),
        )
    low = step.at_least if step.at_least is not None else timedelta(0)
    timed = [e for e in later if e.time is not None]
    assert timed, "untimed candidates would have matched leniently"

    def gap(e: Entry) -> timedelta:
        assert e.time is not None and ref is not None and ref.time is not None
        return e.time - ref.time

    def miss(e: Entry) -> timedelta:
        g = gap(e)
        return low - g if g < low else g - (step.within or g)

    best = min(timed, key=lambda e: (miss(e), e.seq))
    g = gap(best)

    def why(e: Entry) -> str:
        return f"{format_seconds(gap(e))} after {ref.label}" if ref else ""

    cands = tuple(Candidate(e, why(e)) for e in sorted(timed, key=lambda e: (miss(e), e.seq))[:MAX_CANDIDATES])
    if g < low:
        if step.at_least is None:
            detail = f"{format_seconds(-g)} before {ref.label}, expected after it"
        else:
            detail = f"{format_seconds(g)} after {ref.label}, {_bound_text('at least', low, step.why_at_least)}"
        return result(Failure.TOO_EARLY, detail, cands, measured=g, bound=low)
    assert step.within is not None
    detail = f"{format_seconds(g)} after {ref.label}, {_bound_text('within', step.within, step.why_within)}"
    return result(Failure.TOO_LATE, detail, cands, measured=g, bound=step.within)


# -- never and count ----------------------------------------------------------------------------------


def _resolve(point: datetime | str | None, anchors: Mapping[str, datetime], what: str) -> datetime | None:
    if point is None:
        return None
    if isinstance(point, str):
        if point not in anchors:
            raise ValueError(f"{what}: unknown anchor {point!r} (known: {', '.join(sorted(anchors)) or 'none'})")
        return anchors[point]
    return require_aware(point, what)


def _window_text(lo: datetime | None, hi: datetime | None) -> str:
    if lo is None and hi is None:
        return "in the whole record"
    return f"between {format_time(lo) if lo else 'the start'} and {format_time(hi) if hi else 'the end'}"


def check_never(
    names: str | Iterable[str],
    timeline: Timeline,
    window: tuple[datetime | str | None, datetime | str | None] | None = None,
    *,
    hosts: Iterable[str] | None = None,
) -> CheckResult:
    """FALSE when any event named in `names` ("pdl", "host.*") occurs inside `window` (inclusive; ends may
    be anchor names). An untimed one of those names, with no timed one, gives UNKNOWN if a window is set."""
    pats = [names] if isinstance(names, str) else list(names)
    anchors = timeline.anchors
    lo = _resolve(window[0], anchors, "window start") if window else None
    hi = _resolve(window[1], anchors, "window end") if window else None
    check = f"never {', '.join(pats)} {_window_text(lo, hi)}"
    host_pats = list(hosts) if hosts is not None else None
    hits: list[Entry] = []
    unsure: list[Entry] = []
    for e in timeline:
        if not e.primary or not any(name_matches(e.name, p) for p in pats):
            continue
        if host_pats is not None and not any(text_matches(e.event.host, h) for h in host_pats):
            continue
        if e.time is None:
            (unsure if (lo is not None or hi is not None) else hits).append(e)
        elif (lo is None or e.time >= lo) and (hi is None or e.time <= hi):
            hits.append(e)
    if hits:
        listed = "; ".join(
            f"{e.name} at {format_time(e.time)} on {e.event.host} ({e.event.subject or '-'}, {e.where})"
            for e in hits[:MAX_CANDIDATES]
        )
        more = f" and {len(hits) - MAX_CANDIDATES} more" if len(hits) > MAX_CANDIDATES else ""
        return CheckResult(
            Verdict.FALSE,
            check,
            f"{len(hits)} forbidden event(s): {listed}{more}",
            failure=Failure.FORBIDDEN,
            offending=tuple(hits),
        )
    if unsure:
        return CheckResult(
            Verdict.UNKNOWN,
            check,
            f"{len(unsure)} {unsure[0].name} event(s) with masked timestamps (first at "
            f"{unsure[0].where}): cannot tell whether they fall in the window",
            failure=Failure.UNTIMED,
            offending=tuple(unsure),
        )
    return CheckResult(Verdict.TRUE, check, f"no {', '.join(pats)} event {_window_text(lo, hi)}")


def check_count(
    what: str | Step,
    timeline: Timeline,
    min: int | None = None,
    max: int | None = None,
) -> CheckResult:
    """Count primary (non-twin) events matching a name or a Step (its subject/vm/host/fields, and bounds
    relative to an anchor in `after`). Untimed events that may or may not count make it UNKNOWN."""
    step = Step(name=what) if isinstance(what, str) else what
    if min is None and max is None:
        raise ValueError("check_count needs min or max")
    anchors = timeline.anchors
    if step.after is not None and step.after not in anchors:
        raise ValueError(
            f"count {step.tag}: after {step.after!r} must be an anchor (known: {', '.join(sorted(anchors)) or 'none'})"
        )
    if step.after is None and (step.at_least is not None or step.within is not None):
        raise ValueError(f"count {step.tag}: at_least/within need 'after' (an anchor)")
    ref = Ref(step.after, anchors[step.after], None) if step.after is not None else None
    sure: list[Entry] = []
    unsure: list[Entry] = []
    for e in timeline:
        if not e.primary or not identity_ok(step, e) or field_diffs(step, e):
            continue
        ok = True if ref is None else bounds_verdict(step, e, ref)
        if ok is True:
            sure.append(e)
        elif ok is None:
            unsure.append(e)
    lo_n, hi_n = len(sure), len(sure) + len(unsure)
    want = " and ".join(
        p for p in (f"at least {min}" if min is not None else "", f"at most {max}" if max is not None else "") if p
    )
    check = f"count {step.describe()}: {want}"
    if (min is not None and hi_n < min) or (max is not None and lo_n > max):
        failure = Failure.TOO_FEW if min is not None and hi_n < min else Failure.TOO_MANY
        return CheckResult(
            Verdict.FALSE,
            check,
            f"{failure.value.replace('_', ' ')}: {lo_n} {step.name} event(s), expected {want}",
            failure=failure,
            offending=tuple(sure),
            measured=None,
        )
    if (min is not None and lo_n < min) or (max is not None and hi_n > max):
        return CheckResult(
            Verdict.UNKNOWN,
            check,
            f"{lo_n} {step.name} event(s) for sure and {len(unsure)} with masked timestamps; expected {want}",
            failure=Failure.UNTIMED,
            offending=tuple(unsure),
        )
    return CheckResult(Verdict.TRUE, check, f"{lo_n} {step.name} event(s), expected {want}", offending=tuple(sure))


# -- running ------------------------------------------------------------------------------------------


def run_checks(checks: Iterable[tuple[str, Callable[[], CheckResult]]]) -> list[CheckResult]:
    """Run each check; one that raises or returns something else is UNKNOWN with the reason, never a PASS."""
    results: list[CheckResult] = []
    for what, fn in checks:
        try:
            res = fn()
        except Exception as exc:  # a crashed checker is reported, not propagated: the other checks still run
            last = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
            at = f" at {last.filename.rsplit('/', 1)[-1]}:{last.lineno}" if last else ""
            results.append(
                CheckResult(
                    Verdict.UNKNOWN, what, f"checker crashed: {type(exc).__name__}: {exc}{at}", failure=Failure.CRASHED
                )
            )
            continue
        if not isinstance(res, CheckResult):
            results.append(
                CheckResult(
                    Verdict.UNKNOWN,
                    what,
                    f"checker returned {type(res).__name__}, not a CheckResult",
                    failure=Failure.CRASHED,
                )
            )
            continue
        results.append(res)
    return results


def overall(results: Iterable[CheckResult]) -> Verdict:
    """FALSE if any check is FALSE, else UNKNOWN if any is UNKNOWN or nothing was checked, else TRUE."""
    verdicts = [r.verdict for r in results]
    if Verdict.FALSE in verdicts:
        return Verdict.FALSE
    if Verdict.UNKNOWN in verdicts or not verdicts:
        return Verdict.UNKNOWN
    return Verdict.TRUE
