"""What the reports show, computed once from a run record: lanes of marks, expected steps, recovery spans, measures."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from faultlab.harness.record import RunRecord, parse_iso

INJECTED, HEALED = "fault.injected", "fault.healed"
REBOOTED = "guest.rebooted"  # the runner's anchor: when the second guest reboot was asked for

# (measure, anchor, event name): the first such event at or after the anchor gives "<measure> seconds".
EVENT_MEASURES: tuple[tuple[str, str, str], ...] = (
    ("fault_to_apd_start_s", INJECTED, "apd.start"),
    ("fault_to_pdl_s", INJECTED, "pdl"),
    ("fault_to_nfs_server_lost_s", INJECTED, "nfs.server.lost"),
    ("heal_to_apd_exit_s", HEALED, "apd.exit"),
    ("heal_to_nfs_server_restored_s", HEALED, "nfs.server.restored"),
    ("heal_to_guest_bsod_s", HEALED, "guest.bsod"),
)
# (measure, recovery-condition suffix, observed property names, value meaning "recovered").
RECOVERY_MEASURES: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("heal_to_datastore_accessible_s", " accessible", ("accessible", "summary.accessible"), "true"),
    ("heal_to_guest_heartbeat_green_s", " heartbeat_green", ("guestHeartbeatStatus",), "green"),
    ("heal_to_vm_powered_on_s", " powered_on", ("runtime.powerState", "powerState"), "poweredOn"),
)
_OBJ_TYPES = {"Datastore": "datastore", "VirtualMachine": "vm", "HostSystem": "host"}


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
    status: str  # met | missed | unknown | not reached
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
    checks: list[dict[str, Any]]
    spans: list[Span]
    phases: list[Phase]
    untimed: list[dict[str, Any]]
    measures: dict[str, float]
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


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return parse_iso(value)
        except ValueError:
            return None
    return None


def _get(item: Any, *names: str) -> Any:
    """A key of a dict, or an attribute of a dataclass (PropertyChange / VsphereEvent), by the first name present."""
    for name in names:
        value = item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)
        if value is not None:
            return value
    return None


def _short(value: Any, limit: int = 60) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def observations_of(record: RunRecord) -> list[Mark]:
    """`record.observations`: {time, object, property, value} (or lab.vsphere.PropertyChange-like) -> marks."""
    out: list[Mark] = []
    for item in getattr(record, "observations", None) or []:
        t = _time(_get(item, "time"))
        if t is None:
            continue
        obj = _get(item, "object")
        if obj is None:
            kind = _OBJ_TYPES.get(str(_get(item, "obj_type") or ""), str(_get(item, "obj_type") or "object"))
            obj = f"{kind} {_get(item, 'name') or _get(item, 'moref') or '?'}"
        prop = str(_get(item, "property", "path") or "?")
        value = _short(_get(item, "value"))
        out.append(
            Mark(t, object_lane(str(obj)), f"{prop.rsplit('.', 1)[-1]}={value}", "property", f"{prop} = {value}")
        )
    return out


def vcenter_events_of(record: RunRecord) -> list[Mark]:
    """`record.vcenter_events`: {time, eventTypeId, message[, vm, datastore, host]} -> marks on their object's lane."""
    out: list[Mark] = []
    for item in getattr(record, "vcenter_events", None) or []:
        t = _time(_get(item, "time", "createdTime"))
        if t is None:
            continue
        type_id = str(_get(item, "eventTypeId", "event_type_id", "type") or "event")
        vm, ds, host = _get(item, "vm"), _get(item, "datastore"), _get(item, "host")
        obj = f"vm {vm}" if vm else f"datastore {ds}" if ds else f"host {host}" if host else "vCenter events"
        name = type_id.removeprefix("esx.problem.").removeprefix("esx.clear.")
        out.append(Mark(t, obj, name, "vcenter", f"{type_id}: {_short(_get(item, 'message') or '', 160)}"))
    return out


def _event_key(ev: Mapping[str, Any]) -> tuple[str, str, int]:
    return (str(ev.get("host") or ""), str(ev.get("file") or ""), int(ev.get("line") or 0))


