"""Service Console memory figures (KB 308590): /proc/meminfo, vmksummary uptimes and per-process trends."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from faultlab.assertions.model import Event

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


BOOT_LINES_APART_S = 600  # boot lines closer than this belong to one start


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


# Short process names of vmksummary (ESX 3/4 cut them to 8 characters) -> what KB 308590 says they are,
# and whether they ship with ESX/VirtualCenter (decides the KB's next step).
PROCESS_ROLES: tuple[tuple[str, str, bool], ...] = (
    ("vmap", "VMware HA", True),
    ("vmware-h", "vmware-hostd, the core management agent", True),
    ("hostd", "hostd, the core management agent", True),
    ("webacces", "webAccess, browser-based management", True),
    ("cimserver", "the CIM server (Pegasus; see KB 1009607 for its ESX 3.5 U2 leak)", True),
    ("sfcb", "the CIM broker", True),
    ("vpxa", "the vCenter agent", True),
    ("snmpd", "the SNMP agent", True),
    ("vmx", "a virtual machine's VMX process", True),
)


def process_role(name: str) -> tuple[str, bool] | None:
    """(what the process is, ships with VMware) for a known vmksummary short name, else None."""
    low = name.lower()
    for prefix, role, vmware in PROCESS_ROLES:
        if low.startswith(prefix):
            return role, vmware
    return None


def stamp(e: Event) -> float | None:
    """Seconds since the epoch: the event's time, else the ESX 3/4 "(epoch)" field."""
    if e.time is not None:
        return _utc(e.time).timestamp()
    epoch = e.fields.get("epoch")
    return float(epoch) if isinstance(epoch, int | float) else None


@dataclass(slots=True)
class Segment:
    """The samples of one uptime of a host, and how that uptime ended."""

    samples: list[Event] = field(default_factory=list)
    shutdown: Event | None = None
    end: Event | None = None  # the boot (or uptime reset sample) that started the next uptime
    unclean: bool = False


def timeline_order(events: Sequence[Event]) -> list[Event]:
    """Samples, boots and stops in order: by clock when every one has one, else by file position."""
    if all(stamp(e) is not None for e in events):
        return sorted(events, key=lambda e: (stamp(e) or 0.0, e.file, e.line_no))
    return sorted(events, key=lambda e: (e.file, e.line_no))


def _same_start(boot: Event, prev: Event | None) -> bool:
    """ESX 3/4 log two lines per start ("Starting system..." then "loaded VMkernel"): one boot, not two."""
    if prev is None or prev.name != "host.boot":
        return False
    a, b = stamp(prev), stamp(boot)
    return a is None or b is None or b - a <= BOOT_LINES_APART_S


def _restarted_between(a: Event | None, b: Event) -> bool:
    """The uptime went back, or advanced less than the clock did: the host restarted in between."""
    if a is None:
        return False
    up_a, up_b = a.fields.get("uptime_s"), b.fields.get("uptime_s")
    if not isinstance(up_a, int | float) or not isinstance(up_b, int | float):
        return False
    if up_b < up_a:
        return True
    t_a, t_b = stamp(a), stamp(b)
    return t_a is not None and t_b is not None and (t_b - t_a) - (up_b - up_a) > BOOT_LINES_APART_S


def split_uptimes(timeline: Sequence[Event]) -> list[Segment]:
    """Split samples at boots (or uptime resets); a boot with no shutdown since the host was up is an
    unclean stop (KB 317245)."""
    segments: list[Segment] = []
    cur, host_up = Segment(), False
    prev: Event | None = None
    prev_sample: Event | None = None
    for e in timeline:
        e_prev, prev = prev, e
        if e.name == "host.shutdown":
            cur.shutdown = e
            continue
        if e.name == "host.boot" and _same_start(e, e_prev):
            continue
        reset = e.name == "host.memory.sample" and _restarted_between(prev_sample, e)
        if e.name == "host.boot" or reset:
            cur.end, cur.unclean = e, host_up and cur.shutdown is None
            segments.append(cur)
            cur, prev_sample = Segment(), None
        host_up = True
        if e.name == "host.memory.sample":
            cur.samples.append(e)
            prev_sample = e
    segments.append(cur)
    return segments


def sample_hours(samples: Sequence[Event]) -> list[float]:
    """x of each sample in hours: real time when all have it, else the uptime."""
    stamps = [stamp(s) for s in samples]
    if all(s is not None for s in stamps):
        return [(s or 0.0) / 3600 for s in stamps]
    return [float(s.fields.get("uptime_s") or 0.0) / 3600 for s in samples]


def process_sizes(sample: Event) -> list[tuple[str, int]]:
    """(series key, kB) per process of one sample; ESX 3/4 repeats short names, so count them."""
    seen: dict[str, int] = {}
    out = []
    for p in sample.fields.get("processes") or []:
        name = str(p.get("name"))
        if p.get("id") is not None:
            key = f"{name}[{p['id']}]"
        else:
            seen[name] = seen.get(name, 0) + 1
            key = name if seen[name] == 1 else f"{name}#{seen[name]}"
        out.append((key, int(p.get("mem_kb") or 0)))
    return out


def memory_trends(samples: Sequence[Event]) -> list[Trend]:
    """Per process of the last sample, its trend over the samples (in order), largest first."""
    if not samples:
        return []
    series: dict[str, list[Point]] = {}
    for x, sample in zip(sample_hours(samples), samples, strict=True):
        for key, kb in process_sizes(sample):
            series.setdefault(key, []).append(Point(x, kb))
    last = [key for key, _ in process_sizes(samples[-1])]
    trends = [trend_of(key, series[key]) for key in last]
    return sorted(trends, key=lambda t: t.last_kb, reverse=True)


def base_name(key: str) -> str:
    """The process name of a series key: "vmx[2109036]" -> "vmx", "sfcbd#2" -> "sfcbd"."""
    return re.split(r"[\[#]", key, maxsplit=1)[0]
