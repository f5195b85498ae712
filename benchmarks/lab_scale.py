"""Benchmark: embedded lab up/down times, idle CPU, and the largest lab whose state machines stay on time.

1. `lab up` / `lab down` wall times for 1 ESXi host + 2 VMs (hosts started), median of --repeat runs.
2. CPU of an idle lab of 1 host, 1 NFS node, 1 iSCSI node and 2 VMs over --idle seconds, from
   /proc/<pid>/stat of every process in the lab's namespaces, per program and in total.
3. Grows hosts x VMs per host (--steps; at most 9 hosts, topology.MAX_HOSTS) and, per size, after the VMs run, measures for --window seconds the
   lateness of every periodic state machine (the hosts' `stats` control command: NFS heartbeat, VMFS heartbeat,
   APD timer ticks, guest I/O). A size is ON TIME when no heartbeat round starts later than --max-late of its
   period, no guest I/O takes longer than --max-late of the guest's disk TimeOutValue, and no APD or guest
   crash happened without a fault; growth stops at the first size that is not.
Every lab it makes is torn down (context managers; also on Ctrl-C). Needs root, like `faultlab lab up`.

    sudo .venv/bin/python benchmarks/lab_scale.py [--repeat 3] [--idle 20] [--window 20] [--steps 1x2,2x4,...,9x24]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from faultlab.sim.errors import EmbeddedLabError
from faultlab.sim.esxi.commands.control import ControlError, call
from faultlab.sim.kernel import netns
from faultlab.sim.lab import EmbeddedLab
from faultlab.sim.nodes.esxinode import control_socket

CLK_TCK = os.sysconf("SC_CLK_TCK")
# Judged against --max-late of their period; guest.disk_io's "lateness" is the I/O time, its period the guest's
# disk TimeOutValue (an I/O that long dooms the guest).
JUDGED = ("nfs.heartbeat", "vmfs.heartbeat", "guest.disk_io")


def proc_cpu(pid: int) -> tuple[str, float] | None:
    """(program name, user+system CPU seconds) of a process, None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return None
    comm = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return comm, (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15 of stat)


def lab_cpu(lab: EmbeddedLab) -> dict[int, tuple[str, float]]:
    out: dict[int, tuple[str, float]] = {}
    for ns in lab.manifest.namespaces:
        for pid in netns.netns_pids(ns):
            got = proc_cpu(pid)
            if got is not None:
                out[pid] = got
    return out


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


@dataclass
class CpuWindow:
    seconds: float
    by_program: dict[str, float]  # CPU % of one core
    total_pct: float
    machine_pct: float  # whole machine busy, % of all cores (other labs and tests included)


def measure_cpu(lab: EmbeddedLab, seconds: float) -> CpuWindow:
    before, (busy0, total0) = lab_cpu(lab), machine_busy()
    start = time.monotonic()
    time.sleep(seconds)  # the measuring window itself
    elapsed = time.monotonic() - start
    after, (busy1, total1) = lab_cpu(lab), machine_busy()
    by_program: dict[str, float] = {}
    for pid, (comm, cpu) in after.items():
        used = cpu - before[pid][1] if pid in before else cpu
        name = "esxi-host(python)" if comm.startswith("python") else comm
        by_program[name] = by_program.get(name, 0.0) + used / elapsed * 100
    total = sum(by_program.values())
    machine = (busy1 - busy0) / max(1, total1 - total0) * 100
    return CpuWindow(elapsed, dict(sorted(by_program.items(), key=lambda kv: -kv[1])), total, machine)


def host_sockets(lab: EmbeddedLab) -> list[str]:
    return [str(control_socket(n)) for n in lab.layout.esxi_nodes]


def wait_vms_running(lab: EmbeddedLab, timeout_s: float) -> float:
    """Seconds until every VM's guest did I/O (from the hosts' stats); EmbeddedLabError past `timeout_s`."""
    start = time.monotonic()
    while True:
        ready = True
        for sock in host_sockets(lab):
            try:
                machines = call(sock, "stats", timeout_s=10)["machines"]
            except ControlError:
                ready = False
                break
            ios = [m for k, m in machines.items() if k.endswith("/guest.io")]
            ready = ready and bool(ios) and all(m["count"] >= 1 for m in ios)
        if ready:
            return time.monotonic() - start
        if time.monotonic() - start > timeout_s:
            raise EmbeddedLabError(f"lab {lab.lab_id}: VMs not all running within {timeout_s:g} s")
        time.sleep(0.2)


@dataclass
class Lateness:
    """Worst figures of one kind of state machine over all hosts/datastores/VMs in a window."""

    period_s: float
    rounds: int
    mean_ms: float
    max_ms: float

    @property
    def max_fraction(self) -> float:
        return self.max_ms / 1000 / self.period_s


def collect(lab: EmbeddedLab, reset: bool) -> tuple[dict[str, Lateness], int, int]:
    """Per machine kind: lateness over all hosts; plus APD starts and guest crashes so far."""
    kinds: dict[str, list[dict[str, Any]]] = {}
    apd = crashes = 0
    for sock in host_sockets(lab):
        stats = call(sock, "stats", timeout_s=10, reset=reset)
        apd += int(stats["apd_starts"])
        crashes += int(stats["guest_crashes"])
        for key, m in stats["machines"].items():
            kinds.setdefault(key.split("/", 1)[1], []).append(m)
    out = {}
    for kind, ms in kinds.items():
        rounds = sum(int(m["count"]) for m in ms)
        mean = sum(m["late_mean_ms"] * m["count"] for m in ms) / rounds if rounds else 0.0
        out[kind] = Lateness(ms[0]["period_s"], rounds, round(mean, 2), max(m["late_max_ms"] for m in ms))
    return out, apd, crashes


