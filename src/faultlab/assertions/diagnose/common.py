"""What every KB diagnosis shares: the verdict, the Diagnosis record, event order and plain readings."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from faultlab.assertions import events as event_table
from faultlab.assertions.model import Event

Figure = int | float | str


class DiagVerdict(enum.StrEnum):
    """Does the KB's pattern explain what the logs show? INFO: no incident, a finding worth reading."""

    TRUE = "true"
    FALSE = "false"
    UNKNOWN = "unknown"
    INFO = "info"


@dataclass(slots=True)
class Diagnosis:
    """One KB's reading of one VM or host, for a support engineer and for `faultlab triage --json`."""

    kb: str
    title: str
    verdict: DiagVerdict
    subject: str
    summary: str
    evidence: list[Event] = field(default_factory=list)
    figures: dict[str, Figure] = field(default_factory=dict)  # unit in the name: _s, _kb, _pct, _kb_per_h
    recommendations: list[str] = field(default_factory=list)
    host: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "kb": self.kb,
            "title": self.title,
            "verdict": self.verdict.value,
            "subject": self.subject,
            "host": self.host,
            "summary": self.summary,
            "figures": dict(self.figures),
            "recommendations": list(self.recommendations),
            "evidence": [e.to_json() for e in self.evidence],
        }


# ---------------------------------------------------------------------------------------------- ordering


def live_events(events: Iterable[Event]) -> list[Event]:
    """The events that count: a vob/esx twin duplicates another event."""
    return [e for e in events if e.twin is None]


def utc(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def order(a: Event, b: Event) -> int | None:
    """-1 if a came before b, 1 after, 0 at the same time; None when no clock or file position decides.

    Timed events compare by time; untimed (masked) ones only by line position within the same file.
    """
    if a.time is not None and b.time is not None:
        ta, tb = utc(a.time), utc(b.time)
        if ta != tb or a.file != b.file:
            return (ta > tb) - (ta < tb)
    if a.file == b.file:
        return (a.line_no > b.line_no) - (a.line_no < b.line_no)
    return None


def sorted_events(events: Iterable[Event]) -> list[Event]:
    """Timed events by time, then the untimed ones by file position (their place is not known)."""
    items = list(events)
    timed = sorted((e for e in items if e.time), key=lambda e: (utc(e.time or datetime.min), e.file, e.line_no))
    untimed = sorted((e for e in items if not e.time), key=lambda e: (e.file, e.line_no))
    return timed + untimed


def when(e: Event) -> str:
    if e.time is None:
        return f"(time masked, {e.file}:{e.line_no})"
    return utc(e.time).isoformat(timespec="seconds").replace("+00:00", "Z")


def same_host(a: Event, b: Event) -> bool:
    return not a.host or not b.host or a.host == b.host


def path_parts(path: str) -> tuple[str | None, str | None]:
    """(datastore, VM folder) of "/vmfs/volumes/<datastore>/<vm>/file"."""
    parts = path.split("/")
    if len(parts) >= 6 and parts[1] == "vmfs" and parts[2] == "volumes":
        return parts[3], parts[4]
    return None, None


def bugcheck(e: Event) -> str:
    code = e.fields.get("code")
    code_hex = e.fields.get("code_hex") or (f"0x{code:X}" if isinstance(code, int) else "?")
    name = e.fields.get("name")
    return f"{code_hex} {name}" if name else str(code_hex)


def describe(e: Event) -> str:
    """A short human reading of one event (the plain label of the event table, with its subject)."""
    f = e.fields
    if e.name == "hostd.slow_io":
        return f"{f.get('op', 'I/O')} of {f.get('path', e.subject)} took over {f.get('seconds')} s"
    if e.name == "hostd.io_error":
        return f"I/O error on {f.get('path', e.subject)} ({f.get('error', 'error')})"
    if e.name == "apd.timeout":
        return f"APD timeout on {e.subject} after {f.get('seconds')} s"
    if e.name in ("nfs.server.lost", "nfs.server.restored"):
        verb = "lost" if e.name.endswith("lost") else "restored"
        return f"NFS server {f.get('server', '?')} {verb} (mount {f.get('mount_point', e.subject)})"
    if e.name == "guest.bsod":
        return f"bugcheck {bugcheck(e)}"
    row = event_table.info(e.name)
    return f"{row.label if row else e.name} {e.subject or ''}".strip()
