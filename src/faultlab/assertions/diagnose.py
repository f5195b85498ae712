"""KB diagnoses over catalog events: KB 392634 (guest BSOD after storage trouble), KB 308590 (Lost Heartbeat)."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from faultlab.assertions.meminfo import (
    Segment,
    Trend,
    base_name,
    memory_trends,
    parse_meminfo,
    percent,
    process_role,
    sample_hours,
    split_uptimes,
    stamp,
    timeline_order,
)
from faultlab.assertions.model import Event

__all__ = [
    "DiagVerdict",
    "Diagnosis",
    "diagnose_kb308590",
    "diagnose_kb308590_hosts",
    "diagnose_kb392634",
    "memory_trends",
    "order",
    "parse_meminfo",  # lives in meminfo.py; re-exported for triage
    "process_role",
]

KB_BSOD = "KB 392634"
KB_LOST_HB = "KB 308590"

# Storage trouble that can starve a guest's I/O (KB 392634 sections 1-3), and signs it came back.
TROUBLE = frozenset(
    {
        "hostd.slow_io",
        "hostd.io_error",
        "apd.start",
        "apd.timeout",
        "nfs.server.lost",
        "vmfs.heartbeat.timeout",
        "vmfs.heartbeat.reclaimed",  # "Reclaimed heartbeat [Timeout]": a timeout happened first
        "vsan.liveness.lost",
        "pdl",
        "connectivity.lost",
    }
)
RECOVERY = frozenset({"apd.exit", "nfs.server.restored", "vmfs.heartbeat.reclaimed", "connectivity.restored"})
VM_FILE_EVENTS = frozenset({"hostd.slow_io", "hostd.io_error"})  # count only on the VM's own files

# How far back a storage problem still explains a bugcheck, and how late a recovery still counts as
# "around" it: the VMX writes the WinBSOD lines to the datastore, so they can land after the recovery.
BSOD_WINDOW = timedelta(minutes=30)
RECOVERY_GRACE = timedelta(minutes=5)

RESOLUTION_392634 = (
    "Ensure the underlying storage is restored before attempting to power on/rebooting VMs (KB 392634).",
    "Review the health of the physical storage path: HBAs, switches and the backend storage (array) configuration.",
    "Engage the hardware/storage vendor to validate physical connectivity, firmware/driver compatibility "
    "and overall I/O path stability.",
)

Figure = int | float | str


class DiagVerdict(enum.StrEnum):
    """Does the KB's pattern explain what the logs show? INFO: no incident, a finding worth reading."""

    TRUE = "true"
    FALSE = "false"
    UNKNOWN = "unknown"
    INFO = "info"


@dataclass(slots=True)
class Diagnosis:
    """One KB's reading of one VM or host, for a support engineer and for `faultlab triage --json`."""

    kb: str
    title: str
    verdict: DiagVerdict
    subject: str
    summary: str
    evidence: list[Event] = field(default_factory=list)
    figures: dict[str, Figure] = field(default_factory=dict)  # unit in the name: _s, _kb, _pct, _kb_per_h
    recommendations: list[str] = field(default_factory=list)
    host: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "kb": self.kb,
            "title": self.title,
            "verdict": self.verdict.value,
            "subject": self.subject,
            "host": self.host,
            "summary": self.summary,
            "figures": dict(self.figures),
            "recommendations": list(self.recommendations),
            "evidence": [e.to_json() for e in self.evidence],
        }


# ---------------------------------------------------------------------------------------------- ordering


def _live(events: Iterable[Event]) -> list[Event]:
    """The events that count: a vob/esx twin duplicates another event."""
    return [e for e in events if e.twin is None]


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def order(a: Event, b: Event) -> int | None:
    """-1 if a came before b, 1 after, 0 at the same time; None when no clock or file position decides.

    Timed events compare by time; untimed (masked) ones only by line position within the same file.
    """
    if a.time is not None and b.time is not None:
        ta, tb = _utc(a.time), _utc(b.time)
        if ta != tb or a.file != b.file:
            return (ta > tb) - (ta < tb)
    if a.file == b.file:
        return (a.line_no > b.line_no) - (a.line_no < b.line_no)
    return None


