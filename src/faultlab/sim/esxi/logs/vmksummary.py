"""vmksummary.log: `bootstop: Host has booted` at start, `heartbeat: up ..., N VMs; [..] []` periodically."""

from __future__ import annotations

from faultlab.sim.esxi.logs.clock import Uptime, esx_timestamp
from faultlab.sim.esxi.logs.rotate import RotatingLog


class VmksummaryLog:
    """7.0 writes bare program names; 8.0 adds the pid tag (`bootstop[137121]:`), no In(NN) severity."""

    def __init__(self, profile: str, sink: RotatingLog, uptime: Uptime, pid: int) -> None:
        self.profile = profile
        self._sink = sink
        self._uptime = uptime
        self._pid = pid

    def _tag(self, program: str) -> str:
        return program if self.profile == "7.0" else f"{program}[{self._pid}]"

    def bootstop(self, what: str) -> None:
        """`what` is one of: Host has booted, Host is rebooting, Host is powering off, Host is halting."""
        self._sink.write_lines([f"{esx_timestamp()} {self._tag('bootstop')}: {what}"])

    def heartbeat(self, vms: list[tuple[int, int]]) -> None:
        """`vms` = (world id, memory kB) of each running vmx."""
        mem = " ".join(f"[{wid} vmx {kb}kB]" for wid, kb in vms)
        line = f"{esx_timestamp()} {self._tag('heartbeat')}: up {self._uptime.dhms()}, {len(vms)} VMs; [{mem}] []"
        self._sink.write_lines([line])
