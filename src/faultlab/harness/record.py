"""The run record: everything one run did and saw, as JSON written atomically after every phase."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

RECORD_VERSION = 1
RECORD_FILE = "record.json"
LOGS_DIR = "logs"

# The outcomes of a run; the three of DESIGN.md plus "running" while phases are still being written.
PASSED, FAILED, ERROR, RUNNING = "passed", "failed", "error", "running"


def now_utc() -> datetime:
    return datetime.now(UTC)


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


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
    """One recovery condition: met or not within the budget, and how long after heal it took."""

    condition: str
    met: bool | None  # None: the lab gives no way to observe it
    seconds: float | None
    budget_s: float
    detail: str = ""


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
    outcome: str = RUNNING
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
    judgement: dict[str, Any] | None = None
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
    def to_json(self) -> dict[str, Any]:
        return asdict(self)

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
        return cls(**data)


def inventory_timing(path: str) -> str | None:
    """The `timing:` key of an embedded lab's inventory (None when absent or unreadable: a real lab's)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    value = data.get("timing") if isinstance(data, dict) else None
    return value if value in ("fast", "real") else None


def write_atomic(path: Path, text: str) -> None:
    """Temp file in the same folder, fsync, rename: a reader (or a crash) sees the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


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
        return RunRecord.from_json(data), p.parent
    except TypeError as exc:
        raise ValueError(f"{p}: not a faultlab run record: {exc}") from None


def log_artifact_path(host: str, remote_path: str) -> str:
    """Where a log's collected bytes go inside the run folder: logs/<host>/<remote path without the leading />."""
    return f"{LOGS_DIR}/{host}/{remote_path.lstrip('/')}"
