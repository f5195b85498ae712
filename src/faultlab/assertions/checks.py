"""Sequence, absence and count checks over a Timeline, with Jepsen-style verdicts and precise explanations."""

from __future__ import annotations

import bisect
import enum
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from faultlab.assertions.durations import (
    Settings,
    format_bound,
    format_seconds,
    parse_duration,
    settings_in,
    split_reference,
)
from faultlab.assertions.timeline import (
    Entry,
    Timeline,
    format_fields,
    format_time,
    format_value,
    name_matches,
    require_aware,
    text_matches,
)

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
class Step:
    """One expected event of a sequence.

    `after` names an earlier step's label or an anchor; `at_least` / `within` bound the delay from it
    (when `after` is None they count from the previous step). `fields` values match exactly, numbers
    numerically (0xEF == "0xEF"), strings as globs. `why_at_least` / `why_within` say where a bound came
    from ("Misc.APDTimeout") and are shown in messages.
    """

    name: str
    subject: str | None = None
    vm: str | None = None
    host: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    after: str | None = None
    at_least: timedelta | None = None
    within: timedelta | None = None
    label: str | None = None
    why_at_least: str | None = None
    why_within: str | None = None

    @property
    def tag(self) -> str:
        return self.label or self.name

    @property
    def timed(self) -> bool:
        return self.after is not None or self.at_least is not None or self.within is not None

    def describe(self) -> str:
        parts: list[str] = []
        if self.subject:
            parts.append(f"subject={self.subject}")
        if self.vm:
            parts.append(f"vm={self.vm}")
        if self.host:
            parts.append(f"host={self.host}")
        parts.extend(f"{k}={format_value(k, v)}" for k, v in self.fields.items())
        ref = self.after or "previous step"
        if self.at_least is not None:
            parts.append(f">={format_bound(self.at_least)} after {ref}")
        if self.within is not None:
            parts.append(f"<={format_bound(self.within)} after {ref}")
        if self.after and self.at_least is None and self.within is None:
            parts.append(f"after {self.after}")
        label = f"{self.label}=" if self.label and self.label != self.name else ""
        return f"{label}{self.name}" + (f"{{{', '.join(parts)}}}" if parts else "")

    @classmethod
    def from_spec(
        cls,
        name: str,
        spec: Mapping[str, Any] | None = None,
        *,
        settings: Settings | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> Step:
        """Build a step from a scenario's `expect.in_order` item, e.g.
        ``Step.from_spec("guest.bsod", {"vm": "$vm", "code": 0xEF, "within": "5m of fault.healed"}, ...)``.

        Keys subject/vm/host/after/at_least/within/label are constraints; any other key is a field match.
        "$name" values are replaced from `variables`. Raises ValueError naming the step and the key.
        """
        spec = dict(spec or {})
        where = f"step {name!r}"

        def subst(value: Any) -> Any:
            if isinstance(value, str) and value.startswith("$"):
                if variables is None or value[1:] not in variables:
                    raise ValueError(f"{where}: unknown variable {value!r}")
                return variables[value[1:]]
            return value

        after = spec.pop("after", None)
        bounds: dict[str, tuple[timedelta, str | None]] = {}
        for key in ("at_least", "within"):
            if key not in spec:
                continue
            raw = spec.pop(key)
            why: str | None = None
            if isinstance(raw, str):
                amount, ref = split_reference(raw)
                if ref is not None:
                    if after is not None and after != ref:
                        raise ValueError(f"{where}: {key} counts from {ref!r} but after is {after!r}")
                    after = ref
                names = settings_in(amount)
                why = ", ".join(names) if names else None
                raw = amount
            try:
                bounds[key] = (parse_duration(raw, settings), why)
            except ValueError as exc:
                raise ValueError(f"{where}: {key}: {exc}") from None
        nested = spec.pop("fields", None) or {}
        if not isinstance(nested, Mapping):
            raise ValueError(f"{where}: fields must be a mapping, got {nested!r}")
        spec.update(nested)
        text_keys = {k: spec.pop(k, None) for k in ("subject", "vm", "host", "label")}
        for k, v in text_keys.items():
            if v is not None and not isinstance(v, str):
                raise ValueError(f"{where}: {k} must be text, got {v!r}")
        return cls(
            name=name,
            subject=subst(text_keys["subject"]),
            vm=subst(text_keys["vm"]),
            host=subst(text_keys["host"]),
            fields={k: subst(v) for k, v in spec.items()},
            after=subst(after) if after is not None else None,
            at_least=bounds["at_least"][0] if "at_least" in bounds else None,
            within=bounds["within"][0] if "within" in bounds else None,
            label=text_keys["label"],
            why_at_least=bounds["at_least"][1] if "at_least" in bounds else None,
            why_within=bounds["within"][1] if "within" in bounds else None,
        )


def steps_from_spec(
    items: Sequence[str | Mapping[str, Any]],
    *,
    settings: Settings | None = None,
    variables: Mapping[str, str] | None = None,
) -> list[Step]:
    """Steps from a scenario's `expect.in_order` list: "apd.start" or {"apd.timeout": {...}} items."""
    steps: list[Step] = []
    for n, item in enumerate(items, 1):
        if isinstance(item, str):
            steps.append(Step.from_spec(item, None, settings=settings, variables=variables))
            continue
        if not isinstance(item, Mapping) or len(item) != 1:
            raise ValueError(f"in_order item {n}: expected 'name' or {{name: {{...}}}}, got {item!r}")
        ((name, spec),) = item.items()
        if spec is not None and not isinstance(spec, Mapping):
            raise ValueError(f"in_order item {n} {name}: constraints must be a mapping, got {spec!r}")
        steps.append(Step.from_spec(str(name), spec, settings=settings, variables=variables))
    return steps


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


def _numeric(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(int(value, 0))
        except ValueError:
            try:
                return float(value)
            except ValueError:
                return None
    return None


def field_matches(actual: Any, expected: Any) -> bool:
    if isinstance(expected, str) and isinstance(actual, str):
        return text_matches(actual, expected)
    a, e = _numeric(actual), _numeric(expected)
    if a is not None and e is not None and not isinstance(expected, bool):
        return a == e
    return bool(actual == expected)


def _field_diffs(step: Step, entry: Entry) -> list[str]:
    diffs = []
    for key, want in step.fields.items():
        if key not in entry.event.fields:
            diffs.append(f"no {key} (expected {key}={format_value(key, want)})")
        elif not field_matches(entry.event.fields[key], want):
            got = format_value(key, entry.event.fields[key])
            diffs.append(f"{key}={got}, expected {key}={format_value(key, want)}")
    return diffs


def _identity_ok(step: Step, entry: Entry) -> bool:
    ev = entry.event
    if not name_matches(ev.name, step.name):
        return False
    if step.subject is not None and not text_matches(ev.subject, step.subject):
        return False
    if step.host is not None and not text_matches(ev.host, step.host):
        return False
    if step.vm is not None:
        vm_field = ev.fields.get("vm")
        vm_text = vm_field if isinstance(vm_field, str) else None
        if not (text_matches(ev.subject, step.vm) or text_matches(vm_text, step.vm)):
            return False
    return True


def _not_before(cand: Entry, prev: Entry) -> bool:
    """Order of two events: by time (equal times are fine both ways), by position when one is untimed."""
    if cand.seq == prev.seq:
        return False
    if cand.time is not None and prev.time is not None:
        return cand.time >= prev.time
    return cand.seq > prev.seq


@dataclass(frozen=True)
class _Ref:
    label: str
    time: datetime | None
    entry: Entry | None  # None for an anchor


def _bounds_verdict(step: Step, cand: Entry, ref: _Ref) -> bool | None:
    """True/False when the delay from the reference can be measured, None when a time is masked."""
    if cand.time is None or ref.time is None:
        return None
    gap = cand.time - ref.time
    low = step.at_least if step.at_least is not None else timedelta(0)
    if gap < low:
        return False
    return step.within is None or gap <= step.within


class _Pool:
    """The candidates of one step, split so the search can bisect to the ones that may fit.

    Timed entries are in time order by `seq`, so order and bound constraints become index ranges;
    untimed ones can only be placed by position.
    """

    def __init__(self, entries: Sequence[Entry]) -> None:
        self.timed = [e for e in entries if e.time is not None]
        self.times = [e.time for e in self.timed if e.time is not None]
        self.timed_seqs = [e.seq for e in self.timed]
        self.untimed = [e for e in entries if e.time is None]
        self.untimed_seqs = [e.seq for e in self.untimed]

    def timed_range(
        self, prev: Entry | None, ref_time: datetime | None, step: Step, has_ref: bool, lenient: bool
    ) -> tuple[int, int]:
        lo, hi = 0, len(self.timed)
        if prev is not None:
            if prev.time is not None:
                lo = bisect.bisect_left(self.times, prev.time)
            else:
                lo = bisect.bisect_right(self.timed_seqs, prev.seq)
        if has_ref:
            if ref_time is None:  # the reference is masked: nothing measurable
                return (lo, hi) if lenient else (0, 0)
            low = step.at_least if step.at_least is not None else timedelta(0)
            lo = max(lo, bisect.bisect_left(self.times, ref_time + low))
            if step.within is not None:
                hi = bisect.bisect_right(self.times, ref_time + step.within)
        return lo, hi

    def untimed_from(self, prev: Entry | None, has_ref: bool, lenient: bool) -> int:
        if has_ref and not lenient:  # a bound on a masked time is never met for sure
            return len(self.untimed)
        return bisect.bisect_right(self.untimed_seqs, prev.seq) if prev is not None else 0


class _Search:
    """Depth-first search for the earliest assignment of events to steps (lexicographic in position).

    Earliest-first is not enough on its own: a later candidate may satisfy `at_least`, and an earlier
    reference may be needed for `within`, so it backtracks; failed states are memoised. `lenient` treats
    unmeasurable (untimed) constraints as met, which separates FALSE from UNKNOWN.
    """

    def __init__(
        self, steps: Sequence[Step], cands: list[list[Entry]], anchors: Mapping[str, datetime], lenient: bool
    ) -> None:
        self.steps = steps
        self.pools = [_Pool(c) for c in cands]
        self.anchors = anchors
        self.lenient = lenient
        # which earlier step each step's bound refers to; the memo key needs those still to be used
        self.ref_index: list[int | None] = []
        earlier: dict[str, int] = {}
        for i, s in enumerate(steps):
            if s.after is not None:
                self.ref_index.append(earlier.get(s.after))
            elif s.at_least is not None or s.within is not None:
                self.ref_index.append(i - 1)
            else:
                self.ref_index.append(None)
            earlier[s.tag] = i
        self.referenced = {j for j in self.ref_index if j is not None}
        self.nodes = 0
        self.exhausted = False
        self.best: list[Entry] = []
        self.failed: set[tuple[int, int, tuple[int, ...], tuple[int, ...]]] = set()

    def ref_of(self, i: int, chosen: Sequence[Entry]) -> _Ref | None:
        step = self.steps[i]
        j = self.ref_index[i]
        if j is not None:
            return _Ref(self.steps[j].tag, chosen[j].time, chosen[j])
        if step.after is not None:
            return _Ref(step.after, self.anchors[step.after], None)
        return None

    def fits(self, i: int, cand: Entry, chosen: Sequence[Entry]) -> bool | None:
        if any(c.seq == cand.seq for c in chosen):
            return False
        if chosen and not _not_before(cand, chosen[-1]):
            return False
        ref = self.ref_of(i, chosen)
        return True if ref is None else _bounds_verdict(self.steps[i], cand, ref)

    def run(self) -> list[Entry] | None:
        chosen: list[Entry] = []
        return chosen if self._dfs(0, chosen) else None

    def _memo_key(self, i: int, chosen: Sequence[Entry]) -> tuple[int, int, tuple[int, ...], tuple[int, ...]]:
        """What the rest of the search depends on: the step, the previous event, the events later steps
        measure from, and the chosen events that could still come up as candidates. A chosen timed event
        strictly before a timed previous event never can (timed entries are in time order by seq)."""
        live = tuple(sorted({j for j in self.ref_index[i:] if j is not None and j < i}))
        if not chosen:
            return (i, -1, (), ())
        prev = chosen[-1]
        pt = prev.time
        reusable = tuple(
            sorted(c.seq for c in chosen[:-1] if not (pt is not None and c.time is not None and c.time < pt))
        )
        return (i, prev.seq, tuple(chosen[j].seq for j in live), reusable)

    def _candidates(self, i: int, chosen: Sequence[Entry], cut: list[datetime]) -> Iterator[Entry]:
        """Candidates in position order, timed and untimed merged; only those that may fit. Timed ones
        stop once past `cut[0]` (set by the caller while iterating)."""
        pool = self.pools[i]
        prev = chosen[-1] if chosen else None
        ref = self.ref_of(i, chosen)
        has_ref = ref is not None
        t, t_end = pool.timed_range(prev, ref.time if ref else None, self.steps[i], has_ref, self.lenient)
        u = pool.untimed_from(prev, has_ref, self.lenient)
        while True:
            if t < t_end and cut and pool.times[t] > cut[0]:
                t = t_end
            if t < t_end and (u >= len(pool.untimed) or pool.timed[t].seq < pool.untimed[u].seq):
                yield pool.timed[t]
                t += 1
            elif u < len(pool.untimed):
                yield pool.untimed[u]
                u += 1
            else:
                return

    def _dfs(self, i: int, chosen: list[Entry]) -> bool:
        if len(chosen) > len(self.best):
            self.best = list(chosen)
        if i == len(self.steps):
            return True
        key = self._memo_key(i, chosen)
        if key in self.failed:
            return False
        # If a timed candidate x of a step that no later step measures from fails, a timed y strictly
        # later fails too: every event that could follow y could follow x, under the same constraints.
        cut: list[datetime] = []
        for cand in self._candidates(i, chosen, cut):
            self.nodes += 1
            if self.nodes > SEARCH_BUDGET:
                self.exhausted = True
                return False
            ok = self.fits(i, cand, chosen)
            if ok is False or (ok is None and not self.lenient):
                continue
            chosen.append(cand)
            if self._dfs(i + 1, chosen):
                return True
            chosen.pop()
            if self.exhausted:
                return False
            if i not in self.referenced and cand.time is not None and not cut:
                cut.append(cand.time)
        self.failed.add(key)
        return False


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
    cands = [[e for e in entries if _identity_ok(s, e) and not _field_diffs(s, e)] for s in steps]

    strict = _Search(steps, cands, all_anchors, lenient=False)
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

    lenient = _Search(steps, cands, all_anchors, lenient=True)
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


def _untimed_result(steps: Sequence[Step], chosen: list[Entry], search: _Search, check: str) -> CheckResult:
    for i, (s, e) in enumerate(zip(steps, chosen, strict=True)):
        ref = search.ref_of(i, chosen[:i])
        if ref is None or _bounds_verdict(s, e, ref) is not None:
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


def _explain_failure(steps: Sequence[Step], entries: Sequence[Entry], search: _Search, check: str) -> CheckResult:
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
    ident = [e for e in named if _identity_ok(step, e)]
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

    fit = [e for e in ident if not _field_diffs(step, e)]
    if not fit:
        first = _nearest(ident, around, lambda e: "; ".join(_field_diffs(step, e)))
        of = f" for {first[0].entry.event.subject}" if first[0].entry.event.subject else ""
        detail = f"{step.name}{of} seen with {first[0].reason}"
        if len(ident) > 1:
            detail += f" ({len(ident)} such events, none matching)"
        return result(Failure.MISMATCH, detail, first)

    used = {e.seq for e in prefix}
    if prev is not None:
        later = [e for e in fit if e.seq not in used and _not_before(e, prev)]
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
    ref = _Ref(step.after, anchors[step.after], None) if step.after is not None else None
    sure: list[Entry] = []
    unsure: list[Entry] = []
    for e in timeline:
        if not e.primary or not _identity_ok(step, e) or _field_diffs(step, e):
            continue
        ok = True if ref is None else _bounds_verdict(step, e, ref)
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
