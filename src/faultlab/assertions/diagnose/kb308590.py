"""KB 308590: the ESX "Lost Heartbeat" purple screen and the Service Console memory trend, per host."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from faultlab.assertions.diagnose.common import Diagnosis, DiagVerdict, Figure, live_events, sorted_events, utc, when
from faultlab.assertions.meminfo import (
    Segment,
    Trend,
    base_name,
    memory_trends,
    percent,
    process_role,
    sample_hours,
    split_uptimes,
    stamp,
    timeline_order,
)
from faultlab.assertions.model import Event

KB_LOST_HB = "KB 308590"

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
        t = min(utc(e.time or datetime.min) for e in timed).timestamp()
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
    live = live_events(events)
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
    markers = sorted_events(e for e in evs if e.name in ("host.psod", "host.heartbeat.lost") and not _pcpu_lockup(e))
    lockups = [e for e in evs if _pcpu_lockup(e)]
    timeline = timeline_order([e for e in evs if e.name not in ("host.psod", "host.heartbeat.lost")])
    segments = split_uptimes(timeline)
    crash = _pick_crash(segments, markers)
    seg = crash.segment if crash else next((s for s in reversed(segments) if s.samples), segments[-1])
    samples = seg.samples
    trends = memory_trends(samples)
    no_console = _without_service_console(evs)
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
    elif crash and no_console:
        verdict = DiagVerdict.FALSE
        title = "host crash on ESXi 5 or later: KB 308590 does not apply (no Service Console)"
        reason = next((str(e.fields.get("reason")) for e in crash.other_psod if e.fields.get("reason")), None)
        parts.append(
            f"{name} stopped uncleanly"
            + (f" (purple screen: {reason})" if reason else "")
            + "; it runs ESXi 5 or later (its vmksummary lines say so), which has no Service Console: the Lost "
            "Heartbeat crash of KB 308590 is an ESX 3.x/4.x mechanism and does not explain this stop"
        )
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
                f"the next sample ({when(seg.end)}, {gap:.1f} h later{hidden}) shows a restarted host (uptime)"
                if seg.end.name == "host.memory.sample"
                else f"the host booted again at {when(seg.end)}, {gap:.1f} h later{hidden}"
            )
            parts.append(
                f"the last vmksummary sample is {when(samples[-1])} and {again}, with no shutdown line in "
                "between (KB 317245)"
            )
    if crash and not crash.located and samples:
        parts.append("the crash could not be placed in the sample series: the figures use the last sample")
    if lockups:
        figures["pcpu_lockup_alerts"] = len(lockups)
        parts.append(
            f"{len(lockups)} PCPU lockup alert(s) (Heartbeat: HandleLockup) come from ESXi's lockup detector "
            "(KB 335063), not from the Service Console heartbeat of KB 308590"
        )
    restart = [seg.end] if seg.end is not None and crash else []
    evidence = sorted_events([*(crash.lost_heartbeat + crash.other_psod if crash else []), *samples[-3:], *restart])
    culprit = _memory_part(samples, trends, meminfo, figures, parts)
    recommendations = _plan(culprit, verdict, no_console)
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
    if not samples:  # nothing to say about vmksummary figures
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
    parts.append(f"in the last sample ({when(last)}) the top consumers were {top}")
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


def _without_service_console(evs: Sequence[Event]) -> bool:
    """ESXi 5 or later, by the host's own vmksummary lines: the ESXi heartbeat form ("up 0d17h24m17s, N VMs;")
    or bootstop lines (KB 2004566), and none of ESX 3.x/4.x's "hb: vmk loaded" / epoch-stamped lines (KB 1009016)."""
    esxi = classic = False
    for e in evs:
        if e.name == "host.memory.sample":
            esxi |= e.fields.get("format") == "esxi"
            classic |= e.fields.get("format") == "esx3"
        elif e.name in ("host.boot", "host.shutdown"):
            if "epoch" in e.fields:
                classic = True
            else:
                esxi = True
    return esxi and not classic


def _plan(culprit: Trend | None, verdict: DiagVerdict, no_console: bool = False) -> list[str]:
    dumps = "the vmkernel core dump" if no_console else "both coredumps"
    steps: list[str] = []
    if verdict is DiagVerdict.FALSE and no_console:
        steps.append(
            "Read the purple screen backtrace and the vmkernel core dump to find why the host stopped (KB 317245: "
            "determining why an ESXi host was powered off or restarted); engage VMware Support with both."
        )
    if culprit:
        name = base_name(culprit.process)
        role = process_role(name)
        if role and role[1]:
            steps.append(
                f"{name} is a VMware component ({role[0]}): engage VMware Support with the logs and {dumps}; "
                "workarounds typically disable the leaking component."
            )
        else:
            steps.append(
                f"{name} is not a known VMware component: if it is a third-party agent, find where it came "
                "from and consider removing it."
            )
    elif not no_console:
        steps.append(
            "Identify the component exhausting Service Console memory; if vmksummary is not conclusive, engage "
            "VMware Support with the logs and both coredumps."
        )
    elif verdict is not DiagVerdict.FALSE:
        steps.append(
            "Identify the component exhausting host memory; if vmksummary is not conclusive, engage VMware "
            "Support with the logs and the vmkernel core dump."
        )
    if no_console:  # no Service Console: its RAM, swap, top and cos-core advice does not apply
        return steps
    if verdict is DiagVerdict.INFO:
        return steps + list(ACTION_PLAN_308590[:2])
    return steps + list(ACTION_PLAN_308590)
