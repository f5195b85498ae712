"""hostd.log lines: 7.0 `info hostd[tid] [Originator@6876 sub=..]`, 8.0 `In(166) Hostd[tid]: [Originator@6876 ..]`."""

from __future__ import annotations

import threading

from faultlab.sim.esxi.logs.clock import esx_timestamp
from faultlab.sim.esxi.logs.rotate import RotatingLog

# 7.0 level word -> 8.0 severity tag (facility local4: PRI = 160 + severity).
SEVERITY_80 = {"verbose": "Db(167)", "info": "In(166)", "warning": "Wa(164)", "error": "Er(163)"}


def hostd_line(profile: str, ts: str, level: str, tid: int, sub: str, msg: str, op_id: str | None = None) -> str:
    tags = f"[Originator@6876 sub={sub}" + (f" opID={op_id}" if op_id else "") + "]"
    if profile == "7.0":
        return f"{ts} {level} hostd[{tid}] {tags} {msg}"
    return f"{ts} {SEVERITY_80[level]} Hostd[{tid}]: {tags} {msg}"


class HostdLog:
    """Writes hostd lines; `event()` numbers host events as hostd's ha-eventmgr does (`Event N : ...`)."""

    def __init__(self, profile: str, sink: RotatingLog, first_event: int = 3000) -> None:
        self.profile = profile
        self._sink = sink
        self._next_event = first_event
        self._lock = threading.Lock()

    def log(self, level: str, tid: int, sub: str, msg: str, op_id: str | None = None) -> None:
        self._sink.write_lines([hostd_line(self.profile, esx_timestamp(), level, tid, sub, msg, op_id)])

    def event(self, tid: int, message: str) -> int:
        """Log `Event N : message` from Vimsvc.ha-eventmgr and return N (the event key)."""
        with self._lock:
            key = self._next_event
            self._next_event += 1
        self.log("info", tid, "Vimsvc.ha-eventmgr", f"Event {key} : {message}")
        return key