def _event_detail(ev: Mapping[str, Any]) -> str:
    subject = ev.get("subject") or ""
    fields = ev.get("fields") or {}
    shown = {k: v for k, v in fields.items() if k not in ("params", "path", "volume", "mount_point")}
    text = " ".join(f"{k}={_short(v, 24)}" for k, v in shown.items())
    return " ".join(p for p in (str(subject), text) if p)


def judged_events(record: RunRecord, run_dir: Path | None) -> list[dict[str, Any]]:
    """The judge's events (primary, skew-corrected); judged again from the collected logs when the record has none."""
    judgement = record.judgement or {}
    if "events" in judgement:
        return list(judgement["events"])
    if run_dir is None or not record.logs:
        return []
    from faultlab.harness.judge import build_timeline, scan_logs  # only for records that were never judged

    events, _notes = scan_logs(record, run_dir)
    return [e.event.to_json() for e in build_timeline(record, events) if e.primary]


def _in_order(checks: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    return next((c for c in checks if c.get("matched")), None)


def _steps(check: Mapping[str, Any] | None, lanes_by_key: Mapping[tuple[str, str, int], str]) -> list[StepView]:
    if check is None:
        return []
    out: list[StepView] = []
    for i, m in enumerate(check.get("matched") or [], 1):
        ev = m.get("event")
        status = str(m.get("status"))
        message = ""
        if status in ("missed", "unknown"):
            message = str(check.get("message") or "")
            near = [
                f"nearest: {c.get('name')} at {c.get('time')} ({c.get('where')}): {c.get('reason')}"
                for c in check.get("candidates") or []
            ]
            message = "\n".join([message, *near])
        elif status == "not reached":
            message = "not checked: an earlier step was missed"
        where = ""
        if ev:
            where = f"{ev.get('host')}:{ev.get('file')}:{ev.get('line')}"
        out.append(
            StepView(
                index=i,
                label=str(m.get("label")),
                name=str(m.get("name")),
                status=status,
                time=_time(ev.get("time")) if ev else None,
                lane=lanes_by_key.get(_event_key(ev)) if ev else None,
                where=where,
                message=message,
            )
        )
    return out


def _first_after(marks: Iterable[Mark], name: str, since: datetime) -> datetime | None:
    return min((m.time for m in marks if m.source == "log" and m.name == name and m.time >= since), default=None)


def _measures(
    record: RunRecord, marks: list[Mark], injected: datetime | None, healed: datetime | None
) -> dict[str, float]:
    anchors = {INJECTED: injected, HEALED: healed}
    out: dict[str, float] = {}
    for key, anchor, name in EVENT_MEASURES:
        at = anchors[anchor]
        seen = _first_after(marks, name, at) if at is not None else None
        if at is not None and seen is not None:
            out[key] = round((seen - at).total_seconds(), 3)
    apd_start = _first_after(marks, "apd.start", injected) if injected else None
    apd_timeout = _first_after(marks, "apd.timeout", apd_start) if apd_start else None
    if apd_start and apd_timeout:
        out["apd_start_to_timeout_s"] = round((apd_timeout - apd_start).total_seconds(), 3)
    if injected and healed:
        out["fault_window_s"] = round((healed - injected).total_seconds(), 3)
    for key, suffix, props, good in RECOVERY_MEASURES:
        cond = next((r for r in record.recovery if r.condition.endswith(suffix) and r.seconds is not None), None)
        if cond is not None and cond.met:
            out[key] = round(float(cond.seconds or 0.0), 3)
            continue
        if healed is None:
            continue
        seen = min(
            (
                m.time
                for m in marks
                if m.source == "property"
                and m.time >= healed
                and any(m.detail.startswith(f"{p} = ") for p in props)
                and m.detail.endswith(f" = {good}")
            ),
            default=None,
        )
        if seen is not None:
            out[key] = round((seen - healed).total_seconds(), 3)
    for k, v in record.figures.items():
        if isinstance(v, int | float) and math.isfinite(v):
            out.setdefault(k, float(v))
    return out


def _spans(record: RunRecord, measures: Mapping[str, float]) -> list[Span]:
    spans = [
        Span(
            r.condition,
            r.seconds,
            r.met,
            r.budget_s,
            REBOOTED if r.condition.endswith(" reboots_cleanly") else HEALED,
            r.detail,
        )
        for r in record.recovery
    ]
    for key, suffix, _props, _good in RECOVERY_MEASURES:
        if key in measures and not any(r.condition.endswith(suffix) for r in record.recovery):
            what = key.removeprefix("heal_to_").removesuffix("_s").replace("_", " ")
            spans.append(Span(f"{what} (vSphere)", measures[key], True))
    for key in ("heal_to_apd_exit_s", "heal_to_nfs_server_restored_s"):
        if key in measures:
            spans.append(Span(key.removeprefix("heal_to_").removesuffix("_s").replace("_", " "), measures[key], True))
    return spans


MEASURE_KEYS: tuple[str, ...] = (
    *(k for k, _a, _n in EVENT_MEASURES),
    *(k for k, _s, _p, _g in RECOVERY_MEASURES),
    "apd_start_to_timeout_s",
    "fault_window_s",
)


def run_measures(record: RunRecord, run_dir: Path | None = None) -> dict[str, float]:
    """The recovery measures of a run (fault to APD start, heal to APD exit / datastore accessible / heartbeat
    green, ...) from its judged events, recovery probes and vSphere observations; a measure not seen is absent."""
    return measures_of(build_view(record, run_dir))


def measures_of(view: RunView) -> dict[str, float]:
    """The recovery measures of a view already built (run_measures without building it again)."""
    return {k: view.measures[k] for k in MEASURE_KEYS if k in view.measures}


def build_view(record: RunRecord, run_dir: Path | None = None) -> RunView:
    """The report's data. Never raises on a partial record (an ERROR run): what is missing is simply not drawn."""
    anchors = {k: _time(v) for k, v in record.anchors.items()}
    injected, healed = anchors.get(INJECTED), anchors.get(HEALED)
    judgement = record.judgement or {}
    checks: list[dict[str, Any]] = list(judgement.get("checks") or [])
    in_order = _in_order(checks)
    step_of = {
        _event_key(m["event"]): i
        for i, m in enumerate((in_order or {}).get("matched") or [], 1)
        if m.get("event") and m.get("status") in ("met", "unknown")
    }
    offending = {_event_key(e) for c in checks if c.get("verdict") == "false" for e in c.get("offending") or []}
    lanes: dict[str, Lane] = {}
    for log in record.logs:  # every collected log gets its lane, even a quiet one
        key = lane_of_log(log.host, log.path)
        lanes.setdefault(key, Lane(key, "log"))
    untimed: list[dict[str, Any]] = []
    lanes_by_key: dict[tuple[str, str, int], str] = {}
    for ev in judged_events(record, run_dir):
        t = _time(ev.get("time"))
        if t is None:
            untimed.append(ev)
            continue
        key = lane_of_log(str(ev.get("host") or ""), str(ev.get("file") or ""))
        k = _event_key(ev)
        lanes_by_key[k] = key
        where = f"{k[0]}:{k[1]}:{k[2]}"
        mark = Mark(t, key, str(ev.get("name")), "log", _event_detail(ev), where, step_of.get(k), k in offending)
        lanes.setdefault(key, Lane(key, "log")).marks.append(mark)
    for mark in [*observations_of(record), *vcenter_events_of(record)]:
        lanes.setdefault(mark.lane, Lane(mark.lane, "vsphere")).marks.append(mark)
    for lane in lanes.values():
        lane.marks.sort(key=lambda m: m.time)
    ordered = sorted(lanes.values(), key=lambda ln: (ln.kind != "log", ln.key))
    all_marks = [m for ln in ordered for m in ln.marks]
    measures = _measures(record, all_marks, injected, healed)
    phases = [Phase(p.name, parse_iso(p.started), _time(p.ended), p.status, p.detail) for p in record.phases]
    return RunView(
        record=record,
        injected=injected,
        healed=healed,
        lanes=ordered,
        steps=_steps(in_order, lanes_by_key),
        checks=checks,
        spans=_spans(record, measures),
        phases=phases,
        untimed=untimed,
        measures=measures,
        notes=[*record.notes, *(judgement.get("notes") or [])],
    )