def _sorted(events: Iterable[Event]) -> list[Event]:
    """Timed events by time, then the untimed ones by file position (their place is not known)."""
    items = list(events)
    timed = sorted((e for e in items if e.time), key=lambda e: (_utc(e.time or datetime.min), e.file, e.line_no))
    untimed = sorted((e for e in items if not e.time), key=lambda e: (e.file, e.line_no))
    return timed + untimed


def _when(e: Event) -> str:
    if e.time is None:
        return f"(time masked, {e.file}:{e.line_no})"
    return _utc(e.time).isoformat(timespec="seconds").replace("+00:00", "Z")


def _same_host(a: Event, b: Event) -> bool:
    return not a.host or not b.host or a.host == b.host


# ------------------------------------------------------------------------------------- KB 392634 (BSOD)


def _path_parts(path: str) -> tuple[str | None, str | None]:
    """(datastore, VM folder) of "/vmfs/volumes/<datastore>/<vm>/file"."""
    parts = path.split("/")
    if len(parts) >= 6 and parts[1] == "vmfs" and parts[2] == "volumes":
        return parts[3], parts[4]
    return None, None


def _vm_of(e: Event) -> str | None:
    vm = e.fields.get("vm")
    if isinstance(vm, str) and vm:
        return vm
    return _path_parts(str(e.fields.get("path") or e.subject or ""))[1]


def _bsod_vm(e: Event) -> str:
    return e.subject or f"unknown VM ({e.file})"


_PLAIN = {
    "apd.start": "APD start on",
    "apd.exit": "APD exit on",
    "pdl": "permanent device loss of",
    "connectivity.lost": "connectivity lost to",
    "connectivity.restored": "connectivity restored to",
    "vmfs.heartbeat.timeout": "VMFS heartbeat timed out on",
    "vmfs.heartbeat.reclaimed": "VMFS heartbeat reclaimed after a timeout on",
    "vsan.liveness.lost": "vSAN object lost liveness:",
    "guest.tools_heartbeat.lost": "Tools heartbeat lost in",
}


def _describe(e: Event) -> str:
    """A short human reading of one event."""
    f = e.fields
    if e.name == "hostd.slow_io":
        return f"{f.get('op', 'I/O')} of {f.get('path', e.subject)} took over {f.get('seconds')} s"
    if e.name == "hostd.io_error":
        return f"I/O error on {f.get('path', e.subject)} ({f.get('error', 'error')})"
    if e.name in _PLAIN:
        return f"{_PLAIN[e.name]} {e.subject or ''}".strip()
    if e.name == "apd.timeout":
        return f"APD timeout on {e.subject} after {f.get('seconds')} s"
    if e.name in ("nfs.server.lost", "nfs.server.restored"):
        verb = "lost" if e.name.endswith("lost") else "restored"
        return f"NFS server {f.get('server', '?')} {verb} (mount {f.get('mount_point', e.subject)})"
    if e.name == "guest.bsod":
        return f"bugcheck {_bugcheck(e)}"
    return f"{e.name} {e.subject or ''}".strip()


def _bugcheck(e: Event) -> str:
    code = e.fields.get("code")
    code_hex = e.fields.get("code_hex") or (f"0x{code:X}" if isinstance(code, int) else "?")
    name = e.fields.get("name")
    return f"{code_hex} {name}" if name else str(code_hex)


@dataclass(slots=True)
class _Finding:
    """How one guest.bsod relates to the storage events of its host."""

    bsod: Event
    verdict: DiagVerdict
    trouble: list[Event] = field(default_factory=list)  # known to precede it within the window
    recovery: list[Event] = field(default_factory=list)  # within the window or just after
    unordered: list[Event] = field(default_factory=list)  # trouble whose order against it is unknown
    unordered_recovery: list[Event] = field(default_factory=list)
    earlier: list[Event] = field(default_factory=list)  # trouble before it but outside the window
    repeat_after: Event | None = None  # set: crashed again after storage had come back


