"""The Service Console's memory, fed by the real processes of the simulated host, and vmnixhbd's heartbeat.

KB 308590: "The Service Console Linux kernel runs a process called vmnixhbd, which heartbeats the VMkernel as long
as it is able to allocate and free a page of memory. If no heartbeats are received before a timeout period of 30
minutes, the VMkernel triggers a COS Oops and a purple diagnostics screen that mentions a Lost Heartbeat."

The COS holds MemTotal kB of RAM and SwapTotal kB of swap (the KB's host: 799732 / 554168). What it uses is the base
system, the standing VMware agents (sizes below, from the KBs' vmksummary lines) and every real process running in
the host's network namespace (sshd, shells, a memory-leak fault's process), read from /proc/<pid>/status. In the fast
timing profile the growth of a real process since it was first seen counts `growth_scale` times, so a leak of a few
MB on the lab machine stands for hundreds of MB in the COS (labelled as such wherever a figure is shown).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

PAGE_KB = 4
HEARTBEAT_TIMEOUT_MIN = 30  # KB 308590: "a timeout period of 30 minutes ... This timeout period is not configurable"


@dataclass(frozen=True, slots=True)
class Proc:
    """One COS process: pid, name (comm), resident and virtual size in kB."""

    pid: int
    comm: str
    rss_kb: int
    vsz_kb: int
    agent: bool = False  # a standing VMware agent of the model, not a real process


# Standing agents (pid, comm, RSS kB, VSZ kB). VSZ from the real vmksummary lines: vmware-h-82812 and webAcces-27332
# (KB 308590), vpxa-16504 (KB 340494), sfcbd-7660 (KB 1019238). RSS is not in any sample: about half the VSZ is
# assumed. VMap (HA's agent) and vmnixhbd have no sample of their healthy size: assumed small. vmnixhbd's pid 20 is
# the KB's "comm=vmnixhbd pid=20".
STANDING_AGENTS: tuple[Proc, ...] = (
    Proc(20, "vmnixhbd", 400, 1540, agent=True),
    Proc(3120, "vmware-hostd", 41000, 82812, agent=True),
    Proc(3411, "webAccess", 13000, 27332, agent=True),
    Proc(3560, "vpxa", 8200, 16504, agent=True),
    Proc(3602, "sfcbd", 3800, 7660, agent=True),
    Proc(3710, "VMap", 9000, 18240, agent=True),
)
BASE_KB = 96 * 1024  # kernel, init, syslogd, crond, page cache floor: no sample, assumed
MIN_FREE_KB = 4 * 1024  # the kernel keeps a few MB free (min_free_kbytes): below it, swap is used


def _status(pid: int) -> tuple[str, int, int] | None:
    """(comm, VmRSS kB, VmSize kB) of a live process, None if it vanished or is a kernel thread."""
    try:
        text = Path(f"/proc/{pid}/status").read_text(errors="replace")
    except OSError:
        return None
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        values[key] = value.strip()
    if "VmRSS" not in values:
        return None
    return values.get("Name", "?"), int(values["VmRSS"].split()[0]), int(values.get("VmSize", "0 kB").split()[0])


def netns_pids(exclude: Iterable[int] = ()) -> list[int]:
    """Pids sharing this process's network namespace: the processes of the simulated host's COS."""
    mine = os.readlink("/proc/self/ns/net")
    skip = set(exclude)
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in skip:
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/net") == mine:
                out.append(int(entry))
        except OSError:
            continue
    return sorted(out)


def real_processes(pids: Iterable[int]) -> list[Proc]:
    out = []
    for pid in pids:
        st = _status(pid)
        if st is not None:
            out.append(Proc(pid, st[0], st[1], st[2]))
    return out


@dataclass(frozen=True, slots=True)
class MemState:
    """The COS's memory at one moment (kB): what /proc/meminfo and vmksummary show."""

    mem_total_kb: int
    swap_total_kb: int
    demand_kb: int
    mem_used_kb: int
    swap_used_kb: int
    procs: tuple[Proc, ...]

    @property
    def exhausted(self) -> bool:
        """RAM and swap are full: vmnixhbd cannot allocate its page."""
        return self.demand_kb >= self.mem_total_kb - MIN_FREE_KB + self.swap_total_kb

    @property
    def mem_free_kb(self) -> int:
        return self.mem_total_kb - self.mem_used_kb

    @property
    def swap_free_kb(self) -> int:
        return self.swap_total_kb - self.swap_used_kb

    def top(self, n: int = 3) -> list[Proc]:
        """The biggest consumers by virtual size (vmksummary's "VMap-586196" is virtual memory in KB)."""
        return sorted(self.procs, key=lambda p: p.vsz_kb, reverse=True)[:n]


