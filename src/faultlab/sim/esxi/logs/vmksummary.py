"""vmksummary.log: `bootstop: Host has booted` at start, `heartbeat: up ..., N VMs; [..] []` hourly."""

from __future__ import annotations

from datetime import UTC, datetime

from faultlab.sim.esxi.logs.clock import Uptime, esx_timestamp
from faultlab.sim.esxi.logs.kinds import VMKSUMMARY_BOOTSTOP, VMKSUMMARY_HEARTBEAT, LineKind
from faultlab.sim.esxi.logs.rotate import RotatingLog


def vmksummary_line(profile: str, ts: datetime, pid: int, kind: LineKind, /, **fields: object) -> str:
    """7.0 (like 5.x/6.x, KB 2004566): seconds only and a bare program name; 8.0: milliseconds and the pid tag
    (KB 317245 `heartbeat[14118500]:`)."""
    if kind.log != "vmksummary":
        raise TypeError(f"{kind.name} is a {kind.log} line, not a vmksummary one")
    program = kind.extra["program"]
    body = kind.render(**fields)
    if profile == "7.0":
        return f"{ts.strftime('%Y-%m-%dT%H:%M:%SZ')} {program}: {body}"
    return f"{esx_timestamp(ts)} {program}[{pid}]: {body}"


class VmksummaryLog:
    """bootstop and the hourly heartbeat of one host."""

    def __init__(self, profile: str, sink: RotatingLog, uptime: Uptime, pid: int) -> None:
        self.profile = profile
        self._sink = sink
        self._uptime = uptime
        self._pid = pid

    def bootstop(self, what: str) -> None:
        """`what` is one of: has booted, is rebooting, is powering off, is halting."""
        self._sink.write_lines(
            [vmksummary_line(self.profile, datetime.now(UTC), self._pid, VMKSUMMARY_BOOTSTOP, what=what)]
        )

    def heartbeat(self, procs: list[tuple[int, str, int]], vms: int) -> None:
        """`procs` = the top three (world id, name, memory kB) by memory; `vms` = running VMs."""
        mem = " ".join(f"[{wid} {name} {kb}kB]" for wid, name, kb in procs)
        line = vmksummary_line(
            self.profile,
            datetime.now(UTC),
            self._pid,
            VMKSUMMARY_HEARTBEAT,
            uptime=self._uptime.dhms(),
            count=vms,
            procs=mem,
        )
        self._sink.write_lines([line])