def _storage_events(vm: str, bsod: Event, events: Sequence[Event]) -> list[Event]:
    """Trouble and recovery on the VM's host; hostd file events only when they name this VM's files."""
    return [
        e
        for e in events
        if (e.name in TROUBLE or e.name in RECOVERY)
        and _same_host(e, bsod)
        and (e.name not in VM_FILE_EVENTS or _vm_of(e) == vm)
    ]


def _within(a: Event, b: Event, before: timedelta, after: timedelta) -> bool:
    """a lies in [b - before, b + after]; untimed events in b's file before b count as within."""
    if a.time is not None and b.time is not None:
        delta = _utc(b.time) - _utc(a.time)
        return -after <= delta <= before
    return order(a, b) is not None and (order(a, b) or 0) <= 0


def _judge_bsod(bsod: Event, storage: Sequence[Event], prior: Sequence[Event]) -> _Finding:
    finding = _Finding(bsod, DiagVerdict.FALSE)
    for e in storage:
        rel = order(e, bsod)
        if e.name in TROUBLE:
            if rel is None:
                finding.unordered.append(e)
            elif rel <= 0 and _within(e, bsod, BSOD_WINDOW, timedelta(0)):
                finding.trouble.append(e)
            elif rel <= 0:
                finding.earlier.append(e)
        if e.name in RECOVERY and rel is not None and _within(e, bsod, BSOD_WINDOW, RECOVERY_GRACE):
            finding.recovery.append(e)
        elif e.name in RECOVERY and rel is None:
            finding.unordered_recovery.append(e)
    if finding.trouble:
        finding.verdict = DiagVerdict.TRUE
    elif finding.unordered:
        finding.verdict = DiagVerdict.UNKNOWN
    finding.repeat_after = _healthy_since(bsod, storage, prior)
    if finding.repeat_after is not None:
        finding.verdict = DiagVerdict.FALSE
    return finding


def _healthy_since(bsod: Event, storage: Sequence[Event], prior: Sequence[Event]) -> Event | None:
    """The recovery after which this VM had already bugchecked once, with no new trouble since.

    KB 392634: subsequent reboots do not reproduce the crash, so a second bugcheck on healthy storage
    is not its pattern.
    """
    before = [e for e in storage if order(e, bsod) == -1]
    recoveries = [e for e in before if e.name in RECOVERY]
    if not recoveries:
        return None
    last = _sorted(recoveries)[-1]
    if any(e.name in TROUBLE and e.name not in RECOVERY and order(last, e) == -1 for e in before):
        return None
    if any(order(last, p) == -1 and order(p, bsod) == -1 for p in prior):
        return last
    return None


def diagnose_kb392634(events: Iterable[Event]) -> list[Diagnosis]:
    """Per VM with a guest.bsod: was it the storage-loss bugcheck of KB 392634? Plus VMs at risk."""
    live = _live(events)
    bsods: dict[str, list[Event]] = {}
    for e in _sorted(e for e in live if e.name == "guest.bsod"):
        bsods.setdefault(_bsod_vm(e), []).append(e)
    diagnoses: list[Diagnosis] = []
    for vm, crashes in bsods.items():
        findings: list[_Finding] = []
        for i, bsod in enumerate(crashes):
            findings.append(_judge_bsod(bsod, _storage_events(vm, bsod, live), crashes[:i]))
        diagnoses.append(_bsod_diagnosis(vm, findings[0], findings[1:], live))
        diagnoses.extend(_repeat_diagnosis(vm, f) for f in findings[1:] if f.repeat_after is not None)
    diagnoses.extend(_at_risk(live, set(bsods)))
    return diagnoses


def _slow_io_max(events: Iterable[Event]) -> int | None:
    seconds = [int(e.fields["seconds"]) for e in events if e.name == "hostd.slow_io" and "seconds" in e.fields]
    return max(seconds) if seconds else None


