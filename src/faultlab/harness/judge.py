"""The judge step: a run record's collected log bytes -> events -> skew-corrected timeline -> checks -> verdict."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from faultlab.assertions.catalog import link_twins
from faultlab.assertions.checks import (
    CheckResult,
    Failure,
    Verdict,
    check_count,
    check_in_order,
    check_never,
    overall,
    run_checks,
)
from faultlab.assertions.diagnose import diagnose_all
from faultlab.assertions.diagnose.common import DiagVerdict
from faultlab.assertions.layouts import kind_from_filename
from faultlab.assertions.model import Event, LogKind
from faultlab.assertions.scan import scan_stream
from faultlab.assertions.steps import Step
from faultlab.assertions.timeline import Timeline
from faultlab.harness.anchors import INJECTED, REBOOTED, ConditionKey
from faultlab.harness.judgement import JudgedCheck, JudgedEvent, Judgement
from faultlab.harness.record import RunRecord
from faultlab.harness.scenario import Scenario, parse_scenario


def scan_logs(record: RunRecord, run_dir: Path) -> tuple[list[Event], list[str]]:
    """Every collected log of the record parsed into catalog events; problems (missing files) as notes."""
    events: list[Event] = []
    notes: list[str] = []
    for log in record.logs:
        path = run_dir / log.file
        try:
            data = path.read_bytes()
        except OSError as exc:
            notes.append(f"{log.host}:{log.path}: collected bytes unreadable ({exc.strerror or exc})")
            continue
        kind = kind_from_filename(log.path) or LogKind.OTHER
        found, _stats = scan_stream(io.BytesIO(data), kind=kind, name=log.path, host=log.host)
        events.extend(found)
    link_twins(events)  # a vob.* line and its esx.* twin are one observation, counted once
    name_datastores(events, record.datastore_ids)
    return events, notes


def name_datastores(events: list[Event], datastore_ids: dict[str, list[str]]) -> None:
    """An event whose subject is a datastore's volume UUID, NFS APD identifier or device id gets the datastore's
    name as its `datastore` field (in place; the subject and raw line stay as logged)."""
    by_id = {i: name for name, ids in datastore_ids.items() for i in ids}
    for e in events:
        if e.subject in by_id and "datastore" not in e.fields:
            e.fields["datastore"] = by_id[e.subject]


def build_timeline(record: RunRecord, events: list[Event]) -> Timeline:
    """Host times moved onto the harness clock (a host ahead by s gets -s), with the run's anchors."""
    offsets = {h: timedelta(seconds=-s["offset_s"]) for h, s in record.skews.items()}
    return Timeline.build(events, offsets, record.anchor_times())


def recovery_results(record: RunRecord) -> list[CheckResult]:
    """The recovery conditions as checks: met (TRUE), missed (FALSE), unobservable (UNKNOWN)."""
    out: list[CheckResult] = []
    for r in record.recovery:
        check = f"recover: {r.condition} within {r.budget_s:g}s of {r.since}"
        if r.met is True:
            out.append(
                CheckResult(Verdict.TRUE, check, f"{r.condition} after {r.seconds:.1f}s", measured=_td(r.seconds))
            )
        elif r.met is False:
            why = f": {r.detail}" if r.detail else ""
            out.append(
                CheckResult(
                    Verdict.FALSE,
                    check,
                    f"{r.condition} not reached within {r.budget_s:g}s{why}",
                    step=r.condition,
                    failure=Failure.TOO_LATE,
                    bound=_td(r.budget_s),
                )
            )
        else:
            out.append(CheckResult(Verdict.UNKNOWN, check, f"{r.condition}: cannot be observed ({r.detail})"))
    return out


def _td(seconds: float | None) -> timedelta | None:
    return None if seconds is None else timedelta(seconds=seconds)


def scenario_checks(
    sc: Scenario, settings: dict[str, float], tl: Timeline
) -> list[tuple[str, Callable[[], CheckResult]]]:
    """The scenario's expectations as named, deferred checks (run_checks turns a crash into UNKNOWN)."""
    checks: list[tuple[str, Callable[[], CheckResult]]] = []
    if sc.expect.in_order:
        checks.append(("in_order", lambda: check_in_order(sc.steps(settings), tl)))
    for never in sc.never_specs():
        window = (never.after, never.before) if never.after or never.before else None
        checks.append(
            (f"never {never.event}", lambda n=never, w=window: check_never(n.event, tl, w, hosts=n.hosts))  # type: ignore[misc]
        )
    for count in sc.counts(settings):
        checks.append(
            (f"count {count.step.tag}", lambda c=count: check_count(c.step, tl, min=c.min, max=c.max))  # type: ignore[misc]
        )
    return checks


