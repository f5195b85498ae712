"""The runner's only contact with the judgement: judge a record, and the few readings the runner makes of it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from faultlab.harness.judge import judge
from faultlab.harness.record import RunRecord


def judge_into(record: RunRecord, run_dir: Path) -> bool:
    """Judge the record as it stands, keep the judgement in it; True when the verdict is TRUE."""
    record.judgement = judge(record, run_dir)
    return verdict_true(record)


def verdict_true(record: RunRecord) -> bool:
    return record.judgement is not None and record.judgement.passed


def verdict_message(record: RunRecord) -> str:
    return record.judgement.message if record.judgement is not None else ""


def check_signature(record: RunRecord) -> list[tuple[Any, Any, Any]]:
    """What identifies a judgement's outcome: every check with its verdict and message."""
    checks = record.judgement.checks if record.judgement is not None else []
    return [(c.check, c.verdict, c.message) for c in checks]


def vm_event_times(record: RunRecord, name: str, vm: str) -> list[datetime]:
    """Harness-clock times of the judged events `name` found in the VM's own files (its vmware.log)."""
    events = record.judgement.named(name, vm) if record.judgement is not None else ()
    return [e.time for e in events if e.time is not None]