def _bsod_figures(f: _Finding, vm: str, live: Sequence[Event], later: Sequence[_Finding]) -> dict[str, Figure]:
    bsod = f.bsod
    figures: dict[str, Figure] = {"bugcheck": _bugcheck(bsod), "bsod_count": 1 + len(later)}
    if isinstance(bsod.fields.get("code"), int):
        figures["bugcheck_code"] = bsod.fields["code"]
    vm_slow = _slow_io_max(e for e in live if _vm_of(e) == vm and _same_host(e, bsod))
    if vm_slow is not None:
        figures["max_slow_io_s"] = vm_slow
    host_slow = _slow_io_max(e for e in live if _same_host(e, bsod))
    if host_slow is not None:
        figures["max_slow_io_host_s"] = host_slow
    apd = [e.fields["seconds"] for e in f.trouble if e.name == "apd.timeout" and "seconds" in e.fields]
    if apd:
        figures["apd_timeout_s"] = max(apd)
    figures["storage_events"] = len(f.trouble)
    if f.unordered:
        figures["unordered_storage_events"] = len(f.unordered)
    timed = [e for e in f.trouble if e.time]
    if bsod.time and timed:
        figures["lead_s"] = (_utc(bsod.time) - _utc(_sorted(timed)[0].time or bsod.time)).total_seconds()
    rec = [e for e in f.recovery if e.time]
    if bsod.time and rec:
        figures["recovery_before_bsod_s"] = (_utc(bsod.time) - _utc(_sorted(rec)[0].time or bsod.time)).total_seconds()
    repeats = sum(1 for x in later if x.repeat_after is not None)
    if repeats:
        figures["bsod_after_recovery"] = repeats
    return figures


def _bsod_diagnosis(vm: str, f: _Finding, later: Sequence[_Finding], live: Sequence[Event]) -> Diagnosis:
    bsod = f.bsod
    head = f"VM {vm} bugchecked {_bugcheck(bsod)} at {_when(bsod)}"
    if bsod.fields.get("complete") is False:
        head += " (incomplete WinBSOD record)"
    figures = _bsod_figures(f, vm, live, later)
    unordered = [*f.unordered, *f.unordered_recovery] if f.verdict is DiagVerdict.UNKNOWN else []
    evidence = _sorted([*f.trouble, *f.recovery, *unordered, bsod, *(x.bsod for x in later)])
    if f.verdict is DiagVerdict.TRUE:
        title = "matches KB 392634: guest BSOD after storage latency / loss of access"
        # One observation is often logged by vmkernel, vobd and hostd alike: say each reading once.
        readings = list(dict.fromkeys(_describe(e) for e in _sorted(f.trouble)))
        summary = f"{head}, preceded by storage trouble on its host: " + "; ".join(readings[:6])
        if f.recovery:
            summary += (
                f". Storage came back around the crash ({_describe(_sorted(f.recovery)[0])} at "
                f"{_when(_sorted(f.recovery)[0])}), as the KB describes: the guest crashes as storage "
                "connectivity begins to recover"
            )
        else:
            summary += ". No storage recovery was seen in these logs: check the datastore is accessible"
        summary += ". The crash is a consequence of the storage problem, not a guest fault."
        recommendations = list(RESOLUTION_392634)
    elif f.verdict is DiagVerdict.UNKNOWN:
        title = "KB 392634 undecided: the order of the bugcheck and the storage events is unknown"
        summary = (
            f"{head}. Storage trouble was logged on the same host ({len(f.unordered)} event(s), e.g. "
            f"{_describe(f.unordered[0])}), but timestamps are masked or missing and the lines are in other "
            "files, so whether it preceded the bugcheck cannot be decided."
        )
        recommendations = [
            "Collect the logs with their real timestamps (vm-support bundle) to order the bugcheck against "
            "the storage events.",
            *RESOLUTION_392634[:1],
        ]
    else:
        title = "BSOD without preceding storage trouble: KB 392634 does not apply"
        summary = (
            f"{head} with no storage trouble on its host in the {int(BSOD_WINDOW.total_seconds() // 60)} min before it"
        )
        if f.earlier:
            summary += (
                f" (the last earlier problem: {_describe(_sorted(f.earlier)[-1])} at {_when(_sorted(f.earlier)[-1])})"
            )
        summary += ". Look elsewhere: guest drivers, the guest memory dump, the bugcheck parameters."
        recommendations = ["Analyse the guest crash dump (MEMORY.DMP) and the bugcheck parameters in the guest."]
    repeats = [x for x in later if x.repeat_after is not None]
    if repeats:
        summary += (
            f" It bugchecked again {len(repeats)} time(s) after storage was healthy again, which the KB "
            "pattern does not explain (subsequent reboots do not reproduce the crash)."
        )
    return Diagnosis(KB_BSOD, title, f.verdict, vm, summary, evidence, figures, recommendations, bsod.host)