def guest_checks(sc: Scenario, record: RunRecord, tl: Timeline) -> list[tuple[str, Callable[[], CheckResult]]]:
    """KB 392634's guest conditions, judged from vmware.log: after the fault the guest restarted at most once
    (one `CPU reset` on vcpu-0, before the asked-for second reboot), and after that reboot no bugcheck."""
    rec, vm = sc.recover, sc.target.vm
    if rec is None or vm is None:
        return []
    anchors = record.anchor_times()
    checks: list[tuple[str, Callable[[], CheckResult]]] = []
    if ConditionKey.RESTARTED_AT_MOST_ONCE in rec.vm and INJECTED in anchors:
        spec: dict[str, Any] = {"vm": vm, "vcpu": "vcpu-0", "after": INJECTED}
        if REBOOTED in anchors:
            spec["within"] = f"{(anchors[REBOOTED] - anchors[INJECTED]).total_seconds():.3f}s"
        restarts = f"recover: vm {vm} restarted at most once after {INJECTED}"
        step = Step.from_spec("guest.reset", spec)
        checks.append((restarts, lambda: _named(check_count(step, tl, max=1), restarts, "guest restarts (CPU reset)")))
    if ConditionKey.REBOOTS_CLEANLY in rec.vm and REBOOTED in anchors:
        clean = f"recover: vm {vm} reboots without a bugcheck after {REBOOTED}"
        bsod = Step.from_spec("guest.bsod", {"vm": vm, "after": REBOOTED})
        checks.append((clean, lambda: _named(check_count(bsod, tl, max=0), clean, "bugchecks after the reboot")))
    return checks


def diagnosis_checks(sc: Scenario, events: list[Event]) -> list[tuple[str, Callable[[], CheckResult]]]:
    """`expect.diagnosis`: triage's KB diagnoses over the run's own events; the named KB must reach the verdict
    (and name the culprit: "$fault.<key>" is read from the scenario's fault section)."""
    spec = sc.expect.diagnosis
    if spec is None:
        return []
    name = f"diagnosis KB {spec.kb}"
    want = DiagVerdict.UNKNOWN if spec.verdict == "unknown" else DiagVerdict.TRUE if spec.verdict else DiagVerdict.FALSE
    culprit = spec.culprit
    if culprit is not None and culprit.startswith("$fault."):
        culprit = str(getattr(sc.fault, culprit.removeprefix("$fault."), culprit))

    def check() -> CheckResult:
        found = [d for d in diagnose_all(events) if d.kb == f"KB {spec.kb}"]
        if not found:
            return CheckResult(Verdict.FALSE, name, f"triage reached no KB {spec.kb} diagnosis from the collected logs")
        seen = "; ".join(f"{d.subject}: {d.verdict.value}, culprit {d.figures.get('culprit', 'none')}" for d in found)
        ok = [d for d in found if d.verdict is want and (culprit is None or d.figures.get("culprit") == culprit)]
        if ok:
            return CheckResult(Verdict.TRUE, name, f"{ok[0].subject}: {ok[0].summary}")
        expected = f"verdict {want.value}" + (f", culprit {culprit}" if culprit else "")
        return CheckResult(Verdict.FALSE, name, f"expected {expected}; triage said {seen}")

    return [(name, check)]


def _named(result: CheckResult, check: str, what: str) -> CheckResult:
    """A count check renamed as the recovery condition it stands for, its message saying what was counted."""
    return dataclasses.replace(result, check=check, message=f"{what}: {result.message}", step=check)


def judge(record: RunRecord, run_dir: Path) -> Judgement:
    """Pure over the record and its collected bytes: the verdict, each check, the events seen."""
    sc = parse_scenario(record.scenario_text, record.scenario_path or record.scenario_name)
    events, notes = scan_logs(record, run_dir)
    tl = build_timeline(record, events)
    results = run_checks(
        [*scenario_checks(sc, record.settings, tl), *guest_checks(sc, record, tl), *diagnosis_checks(sc, events)]
    )
    results.extend(recovery_results(record))
    verdict = overall(results)
    return Judgement(
        verdict=verdict,
        message=failure_message(results) if verdict is not Verdict.TRUE else "every check holds",
        checks=[JudgedCheck.of(r) for r in results],
        lines=[line for r in results for line in r.lines()],
        events=judged_events(tl),
        notes=notes,
    )


def judged_events(tl: Timeline) -> list[JudgedEvent]:
    """The timeline's primary events (a twin counted once), on the harness clock."""
    return [JudgedEvent.of(e) for e in tl if e.primary]


def events_of(record: RunRecord, run_dir: Path | None) -> list[JudgedEvent]:
    """The judged events of a run: its judgement's, else judged again from the collected logs (a record that was
    never judged, e.g. an ERROR run), else none."""
    if record.judgement is not None:
        return list(record.judgement.events)
    if run_dir is None or not record.logs:
        return []
    events, _notes = scan_logs(record, run_dir)
    return judged_events(build_timeline(record, events))


def failure_message(results: list[CheckResult]) -> str:
    """The first FALSE (else UNKNOWN) check in words: which step, and why."""
    bad = [r for r in results if r.verdict is Verdict.FALSE] or [r for r in results if r.verdict is Verdict.UNKNOWN]
    if not bad:
        return "nothing was checked"
    parts = []
    for r in bad:
        where = f"step {r.step_index} {r.step}: " if r.step_index is not None and r.step else ""
        if r.message.startswith(where):  # the checks' messages often name the step already
            where = ""
        parts.append(f"{r.verdict.value.upper()} {r.check}\n  {where}{r.message}")
        parts.extend(f"  {line}" for line in r.lines()[1:])
    return "\n".join(parts)
