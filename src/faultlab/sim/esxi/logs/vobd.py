"""vobd.log lines: `[Correlator] <uptime>us: [event.id] text` (5.x-7.0 `ts: ` / 8.0 `In(14) vobd[pid]:  `)."""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from faultlab.sim.esxi.logs.clock import Uptime, esx_timestamp
from faultlab.sim.esxi.logs.kinds import VOBD_FORWARDED, LineKind
from faultlab.sim.esxi.logs.rotate import RotatingLog


def vobd_line(profile: str, ts: str, pid: int, kind: LineKind, /, **fields: object) -> str:
    if kind.log != "vobd":
        raise TypeError(f"{kind.name} is a {kind.log} line, not a vobd one")
    body = kind.render(**fields)
    if profile == "7.0":
        return f"{ts}: {body}"
    return f"{ts} In(14) vobd[{pid}]:  {body}"


class VobdLog:
    """Writes one observation as its vob.* / esx.* twins, as vobd forwards a VOB to hostd.

    The esx.* twin's uptime comes from another clock than the vob's: real pairs differ by a near constant few
    seconds per host, either sign (KB 323075: -2.33 s on both pairs; VPLEX blog: +3.00 s on both), while the lines
    are written a millisecond or two apart. In 8.0 each forwarded esx.* event is followed by vobd's `The event (...)
    was sent immediately to hostd;` (KB 439361)."""

    def __init__(self, profile: str, sink: RotatingLog, uptime: Uptime, pid: int) -> None:
        self.profile = profile
        self._sink = sink
        self._uptime = uptime
        self._pid = pid
        self._rng = random.Random()
        sign = self._rng.choice((-1, 1))
        self._esx_offset_us = sign * self._rng.randrange(250_000, 3_000_000)
        self._last = datetime.min.replace(tzinfo=UTC)  # a twin written ahead of the clock: never go back
        self._lock = threading.Lock()

    def emit(self, entries: Sequence[tuple[LineKind, Mapping[str, object]]]) -> None:
        """Write (kind, fields) entries in order; `us` is filled in per line."""
        with self._lock:
            self._emit(entries)

    def _emit(self, entries: Sequence[tuple[LineKind, Mapping[str, object]]]) -> None:
        now = max(datetime.now(UTC), self._last)
        lines: list[str] = []
        for kind, fields in entries:
            event = kind.extra.get("event", "")
            us = self._uptime.us()
            if event.startswith("esx."):
                us += self._esx_offset_us + self._rng.randrange(-4000, 4000)
                now += timedelta(microseconds=self._rng.randrange(1000, 2600))  # the next ms or two
            ts = esx_timestamp(now)
            lines.append(vobd_line(self.profile, ts, self._pid, kind, us=us, **fields))
            if event.startswith("esx.") and self.profile == "8.0":
                message = kind.render(us=0, **fields).split(f"[{event}] ", 1)[1]
                lines.append(vobd_line(self.profile, ts, self._pid, VOBD_FORWARDED, event=event, message=message))
        self._last = now
        self._sink.write_lines(lines)