def _repeat_diagnosis(vm: str, f: _Finding) -> Diagnosis:
    assert f.repeat_after is not None
    summary = (
        f"VM {vm} bugchecked {_bugcheck(f.bsod)} at {_when(f.bsod)}, after storage had recovered "
        f"({_describe(f.repeat_after)} at {_when(f.repeat_after)}) and after an earlier bugcheck, with no new "
        "storage trouble since. KB 392634 notes subsequent reboots do not reproduce the crash: this one "
        "needs its own explanation."
    )
    return Diagnosis(
        KB_BSOD,
        "BSOD after storage recovered: does not match the KB 392634 pattern",
        DiagVerdict.FALSE,
        vm,
        summary,
        [f.repeat_after, f.bsod],
        {"bugcheck": _bugcheck(f.bsod)},
        ["Analyse the guest crash dump of this later bugcheck: storage does not explain it."],
        f.bsod.host,
    )


def _at_risk(live: Sequence[Event], crashed: set[str]) -> list[Diagnosis]:
    """VMs whose files hit slow or failed I/O (or whose Tools heartbeat stopped) but did not bugcheck."""
    per_vm: dict[str, list[Event]] = {}
    for e in live:
        vm = _vm_of(e) if e.name in VM_FILE_EVENTS else None
        if e.name == "guest.tools_heartbeat.lost" and e.subject:
            vm = e.subject if any(t.name in TROUBLE and _same_host(t, e) for t in live) else None
        if vm and vm not in crashed:
            per_vm.setdefault(vm, []).append(e)
    out = []
    for vm, evs in per_vm.items():
        ordered = _sorted(evs)
        figures: dict[str, Figure] = {"storage_events": len(ordered)}
        slow = _slow_io_max(ordered)
        if slow is not None:
            figures["max_slow_io_s"] = slow
        summary = (
            f"VM {vm} saw storage trouble without a logged bugcheck: "
            + "; ".join(_describe(e) for e in ordered[:4])
            + ". A Windows guest whose I/O stalls past its disk timeout can still bugcheck when storage returns."
        )
        out.append(
            Diagnosis(
                KB_BSOD,
                "at risk: storage trouble on the VM's files, no BSOD",
                DiagVerdict.INFO,
                vm,
                summary,
                ordered,
                figures,
                [RESOLUTION_392634[0], "Check the guest is responsive and its Tools heartbeat is green."],
                ordered[0].host,
            )
        )
    return out


# ------------------------------------------------------------------------------ KB 308590 (Lost Heartbeat)

ACTION_PLAN_308590 = (
    "Increase the Service Console RAM or swap only if memory use is static but under stress (KB 1003501): "
    "with a leak it only delays the crash.",
    "Run top in batch mode in the Service Console to capture process memory before a recurrence (KB 1006797).",
    "If there is no cos-core file, check that the Misc.CosCoreFile advanced option is valid (KB 1032962).",
    "Coredumps: vmkernel-zdump-* in /root/ or /var/core/ (moved to /root/old_cores/), "
    "cos-core-<host>.*.core.gz in /root/old_cores/ or /var/core/, and the cos-core file on the datastore "
    "named in the 'Dumping core to' line; give both to VMware Support with the logs.",
)
HOURLY_GAP_H = 1.5  # vmksummary samples are hourly: a longer silence hides a stop


