"""Benchmark: `faultlab triage --json -` against `zcat -f | grep -E <catalog union>` on the same generated logs,
and the command line's start-up time.

Generates a realistic ESXi log set (default 1 GB uncompressed; plain logs and rotated .gz parts; the catalog's
events sparse in noise), then times both in pairs in the same run (which one goes first alternates) and prints
for wall time, CPU seconds (user + sys, steadier on a shared machine) and the triage/grep ratio of each pair:
the median, the best and the worst over the runs, then peak memory and the start-up times. Triage's memory
is sampled over its whole process tree (the parent and its forked scan workers, summed: shared pages counted
in each, so an upper bound); grep's is the largest process of its pipeline.
Targets: triage at most 0.5x the grep pipeline's time in the median pair; triage peak RSS under 200 MB whatever
the size; `faultlab --help` and `faultlab triage --help` within 0.35 s.

    .venv/bin/python benchmarks/triage_speed.py [--size-mb 1024] [--dir /var/tmp/faultlab-bench] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from isal import igzip

from faultlab.assertions.catalog import GREP_UNION

T0 = datetime(2026, 11, 20, 0, 0, 0, tzinfo=UTC)

NOISE = {
    "vmkernel": [
        "{t} cpu{c}:{w})ScsiDeviceIO: 3449: Cmd(0x459bc1c67e00) 0x28, CmdSN 0x{n:x} from world 0 to dev "
        '"naa.600a09803831353173244d7069347a6a" failed H:0x0 D:0x2 P:0x0 Valid sense data: 0x6 0x29 0x0.',
        "{t} cpu{c}:{w} opID=be121f44)SchedVsi: 2208: Group: host/user/pool4({n}): min=64382 max=130475 "
        "minLimit=64382 shares=34847, units: mb",
        "{t} cpu{c}:{w})VSCSI: 2611: handle {n}(vscsi0:0):Reset request on FSS handle 2346283 (0 outstanding commands) "
        "from (vmm0:win01)",
        "{t} cpu{c}:{w})Jumpstart plugin swapobjd activated.",
        "{t} cpu{c}:{w})qlnativefc: vmhba4(86:0.0): (6:137): Mid-layer underflow detected (8 of 512 bytes).",
    ],
    "hostd": [
        "{t} info hostd[{w}] [Originator@6876 sub=Vimsvc.TaskManager opID=ecb6776e user=root] Task Created : "
        "haTask-99-vim.VirtualMachine.powerOn-{n}",
        "{t} verbose hostd[{w}] [Originator@6876 sub=PropertyProvider] RecordOp ASSIGN: guest.disk, {c}. "
        "Sent notification immediately.",
        "{t} info hostd[{w}] [Originator@6876 sub=Vimsvc.ha-eventmgr] Event {n} : User dcui@127.0.0.1 logged out "
        "(login time: Tuesday, 22 November, 2016 16:48:36, number of API invocations: 0, user agent: )",
        "{t} info hostd[{w}] [Originator@6876 sub=Vmsvc.vm:/vmfs/volumes/5b2cf72d-c314ef74-0f37-8cdf9d51786c/"
        "vm{c}/vm{c}.vmx] State Transition (VM_STATE_POWERING_ON -> VM_STATE_ON)",
    ],
    "vobd": [
        "{t}: [netCorrelator] {n}us: [vob.net.vmnic.linkstate.up] vmnic vusb0 linkstate up",
        "{t}: [UserLevelCorrelator] {n}us: [vob.user.ssh.session.opened] SSH session was opened for 'root@198.18.0.1'.",
    ],
    "vmware": [
        "{t}| vmx| I125: Vix: [101183 mainDispatch.c:4151]: VMAutomationReportPowerStateChange: Reporting power state "
        "change (opcode=2, err=0).",
        "{t}| svga| I125: MKSScreenShotMgr: Taking a screenshot",
        "{t}| vcpu-0| I125: Guest: toolbox: Version: build-{n}",
    ],
}
SIGNALS = {
    "vmkernel": [
        "{t} cpu0:65641)ScsiDevice: 4993: Device state of naa.60014055c425cd10a874374b415629b3 set to APD_START; "
        "token num:1",
        "{t} cpu0:65642)ScsiDevice: 5036: Device naa.60014055c425cd10a874374b415629b3 is Out of APD; token num:1",
        "{t} cpu28:66292)WARNING: iscsi_vmk: iscsivmk_StopConnection: vmhba64:CH:0 T:0 CN:0: iSCSI connection is "
        'being marked "OFFLINE" (Event:6)',
    ],
    "hostd": [
        '{t} warning hostd[2099995] [Originator@6876 sub=IoTracker] In thread 2099951, access("/vmfs/volumes/'
        '5ee09751-87f3c36e-bb34-bc97e150f532/vm1/vm1.vmx") took over 90 sec.',
    ],
    "vobd": [
        "{t}: [APDCorrelator] {n}us: [vob.storage.apd.start] Device or filesystem with identifier "
        "[naa.60014055c425cd10a874374b415629b3] has entered the All Paths Down state.",
        "{t}: [APDCorrelator] {n}us: [esx.problem.storage.apd.start] Device or filesystem with identifier "
        "[naa.60014055c425cd10a874374b415629b3] has entered the All Paths Down state.",
    ],
    "vmware": ["{t}| vcpu-0| I125: WinBSOD: Synthetic MSR[0x40000100] 0xef"],
}
# (log, file name, share of the total size, gzip?)
LAYOUT = [
    ("vmkernel", "vmkernel.2.gz", 0.10, True),
    ("vmkernel", "vmkernel.1.gz", 0.10, True),
    ("vmkernel", "vmkernel.0.gz", 0.10, True),
    ("vmkernel", "vmkernel.log", 0.20, False),
    ("hostd", "hostd.1.gz", 0.10, True),
    ("hostd", "hostd.0.gz", 0.10, True),
    ("hostd", "hostd.log", 0.15, False),
    ("vobd", "vobd.log", 0.05, False),
    ("vmware", "vmware.log", 0.10, False),
]
SIGNAL_EVERY = 20_000  # one catalog line per this many noise lines


def _stamp(kind: str, t: datetime) -> str:
    s = t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return s


def generate(root: Path, size_mb: int, seed: int = 7) -> list[Path]:
    """Write the log set (idempotent for a given size: reused when the marker matches)."""
    marker = root / f".generated-{size_mb}mb"
    host_dir = root / "esx-bench01-2026-11-20--00.00-1" / "var" / "run" / "log"
    vm_dir = root / "esx-bench01-2026-11-20--00.00-1" / "vmfs" / "volumes" / "ds01" / "win01"
    paths = [(vm_dir if log == "vmware" else host_dir) / name for log, name, _, _ in LAYOUT]
    if marker.exists():
        return paths
    rng = random.Random(seed)
    host_dir.mkdir(parents=True, exist_ok=True)
    vm_dir.mkdir(parents=True, exist_ok=True)
    total = size_mb << 20
    t = T0
    for (log, _name, share, gz), path in zip(LAYOUT, paths, strict=True):
        target = int(total * share)
        written = 0
        noise, signal = NOISE[log], SIGNALS[log]
        out = igzip.open(path, "wb", compresslevel=1) if gz else path.open("wb")
        with out:
            buf: list[str] = []
            i = 0
            while written < target:
                t += timedelta(microseconds=rng.randrange(200, 5000))
                ts = _stamp(log, t)
                tpl = (
                    signal[i // SIGNAL_EVERY % len(signal)]
                    if i % SIGNAL_EVERY == SIGNAL_EVERY - 1
                    else noise[i % len(noise)]
                )
                line = tpl.format(t=ts, c=i % 32, w=2098000 + i % 997, n=i) + "\n"
                buf.append(line)
                written += len(line)
                i += 1
                if len(buf) >= 50_000:
                    out.write("".join(buf).encode())
                    buf.clear()
            out.write("".join(buf).encode())
    marker.touch()
    return paths


def _tree_rss_kb(pid: int) -> int:
    """Summed VmRSS (kB) of a process and all its descendants, from /proc."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += next((int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmRSS:")), 0)
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue  # the process ended between two reads
    return total


