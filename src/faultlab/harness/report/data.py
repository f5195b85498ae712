"""What the reports show, computed once from a run record: lanes of marks, expected steps, recovery spans, measures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from faultlab.harness.anchors import HEALED, INJECTED
from faultlab.harness.judge import events_of
from faultlab.harness.judgement import JudgedCheck, JudgedEvent, StepStatus, Verdict
from faultlab.harness.measures import (
    RECOVERY_MEASURES,
    STORAGE_BACK,
    field_of,
    figures,
    measures,
    observations,
    time_of,
)
from faultlab.harness.record import RunRecord
from faultlab.harness.utc import iso, parse_iso


@dataclass(frozen=True)
class Mark:
    """One thing seen at one time on one lane: a log event, a vSphere property change or a vCenter event."""

    time: datetime
    lane: str
    name: str
    source: str  # "log" | "property" | "vcenter"
    detail: str = ""  # one line for tooltips and tables
    where: str = ""  # host:file:line of a log event
    step: int | None = None  # the 1-based expected step this event met
    offending: bool = False  # named by a FALSE check (a forbidden event, one too many)


@dataclass
class Lane:
    """One row of the timeline: a host's log, or a vSphere object, with its marks in time order."""

    key: str
    kind: str  # "log" | "vsphere"
    marks: list[Mark] = field(default_factory=list)


@dataclass(frozen=True)
class StepView:
    """One expected step of the in-order check and what it got."""

    index: int
    label: str
    name: str
    status: StepStatus
    time: datetime | None
    lane: str | None
    where: str
    message: str  # why it was missed; the nearest candidates


@dataclass(frozen=True)
class Span:
    """A recovery measured from heal: a condition, an event or an observed property, and how long it took."""

    label: str
    seconds: float | None
    met: bool | None
    budget_s: float | None = None
    since: str = HEALED  # the anchor it counts from (the second reboot counts from guest.rebooted)
    detail: str = ""  # what the probe last said (e.g. "not attempted: the run had not recovered")


@dataclass(frozen=True)
class Phase:
    name: str
    start: datetime
    end: datetime | None
    status: str
    detail: str


@dataclass
class RunView:
    """Everything a report draws, with times as aware UTC datetimes on the harness clock."""

    record: RunRecord
    injected: datetime | None
    healed: datetime | None
    lanes: list[Lane]
    steps: list[StepView]
    checks: list[JudgedCheck]
    spans: list[Span]
    phases: list[Phase]
    untimed: list[JudgedEvent]
    run_measures: dict[str, float]  # the recovery measures (measures.MEASURE_KEYS) the run shows
    measures: dict[str, float]  # those and the run's figures (wall_s, bytes_collected, ...), for display
    notes: list[str]

    @property
    def origin(self) -> datetime | None:
        """Time zero of the report: the injection, else the first thing seen."""
        if self.injected is not None:
            return self.injected
        times = [m.time for lane in self.lanes for m in lane.marks] + [p.start for p in self.phases]
        return min(times, default=None)

    def rel(self, t: datetime) -> float:
        origin = self.origin
        return 0.0 if origin is None else (t - origin).total_seconds()

    def marks(self) -> list[Mark]:
        return sorted((m for lane in self.lanes for m in lane.marks), key=lambda m: (m.time, m.lane))


def lane_of_log(host: str, path: str) -> str:
    """ "esx01 vobd.log"; a VM's log keeps its folder: "esx01 win01/vmware.log"."""
    parts = [p for p in path.split("/") if p]
    keep = 2 if len(parts) > 1 and parts[-1].startswith("vmware") else 1
    name = "/".join(parts[-keep:]) or path
    return f"{host} {name}".strip()


def object_lane(obj: str) -> str:
    return f"{obj}".strip() or "vCenter"


def _short(value: Any, limit: int = 60) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def observations_of(record: RunRecord) -> list[Mark]:
    """The run's vSphere property changes as marks on their object's lane."""
    return [
        Mark(
            o.time,
            object_lane(o.object),
            f"{o.property.rsplit('.', 1)[-1]}={_short(o.value)}",
            "property",
            f"{o.property} = {_short(o.value)}",
        )
        for o in observations(record)
    ]


def vcenter_events_of(record: RunRecord) -> list[Mark]:
    """`record.vcenter_events`: {time, eventTypeId, message[, vm, datastore, host]} -> marks on their object's lane."""
    out: list[Mark] = []
    for item in getattr(record, "vcenter_events", None) or []:
        t = time_of(field_of(item, "time", "createdTime"))
        if t is None:
            continue
        type_id = str(field_of(item, "eventTypeId", "event_type_id", "type") or "event")
        vm, ds, host = field_of(item, "vm"), field_of(item, "datastore"), field_of(item, "host")
        obj = f"vm {vm}" if vm else f"datastore {ds}" if ds else f"host {host}" if host else "vCenter events"
        name = type_id.removeprefix("esx.problem.").removeprefix("esx.clear.")
        out.append(Mark(t, obj, name, "vcenter", f"{type_id}: {_short(field_of(item, 'message') or '', 160)}"))
    return out


