"""The in-order search: the earliest assignment of timeline events to steps that honours every constraint."""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from faultlab.assertions.steps import Step
from faultlab.assertions.timeline import Entry


def not_before(cand: Entry, prev: Entry) -> bool:
    """Order of two events: by time (equal times are fine both ways), by position when one is untimed."""
    if cand.seq == prev.seq:
        return False
    if cand.time is not None and prev.time is not None:
        return cand.time >= prev.time
    return cand.seq > prev.seq


@dataclass(frozen=True)
class Ref:
    """What a step's bounds count from: an earlier step's event, or an anchor (entry None)."""

    label: str
    time: datetime | None
    entry: Entry | None  # None for an anchor


def bounds_verdict(step: Step, cand: Entry, ref: Ref) -> bool | None:
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


class Search:
    """Depth-first search for the earliest assignment of events to steps (lexicographic in position).

    Earliest-first is not enough on its own: a later candidate may satisfy `at_least`, and an earlier
    reference may be needed for `within`, so it backtracks; failed states are memoised. `lenient` treats
    unmeasurable (untimed) constraints as met, which separates FALSE from UNKNOWN.
    """

    def __init__(
        self,
        steps: Sequence[Step],
        cands: list[list[Entry]],
        anchors: Mapping[str, datetime],
        *,
        lenient: bool,
        budget: int,
    ) -> None:
        self.budget = budget
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

    def ref_of(self, i: int, chosen: Sequence[Entry]) -> Ref | None:
        step = self.steps[i]
        j = self.ref_index[i]
        if j is not None:
            return Ref(self.steps[j].tag, chosen[j].time, chosen[j])
        if step.after is not None:
            return Ref(step.after, self.anchors[step.after], None)
        return None

    def fits(self, i: int, cand: Entry, chosen: Sequence[Entry]) -> bool | None:
        if any(c.seq == cand.seq for c in chosen):
            return False
        if chosen and not not_before(cand, chosen[-1]):
            return False
        ref = self.ref_of(i, chosen)
        return True if ref is None else bounds_verdict(self.steps[i], cand, ref)

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
            if self.nodes > self.budget:
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