@dataclass
class Measure:
    wall: float
    cpu: float  # user + sys of the command and its children
    rss_kb: int  # peak RSS: the largest process (ru_maxrss) or the sampled tree sum, whichever is larger


CHILD_ENV: dict[str, str] | None = None  # the measured commands' environment (None: this one's)


def _run(cmd: list[str], sample_tree: bool = False) -> Measure:
    """Wall seconds, CPU seconds and peak RSS of one command and its children."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=CHILD_ENV)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.02):
            peak = max(peak, _tree_rss_kb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    if sample_tree:
        sampler.start()
    err = proc.stderr.read() if proc.stderr else b""  # drained so a chatty stderr cannot block the command
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    stop.set()
    if sample_tree:
        sampler.join()
    if os.waitstatus_to_exitcode(status) not in (0, 1):  # grep exits 1 when nothing matched
        sys.exit(f"benchmark: command failed ({os.waitstatus_to_exitcode(status)}): {cmd}\n{err.decode()}")
    return Measure(elapsed, usage.ru_utime + usage.ru_stime, max(usage.ru_maxrss, peak))


def startup(faultlab: str, repeat: int, tiny: Path) -> dict[str, list[float]]:
    """Wall times of `faultlab --help`, `faultlab triage --help` and a triage of a one-line log (the start-up
    before any scanning)."""
    out: dict[str, list[float]] = {}
    for args in (["--help"], ["triage", "--help"], ["triage", "--json", "-", str(tiny)]):
        out[" ".join(args)] = [_run([faultlab, *args]).wall for _ in range(max(repeat, 5))]
    return out


def _spread(values: list[float], fmt: str = "{:.2f}") -> str:
    """The median of `values`, then the best and the worst."""
    return f"{fmt.format(statistics.median(values))} (best {fmt.format(min(values))}, worst {fmt.format(max(values))})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024, help="uncompressed size of the log set (default 1024)")
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp/faultlab-bench"), help="where to generate it")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each command (default 5)")
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="keep PYTHONDONTWRITEBYTECODE if set: no .pyc written, so a module without a current one is "
        "compiled at every start (default: .pyc files written and read, as a pip-installed faultlab has them)",
    )
    args = parser.parse_args()
    global CHILD_ENV  # noqa: PLW0603 - set once, before any measurement
    if not args.no_bytecode_cache:
        CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    t = time.perf_counter()
    paths = generate(args.dir / f"{args.size_mb}mb", args.size_mb)
    print(f"log set: {args.size_mb} MB uncompressed in {len(paths)} files ({time.perf_counter() - t:.1f} s to prepare)")
    tiny = args.dir / "tiny" / "vmkernel.log"
    tiny.parent.mkdir(parents=True, exist_ok=True)
    tiny.write_text(SIGNALS["vmkernel"][0].format(t=_stamp("vmkernel", T0)) + "\n")

    faultlab = str(Path(sys.executable).with_name("faultlab"))
    for warm in (["--help"], ["triage", "--json", "-", str(tiny)]):  # page cache, and .pyc files when cached
        _run([faultlab, *warm])
    cache = "on (.pyc files)" if CHILD_ENV is not None else "as the environment says"
    if CHILD_ENV is None and os.environ.get("PYTHONDONTWRITEBYTECODE"):
        cache = "off (PYTHONDONTWRITEBYTECODE: modules without a current .pyc compiled at each start)"
    print(f"python bytecode cache for the measured commands: {cache}")
    bundle = str(paths[0].parents[3])
    triage_cmd = [faultlab, "triage", "--json", "-", bundle]
    grep_cmd = "zcat -f " + " ".join(shlex.quote(str(p)) for p in paths) + f" | grep -E {shlex.quote(GREP_UNION)}"
    grep_runs: list[Measure] = []
    triage_runs: list[Measure] = []
    for i in range(args.repeat):  # in pairs, so both see the same load; which one goes first alternates
        if i % 2:
            triage_runs.append(_run(triage_cmd, sample_tree=True))
            grep_runs.append(_run(["bash", "-o", "pipefail", "-c", grep_cmd]))
        else:
            grep_runs.append(_run(["bash", "-o", "pipefail", "-c", grep_cmd]))
            triage_runs.append(_run(triage_cmd, sample_tree=True))
    wall_ratios = [f.wall / g.wall for g, f in zip(grep_runs, triage_runs, strict=True)]
    cpu_ratios = [f.cpu / g.cpu for g, f in zip(grep_runs, triage_runs, strict=True)]
    g_rss = max(m.rss_kb for m in grep_runs)
    f_rss = max(m.rss_kb for m in triage_runs)
    print(
        f"zcat | grep -E : wall {_spread([m.wall for m in grep_runs])} s, CPU {_spread([m.cpu for m in grep_runs])} s"
    )
    print(
        f"faultlab triage: wall {_spread([m.wall for m in triage_runs])} s, CPU {_spread([m.cpu for m in triage_runs])} s"
    )
    print(
        f"pairs (grep, triage) wall: {', '.join(f'({g.wall:.2f}, {f.wall:.2f})' for g, f in zip(grep_runs, triage_runs, strict=True))}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"ratio triage/grep, per pair: wall {_spread(wall_ratios)}, CPU {_spread(cpu_ratios)} (target: median <= 0.5)"
    )
    print(f"peak RSS: triage {f_rss / 1024:.1f} MB (process tree; target < 200 MB), grep {g_rss / 1024:.1f} MB")
    for what, secs in startup(faultlab, args.repeat, tiny).items():
        target = " (target <= 0.35 s)" if what.endswith("--help") else " (start-up before any scanning)"
        print(f"start-up: faultlab {what.replace(str(tiny), 'ONE-LINE-LOG')}: {_spread(secs, '{:.3f}')} s{target}")


if __name__ == "__main__":
    main()
