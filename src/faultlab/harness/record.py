"""The run record: everything one run did and saw, as JSON written atomically after every phase."""

from __future__ import annotations

import contextlib
import enum
import json
import os
import socket
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from faultlab.harness.anchors import HEALED, ConditionKey
from faultlab.harness.atomic import write_atomic
from faultlab.harness.judgement import Judgement
from faultlab.harness.utc import iso, now_utc, parse_iso

__all__ = ["iso", "now_utc", "parse_iso", "write_atomic"]  # the runner takes them from here too

RECORD_VERSION = 1  # the judgement's JSON kept its shape when it became typed: version 1 records load as they are
RECORD_FILE = "record.json"
LOGS_DIR = "logs"


class Outcome(enum.StrEnum):
    """The outcomes of a run; the three of DESIGN.md plus "running" while phases are still being written."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    RUNNING = "running"


PASSED, FAILED, ERROR, RUNNING = Outcome.PASSED, Outcome.FAILED, Outcome.ERROR, Outcome.RUNNING


@dataclass
class Phase:
    """One phase of the run: when it ran, how it ended (ok | error | interrupted), and what it found."""

    name: str
    started: str
    ended: str | None = None
    status: str = "running"
    detail: str = ""

    @property
    def seconds(self) -> float | None:
        if self.ended is None:
            return None
        return (parse_iso(self.ended) - parse_iso(self.started)).total_seconds()


@dataclass
class LogFile:
    """One collected log: where it lives on the host, where its bytes are in the artifacts, and how many."""

    host: str
    path: str  # on the host, e.g. /var/run/log/vobd.log or /vmfs/volumes/ds-nfs01/win01/vmware.log
    file: str  # relative to the run folder
    bytes: int
    grown: int | None = None  # how much the log grew on the host since the mark (None: rotated / unknown)
    rotated: list[str] = field(default_factory=list)
    gap: bool = False


@dataclass
class Recovery:
    """One recovery condition: met or not within the budget, and how long after its anchor it took."""

    condition: str  # "<object kind> <object name> <key>", e.g. "vm win01 heartbeat_green"
    met: bool | None  # None: the lab gives no way to observe it
    seconds: float | None
    budget_s: float
    detail: str = ""
    key: ConditionKey | None = None  # from the condition's name when not given (records before it was stored)

    def __post_init__(self) -> None:
        self.key = ConditionKey(self.key) if self.key is not None else ConditionKey.of(self.condition)

    @property
    def since(self) -> str:
        """The anchor its seconds count from."""
        return self.key.counted_from if self.key is not None else HEALED


@dataclass
class RunRecord:
    """The JSON run record. `scenario_text` and the collected logs make it re-judgeable offline."""

    run_id: str
    scenario_name: str
    scenario_path: str | None
    scenario_text: str
    inventory_path: str | None
    started: str
    version: int = RECORD_VERSION
    outcome: Outcome = RUNNING
    message: str = ""
    settings: dict[str, float] = field(default_factory=dict)
    # datastore name -> the ids its host logs for it (volume UUID, NFS APD identifier, VMFS device naa id)
    datastore_ids: dict[str, list[str]] = field(default_factory=dict)
    skews: dict[str, dict[str, float]] = field(default_factory=dict)  # host -> {offset_s, uncertainty_s}
    phases: list[Phase] = field(default_factory=list)
    anchors: dict[str, str] = field(default_factory=dict)
    fault: dict[str, Any] | None = None
    heal: dict[str, str] | None = None
    hold_s: float | None = None
    recover_budget_s: float | None = None
    recovery: list[Recovery] = field(default_factory=list)
    logs: list[LogFile] = field(default_factory=list)
    judgement: Judgement | None = None
    observed: list[dict[str, str]] = field(default_factory=list)  # events first seen live during the hold
    # vSphere property changes seen by the watch ({time, object, property, value, kind}) and the vCenter events
    # of the run's window ({time, key, type, eventTypeId, message, host, datastore, vm}); times on the harness clock
    observations: list[dict[str, Any]] = field(default_factory=list)
    vcenter_events: list[dict[str, Any]] = field(default_factory=list)
    measures: dict[str, float] = field(default_factory=dict)  # recovery measures (fault_to_apd_start_s, ...)
    figures: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # The embedded lab's timing profile (its inventory's `timing`): "fast" = lab-scaled numbers, "real" = ESXi's;
    # None for a real lab. Taken from the inventory when the record is made, so the report can say it later.
    lab_timing: str | None = None
    # the process writing a running record ({pid, start, host}): a record left `running` by a process that is
    # gone is marked dead when read (mark_if_dead)
    owner: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.lab_timing is None and self.inventory_path and self.outcome == RUNNING:
            self.lab_timing = inventory_timing(self.inventory_path)

    # -- phases ------------------------------------------------------------------------------------------
    def begin(self, name: str) -> Phase:
        phase = Phase(name, iso(now_utc()))
        self.phases.append(phase)
        return phase

    def phase(self, name: str) -> Phase | None:
        return next((p for p in reversed(self.phases) if p.name == name), None)

    def anchor_times(self) -> dict[str, datetime]:
        return {k: parse_iso(v) for k, v in self.anchors.items()}

    # -- JSON --------------------------------------------------------------------------------------------
    @property
    def passed(self) -> bool:
        """The last judgement's verdict is TRUE."""
        return self.judgement is not None and self.judgement.passed

    def to_json(self) -> dict[str, Any]:
        data = asdict(replace(self, judgement=None))
        data["judgement"] = self.judgement.to_json() if self.judgement is not None else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        if data.get("version") != RECORD_VERSION:
            raise ValueError(
                f"unknown run record version {data.get('version')!r} (this faultlab reads {RECORD_VERSION})"
            )
        data = dict(data)
        data["phases"] = [Phase(**p) for p in data.get("phases", [])]
        data["recovery"] = [Recovery(**r) for r in data.get("recovery", [])]
        data["logs"] = [LogFile(**f) for f in data.get("logs", [])]
        data["outcome"] = Outcome(data.get("outcome", RUNNING))
        data["judgement"], problem = _judgement(data.get("judgement"))
        record = cls(**data)
        if problem:
            record.notes.append(problem)
        return record


