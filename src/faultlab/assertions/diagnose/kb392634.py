"""KB 392634: a Windows guest's BSOD after storage latency / loss of access, per VM; VMs at risk."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from faultlab.assertions import events as event_table
from faultlab.assertions.diagnose.common import (
    Diagnosis,
    DiagVerdict,
    Figure,
    bugcheck,
    describe,
    live_events,
    order,
    path_parts,
    same_host,
    sorted_events,
    utc,
    when,
)
from faultlab.assertions.model import Event

KB_BSOD = "KB 392634"

# Storage trouble that can starve a guest's I/O (KB 392634 sections 1-3), and the recoveries that end it:
# both from the event table ("Reclaimed heartbeat [Timeout]" is both: a timeout happened first).
TROUBLE = event_table.names(stalls_io=True)
RECOVERY = frozenset(e.name for e in event_table.EVENTS if e.role is event_table.Role.RECOVERY and e.ends in TROUBLE)
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


def _vm_of(e: Event) -> str | None:
    vm = e.fields.get("vm")
    if isinstance(vm, str) and vm:
        return vm
    return path_parts(str(e.fields.get("path") or e.subject or ""))[1]


def _bsod_vm(e: Event) -> str:
    return e.subject or f"unknown VM ({e.file})"


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
        and same_host(e, bsod)
        and (e.name not in VM_FILE_EVENTS or _vm_of(e) == vm)
    ]


def _within(a: Event, b: Event, before: timedelta, after: timedelta) -> bool:
    """a lies in [b - before, b + after]; untimed events in b's file before b count as within."""
    if a.time is not None and b.time is not None:
        delta = utc(b.time) - utc(a.time)
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
    last = sorted_events(recoveries)[-1]
    if any(e.name in TROUBLE and e.name not in RECOVERY and order(last, e) == -1 for e in before):
        return None
    if any(order(last, p) == -1 and order(p, bsod) == -1 for p in prior):
        return last
    return None


def diagnose_kb392634(events: Iterable[Event]) -> list[Diagnosis]:
    """Per VM with a guest.bsod: was it the storage-loss bugcheck of KB 392634? Plus VMs at risk."""
    live = live_events(events)
    bsods: dict[str, list[Event]] = {}
    for e in sorted_events(e for e in live if e.name == "guest.bsod"):
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
    figures: dict[str, Figure] = {"bugcheck": bugcheck(bsod), "bsod_count": 1 + len(later)}
    if isinstance(bsod.fields.get("code"), int):
        figures["bugcheck_code"] = bsod.fields["code"]
    vm_slow = _slow_io_max(e for e in live if _vm_of(e) == vm and same_host(e, bsod))
    if vm_slow is not None:
        figures["max_slow_io_s"] = vm_slow
    host_slow = _slow_io_max(e for e in live if same_host(e, bsod))
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
        figures["lead_s"] = (utc(bsod.time) - utc(sorted_events(timed)[0].time or bsod.time)).total_seconds()
    rec = [e for e in f.recovery if e.time]
    if bsod.time and rec:
        figures["recovery_before_bsod_s"] = (
            utc(bsod.time) - utc(sorted_events(rec)[0].time or bsod.time)
        ).total_seconds()
    repeats = sum(1 for x in later if x.repeat_after is not None)
    if repeats:
        figures["bsod_after_recovery"] = repeats
    return figures


def _bsod_diagnosis(vm: str, f: _Finding, later: Sequence[_Finding], live: Sequence[Event]) -> Diagnosis:
    bsod = f.bsod
    head = f"VM {vm} bugchecked {bugcheck(bsod)} at {when(bsod)}"
    if bsod.fields.get("complete") is False:
        head += " (incomplete WinBSOD record)"
    figures = _bsod_figures(f, vm, live, later)
    unordered = [*f.unordered, *f.unordered_recovery] if f.verdict is DiagVerdict.UNKNOWN else []
    evidence = sorted_events([*f.trouble, *f.recovery, *unordered, bsod, *(x.bsod for x in later)])
    if f.verdict is DiagVerdict.TRUE:
        title = "matches KB 392634: guest BSOD after storage latency / loss of access"
        # One observation is often logged by vmkernel, vobd and hostd alike: say each reading once.
        readings = list(dict.fromkeys(describe(e) for e in sorted_events(f.trouble)))
        summary = f"{head}, preceded by storage trouble on its host: " + "; ".join(readings[:6])
        if f.recovery:
            summary += (
                f". Storage came back around the crash ({describe(sorted_events(f.recovery)[0])} at "
                f"{when(sorted_events(f.recovery)[0])}), as the KB describes: the guest crashes as storage "
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
            f"{describe(f.unordered[0])}), but timestamps are masked or missing and the lines are in other "
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
            last = sorted_events(f.earlier)[-1]
            summary += f" (the last earlier problem: {describe(last)} at {when(last)})"
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
        f"VM {vm} bugchecked {bugcheck(f.bsod)} at {when(f.bsod)}, after storage had recovered "
        f"({describe(f.repeat_after)} at {when(f.repeat_after)}) and after an earlier bugcheck, with no new "
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
        {"bugcheck": bugcheck(f.bsod)},
        ["Analyse the guest crash dump of this later bugcheck: storage does not explain it."],
        f.bsod.host,
    )


def _at_risk(live: Sequence[Event], crashed: set[str]) -> list[Diagnosis]:
    """VMs whose files hit slow or failed I/O (or whose Tools heartbeat stopped) but did not bugcheck."""
    per_vm: dict[str, list[Event]] = {}
    for e in live:
        vm = _vm_of(e) if e.name in VM_FILE_EVENTS else None
        if e.name == "guest.tools_heartbeat.lost" and e.subject:
            vm = e.subject if any(t.name in TROUBLE and same_host(t, e) for t in live) else None
        if vm and vm not in crashed:
            per_vm.setdefault(vm, []).append(e)
    out = []
    for vm, evs in per_vm.items():
        ordered = sorted_events(evs)
        figures: dict[str, Figure] = {"storage_events": len(ordered)}
        slow = _slow_io_max(ordered)
        if slow is not None:
            figures["max_slow_io_s"] = slow
        summary = (
            f"VM {vm} saw storage trouble without a logged bugcheck: "
            + "; ".join(describe(e) for e in ordered[:4])
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
