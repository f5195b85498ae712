"""The recovery measures of a run (fault to APD start, heal to APD exit / datastore accessible / heartbeat green,
...), computed in one place from its judged events, recovery results and vSphere observations; the reports show
them and `faultlab compare` turns the ones counted from the heal into regression verdicts."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from faultlab.harness.anchors import HEALED, INJECTED, ConditionKey
from faultlab.harness.judge import events_of
from faultlab.harness.judgement import JudgedEvent
from faultlab.harness.record import RunRecord
from faultlab.harness.utc import parse_iso


@dataclass(frozen=True)
class EventMeasure:
    """Seconds from `anchor` to the first `event` at or after it."""

    key: str
    anchor: str
    event: str


@dataclass(frozen=True)
class RecoveryMeasure:
    """Seconds from the heal until a recovery condition was met; without that condition in the run, until vSphere
    first showed one of `properties` at `recovered` after the heal."""

    key: str
    condition: ConditionKey
    properties: tuple[str, ...]
    recovered: str

    @property
    def label(self) -> str:
        """ "datastore accessible" """
        return self.key.removeprefix("heal_to_").removesuffix("_s").replace("_", " ")


EVENT_MEASURES: tuple[EventMeasure, ...] = (
    EventMeasure("fault_to_apd_start_s", INJECTED, "apd.start"),
    EventMeasure("fault_to_pdl_s", INJECTED, "pdl"),
    EventMeasure("fault_to_nfs_server_lost_s", INJECTED, "nfs.server.lost"),
    EventMeasure("heal_to_apd_exit_s", HEALED, "apd.exit"),
    EventMeasure("heal_to_nfs_server_restored_s", HEALED, "nfs.server.restored"),
    EventMeasure("heal_to_guest_bsod_s", HEALED, "guest.bsod"),
)
RECOVERY_MEASURES: tuple[RecoveryMeasure, ...] = (
    RecoveryMeasure(
        "heal_to_datastore_accessible_s", ConditionKey.ACCESSIBLE, ("accessible", "summary.accessible"), "true"
    ),
    RecoveryMeasure(
        "heal_to_guest_heartbeat_green_s", ConditionKey.HEARTBEAT_GREEN, ("guestHeartbeatStatus",), "green"
    ),
    RecoveryMeasure(
        "heal_to_vm_powered_on_s", ConditionKey.POWERED_ON, ("runtime.powerState", "powerState"), "poweredOn"
    ),
)
APD_START_TO_TIMEOUT, FAULT_WINDOW = "apd_start_to_timeout_s", "fault_window_s"
# The heal-to-storage measures shown as recovery spans in the reports (beside the recovery conditions).
STORAGE_BACK: tuple[str, ...] = ("heal_to_apd_exit_s", "heal_to_nfs_server_restored_s")
MEASURE_KEYS: tuple[str, ...] = (
    *(m.key for m in EVENT_MEASURES),
    *(m.key for m in RECOVERY_MEASURES),
    APD_START_TO_TIMEOUT,
    FAULT_WINDOW,
)
# From the heal to the storage or the VM being back: a slower one is a regression. The measures from the fault
# move with the APD timeout on purpose (the scenario's own checks judge those), so they are reported only.
JUDGED_MEASURES = frozenset({*STORAGE_BACK, *(m.key for m in RECOVERY_MEASURES)})


@dataclass(frozen=True)
class Observation:
    """One vSphere property change on the harness clock: `value` as text ("true", "green", "poweredOn")."""

    time: datetime
    object: str  # "datastore ds-nfs01", "vm win01"
    property: str  # "summary.accessible", "guestHeartbeatStatus"
    value: str


_OBJ_TYPES = {"Datastore": "datastore", "VirtualMachine": "vm", "HostSystem": "host"}


def field_of(item: Any, *names: str) -> Any:
    """A key of a dict, or an attribute of a dataclass (lab.vsphere.PropertyChange / VsphereEvent), by the first
    name present: the record holds dicts once written, the runner's objects before."""
    for name in names:
        value = item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)
        if value is not None:
            return value
    return None


def time_of(value: Any) -> datetime | None:
    """A datetime, or ISO text, as an aware UTC datetime; None for anything else."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return parse_iso(value)
        except ValueError:
            return None
    return None


def value_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def observations(record: RunRecord) -> list[Observation]:
    """`record.observations` ({time, object, property, value}, or PropertyChange-like objects) as typed changes;
    one without a readable time is left out (it cannot be placed on the clock)."""
    out: list[Observation] = []
    for item in record.observations:
        t = time_of(field_of(item, "time"))
        if t is None:
            continue
        obj = field_of(item, "object")
        if obj is None:
            kind = str(field_of(item, "obj_type") or "")
            obj = f"{_OBJ_TYPES.get(kind, kind or 'object')} {field_of(item, 'name') or field_of(item, 'moref') or '?'}"
        prop = str(field_of(item, "property", "path") or "?")
        out.append(Observation(t, str(obj), prop, value_text(field_of(item, "value"))))
    return out


def _first(events: Iterable[JudgedEvent], name: str, since: datetime) -> datetime | None:
    return min((e.time for e in events if e.name == name and e.time is not None and e.time >= since), default=None)


def _seconds(a: datetime, b: datetime) -> float:
    return round((b - a).total_seconds(), 3)


def measures(record: RunRecord, events: Sequence[JudgedEvent], changes: Sequence[Observation]) -> dict[str, float]:
    """The measures of MEASURE_KEYS that the run shows; one not seen is absent."""
    anchors = {k: time_of(v) for k, v in record.anchors.items()}
    out: dict[str, float] = {}
    for em in EVENT_MEASURES:
        at = anchors.get(em.anchor)
        seen = _first(events, em.event, at) if at is not None else None
        if at is not None and seen is not None:
            out[em.key] = _seconds(at, seen)
    injected, healed = anchors.get(INJECTED), anchors.get(HEALED)
    apd_start = _first(events, "apd.start", injected) if injected else None
    apd_timeout = _first(events, "apd.timeout", apd_start) if apd_start else None
    if apd_start and apd_timeout:
        out[APD_START_TO_TIMEOUT] = _seconds(apd_start, apd_timeout)
    if injected and healed:
        out[FAULT_WINDOW] = _seconds(injected, healed)
    for rm in RECOVERY_MEASURES:
        cond = next((r for r in record.recovery if r.key is rm.condition and r.seconds is not None), None)
        if cond is not None and cond.met and cond.seconds is not None:
            out[rm.key] = round(float(cond.seconds), 3)
            continue
        if healed is None:
            continue
        back = min(
            (c.time for c in changes if c.time >= healed and c.property in rm.properties and c.value == rm.recovered),
            default=None,
        )
        if back is not None:
            out[rm.key] = _seconds(healed, back)
    return out


def shown_by_conditions(record: RunRecord) -> set[str]:
    """The recovery measures a recovery condition of the run already shows (its own row, its own span)."""
    keys = {r.key for r in record.recovery}
    return {rm.key for rm in RECOVERY_MEASURES if rm.condition in keys}


def figures(record: RunRecord) -> dict[str, float]:
    """The run's finite figures (wall_s, bytes_collected, ...) as floats."""
    return {k: float(v) for k, v in record.figures.items() if isinstance(v, int | float) and math.isfinite(v)}


def run_measures(record: RunRecord, run_dir: Path | None = None) -> dict[str, float]:
    """The recovery measures of a run from its judged events (judged again from the collected logs when the record
    has no judgement), recovery results and vSphere observations."""
    return measures(record, events_of(record, run_dir), observations(record))
