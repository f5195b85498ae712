"""One time-ordered view of the events of several logs and hosts, corrected for clock skew, with anchors."""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from faultlab.assertions.durations import format_seconds
from faultlab.assertions.model import Event

# Field keys whose integer values read better in hex (bugcheck codes and their parameters).
_HEX_KEYS = frozenset({"code", "bugcheck", "param1", "param2", "param3", "param4", "sense"})
_GLOB_CHARS = frozenset("*?[")


def as_utc(value: datetime) -> datetime:
    """Event times are UTC; a naive time from a parser is taken as UTC so comparisons never crash."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def require_aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{what} must be an aware datetime (UTC), got naive {value.isoformat()}")
    return value


def text_matches(actual: str | None, pattern: str) -> bool:
    """Exact match, or a glob ("naa.6000*", "apd.*") when the pattern has glob characters."""
    if actual is None:
        return False
    if _GLOB_CHARS.intersection(pattern):
        return fnmatch.fnmatchcase(actual, pattern)
    return actual == pattern


def name_matches(name: str, pattern: str) -> bool:
    """Catalog name filter: exact "apd.start", prefix "apd." (trailing dot) or glob "apd.*"."""
    if pattern.endswith(".") and not _GLOB_CHARS.intersection(pattern):
        return name.startswith(pattern)
    return text_matches(name, pattern)


def format_value(key: str, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and key.lower() in _HEX_KEYS:
        return f"0x{value:X}"
    return str(value)


def format_fields(fields: Mapping[str, Any], limit: int = 80) -> str:
    text = " ".join(f"{k}={format_value(k, v)}" for k, v in fields.items())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_time(value: datetime | None) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z") if value else "--:--:--(masked)"


@dataclass(frozen=True, slots=True)
class Entry:
    """One event on the timeline.

    `event` is a copy whose time is corrected by its host's offset (reference clock); `original_time` is
    the time the log showed. `seq` is the position in the merged order. `untimed` events (masked
    timestamps) sit right after the previous timed event of their own file. `primary` is False for a twin
    whose original is on the timeline too, so it is not counted twice.
    """

    event: Event
    original_time: datetime | None
    offset: timedelta
    seq: int
    primary: bool

    @property
    def time(self) -> datetime | None:
        return self.event.time

    @property
    def untimed(self) -> bool:
        return self.event.time is None

    @property
    def name(self) -> str:
        return self.event.name

    @property
    def where(self) -> str:
        """ "esx01:vobd.log:57" - enough for a QA engineer to open the line."""
        host = f"{self.event.host}:" if self.event.host else ""
        return f"{host}{self.event.file}:{self.event.line_no}"

    def to_json(self) -> dict[str, Any]:
        data = self.event.to_json()
        data["original_time"] = format_time(self.original_time) if self.original_time else None
        data["offset_s"] = self.offset.total_seconds()
        data["untimed"] = self.untimed
        data["primary"] = self.primary
        return data


@dataclass(frozen=True, slots=True)
class Row:
    """A plain row for a terminal or HTML timeline: no formatting library needed to print it."""

    time: datetime | None
    original_time: datetime | None
    rel: timedelta | None  # from the origin (first event or an anchor); None when untimed
    rel_text: str  # "+12.0 s", "-3.5 s", "?" when untimed
    host: str
    name: str
    subject: str
    detail: str
    where: str
    untimed: bool
    anchor: bool  # True for harness anchors such as fault.injected
    twin: bool

    def as_tuple(self) -> tuple[str, str, str, str, str, str]:
        return (format_time(self.time), self.rel_text, self.host, self.name, self.subject, self.detail)


def _sort_entries(events: Sequence[Event], offsets: Mapping[str, timedelta]) -> list[tuple[Event, Event]]:
    """Return (corrected copy, original) pairs in merged order.

    Timed events sort by corrected time, stable on input order. An untimed event gets the sort key of the
    previous timed event of its file (plus its rank), or, with none before it, of the next timed one (before
    it); a file without any timed event goes to the end in input order.
    """
    corrected: list[Event] = []
    for ev in events:
        if ev.time is None:
            corrected.append(dataclasses.replace(ev, fields=dict(ev.fields)))
        else:
            off = offsets.get(ev.host, timedelta(0))
            corrected.append(dataclasses.replace(ev, time=as_utc(ev.time) + off, fields=dict(ev.fields)))

    far = datetime.max.replace(tzinfo=UTC)
    # key: (time, input index of the timed anchor event, sub-rank within untimed run)
    keys: list[tuple[datetime, int, float]] = [(far, i, 0.0) for i in range(len(events))]
    by_file: dict[tuple[str, str], list[int]] = {}
    for i, ev in enumerate(events):
        by_file.setdefault((ev.host, ev.file), []).append(i)
    for idxs in by_file.values():
        idxs.sort(key=lambda i: (events[i].line_no, i))
        timed = [i for i in idxs if corrected[i].time is not None]
        prev: int | None = None
        rank = 0
        pending: list[int] = []  # untimed events before the first timed one of the file
        for i in idxs:
            t = corrected[i].time
            if t is not None:
                keys[i] = (t, i, 0.0)
                for j, p in enumerate(pending):
                    keys[p] = (t, i, -1.0 + j / (len(pending) + 1))
                pending = []
                prev, rank = i, 0
            elif prev is not None:
                rank += 1
                keys[i] = (keys[prev][0], prev, float(rank))
            else:
                pending.append(i)
        if not timed:
            for p in pending:
                keys[p] = (far, p, 0.0)
    order = sorted(range(len(events)), key=lambda i: (keys[i], i))
    return [(corrected[i], events[i]) for i in order]


class Timeline:
    """Events of several logs and hosts merged in (skew-corrected) time order, plus named anchors.

    Build with `Timeline.build(events, offsets)`: `offsets[host]` is ADDED to that host's log times to put
    them on the reference (harness) clock, e.g. a host whose clock runs 2 s ahead gets -2 s. Views made by
    `select()` / `primary()` keep the entries' positions (`seq`) and share nothing mutable with the source.
    The constructor takes entries as `build()` made them (merged order; the checks rely on timed entries
    being in time order by `seq`).
    """

    def __init__(self, entries: Sequence[Entry], anchors: Mapping[str, datetime] | None = None) -> None:
        self._entries = tuple(entries)
        self._anchors: dict[str, datetime] = dict(anchors or {})

    @classmethod
    def build(
        cls,
        events: Iterable[Event],
        offsets: Mapping[str, timedelta] | None = None,
        anchors: Mapping[str, datetime] | None = None,
    ) -> Timeline:
        evs = list(events)
        offs = dict(offsets or {})
        keys = {ev.key for ev in evs}
        entries = [
            Entry(
                event=copy,
                original_time=orig.time,
                offset=offs.get(orig.host, timedelta(0)) if orig.time is not None else timedelta(0),
                seq=seq,
                # A twin whose original was cut off (log window, rotation) is the only record: keep it.
                primary=orig.twin is None or orig.twin not in keys,
            )
            for seq, (copy, orig) in enumerate(_sort_entries(evs, offs))
        ]
        tl = cls(entries)
        for name, when in (anchors or {}).items():
            tl.anchor(name, when)
        return tl

    # -- anchors ---------------------------------------------------------------------------------------
    def anchor(self, name: str, time: datetime) -> None:
        """Record a named instant that is not a log event ("fault.injected"), on the reference clock."""
        if not name:
            raise ValueError("anchor name must not be empty")
        self._anchors[name] = require_aware(time, f"anchor {name!r}")

    @property
    def anchors(self) -> dict[str, datetime]:
        return dict(self._anchors)

    # -- access ----------------------------------------------------------------------------------------
    @property
    def entries(self) -> tuple[Entry, ...]:
        return self._entries

    def events(self) -> list[Event]:
        return [e.event for e in self._entries]

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def primary(self) -> Timeline:
        """Without twins: each observation once."""
        return Timeline([e for e in self._entries if e.primary], self._anchors)

    def untimed(self) -> list[Entry]:
        return [e for e in self._entries if e.untimed]

    def select(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        hosts: Iterable[str] | None = None,
        names: Iterable[str] | None = None,
        subject: str | None = None,
        keep_untimed: bool = True,
    ) -> Timeline:
        """Filter by time window (inclusive, aware datetimes), hosts, names ("apd.start", "apd.", "apd.*")
        and subject (exact or glob). Untimed events cannot be placed in a window: kept unless told not to."""
        lo = require_aware(since, "since") if since is not None else None
        hi = require_aware(until, "until") if until is not None else None
        host_pats = list(hosts) if hosts is not None else None
        name_pats = list(names) if names is not None else None

        def keep(e: Entry) -> bool:
            t = e.time
            if t is None:
                if (lo is not None or hi is not None) and not keep_untimed:
                    return False
            elif (lo is not None and t < lo) or (hi is not None and t > hi):
                return False
            if host_pats is not None and not any(text_matches(e.event.host, p) for p in host_pats):
                return False
            if name_pats is not None and not any(name_matches(e.name, p) for p in name_pats):
                return False
            return subject is None or text_matches(e.event.subject, subject)

        return Timeline([e for e in self._entries if keep(e)], self._anchors)

    def first_time(self) -> datetime | None:
        return next((e.time for e in self._entries if e.time is not None), None)

    # -- rendering -------------------------------------------------------------------------------------
    def render_rows(
        self, origin: str | datetime | None = None, *, include_anchors: bool = True, include_twins: bool = False
    ) -> list[Row]:
        """Plain rows in time order; `rel` counts from `origin` (an anchor name, a time, or the first event)."""
        if isinstance(origin, str):
            if origin not in self._anchors:
                raise ValueError(f"unknown anchor {origin!r} (known: {', '.join(sorted(self._anchors))})")
            zero: datetime | None = self._anchors[origin]
        elif isinstance(origin, datetime):
            zero = require_aware(origin, "origin")
        else:
            zero = self.first_time()
            if zero is None and self._anchors:
                zero = min(self._anchors.values())

        def rel(t: datetime | None) -> tuple[timedelta | None, str]:
            if t is None or zero is None:
                return None, "?"
            d = t - zero
            sign = "-" if d < timedelta(0) else "+"
            return d, sign + format_seconds(abs(d))

        rows: list[tuple[tuple[datetime, int, int], Row]] = []
        last_key = (datetime.min.replace(tzinfo=UTC), -1, 0)
        for e in self._entries:
            if not e.primary and not include_twins:
                continue
            d, text = rel(e.time)
            detail = format_fields(e.event.fields) or e.event.raw.strip()[:80]
            row = Row(
                time=e.time,
                original_time=e.original_time,
                rel=d,
                rel_text=text,
                host=e.event.host,
                name=e.name,
                subject=e.event.subject or "",
                detail=detail,
                where=e.where,
                untimed=e.untimed,
                anchor=False,
                twin=not e.primary,
            )
            # Untimed rows keep the key of the row before them so anchors never split them from it.
            key = (e.time, e.seq, 1) if e.time is not None else (last_key[0], e.seq, 1)
            last_key = key
            rows.append((key, row))
        if include_anchors:
            for name, t in self._anchors.items():
                d, text = rel(t)
                row = Row(t, t, d, text, "", name, "", "anchor", "", False, True, False)
                # An anchor goes before events of the same instant: "healed" precedes what follows it.
                rows.append(((t, -1, 0), row))
        rows.sort(key=lambda kr: kr[0])
        return [r for _, r in rows]
