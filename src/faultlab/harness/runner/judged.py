"""The runner's only contact with the judgement: judge a record, and the few readings the runner makes of it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from faultlab.harness.judge import judge
from faultlab.harness.record import RunRecord, parse_iso


def judge_into(record: RunRecord, run_dir: Path) -> bool:
    """Judge the record as it stands, keep the judgement in it; True when the verdict is TRUE."""
    record.judgement = judge(record, run_dir)
    return verdict_true(record)


def verdict_true(record: RunRecord) -> bool:
    return bool((record.judgement or {}).get("verdict") == "true")


def verdict_message(record: RunRecord) -> str:
    return str((record.judgement or {}).get("message", ""))


def check_signature(record: RunRecord) -> list[tuple[Any, Any, Any]]:
    """What identifies a judgement's outcome: every check with its verdict and message."""
    checks = (record.judgement or {}).get("checks") or []
    return [(c.get("check"), c.get("verdict"), c.get("message")) for c in checks]


def vm_event_times(record: RunRecord, name: str, vm: str) -> list[datetime]:
    """Harness-clock times of the judged events `name` found in the VM's own files (its vmware.log)."""
    out = []
    for e in (record.judgement or {}).get("events", []):
        at = e.get("time_on_harness_clock")
        if e.get("name") == name and at and f"/{vm}/" in str(e.get("file", "")):
            out.append(parse_iso(at))
    return out
