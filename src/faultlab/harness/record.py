"""The run record: everything one run did and saw, as JSON written atomically after every phase."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
    # the process writing a running record ({pid, start, host}): a record left `running` by a process that is
    # gone is marked dead when read (mark_if_dead)
    owner: dict[str, Any] = field(default_factory=dict)

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
        record = RunRecord.from_json(data)
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
