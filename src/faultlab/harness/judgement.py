"""The judge's typed result: a verdict, one result per check, the events seen on the harness clock; its JSON is
the `judgement` of the run record (the same shape records had before it was typed, so old records load)."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field

from faultlab.assertions.checks import Candidate, CheckResult, Failure, StepMatch, Verdict
from faultlab.assertions.timeline import Entry

__all__ = [
    "Failure",
    "JudgedCandidate",
    "JudgedCheck",
    "JudgedEvent",
    "JudgedStep",
    "Judgement",
    "StepStatus",
    "Verdict",
]


class StepStatus(enum.StrEnum):
    """What one expected step of an in-order check got."""

    MET = "met"
    MISSED = "missed"
    UNKNOWN = "unknown"
    NOT_REACHED = "not reached"  # an earlier step was missed, so this one was not looked for


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class JudgedEvent(_Model):
    """One catalog event as judged: `time` is on the harness clock (the host's skew corrected; None: masked),
    `original_time` what the log showed."""

    name: str
    time: datetime | None
    host: str = ""
    file: str = ""
    line: int = 0
    log: str = "other"
    subject: str | None = None
    source_id: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)
    twin_of: dict[str, Any] | None = None
    raw: str = ""
    original_time: datetime | None = None
    offset_s: float | None = None
    primary: bool = True

    @computed_field  # type: ignore[prop-decorator]
    @property
    def time_on_harness_clock(self) -> datetime | None:
        """Kept in the JSON for scripts that read it (the same value as `time`)."""
        return self.time

    @property
    def key(self) -> tuple[str, str, int]:
        """(host, file, line): which log line it is."""
        return (self.host, self.file, self.line)

    @property
    def where(self) -> str:
        return f"{self.host}:{self.file}:{self.line}"

    @classmethod
    def of(cls, entry: Entry) -> JudgedEvent:
        ev = entry.event
        return cls(
            name=ev.name,
            time=ev.time,
            host=ev.host,
            file=ev.file,
            line=ev.line_no,
            log=ev.kind.value,
            subject=ev.subject,
            source_id=ev.source_id,
            fields=dict(ev.fields),
            twin_of={"file": ev.twin[0], "line": ev.twin[1]} if ev.twin else None,
            raw=ev.raw,
            original_time=entry.original_time,
            offset_s=entry.offset.total_seconds(),
            primary=entry.primary,
        )


class JudgedStep(_Model):
    """One expected step of the in-order check: the event it matched (met), or none."""

    label: str
    name: str
    status: StepStatus
    event: JudgedEvent | None = None

    @classmethod
    def of(cls, m: StepMatch) -> JudgedStep:
        return cls(
            label=m.label, name=m.name, status=StepStatus(m.status), event=JudgedEvent.of(m.entry) if m.entry else None
        )


class JudgedCandidate(_Model):
    """An event that came close to a missed step, and why it did not do."""

    name: str
    time: datetime | None
    host: str = ""
    subject: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)
    where: str = ""
    reason: str = ""

    @classmethod
    def of(cls, c: Candidate) -> JudgedCandidate:
        ev = c.entry.event
        return cls(
            name=ev.name,
            time=ev.time,
            host=ev.host,
            subject=ev.subject,
            fields=dict(ev.fields),
            where=c.entry.where,
            reason=c.reason,
        )


class JudgedCheck(_Model):
    """One check's outcome: TRUE, FALSE (with `failure` saying why) or UNKNOWN, and what it was measured on."""

    verdict: Verdict
    check: str
    message: str
    step: str | None = None
    step_index: int | None = None  # 1-based
    failure: Failure | None = None
    measured_s: float | None = None
    bound_s: float | None = None
    matched: tuple[JudgedStep, ...] = ()  # the in-order check's steps
    candidates: tuple[JudgedCandidate, ...] = ()
    offending: tuple[JudgedEvent, ...] = ()  # forbidden events, one too many

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.TRUE

    @classmethod
    def of(cls, r: CheckResult) -> JudgedCheck:
        return cls(
            verdict=r.verdict,
            check=r.check,
            message=r.message,
            step=r.step,
            step_index=r.step_index,
            failure=r.failure,
            measured_s=r.measured.total_seconds() if r.measured is not None else None,
            bound_s=r.bound.total_seconds() if r.bound is not None else None,
            matched=tuple(JudgedStep.of(m) for m in r.matched),
            candidates=tuple(JudgedCandidate.of(c) for c in r.candidates),
            offending=tuple(JudgedEvent.of(e) for e in r.offending),
        )


class Judgement(BaseModel):
    """The judge's result over one run. Mutable only so that a run's judgement can be replaced by a newer one."""

    model_config = ConfigDict(extra="ignore")

    verdict: Verdict
    message: str
    checks: list[JudgedCheck] = Field(default_factory=list)
    lines: list[str] = Field(default_factory=list)  # every check as terminal text
    events: list[JudgedEvent] = Field(default_factory=list)  # primary events, in timeline order
    notes: list[str] = Field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.TRUE

    @property
    def sequence(self) -> JudgedCheck | None:
        """The in-order check (the one with expected steps), if the scenario has one."""
        return next((c for c in self.checks if c.matched), None)

    def named(self, name: str, vm: str | None = None) -> Iterator[JudgedEvent]:
        """The events of one catalog name; with `vm`, only those from that VM's folder (its vmware.log)."""
        return (e for e in self.events if e.name == name and (vm is None or f"/{vm}/" in e.file))

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: Any) -> Judgement:
        """ValueError (pydantic's ValidationError) for a judgement that is not one."""
        return cls.model_validate(data)