@dataclass
class CosMemory:
    """The memory model; `sample()` reads the real processes through `scan` (netns_pids + /proc by default)."""

    mem_total_kb: int = 799732  # KB 308590's MemTotal
    swap_total_kb: int = 554168  # KB 308590's SwapTotal
    growth_scale: float = 1.0  # fast profile: a real process's growth since first seen counts this many times
    exclude: tuple[int, ...] = ()  # the simulator's own pid(s): the VMkernel's stand-in, not a COS process
    scan: Callable[[], list[Proc]] | None = None
    agents: tuple[Proc, ...] = STANDING_AGENTS
    settle_s: float = 2.0  # a process's growth counts scaled only from its size this long after first seen
    clock: Callable[[], float] = time.monotonic
    _first: dict[tuple[int, str], tuple[int, int, float]] = field(default_factory=dict)

    def _scaled(self, p: Proc) -> Proc:
        """A starting process (sshd session, a command's python loading its modules) grows for a moment: its baseline
        follows its real size until it has run `settle_s`; only growth after that is scaled."""
        now = self.clock()
        rss0, vsz0, seen = self._first.setdefault((p.pid, p.comm), (p.rss_kb, p.vsz_kb, now))
        if now - seen < self.settle_s:
            self._first[(p.pid, p.comm)] = (p.rss_kb, p.vsz_kb, seen)
            return p
        k = self.growth_scale
        rss = rss0 + int(max(0, p.rss_kb - rss0) * k)
        vsz = vsz0 + int(max(0, p.vsz_kb - vsz0) * k)
        return Proc(p.pid, p.comm, rss, vsz)

    def sample(self) -> MemState:
        found = self.scan() if self.scan is not None else real_processes(netns_pids(self.exclude))
        real = [self._scaled(p) for p in found]
        live = {(p.pid, p.comm) for p in found}
        self._first = {k: v for k, v in self._first.items() if k in live}
        # A real process named like a standing agent (the memory-leak fault's "VMap") replaces the agent.
        names = {p.comm for p in real}
        procs = tuple(a for a in self.agents if a.comm not in names) + tuple(real)
        demand = BASE_KB + sum(p.rss_kb for p in procs)
        mem_used = min(demand, self.mem_total_kb - MIN_FREE_KB)
        swap_used = min(self.swap_total_kb, demand - mem_used)
        return MemState(self.mem_total_kb, self.swap_total_kb, demand, mem_used, swap_used, procs)


@dataclass
class Heartbeat:
    """vmnixhbd's heartbeat as the VMkernel sees it. `minute_s` is one minute of the 30-minute timeout (60 s on a
    real host; scaled in the fast profile). `observe` is called with the monotonic time and whether vmnixhbd could
    allocate and free its page; it returns the alert minutes reached (29, 30) so the caller logs each once."""

    minute_s: float = 60.0
    last_ok: float | None = None
    alerted: set[int] = field(default_factory=set)

    @property
    def timeout_s(self) -> float:
        return HEARTBEAT_TIMEOUT_MIN * self.minute_s

    def observe(self, now: float, can_allocate: bool) -> list[int]:
        if self.last_ok is None or can_allocate:
            self.last_ok = now
            self.alerted.clear()
            return []
        missed = int((now - self.last_ok) // self.minute_s)
        # KB 308590 shows the VMkernel's alert at t=29 and t=30 (one minute apart), then the purple screen at 30.
        new = [t for t in (HEARTBEAT_TIMEOUT_MIN - 1, HEARTBEAT_TIMEOUT_MIN) if missed >= t and t not in self.alerted]
        self.alerted.update(new)
        return new

    @property
    def lost(self) -> bool:
        return HEARTBEAT_TIMEOUT_MIN in self.alerted