@contextmanager
def timed_lab(hosts: int, vms: int) -> Iterator[tuple[EmbeddedLab, float]]:
    start = time.monotonic()
    with EmbeddedLab.up(hosts=hosts, vms=vms) as lab:
        yield lab, time.monotonic() - start


def bench_up_down(repeat: int) -> None:
    ups, downs, readies = [], [], []
    for _ in range(repeat):
        start = time.monotonic()
        lab = EmbeddedLab.create(hosts=1, vms=2)
        try:
            ups.append(time.monotonic() - start)
            readies.append(wait_vms_running(lab, 60) + ups[-1])
        finally:
            start = time.monotonic()
            lab.down()
            downs.append(time.monotonic() - start)
    print(f"lab up   (1 host, 2 VMs; create returns): median {statistics.median(ups):.2f} s  runs {fmt(ups)}")
    print(f"lab up   until both guests do I/O:        median {statistics.median(readies):.2f} s  runs {fmt(readies)}")
    print(f"lab down:                                 median {statistics.median(downs):.2f} s  runs {fmt(downs)}")


def fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def bench_idle(seconds: float) -> None:
    with timed_lab(1, 2) as (lab, _):
        wait_vms_running(lab, 60)
        time.sleep(2)  # let the boot settle before the window (mount, first heartbeats, VMX start)
        cpu = measure_cpu(lab, seconds)
    parts = ", ".join(f"{k} {v:.1f}%" for k, v in cpu.by_program.items() if v >= 0.05)
    print(
        f"idle CPU over {cpu.seconds:.0f} s, 1 host + NFS + iSCSI + 2 VMs: {cpu.total_pct:.1f}% of one core ({parts})"
    )
    print(f"  machine busy meanwhile (all processes, {os.cpu_count()} cores): {cpu.machine_pct:.1f}%")


def bench_scale(steps: list[tuple[int, int]], window: float, max_late: float) -> None:
    best: str | None = None
    print(
        f"scale: window {window:g} s per size; on time = heartbeat lateness and guest I/O time <= {max_late:.0%} of period, no APD/BSOD"
    )
    for hosts, per_host in steps:
        label = f"{hosts}x{per_host}"
        try:
            with timed_lab(hosts, hosts * per_host) as (lab, up_s):
                ready_s = wait_vms_running(lab, 120)
                collect(lab, reset=True)  # the window starts now: boot-time contention is not steady state
                cpu = measure_cpu(lab, window)
                kinds, apd, crashes = collect(lab, reset=False)
        except (EmbeddedLabError, ControlError) as exc:
            print(f"  {label}: lab failed: {exc}")
            break
        late = {k: v for k, v in kinds.items() if k in JUDGED}
        on_time = all(v.max_fraction <= max_late and v.rounds > 0 for v in late.values()) and apd == crashes == 0
        figures = "; ".join(
            f"{k} {v.period_s:g}s x{v.rounds}: mean {v.mean_ms:.1f} max {v.max_ms:.1f} ms" for k, v in kinds.items()
        )
        print(
            f"  {label} ({hosts} hosts, {hosts * per_host} VMs): up {up_s:.1f} s, VMs running +{ready_s:.2f} s, "
            f"lab CPU {cpu.total_pct:.0f}% of a core, machine {cpu.machine_pct:.0f}%; APD {apd}, BSOD {crashes}; "
            f"{'ON TIME' if on_time else 'LATE'}\n    {figures}"
        )
        if not on_time:
            break
        best = f"{label} ({figures})"
    print(f"largest on-time lab: {best or 'none'}")


def parse_steps(text: str) -> list[tuple[int, int]]:
    out = []
    for item in text.split(","):
        h, v = item.lower().split("x")
        out.append((int(h), int(v)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--idle", type=float, default=20.0, help="idle CPU window, seconds")
    parser.add_argument("--window", type=float, default=20.0, help="lateness window per size, seconds")
    parser.add_argument(
        "--steps", default="1x2,2x4,4x4,6x6,9x8,9x12,9x16,9x24", help="hosts x VMs per host, comma separated"
    )
    parser.add_argument("--max-late", type=float, default=0.2, help="heartbeat lateness bound, fraction of period")
    parser.add_argument("--skip", default="", help="comma separated parts to skip: updown,idle,scale")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("lab_scale: the embedded lab needs root: sudo .venv/bin/python benchmarks/lab_scale.py", file=sys.stderr)
        return 2
    skip = set(filter(None, args.skip.split(",")))
    print(f"machine: {os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if "updown" not in skip:
        bench_up_down(args.repeat)
    if "idle" not in skip:
        bench_idle(args.idle)
    if "scale" not in skip:
        bench_scale(parse_steps(args.steps), args.window, args.max_late)
    return 0


if __name__ == "__main__":
    sys.exit(main())
