"""vmkernel.log / vmkwarning.log lines: `cpuN:WORLD)Module: line: msg`, with the 8.0 `In(182) vmkernel:` tag."""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping

from faultlab.sim.esxi.logs.clock import esx_timestamp
from faultlab.sim.esxi.logs.kinds import LineKind
from faultlab.sim.esxi.logs.rotate import RotatingLog


def vmkernel_line(profile: str, ts: str, cpu: int, world: int, kind: LineKind, /, **fields: object) -> str:
    """One vmkernel line of `kind`; a warning-level kind gets `WARNING: ` and, in 8.0, the vmkwarning tag."""
    if kind.log != "vmkernel":
        raise TypeError(f"{kind.name} is a {kind.log} line, not a vmkernel one")
    warning = kind.level == "warning"
    body = ("WARNING: " if warning else "") + kind.render(**fields)
    head = f"cpu{cpu}:{world})"
    if profile == "7.0":
        return f"{ts} {head}{body}"
    tag = "Wa(180) vmkwarning:" if warning else "In(182) vmkernel:"
    return f"{ts} {tag} {head}{body}"


class VmkernelLog:
    """Writes vmkernel.log; WARNING lines are copied to vmkwarning.log as ESXi does."""

    def __init__(self, profile: str, kernel: RotatingLog, warning: RotatingLog, ncpu: int = 8) -> None:
        self.profile = profile
        self._kernel = kernel
        self._warning = warning
        self._ncpu = ncpu
        self._rng = random.Random()
        self._cpus: dict[int, int] = {}
        self._lock = threading.Lock()

    def world(self, name: str) -> int:
        """A stable world id per kernel world name (7.0/8.0 world ids are ~2.09 million and up)."""
        return 2097152 + sum(name.encode()) * 37 % 9000

    def _cpu(self, wid: int) -> int:
        """A world stays on its CPU for a while (HAUC: `cpu0:65641` x3 for the APD_START triple); it migrates
        now and then."""
        with self._lock:
            if wid not in self._cpus or self._rng.random() < 0.15:
                self._cpus[wid] = self._rng.randrange(self._ncpu)
            return self._cpus[wid]

    def log(
        self, world: str | int, kind: LineKind, /, *more: tuple[LineKind, Mapping[str, object]], **fields: object
    ) -> None:
        """Log one `kind` line from `world` (a name or a world id), then `more` (kind, fields) lines with the same
        header (continuations such as the HB state line)."""
        ts = esx_timestamp()
        wid = world if isinstance(world, int) else self.world(world)
        cpu = self._cpu(wid)
        out = [vmkernel_line(self.profile, ts, cpu, wid, kind, **fields)]
        out += [vmkernel_line(self.profile, ts, cpu, wid, k, **f) for k, f in more]
        self._kernel.write_lines(out)
        if kind.level == "warning":
            self._warning.write_lines(out)