def _named(key: str) -> str:
    """A series key with what the KB says the process is: "VMap (VMware HA)"."""
    role = process_role(base_name(key))
    return f"{key} ({role[0]})" if role else key


@dataclass(slots=True)
class _Crash:
    segment: Segment
    lost_heartbeat: list[Event]  # host.psod "Lost heartbeat" and host.heartbeat.lost lines
    other_psod: list[Event]
    located: bool  # the crash's place in the sample series is known


def _pcpu_lockup(e: Event) -> bool:
    """ESXi's per-PCPU lockup detector ("PCPU 8 didn't have a heartbeat", KB 335063): not the COS heartbeat."""
    return e.name == "host.heartbeat.lost" and "pcpu" in e.fields


def _pick_crash(segments: Sequence[Segment], markers: Sequence[Event]) -> _Crash | None:
    lost = [
        e
        for e in markers
        if (e.name == "host.heartbeat.lost" and "comm" in e.fields)
        or "lost heartbeat" in str(e.fields.get("reason", "")).lower()
    ]
    other = [e for e in markers if e.name == "host.psod" and e not in lost]
    unclean = [s for s in segments if s.unclean]
    timed = [e for e in markers if e.time is not None]
    if timed:
        t = min(_utc(e.time or datetime.min) for e in timed).timestamp()
        after = [s for s in unclean if s.end is not None and (stamp(s.end) or 0.0) >= t]
        if after:
            return _Crash(after[0], lost, other, True)
        before = [s for s in segments if s.samples and (stamp(s.samples[0]) or t + 1) <= t]
        if before:
            seg = before[-1]
            kept = [x for x in seg.samples if (stamp(x) or t + 1) <= t]
            return _Crash(Segment(kept, seg.shutdown, seg.end, seg.unclean), lost, other, True)
    if unclean:
        return _Crash(unclean[-1], lost, other, True)
    if markers:
        with_samples = [s for s in segments if s.samples]
        return _Crash(with_samples[-1] if with_samples else segments[-1], lost, other, False)
    return None


def diagnose_kb308590_hosts(events: Iterable[Event], meminfo: dict[str, int] | None = None) -> list[Diagnosis]:
    """KB 308590 per host that has vmksummary samples or a heartbeat PSOD."""
    live = _live(events)
    hosts: dict[str, list[Event]] = {}
    for e in live:
        if e.name in ("host.memory.sample", "host.boot", "host.shutdown", "host.psod", "host.heartbeat.lost"):
            hosts.setdefault(e.host, []).append(e)
    out = []
    for host, evs in hosts.items():
        if any(
            e.name in ("host.memory.sample", "host.psod", "host.heartbeat.lost") and not _pcpu_lockup(e) for e in evs
        ):
            out.append(_host_diagnosis(host, evs, meminfo))
    return out


def diagnose_kb308590(events: Iterable[Event], meminfo: dict[str, int] | None = None) -> Diagnosis | None:
    """The KB 308590 reading of the bundle: a Lost Heartbeat crash first, then any unclean stop, then a
    growing process. None when no host crashed and nothing grows (all hosts: `diagnose_kb308590_hosts`)."""
    found = [
        d
        for d in diagnose_kb308590_hosts(events, meminfo)
        if d.verdict is not DiagVerdict.INFO or "culprit" in d.figures
    ]
    rank = {DiagVerdict.TRUE: 0, DiagVerdict.UNKNOWN: 1, DiagVerdict.FALSE: 2, DiagVerdict.INFO: 3}
    return min(found, key=lambda d: rank[d.verdict]) if found else None


