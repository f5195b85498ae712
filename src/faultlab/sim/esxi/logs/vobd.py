"""vobd.log lines: `[Correlator] <uptime>us: [event.id] text` (5.x-7.0 `ts: ` / 8.0 `In(14) vobd[pid]:  `)."""

from __future__ import annotations

from faultlab.sim.esxi.logs.clock import Uptime, esx_timestamp
from faultlab.sim.esxi.logs.rotate import RotatingLog


def vobd_line(profile: str, ts: str, pid: int, body: str) -> str:
    if profile == "7.0":
        return f"{ts}: {body}"
    return f"{ts} In(14) vobd[{pid}]:  {body}"


class VobdLog:
    """Writes one observation as its vob.* / esx.* twins, as vobd forwards a VOB to hostd."""

    def __init__(self, profile: str, sink: RotatingLog, uptime: Uptime, pid: int) -> None:
        self.profile = profile
        self._sink = sink
        self._uptime = uptime
        self._pid = pid

    def line(self, correlator: str | None, event_id: str, text: str) -> str:
        if correlator is None:
            body = f"No correlator for {event_id}"
        else:
            body = f"[{correlator}] {self._uptime.us()}us: [{event_id}] {text}"
        return vobd_line(self.profile, esx_timestamp(), self._pid, body)

    def emit(self, entries: list[tuple[str | None, str, str]]) -> None:
        """Write (correlator, event id, text) entries in order, one line each."""
        self._sink.write_lines([self.line(corr, eid, text) for corr, eid, text in entries])