def inventory_timing(path: str) -> str | None:
    """The `timing:` key of an embedded lab's inventory (None when absent or unreadable: a real lab's)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    value = data.get("timing") if isinstance(data, dict) else None
    return value if value in ("fast", "real") else None


def _judgement(data: Any) -> tuple[Judgement | None, str]:
    """A record's judgement, or None and why when it cannot be read: the record still loads and `faultlab judge`
    judges it again from its collected logs."""
    if data is None:
        return None, ""
    try:
        return Judgement.from_json(data), ""
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return None, (
            f"the stored judgement was left out: judgement.{where}: {first['msg']}; "
            "judge the run again with `faultlab judge RUN`"
        )


def save_record(record: RunRecord, run_dir: Path) -> Path:
    path = run_dir / RECORD_FILE
    write_atomic(path, json.dumps(record.to_json(), indent=2, sort_keys=False) + "\n")
    return path


def load_record(path: str | Path) -> tuple[RunRecord, Path]:
    """A record file (or the run folder holding record.json) -> (record, run folder)."""
    p = Path(path)
    if p.is_dir():
        p = p / RECORD_FILE
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{p}: cannot read the run record: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: not a JSON run record: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{p}: not a JSON run record (an object is expected)")
    try:
        record = RunRecord.from_json(data)
    except ValueError as exc:
        raise ValueError(f"{p}: {exc}") from None
    except TypeError as exc:
        raise ValueError(f"{p}: not a faultlab run record: {exc}") from None
    if mark_if_dead(record):
        with contextlib.suppress(OSError):  # a read-only folder: marked in memory, the next reader marks again
            save_record(record, p.parent)
    return record, p.parent


def owner_of_this_process() -> dict[str, Any]:
    from faultlab.harness.ledger import process_start

    return {"pid": os.getpid(), "start": process_start(os.getpid()), "host": socket.gethostname()}


def mark_if_dead(record: RunRecord) -> bool:
    """A record still `running` whose process is gone (killed: SIGKILL, OOM, power) becomes outcome error with a
    message saying so, and its unfinished phase `dead`; True when it was marked."""
    from faultlab.harness.ledger import process_start

    owner = record.owner
    if record.outcome != RUNNING or not owner.get("pid") or owner.get("host") != socket.gethostname():
        return False
    started = process_start(int(owner["pid"]))
    if started is not None and (owner.get("start") is None or started == owner.get("start")):
        return False  # still running
    unfinished = [ph for ph in record.phases if ph.ended is None]
    for ph in unfinished:
        ph.status, ph.detail = "dead", "the run's process ended without finishing this phase"
    where = f" during phase {unfinished[-1].name}" if unfinished else ""
    fault = ""
    if record.fault is not None and record.heal is None:
        fault = "; its fault was not healed by the run: the dead-man timer or `faultlab heal` removes it"
    record.outcome = ERROR
    record.message = f"dead run: its process (pid {owner['pid']}) is gone{where}, killed before it finished{fault}"
    return True


def log_artifact_path(host: str, remote_path: str) -> str:
    """Where a log's collected bytes go inside the run folder: logs/<host>/<remote path without the leading />."""
    return f"{LOGS_DIR}/{host}/{remote_path.lstrip('/')}"