def _event_detail(ev: JudgedEvent) -> str:
    shown = {k: v for k, v in ev.fields.items() if k not in ("params", "path", "volume", "mount_point")}
    text = " ".join(f"{k}={_short(v, 24)}" for k, v in shown.items())
    return " ".join(p for p in (ev.subject or "", text) if p)


def _steps(check: JudgedCheck | None, lanes_by_key: Mapping[tuple[str, str, int], str]) -> list[StepView]:
    if check is None:
        return []
    out: list[StepView] = []
    for i, m in enumerate(check.matched, 1):
        ev = m.event
        message = ""
        if m.status in (StepStatus.MISSED, StepStatus.UNKNOWN):
            near = [f"nearest: {c.name} at {_when(c.time)} ({c.where}): {c.reason}" for c in check.candidates]
            message = "\n".join([check.message, *near])
        elif m.status is StepStatus.NOT_REACHED:
            message = "not checked: an earlier step was missed"
        out.append(
            StepView(
                index=i,
                label=m.label,
                name=m.name,
                status=m.status,
                time=ev.time if ev else None,
                lane=lanes_by_key.get(ev.key) if ev else None,
                where=ev.where if ev else "",
                message=message,
            )
        )
    return out


def _when(t: datetime | None) -> str:
    return iso(t, "milliseconds") if t else "--:--:--(masked)"


def _spans(record: RunRecord, found: Mapping[str, float]) -> list[Span]:
    spans = [Span(r.condition, r.seconds, r.met, r.budget_s, r.since, r.detail) for r in record.recovery]
    keys = {r.key for r in record.recovery}
    for rm in RECOVERY_MEASURES:
        if rm.key in found and rm.condition not in keys:
            spans.append(Span(f"{rm.label} (vSphere)", found[rm.key], True))
    for key in STORAGE_BACK:
        if key in found:
            spans.append(Span(key.removeprefix("heal_to_").removesuffix("_s").replace("_", " "), found[key], True))
    return spans


def build_view(record: RunRecord, run_dir: Path | None = None) -> RunView:
    """The report's data. Never raises on a partial record (an ERROR run): what is missing is simply not drawn."""
    anchors = {k: time_of(v) for k, v in record.anchors.items()}
    injected, healed = anchors.get(INJECTED), anchors.get(HEALED)
    judgement = record.judgement
    checks = list(judgement.checks) if judgement is not None else []
    in_order = judgement.sequence if judgement is not None else None
    step_of = {
        m.event.key: i
        for i, m in enumerate(in_order.matched if in_order else (), 1)
        if m.event is not None and m.status in (StepStatus.MET, StepStatus.UNKNOWN)
    }
    offending = {e.key for c in checks if c.verdict is Verdict.FALSE for e in c.offending}
    lanes: dict[str, Lane] = {}
    for log in record.logs:  # every collected log gets its lane, even a quiet one
        key = lane_of_log(log.host, log.path)
        lanes.setdefault(key, Lane(key, "log"))
    untimed: list[JudgedEvent] = []
    lanes_by_key: dict[tuple[str, str, int], str] = {}
    events = events_of(record, run_dir)
    for ev in events:
        if ev.time is None:
            untimed.append(ev)
            continue
        key = lane_of_log(ev.host, ev.file)
        lanes_by_key[ev.key] = key
        mark = Mark(ev.time, key, ev.name, "log", _event_detail(ev), ev.where, step_of.get(ev.key), ev.key in offending)
        lanes.setdefault(key, Lane(key, "log")).marks.append(mark)
    for mark in [*observations_of(record), *vcenter_events_of(record)]:
        lanes.setdefault(mark.lane, Lane(mark.lane, "vsphere")).marks.append(mark)
    for lane in lanes.values():
        lane.marks.sort(key=lambda m: m.time)
    ordered = sorted(lanes.values(), key=lambda ln: (ln.kind != "log", ln.key))
    found = measures(record, events, observations(record))
    phases = [Phase(p.name, parse_iso(p.started), time_of(p.ended), p.status, p.detail) for p in record.phases]
    return RunView(
        record=record,
        injected=injected,
        healed=healed,
        lanes=ordered,
        steps=_steps(in_order, lanes_by_key),
        checks=checks,
        spans=_spans(record, found),
        phases=phases,
        untimed=untimed,
        run_measures=found,
        measures={**figures(record), **found},
        notes=[*record.notes, *(judgement.notes if judgement is not None else [])],
    )
