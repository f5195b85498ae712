"""Service Console memory figures: /proc/meminfo parsing and per-process memory trends (KB 308590)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

# "MemTotal:799732 kB" (KB 308590's copy has no space after the colon), "SwapTotal:   554168 kB",
# "HugePages_Total:       0" (a count, no unit).
_MEMINFO_LINE = re.compile(r"^\s*([A-Za-z0-9_()]+):\s*(\d+)\s*(kB)?\s*$")


def parse_meminfo(text: str) -> dict[str, int]:
    """The numbers of a /proc/meminfo text: kB for the `kB` lines, the bare count for the others.

    Lines that are not `Name: number [kB]` (headers, blank lines, mail quoting) are skipped.
    """
    values: dict[str, int] = {}
    for line in text.splitlines():
        match = _MEMINFO_LINE.match(line)
        if match:
            values[match.group(1)] = int(match.group(2))
    return values


@dataclass(frozen=True, slots=True)
class Point:
    """One memory sample of one process: x in hours (real time, or uptime), footprint in kB."""

    hours: float
    mem_kb: int


@dataclass(frozen=True, slots=True)
class Trend:
    """The memory trend of one process over a window of hourly samples."""

    process: str  # display name, e.g. "VMap" or "vmx[2109036]"
    first_kb: int
    last_kb: int
    samples: int
    span_h: float
    slope_kb_per_h: float  # least-squares slope
    growth_pct: float  # (last - first) / first
    rising_steps: int  # sample-to-sample increases
    falling_steps: int

    @property
    def steadily_growing(self) -> bool:
        """Grew over the window and never (or almost never) shrank: the leak shape of KB 308590."""
        if self.samples < 2 or self.last_kb <= self.first_kb or self.slope_kb_per_h <= 0:
            return False
        return self.falling_steps * 4 <= self.rising_steps


def least_squares_slope(points: Sequence[Point]) -> float:
    """kB per hour of the best-fitting line; 0.0 with fewer than two distinct x values."""
    n = len(points)
    if n < 2:
        return 0.0
    mean_x = sum(p.hours for p in points) / n
    mean_y = sum(p.mem_kb for p in points) / n
    var_x = sum((p.hours - mean_x) ** 2 for p in points)
    if var_x == 0:
        return 0.0
    cov = sum((p.hours - mean_x) * (p.mem_kb - mean_y) for p in points)
    return cov / var_x


def trend_of(process: str, points: Sequence[Point]) -> Trend:
    """The trend of one process from its samples (in sample order)."""
    first, last = points[0], points[-1]
    steps = list(itertools.pairwise(points))
    growth = (last.mem_kb - first.mem_kb) / first.mem_kb * 100 if first.mem_kb else 0.0
    return Trend(
        process=process,
        first_kb=first.mem_kb,
        last_kb=last.mem_kb,
        samples=len(points),
        span_h=last.hours - first.hours,
        slope_kb_per_h=least_squares_slope(points),
        growth_pct=growth,
        rising_steps=sum(1 for a, b in steps if b.mem_kb > a.mem_kb),
        falling_steps=sum(1 for a, b in steps if b.mem_kb < a.mem_kb),
    )


def percent(part: float, whole: float) -> float:
    """part / whole in percent, rounded to one decimal; 0.0 for an empty whole."""
    return round(part / whole * 100, 1) if whole else 0.0
