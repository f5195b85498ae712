"""The artifacts folder of one run: record.json, logs/<host>/..., vcenter-events.json, junit.xml, report.html."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from faultlab.harness.anchors import HEALED, INJECTED
from faultlab.harness.atomic import write_atomic
from faultlab.harness.record import LOGS_DIR, RECORD_FILE, RunRecord, save_record
from faultlab.harness.report.data import RunView, build_view
from faultlab.harness.report.html import REPORT_FILE, render_html
from faultlab.harness.report.junit import JUNIT_FILE, junit_xml
from faultlab.harness.utc import iso, parse_iso

VCENTER_FILE = "vcenter-events.json"
log = logging.getLogger("faultlab.harness.artifacts")


@dataclass
class Artifacts:
    """What `write_artifacts` left in the run folder; `problems` says what could not be written or is missing."""

    run_dir: Path
    written: list[Path] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def path(self, name: str) -> Path:
        return self.run_dir / name


def _plain(value: Any) -> Any:
    """JSON-ready: datetimes as ISO UTC, dataclasses (lab.vsphere.PropertyChange / VsphereEvent) as dicts."""
    if isinstance(value, datetime):
        return iso(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def fault_window(record: RunRecord) -> dict[str, str | None]:
    """The span the collected logs cover: from the log marks to the end of collection (after recovery)."""
    mark = record.phase("mark")
    last = next((p for p in reversed(record.phases) if p.ended), None)
    return {
        "from": mark.started if mark else (record.phases[0].started if record.phases else record.started),
        "injected": record.anchors.get(INJECTED),
        "healed": record.anchors.get(HEALED),
        "to": last.ended if last else None,
    }


def vcenter_document(record: RunRecord) -> dict[str, Any]:
    """vCenter events and vSphere property changes seen during the run (`record.vcenter_events` /
    `record.observations`, when the runner recorded them), with the window they belong to."""
    return {
        "run_id": record.run_id,
        "window": fault_window(record),
        "events": _plain(list(getattr(record, "vcenter_events", None) or [])),
        "observations": _plain(list(getattr(record, "observations", None) or [])),
    }


def check_logs(record: RunRecord, run_dir: Path) -> tuple[list[Path], list[str]]:
    """The collected logs are where the record says, inside logs/, with the byte counts it says."""
    found: list[Path] = []
    problems: list[str] = []
    root = (run_dir / LOGS_DIR).resolve()
    for lf in record.logs:
        path = (run_dir / lf.file).resolve()
        if not path.is_relative_to(root):
            problems.append(f"{lf.host}:{lf.path}: collected into {lf.file}, outside {LOGS_DIR}/")
            continue
        if not path.is_file():
            problems.append(f"{lf.host}:{lf.path}: {lf.file} is missing from the run folder")
            continue
        size = path.stat().st_size
        if size != lf.bytes:
            problems.append(f"{lf.host}:{lf.path}: {lf.file} holds {size} bytes, the record says {lf.bytes}")
        found.append(path)
    window = fault_window(record)
    if window["from"] and window["to"] and parse_iso(window["to"]) < parse_iso(window["from"]):
        problems.append(f"the log window ends ({window['to']}) before it starts ({window['from']})")
    return found, problems


def write_artifacts(record: RunRecord, run_dir: Path) -> Artifacts:
    """Write every artifact of a finished (or failed, or errored) run. Never raises for a report that cannot be
    made: the problem is logged, returned, and noted in the record (written last)."""
    out = Artifacts(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    out.logs, out.problems = check_logs(record, run_dir)
    view: RunView | None = None
    try:
        view = build_view(record, run_dir)
    except Exception as exc:  # a report bug must not hide the run's own outcome
        out.problems.append(f"report data: {type(exc).__name__}: {exc}")

    def attempt(name: str, make: Callable[[], str]) -> None:
        try:
            write_atomic(run_dir / name, make())
            out.written.append(run_dir / name)
        except Exception as exc:
            out.problems.append(f"{name}: {type(exc).__name__}: {exc}")

    attempt(VCENTER_FILE, lambda: json.dumps(vcenter_document(record), indent=2) + "\n")
    if view is not None:
        v = view
        attempt(JUNIT_FILE, lambda: junit_xml(v))
        attempt(REPORT_FILE, lambda: render_html(v, files=[RECORD_FILE, VCENTER_FILE, JUNIT_FILE]))
    for p in out.problems:
        log.warning("artifacts of %s: %s", record.run_id, p)
        note = f"artifacts: {p}"
        if note not in record.notes:
            record.notes.append(note)
    out.written.insert(0, save_record(record, run_dir))
    return out
