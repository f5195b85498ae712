"""vmkernel.log / vmkwarning.log lines: `cpuN:WORLD)Module: line: msg`, with the 8.0 `In(182) vmkernel:` tag."""

from __future__ import annotations

import random

from faultlab.sim.esxi.logs.clock import esx_timestamp
from faultlab.sim.esxi.logs.rotate import RotatingLog


def vmkernel_line(profile: str, ts: str, cpu: int, world: int, body: str, *, warning: bool = False) -> str:
    """One vmkernel line; `body` already carries its `Module: NNN: ` prefix (and `WARNING: ` if any)."""
    head = f"cpu{cpu}:{world})"
    if profile == "7.0":
        return f"{ts} {head}{body}"
    tag = "Wa(180) vmkwarning:" if warning else "In(182) vmkernel:"
    return f"{ts} {tag} {head}{body}"


class VmkernelLog:
    """Writes vmkernel.log; WARNING/ALERT lines are copied to vmkwarning.log as ESXi does."""

    def __init__(self, profile: str, kernel: RotatingLog, warning: RotatingLog, ncpu: int = 8) -> None:
        self.profile = profile
        self._kernel = kernel
        self._warning = warning
        self._ncpu = ncpu
        self._rng = random.Random()

    def world(self, name: str) -> int:
        """A stable world id per kernel world name (7.0/8.0 world ids are ~2.09 million and up)."""
        return 2097152 + sum(name.encode()) * 37 % 9000

    def log(self, world: str, body: str, *, warning: bool = False, lines: list[str] | None = None) -> None:
        """Log `body` (and continuation `lines`, same header) from `world`; `warning` prefixes WARNING:."""
        ts = esx_timestamp()
        cpu = self._rng.randrange(self._ncpu)
        wid = self.world(world)
        text = f"WARNING: {body}" if warning else body
        out = [vmkernel_line(self.profile, ts, cpu, wid, text, warning=warning)]
        out += [vmkernel_line(self.profile, ts, cpu, wid, extra, warning=warning) for extra in lines or []]
        self._kernel.write_lines(out)
        if warning:
            self._warning.write_lines(out)
