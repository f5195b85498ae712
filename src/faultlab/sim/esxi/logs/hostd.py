"""hostd.log lines: 7.0 `info hostd[tid] [Originator@6876 sub=..]`, 8.0 `In(166) Hostd[tid]: [Originator@6876 ..]`."""

from __future__ import annotations

import random
import threading

from faultlab.sim.esxi.logs.clock import esx_timestamp
from faultlab.sim.esxi.logs.kinds import HOSTD_EVENT, HOSTD_SECTION, LineKind
from faultlab.sim.esxi.logs.rotate import RotatingLog

# 7.0 level word -> 8.0 severity tag (facility local4: PRI = 160 + severity).
SEVERITY_80 = {"verbose": "Db(167)", "info": "In(166)", "warning": "Wa(164)", "error": "Er(163)"}


def hostd_line(profile: str, ts: str, tid: int, kind: LineKind, /, **fields: object) -> str:
    if kind.log != "hostd":
        raise TypeError(f"{kind.name} is a {kind.log} line, not a hostd one")
    body = kind.render(**fields)
    if kind is HOSTD_SECTION:  # the log's header is a bare line (vmware/vic#4384)
        return f"{ts} {body}"
    if profile == "7.0":
        return f"{ts} {kind.level} hostd[{tid}] {body}"
    return f"{ts} {SEVERITY_80[kind.level]} Hostd[{tid}]: {body}"


class HostdLog:
    """Writes hostd lines from a pool of worker threads (the tid changes line to line, KB 392634 shows
    hostd[2104418], [2285231], [2102535] in one window); `event()` numbers host events as ha-eventmgr does."""

    def __init__(self, profile: str, sink: RotatingLog, first_event: int = 3000, base_tid: int = 2099000) -> None:
        self.profile = profile
        self._sink = sink
        self._next_event = first_event
        self._lock = threading.Lock()
        self._rng = random.Random()
        self.tids = sorted(base_tid + self._rng.randrange(0, 9000) for _ in range(7))
        self._next_task = self._rng.randrange(100_000_000, 110_000_000)  # hostd's task counter (HAUC: 108005254)

    def task(self, moref: str, method: str) -> tuple[str, str]:
        """A new task's id `haTask-<moref>-<method>-<n>` and an opID (8 hex digits, as a host client's)."""
        with self._lock:
            self._next_task += self._rng.randrange(3, 40)  # other tasks (stats, sync) run in between
            n = self._next_task
        return f"haTask-{moref}-{method}-{n}", f"{self._rng.getrandbits(32):08x}"

    def tid(self) -> int:
        return self._rng.choice(self.tids)

    def log(self, kind: LineKind, tid: int | None = None, /, **fields: object) -> None:
        line = hostd_line(self.profile, esx_timestamp(), tid if tid is not None else self.tid(), kind, **fields)
        self._sink.write_lines([line])

    def event(self, message: str) -> int:
        """Log `Event N : message` from Vimsvc.ha-eventmgr and return N (the event key)."""
        with self._lock:
            key = self._next_event
            self._next_event += 1
        self.log(HOSTD_EVENT, key=key, message=message)
        return key
