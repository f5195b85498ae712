"""Shared record types of the judges: log kinds, parsed log lines and catalog events."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from faultlab.assertions.events import EVENTS


class LogKind(enum.StrEnum):
    """Which ESXi log a line came from; decides which layouts and signatures apply."""

    VMKERNEL = "vmkernel"  # also vmkwarning / vmkalert: same line shapes
    VOBD = "vobd"
    HOSTD = "hostd"
    VMWARE = "vmware"  # per-VM vmware.log written by the VMX
    VMKSUMMARY = "vmksummary"
    OTHER = "other"  # fdm, syslog, auth, shell, PSOD console text...


@dataclass(slots=True)
class LogLine:
    """One physical line of a log, split into its header and body.

    `ok` is False for a line whose layout was not recognised (truncated, foreign, garbage): it is kept,
    counted and reported, never dropped. `time` is None when the timestamp is masked
    (``YYYY-MM-DDTHH:MM:SS``) or unparseable; `time_text` keeps what was there.
    """

    kind: LogKind
    file: str
    line_no: int
    raw: str
    body: str
    time: datetime | None = None
    time_text: str = ""
    masked: bool = False
    layout: str = "unknown"  # e.g. "esxi8", "esxi5-7", "esx4-syslog", "psod", "continuation"
    severity: str | None = None  # "In", "Wa", "info", "warning", "I125"...
    program: str | None = None  # "vmkernel", "vobd", "Hostd", "vcpu-0"...
    pid: str | None = None
    continuation: bool = False  # a "+" marked or "-->" line that continues the previous message
    host: str = ""
    ok: bool = True
    problem: str | None = None  # why ok is False
    year_inferred: bool = False  # the stamp has no year (ESX 3.x/4.x syslog): it came from context


@dataclass(slots=True)
class Event:
    """One observation of the signature catalog (stable `name`, see DESIGN.md)."""

    name: str
    time: datetime | None
    host: str
    file: str
    line_no: int
    raw: str
    subject: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    source_id: str | None = None  # the ESXi event id, e.g. "esx.problem.storage.apd.start"
    kind: LogKind = LogKind.OTHER
    twin: tuple[str, int] | None = None  # (file, line_no) of the vob.*/esx.* twin this one duplicates
    year_inferred: bool = False  # `time`'s year is not in the line (ESX 3.x/4.x syslog): taken from context

    @property
    def key(self) -> tuple[str, int]:
        return (self.file, self.line_no)

    def to_json(self) -> dict[str, Any]:
        """The stable JSON shape of one event (documented in README: scripts depend on it)."""
        return {
            "name": self.name,
            "time": self.time.isoformat().replace("+00:00", "Z") if self.time else None,
            "year_inferred": self.year_inferred,
            "host": self.host,
            "file": self.file,
            "line": self.line_no,
            "log": self.kind.value,
            "subject": self.subject,
            "source_id": self.source_id,
            "fields": self.fields,
            "twin_of": {"file": self.twin[0], "line": self.twin[1]} if self.twin else None,
            "raw": self.raw,
        }


# The stable names of DESIGN.md's signature catalog, from the one event table (events.py).
CATALOG_NAMES: tuple[str, ...] = tuple(e.name for e in EVENTS)
