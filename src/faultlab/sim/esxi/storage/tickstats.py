"""How late the host's periodic worlds (heartbeats, timer ticks) run against their schedule: the `stats` command."""

from __future__ import annotations

import threading


class TickStats:
    """Counts the rounds of one periodic loop and how late each started against its schedule.

    `tick(scheduled, actual)` is called by the loop's own thread (monotonic seconds); `as_dict` may be read
    from another thread: a lock guards the four numbers, so a reader never sees a half-updated record.
    """

    __slots__ = ("_lock", "count", "late_max_s", "late_sum_s", "period_s")

    def __init__(self, period_s: float) -> None:
        self.period_s = period_s
        self.count = 0
        self.late_sum_s = 0.0
        self.late_max_s = 0.0
        self._lock = threading.Lock()

    def tick(self, scheduled: float, actual: float, period_s: float | None = None) -> None:
        """One round that was due at `scheduled` started at `actual` (early rounds count as on time)."""
        late = max(0.0, actual - scheduled)
        with self._lock:
            if period_s is not None:
                self.period_s = period_s
            self.count += 1
            self.late_sum_s += late
            self.late_max_s = max(self.late_max_s, late)

    def as_dict(self, reset: bool = False) -> dict[str, float | int]:
        """The record so far; `reset` starts a new measuring window (a benchmark's steady state)."""
        with self._lock:
            mean = self.late_sum_s / self.count if self.count else 0.0
            out: dict[str, float | int] = {
                "period_s": self.period_s,
                "count": self.count,
                "late_mean_ms": round(mean * 1000, 3),
                "late_max_ms": round(self.late_max_s * 1000, 3),
            }
            if reset:
                self.count, self.late_sum_s, self.late_max_s = 0, 0.0, 0.0
            return out