def _host_diagnosis(host: str, evs: Sequence[Event], meminfo: dict[str, int] | None) -> Diagnosis:
    markers = _sorted(e for e in evs if e.name in ("host.psod", "host.heartbeat.lost") and not _pcpu_lockup(e))
    lockups = [e for e in evs if _pcpu_lockup(e)]
    timeline = timeline_order([e for e in evs if e.name not in ("host.psod", "host.heartbeat.lost")])
    segments = split_uptimes(timeline)
    crash = _pick_crash(segments, markers)
    seg = crash.segment if crash else next((s for s in reversed(segments) if s.samples), segments[-1])
    samples = seg.samples
    trends = memory_trends(samples)
    figures: dict[str, Figure] = {"samples": len(samples)}
    parts: list[str] = []
    name = f"host {host}" if host else "the host"
    if crash and crash.lost_heartbeat:
        verdict = DiagVerdict.TRUE
        title = "matches KB 308590: Lost Heartbeat purple screen (Service Console unresponsive)"
        comms = sorted({str(e.fields["comm"]) for e in crash.lost_heartbeat if e.fields.get("comm")})
        parts.append(
            f"{name} crashed with a Lost Heartbeat purple screen"
            + (f" (VMNIX heartbeat lost for comm={', '.join(comms)})" if comms else "")
        )
        figures["heartbeat_lost_lines"] = sum(1 for e in crash.lost_heartbeat if e.name == "host.heartbeat.lost")
    elif crash:
        verdict = DiagVerdict.UNKNOWN
        title = "host crash found; no Lost Heartbeat text to confirm KB 308590"
        reason = next((str(e.fields.get("reason")) for e in crash.other_psod if e.fields.get("reason")), None)
        parts.append(
            f"{name} stopped uncleanly"
            + (f" (purple screen: {reason})" if reason else "")
            + "; no 'Lost heartbeat' purple screen text was found to confirm KB 308590"
        )
    else:
        verdict = DiagVerdict.INFO
        title = "no host crash: Service Console memory trend (KB 308590)"
        parts.append(f"{name} shows no crash in these logs")
    if crash and seg.end is not None and samples:
        gap = ((stamp(seg.end) or 0.0) - (stamp(samples[-1]) or 0.0)) / 3600
        if stamp(seg.end) is not None and stamp(samples[-1]) is not None:
            figures["gap_before_boot_h"] = round(gap, 2)
            hidden = " (a gap in the hourly samples)" if gap > HOURLY_GAP_H else ""
            again = (
                f"the next sample ({_when(seg.end)}, {gap:.1f} h later{hidden}) shows a restarted host (uptime)"
                if seg.end.name == "host.memory.sample"
                else f"the host booted again at {_when(seg.end)}, {gap:.1f} h later{hidden}"
            )
            parts.append(
                f"the last vmksummary sample is {_when(samples[-1])} and {again}, with no shutdown line in "
                "between (KB 317245)"
            )
    if crash and not crash.located:
        parts.append("the crash could not be placed in the sample series: the figures use the last sample")
    if lockups:
        figures["pcpu_lockup_alerts"] = len(lockups)
        parts.append(
            f"{len(lockups)} PCPU lockup alert(s) (Heartbeat: HandleLockup) come from ESXi's lockup detector "
            "(KB 335063), not from the Service Console heartbeat of KB 308590"
        )
    restart = [seg.end] if seg.end is not None and crash else []
    evidence = _sorted([*(crash.lost_heartbeat + crash.other_psod if crash else []), *samples[-3:], *restart])
    culprit = _memory_part(samples, trends, meminfo, figures, parts)
    recommendations = _plan(culprit, verdict)
    summary = "; ".join(parts) + "."
    summary = summary[0].upper() + summary[1:]
    return Diagnosis(
        KB_LOST_HB, title, verdict, host or "unknown host", summary, evidence, figures, recommendations, host
    )


def _memory_part(
    samples: Sequence[Event],
    trends: Sequence[Trend],
    meminfo: dict[str, int] | None,
    figures: dict[str, Figure],
    parts: list[str],
) -> Trend | None:
    """Fill the memory figures and sentences; return the culprit, if one process leaks."""
    if not samples:
        parts.append("no vmksummary samples are available to read the memory trend")
        return None
    last = samples[-1]
    for k, t in enumerate(trends[:3], start=1):
        figures[f"top{k}"] = f"{t.process} {t.last_kb} kB"
    for t in trends:
        figures[f"proc.{t.process}.first_kb"] = t.first_kb
        figures[f"proc.{t.process}.last_kb"] = t.last_kb
        figures[f"proc.{t.process}.growth_kb_per_h"] = round(t.slope_kb_per_h, 1)
        figures[f"proc.{t.process}.growth_pct"] = round(t.growth_pct, 2)
    xs = sample_hours(samples)
    figures["window_h"] = round(xs[-1] - xs[0], 2)
    if isinstance(last.fields.get("vms"), int):
        figures["vms"] = last.fields["vms"]
    top = ", ".join(f"{_named(t.process)} {t.last_kb} kB" for t in trends[:3])
    parts.append(f"in the last sample ({_when(last)}) the top consumers were {top}")
    if last.fields.get("format") == "esxi":
        parts.append(
            "(ESXi 5+ has no Service Console: the vmnixhbd Lost Heartbeat of KB 308590 is an ESX 3.x/4.x "
            "mechanism; the memory figures still show which process grows)"
        )
    swap = last.fields.get("swap_bytes")
    total = meminfo or {}
    if isinstance(swap, int):
        figures["swap_used_bytes"] = swap
        figures["swap_used_mb"] = round(swap / 2**20)
        text = f"{swap} bytes ({swap / 2**20:.0f} MB) of swap were in use"
        if total.get("SwapTotal"):
            figures["swap_total_kb"] = total["SwapTotal"]
            figures["swap_used_pct"] = percent(swap, total["SwapTotal"] * 1024)
            text += f" = {figures['swap_used_pct']} % of SwapTotal {total['SwapTotal']} kB"
        parts.append(text)
    growing = [t for t in trends if t.steadily_growing]
    culprit = growing[0] if growing else None
    share = culprit or (trends[0] if trends else None)
    if share and total.get("MemTotal"):
        figures["mem_total_kb"] = total["MemTotal"]
        figures["top_share_of_ram_pct"] = percent(share.last_kb, total["MemTotal"])
        parts.append(
            f"{base_name(share.process)} alone is {figures['top_share_of_ram_pct']} % of the Service Console "
            f"RAM (MemTotal {total['MemTotal']} kB)"
        )
    if culprit:
        figures["culprit"] = culprit.process
        parts.append(
            f"likely culprit: {_named(culprit.process)}, the largest consumer that grows steadily, "
            f"{culprit.first_kb} -> {culprit.last_kb} kB ({culprit.slope_kb_per_h:+.0f} kB/h, "
            f"{culprit.growth_pct:+.2f} % over {culprit.span_h:.1f} h, {culprit.samples} samples): "
            "suggestive of a memory leak"
        )
    elif len(samples) < 2:
        parts.append("one sample only: no trend can be read")
    else:
        parts.append(
            "no process grows steadily: memory may have spiked within the hour (vmksummary is hourly), or "
            "no single process caused the exhaustion"
        )
    return culprit


def _plan(culprit: Trend | None, verdict: DiagVerdict) -> list[str]:
    steps: list[str] = []
    if culprit:
        name = base_name(culprit.process)
        role = process_role(name)
        if role and role[1]:
            steps.append(
                f"{name} is a VMware component ({role[0]}): engage VMware Support with the logs and both "
                "coredumps; workarounds typically disable the leaking component."
            )
        else:
            steps.append(
                f"{name} is not a known VMware component: if it is a third-party agent, find where it came "
                "from and consider removing it."
            )
    else:
        steps.append(
            "Identify the component exhausting Service Console memory; if vmksummary is not conclusive, engage "
            "VMware Support with the logs and both coredumps."
        )
    if verdict is DiagVerdict.INFO:
        return steps + list(ACTION_PLAN_308590[:2])
    return steps + list(ACTION_PLAN_308590)
