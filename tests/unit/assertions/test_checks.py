"""Sequence, never and count checks: every failure kind with its explanation, matching, verdicts."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faultlab.assertions import checks as checks_module
from faultlab.assertions.checks import (
    CheckResult,
    Failure,
    Step,
    Verdict,
    check_count,
    check_in_order,
    check_never,
    overall,
    run_checks,
    steps_from_spec,
)
from faultlab.assertions.model import CATALOG_NAMES, Event
from faultlab.assertions.timeline import Timeline

T0 = datetime(2026, 3, 1, 14, 35, 8, tzinfo=UTC)
HOST_SETTINGS = {"Misc.APDTimeout": 140}


class Log:
    """Builds events with increasing line numbers per (host, file), as a parser would."""

    def __init__(self) -> None:
        self.lines: dict[tuple[str, str], int] = {}
        self.events: list[Event] = []

    def add(
        self,
        name: str,
        at: float | None,
        *,
        host: str = "esx01",
        file: str = "vobd.log",
        subject: str | None = "ds-nfs01",
        twin: tuple[str, int] | None = None,
        **fields: Any,
    ) -> Event:
        line = self.lines.get((host, file), 0) + 1
        self.lines[(host, file)] = line
        event = Event(
            name=name,
            time=None if at is None else T0 + timedelta(seconds=at),
            host=host,
            file=file,
            line_no=line,
            raw=f"{name} @ {at}",
            subject=subject,
            fields=dict(fields),
            twin=twin,
        )
        self.events.append(event)
        return event

    def timeline(self, **anchors: float) -> Timeline:
        tl = Timeline.build(self.events)
        for name, at in anchors.items():
            tl.anchor(name.replace("_", "."), T0 + timedelta(seconds=at))
        return tl


def kb_steps() -> list[Step]:
    """The DESIGN.md nfs-apd-bsod scenario, as the harness will translate it."""
    variables = {"datastore": "ds-nfs01", "vm": "win01"}
    return [
        Step.from_spec("apd.start", {"subject": "$datastore"}, variables=variables),
        Step.from_spec("apd.timeout", {"after": "apd.start", "at_least": "{Misc.APDTimeout}s"}, settings=HOST_SETTINGS),
        Step.from_spec("apd.exit", {"after": "fault.healed"}),
        Step.from_spec("guest.bsod", {"vm": "$vm", "code": 0xEF, "within": "5m of fault.healed"}, variables=variables),
    ]


def kb_log(bsod_code: int = 0xEF, timeout_at: float = 140.0, bsod_at: float = 230.0) -> Log:
    log = Log()
    log.add("apd.start", 0)
    log.add("apd.timeout", timeout_at, seconds=140)
    log.add("apd.exit", 200)
    log.add("guest.bsod", bsod_at, file="vmware.log", subject="win01", code=bsod_code)
    return log


def test_kb_sequence_is_true_and_serialises() -> None:
    res = check_in_order(kb_steps(), kb_log().timeline(fault_healed=195))
    assert res.verdict is Verdict.TRUE and res.passed
    assert res.failure is None
    assert [m.status for m in res.matched] == ["met"] * 4
    assert [m.entry.event.name for m in res.matched if m.entry] == [
        "apd.start",
        "apd.timeout",
        "apd.exit",
        "guest.bsod",
    ]
    assert res.message == (
        "all 4 steps in order: apd.start 2026-03-01T14:35:08.000Z -> apd.timeout +140.0 s "
        "-> apd.exit +200.0 s -> guest.bsod +230.0 s"
    )
    data = json.loads(json.dumps(res.to_json()))
    assert data["verdict"] == "true"
    assert data["matched"][3]["event"]["fields"] == {"code": 0xEF}
    assert "apd.timeout{>=140 s after apd.start}" in res.check
    with pytest.raises(TypeError, match="three outcomes"):
        bool(res)


def test_absent_when_no_event_of_that_name() -> None:
    log = kb_log()
    log.events = [e for e in log.events if e.name != "apd.exit"]
    res = check_in_order(kb_steps(), log.timeline(fault_healed=195))
    assert res.verdict is Verdict.FALSE
    assert res.failure is Failure.ABSENT
    assert res.step_index == 3 and res.step == "apd.exit"
    assert res.message == "step 3 apd.exit: absent: no apd.exit event in the record"
    assert [m.status for m in res.matched] == ["met", "met", "missed", "not reached"]


def test_absent_for_subject_lists_what_was_seen_instead() -> None:
    log = Log()
    log.add("apd.start", 0, subject="naa.6000c29a")
    log.add("apd.start", 1, subject="naa.6000c29b", host="esx02")
    res = check_in_order([Step("apd.start", subject="ds-nfs01")], log.timeline())
    assert res.failure is Failure.ABSENT
    assert res.message == (
        "step 1 apd.start: absent: no apd.start event for subject ds-nfs01; 2 apd.start seen for "
        "naa.6000c29a on esx01, naa.6000c29b on esx02"
    )
    assert [c.entry.event.subject for c in res.candidates] == ["naa.6000c29a", "naa.6000c29b"]
    assert res.candidates[0].reason == "not subject ds-nfs01"


def test_mismatch_names_the_field_seen_and_expected() -> None:
    res = check_in_order(kb_steps(), kb_log(bsod_code=0x7A).timeline(fault_healed=195))
    assert res.verdict is Verdict.FALSE
    assert res.failure is Failure.MISMATCH
    assert res.message == "step 4 guest.bsod: mismatch: guest.bsod for win01 seen with code=0x7A, expected code=0xEF"
    assert len(res.candidates) == 1
    cand = res.candidates[0]
    assert cand.entry.event.fields["code"] == 0x7A
    assert "vmware.log:1" in str(cand)
    assert res.to_json()["candidates"][0]["reason"] == "code=0x7A, expected code=0xEF"


def test_mismatch_when_the_field_is_missing() -> None:
    log = Log()
    log.add("apd.timeout", 0)
    res = check_in_order([Step("apd.timeout", fields={"seconds": 140})], log.timeline())
    assert res.failure is Failure.MISMATCH
    assert res.message == (
        "step 1 apd.timeout: mismatch: apd.timeout for ds-nfs01 seen with no seconds (expected seconds=140)"
    )


def test_field_values_match_numerically_and_by_glob() -> None:
    log = Log()
    log.add("guest.bsod", 0, subject="win01", code="0xEF", text="CRITICAL_PROCESS_DIED")
    tl = log.timeline()
    assert check_in_order([Step("guest.bsod", fields={"code": 0xEF, "text": "CRITICAL_*"})], tl).passed
    assert check_in_order([Step("guest.bsod", fields={"code": 239.0})], tl).passed
    assert not check_in_order([Step("guest.bsod", fields={"code": 0x7A})], tl).passed


def test_out_of_order_says_it_only_happened_before_the_previous_step() -> None:
    log = Log()
    log.add("apd.exit", 0)
    log.add("apd.start", 3.25)
    res = check_in_order([Step("apd.start"), Step("apd.exit")], log.timeline())
    assert res.verdict is Verdict.FALSE
    assert res.failure is Failure.OUT_OF_ORDER
    assert res.message == (
        "step 2 apd.exit: out of order: apd.exit seen only before step 1 apd.start "
        "(latest at 2026-03-01T14:35:08.000Z on esx01, 3.25 s before it)"
    )
    assert res.candidates[0].reason == "before apd.start"


def test_too_early_reports_gap_bound_and_setting() -> None:
    res = check_in_order(kb_steps(), kb_log(timeout_at=12).timeline(fault_healed=195))
    assert res.verdict is Verdict.FALSE
    assert res.failure is Failure.TOO_EARLY
    assert res.message == (
        "step 2 apd.timeout: too early: 12.0 s after apd.start, expected at least 140 s (Misc.APDTimeout)"
    )
    assert res.measured == timedelta(seconds=12) and res.bound == timedelta(seconds=140)
    assert res.candidates[0].reason == "12.0 s after apd.start"
    assert res.to_json()["measured_s"] == 12.0
    assert res.lines() == [
        "FALSE: " + res.message,
        "  [met] step 1 apd.start at 2026-03-01T14:35:08.000Z (esx01:vobd.log:1)",
        "  [missed] step 2 apd.timeout",
        "  [not reached] step 3 apd.exit",
        "  [not reached] step 4 guest.bsod",
        "  nearest: 2026-03-01T14:35:20.000Z esx01 apd.timeout ds-nfs01 seconds=140 (esx01:vobd.log:2): "
        "12.0 s after apd.start",
    ]


def test_too_early_relative_to_an_anchor_without_at_least() -> None:
    log = Log()
    log.add("apd.exit", 190)
    res = check_in_order([Step("apd.exit", after="fault.healed")], log.timeline(fault_healed=195))
    assert res.failure is Failure.TOO_EARLY
    assert res.message == "step 1 apd.exit: too early: 5.0 s before fault.healed, expected after it"


def test_too_late_reports_gap_and_within() -> None:
    res = check_in_order(kb_steps(), kb_log(bsod_at=605).timeline(fault_healed=195))
    assert res.verdict is Verdict.FALSE
    assert res.failure is Failure.TOO_LATE
    assert res.message == "step 4 guest.bsod: too late: 410.0 s after fault.healed, expected within 300 s"
    assert res.measured == timedelta(seconds=410) and res.bound == timedelta(minutes=5)


def test_greedy_but_correct_skips_an_earliest_candidate_that_is_too_early() -> None:
    log = kb_log(timeout_at=12)  # a first apd.timeout far too early (another device's, mislabelled)...
    log.add("apd.timeout", 141)  # ...and the right one
    res = check_in_order(kb_steps(), log.timeline(fault_healed=195))
    assert res.verdict is Verdict.TRUE, res.message
    timeout = res.matched[1].entry
    assert timeout is not None and timeout.time == T0 + timedelta(seconds=141)


def test_backtracks_to_a_later_reference_for_within() -> None:
    # path.dead at 0 and 100; apd.start at 105; redundancy.lost must be within 10 s of path.dead.
    log = Log()
    log.add("path.dead", 0)
    log.add("path.dead", 100)
    log.add("apd.start", 105)
    log.add("redundancy.lost", 108)
    steps = [
        Step("path.dead"),
        Step("apd.start"),
        Step("redundancy.lost", after="path.dead", within=timedelta(seconds=10)),
    ]
    res = check_in_order(steps, log.timeline())
    assert res.verdict is Verdict.TRUE, res.message
    assert [m.entry.time for m in res.matched if m.entry] == [T0 + timedelta(seconds=s) for s in (100, 105, 108)]


def test_bounds_without_after_count_from_the_previous_step() -> None:
    log = Log()
    log.add("apd.start", 0)
    log.add("apd.timeout", 5)
    res = check_in_order([Step("apd.start"), Step("apd.timeout", at_least=timedelta(seconds=6))], log.timeline())
    assert res.message == "step 2 apd.timeout: too early: 5.0 s after apd.start, expected at least 6 s"


def test_ties_on_equal_time_are_in_order_either_way() -> None:
    log = Log()
    log.add("path.dead", 7, file="vmkernel.log")
    log.add("apd.start", 7)  # same instant, later position on the timeline
    tl = log.timeline()
    assert check_in_order([Step("apd.start"), Step("path.dead")], tl).passed
    assert check_in_order([Step("path.dead"), Step("apd.start")], tl).passed


def test_one_event_cannot_satisfy_two_steps() -> None:
    log = Log()
    log.add("path.dead", 7)
    res = check_in_order([Step("path.dead", label="first"), Step("path.dead", label="second")], log.timeline())
    assert res.failure is Failure.OUT_OF_ORDER
    assert res.message == "step 2 second: out of order: its only path.dead event is already step 1's"
    log.add("path.dead", 7)
    assert check_in_order([Step("path.dead", label="a"), Step("path.dead", label="b")], log.timeline()).passed


def test_anchor_passed_to_the_check_and_unknown_references() -> None:
    log = Log()
    log.add("apd.exit", 200)
    tl = log.timeline()
    healed = {"fault.healed": T0 + timedelta(seconds=195)}
    assert check_in_order([Step("apd.exit", after="fault.healed")], tl, anchors=healed).passed
    with pytest.raises(ValueError, match=r"after 'fault\.healed' is neither an earlier step nor an anchor"):
        check_in_order([Step("apd.exit", after="fault.healed")], tl)
    with pytest.raises(ValueError, match="aware"):
        check_in_order([Step("apd.exit")], tl, anchors={"x": datetime(2026, 3, 1)})
    with pytest.raises(ValueError, match="neither an earlier step"):
        check_in_order([Step("apd.start", after="apd.exit"), Step("apd.exit")], tl)
    with pytest.raises(ValueError, match="label used twice"):
        check_in_order([Step("apd.exit"), Step("apd.exit")], tl)
    with pytest.raises(ValueError, match="need 'after'"):
        check_in_order([Step("apd.exit", within=timedelta(seconds=1))], tl)


def test_offsets_change_the_verdict_across_hosts() -> None:
    # esx02's clock is 10 s fast: its path.dead stamped +8 happened at -2, before apd.start on esx01.
    log = Log()
    log.add("apd.start", 0)
    log.add("path.dead", 8, host="esx02", file="vmkernel.log")
    steps = [Step("path.dead"), Step("apd.start")]
    assert check_in_order(steps, Timeline.build(log.events)).failure is Failure.OUT_OF_ORDER
    fixed = Timeline.build(log.events, offsets={"esx02": timedelta(seconds=-10)})
    res = check_in_order(steps, fixed)
    assert res.passed
    first = res.matched[0].entry
    assert first is not None and first.original_time == T0 + timedelta(seconds=8)


def test_twins_are_not_counted_twice() -> None:
    log = Log()
    vob = log.add("apd.start", 0)
    log.add("apd.start", 0, twin=vob.key)
    tl = log.timeline()
    assert check_count("apd.start", tl, min=1, max=1).passed
    res = check_in_order([Step("apd.start", label="one"), Step("apd.start", label="two")], tl)
    assert res.verdict is Verdict.FALSE


def test_untimed_event_ordered_by_position() -> None:
    log = Log()
    log.add("apd.start", 0)
    log.add("apd.timeout", None)  # masked, after apd.start in its file
    log.add("apd.exit", 30)
    tl = log.timeline()
    assert check_in_order([Step("apd.start"), Step("apd.timeout"), Step("apd.exit")], tl).passed
    res = check_in_order([Step("apd.timeout"), Step("apd.start")], tl)
    assert res.failure is Failure.OUT_OF_ORDER


def test_duration_on_untimed_event_is_unknown_not_false() -> None:
    log = Log()
    log.add("apd.start", 0)
    log.add("apd.timeout", None)
    res = check_in_order(kb_steps()[:2], log.timeline())
    assert res.verdict is Verdict.UNKNOWN
    assert res.failure is Failure.UNTIMED
    assert res.message == (
        "step 2 apd.timeout: untimed: its event at esx01:vobd.log:2 has a masked timestamp, "
        "so 'at least 140 s after apd.start' cannot be checked"
    )
    assert [m.status for m in res.matched] == ["met", "unknown"]


def test_untimed_reference_is_unknown_and_a_timed_match_still_wins() -> None:
    log = Log()
    log.add("apd.start", None)
    log.add("apd.timeout", 150)
    steps = kb_steps()[:2]
    res = check_in_order(steps, log.timeline())
    assert res.verdict is Verdict.UNKNOWN
    assert "the event of apd.start at esx01:vobd.log:1 has a masked timestamp" in res.message
    log.add("apd.start", 5)
    log.add("apd.timeout", 146)
    assert check_in_order(steps, log.timeline()).passed


def test_never_lists_offending_events_within_window() -> None:
    log = Log()
    log.add("pdl", 50, subject="naa.6000c29a")
    log.add("apd.start", 60)
    tl = log.timeline(fault_injected=0, fault_healed=100)
    res = check_never(["pdl"], tl)
    assert res.verdict is Verdict.FALSE and res.failure is Failure.FORBIDDEN
    assert (
        res.message == "1 forbidden event(s): pdl at 2026-03-01T14:35:58.000Z on esx01 (naa.6000c29a, esx01:vobd.log:1)"
    )
    assert [e.name for e in res.offending] == ["pdl"]
    assert check_never("pdl", tl, ("fault.healed", None)).passed
    assert check_never("pdl", tl, (None, T0 + timedelta(seconds=49))).passed
    assert not check_never("apd.*", tl, ("fault.injected", "fault.healed")).passed
    assert check_never("pdl", tl, hosts=["esx02"]).passed
    with pytest.raises(ValueError, match=r"unknown anchor 'fault\.nope'"):
        check_never("pdl", tl, ("fault.nope", None))


def test_never_with_untimed_event_in_a_window_is_unknown() -> None:
    log = Log()
    log.add("pdl", None)
    tl = log.timeline()
    res = check_never("pdl", tl, (T0, None))
    assert res.verdict is Verdict.UNKNOWN and res.failure is Failure.UNTIMED
    assert check_never("pdl", tl).verdict is Verdict.FALSE  # no window: it happened, time or not


def test_count_with_min_max_fields_and_anchor() -> None:
    log = Log()
    for at in (10, 20, 30):
        log.add("hostd.slow_io", at, file="hostd.log", subject="win01.vmx", ms=1500 + at)
    log.add("hostd.slow_io", None, file="hostd.log", subject="win01.vmx")
    tl = log.timeline(fault_injected=15)
    too_many = check_count("hostd.slow_io", tl, max=2)
    assert too_many.failure is Failure.TOO_MANY
    assert too_many.message == "too many: 4 hostd.slow_io event(s), expected at most 2"
    assert check_count("hostd.slow_io", tl, min=4).passed
    too_few = check_count(Step("hostd.slow_io", fields={"ms": 1510}), tl, min=2)
    assert too_few.failure is Failure.TOO_FEW
    assert too_few.message == "too few: 1 hostd.slow_io event(s), expected at least 2"
    after = Step("hostd.slow_io", after="fault.injected")
    unsure = check_count(after, tl, min=3)
    assert unsure.verdict is Verdict.UNKNOWN, unsure.message
    assert unsure.message.startswith("2 hostd.slow_io event(s) for sure and 1 with masked timestamps")
    assert check_count(after, tl, min=2, max=3).passed
    with pytest.raises(ValueError, match="needs min or max"):
        check_count("pdl", tl)
    with pytest.raises(ValueError, match="must be an anchor"):
        check_count(Step("pdl", after="apd.start"), tl, max=0)


def test_run_checks_turns_crashes_into_unknown_never_pass() -> None:
    tl = kb_log().timeline(fault_healed=195)

    def crashes() -> CheckResult:
        raise KeyError("code")

    def wrong_type() -> CheckResult:
        return "ok"  # type: ignore[return-value]

    results = run_checks(
        [
            ("kb sequence", lambda: check_in_order(kb_steps(), tl)),
            ("broken", crashes),
            ("bad scenario", lambda: check_in_order([Step("apd.exit", after="nowhere")], tl)),
            ("wrong type", wrong_type),
        ]
    )
    assert [r.verdict for r in results] == [Verdict.TRUE, Verdict.UNKNOWN, Verdict.UNKNOWN, Verdict.UNKNOWN]
    assert results[1].failure is Failure.CRASHED
    assert results[1].check == "broken"
    assert results[1].message.startswith("checker crashed: KeyError: 'code' at test_checks.py:")
    assert "neither an earlier step nor an anchor" in results[2].message
    assert results[3].message == "checker returned str, not a CheckResult"
    assert overall(results) is Verdict.UNKNOWN
    assert overall(results[:1]) is Verdict.TRUE
    assert overall([]) is Verdict.UNKNOWN
    false = check_never("apd.start", tl)
    assert overall([*results, false]) is Verdict.FALSE


def test_from_spec_errors_name_step_and_key() -> None:
    with pytest.raises(ValueError, match=r"step 'apd.timeout': at_least: bad token 'x'"):
        Step.from_spec("apd.timeout", {"after": "apd.start", "at_least": "14x"})
    with pytest.raises(ValueError, match=r"within counts from 'fault\.healed' but after is 'apd\.start'"):
        Step.from_spec("apd.exit", {"after": "apd.start", "within": "5m of fault.healed"})
    with pytest.raises(ValueError, match=r"unknown variable '\$vm'"):
        Step.from_spec("guest.bsod", {"vm": "$vm"})
    with pytest.raises(ValueError, match="subject must be text"):
        Step.from_spec("apd.start", {"subject": 5})
    step = Step.from_spec("guest.bsod", {"code": 0xEF, "within": 300, "after": "fault.healed", "label": "bsod"})
    assert step == Step(
        "guest.bsod", fields={"code": 0xEF}, after="fault.healed", within=timedelta(minutes=5), label="bsod"
    )


# -- property: a sequence built from a valid assignment is TRUE; removing one event makes it ABSENT ----

STEP_NAMES = [n for n in CATALOG_NAMES if n != "host.memory.sample"]
NOISE_NAME = "host.memory.sample"


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Step], list[tuple[str, float, str]], list[tuple[str, float, str]]]:
    n = draw(st.integers(1, 5))
    names = draw(st.lists(st.sampled_from(STEP_NAMES), min_size=n, max_size=n, unique=True))
    gaps = draw(st.lists(st.integers(0, 300), min_size=n, max_size=n))
    hosts = draw(st.lists(st.sampled_from(["esx01", "esx02"]), min_size=n, max_size=n))
    times: list[float] = []
    t = 0.0
    for g in gaps:
        t += g
        times.append(t)
    steps: list[Step] = []
    for i, name in enumerate(names):
        kind = draw(st.sampled_from(["plain", "at_least", "within", "both"])) if i else "plain"
        gap = times[i] - times[i - 1] if i else 0.0
        low = timedelta(seconds=draw(st.floats(0, gap))) if kind in ("at_least", "both") else None
        high = timedelta(seconds=gap + draw(st.integers(0, 60))) if kind in ("within", "both") else None
        steps.append(Step(name, host=hosts[i], at_least=low, within=high))
    required = [(names[i], times[i], hosts[i]) for i in range(n)]
    # decoys: same names at other times (earlier or too late); noise: unrelated events
    decoys = draw(
        st.lists(st.tuples(st.sampled_from(names), st.integers(-100, 2000), st.sampled_from(["esx01", "esx02"])))
    )
    noise = [(NOISE_NAME, float(x), "esx01") for x in draw(st.lists(st.integers(0, 1500), max_size=5))]
    return steps, required, [(a, float(b), c) for a, b, c in decoys] + noise


def _timeline(events: list[tuple[str, float, str]]) -> Timeline:
    log = Log()
    for name, at, host in events:
        log.add(name, at, host=host)
    return log.timeline()


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_property_valid_assignment_is_true(case: tuple[list[Step], list[tuple[str, float, str]], list[Any]]) -> None:
    steps, required, extra = case
    res = check_in_order(steps, _timeline(required + extra))
    assert res.verdict is Verdict.TRUE, res.message


@settings(max_examples=200, deadline=None)
@given(scenarios(), st.data())
def test_property_removing_a_required_event_is_absent(
    case: tuple[list[Step], list[tuple[str, float, str]], list[Any]], data: st.DataObject
) -> None:
    steps, required, extra = case
    i = data.draw(st.integers(0, len(steps) - 1))
    name = required[i][0]
    noise = [e for e in extra if e[0] == NOISE_NAME]  # no decoy of the removed name may stand in for it
    res = check_in_order(steps, _timeline([e for e in required if e[0] != name] + noise))
    assert res.verdict is Verdict.FALSE
    assert res.failure is Failure.ABSENT
    assert res.step_index == i + 1
    assert res.message.startswith(f"step {i + 1} {name}: absent:")


# -- property: the search agrees with brute force over every assignment (ties, untimed, backtracking) -----

SMALL_NAMES = ["path.dead", "apd.start"]


def _brute(steps: list[Step], tl: Timeline) -> tuple[Verdict, int]:
    """Verdict by enumerating all assignments; with the longest prefix that can be met leniently."""
    entries = [e for e in tl if e.primary]
    anchors = tl.anchors
    best = Verdict.FALSE
    longest = 0

    def ok(i: int, chosen: list[Any]) -> bool | None:
        cand, step = chosen[i], steps[i]
        if any(c.seq == cand.seq for c in chosen[:i]):
            return False
        if i:
            prev = chosen[i - 1]
            in_order = cand.time >= prev.time if cand.time and prev.time else cand.seq > prev.seq
            if not in_order:
                return False
        labels = [s.tag for s in steps[:i]]
        if step.after in labels:
            ref_time = chosen[labels.index(step.after)].time
        elif step.after is not None:
            ref_time = anchors[step.after]
        elif step.at_least is not None or step.within is not None:
            ref_time = chosen[i - 1].time
        else:
            return True
        if cand.time is None or ref_time is None:
            return None
        gap = cand.time - ref_time
        return gap >= (step.at_least or timedelta(0)) and (step.within is None or gap <= step.within)

    def walk(chosen: list[Any], unsure: bool) -> None:
        nonlocal best, longest
        i = len(chosen)
        longest = max(longest, i)
        if i == len(steps):
            best = Verdict.TRUE if not unsure or best is Verdict.TRUE else Verdict.UNKNOWN
            return
        for e in entries:
            if e.name != steps[i].name:
                continue
            chosen.append(e)
            verdict = ok(i, chosen)
            if verdict is not False:
                walk(chosen, unsure or verdict is None)
            chosen.pop()

    walk([], False)
    return best, longest


@st.composite
def small_cases(draw: st.DrawFn) -> tuple[list[Step], Timeline]:
    log = Log()
    for _ in range(draw(st.integers(0, 10))):
        at = draw(st.integers(-3, 20))  # negative: a masked timestamp
        log.add(
            draw(st.sampled_from(SMALL_NAMES)),
            at if at >= 0 else None,
            file=draw(st.sampled_from(["vobd.log", "vmkernel.log"])),
        )
    tl = log.timeline(fault_healed=draw(st.integers(0, 20)))
    steps: list[Step] = []
    for i in range(draw(st.integers(1, 4))):
        refs = [s.tag for s in steps] + ["fault.healed"]
        after = draw(st.sampled_from([None, *refs]))
        bounded = after is not None or i > 0
        low = draw(st.one_of(st.none(), st.integers(0, 6))) if bounded else None
        high = draw(st.one_of(st.none(), st.integers(low or 0, (low or 0) + 6))) if bounded else None
        steps.append(
            Step(
                draw(st.sampled_from(SMALL_NAMES)),
                label=f"s{i}",
                after=after,
                at_least=None if low is None else timedelta(seconds=low),
                within=None if high is None else timedelta(seconds=high),
            )
        )
    return steps, tl


@settings(max_examples=1500, deadline=None)
@given(small_cases())
def test_property_search_agrees_with_brute_force(case: tuple[list[Step], Timeline]) -> None:
    steps, tl = case
    res = check_in_order(steps, tl)
    verdict, longest = _brute(steps, tl)
    assert res.verdict is verdict, res.message
    if verdict is Verdict.FALSE:
        assert res.step_index == longest + 1, res.message
        assert res.failure in {
            Failure.ABSENT,
            Failure.MISMATCH,
            Failure.OUT_OF_ORDER,
            Failure.TOO_EARLY,
            Failure.TOO_LATE,
        }


def test_steps_from_a_scenario_in_order_list() -> None:
    items: list[str | dict[str, Any]] = [
        {"apd.start": {"subject": "$datastore"}},
        {"apd.timeout": {"after": "apd.start", "at_least": "{Misc.APDTimeout}s"}},
        {"apd.exit": {"after": "fault.healed"}},
        {"guest.bsod": {"vm": "$vm", "fields": {"code": 0xEF}, "within": "5m of fault.healed"}},
        "guest.tools_heartbeat.lost",
    ]
    steps = steps_from_spec(items, settings=HOST_SETTINGS, variables={"datastore": "ds-nfs01", "vm": "win01"})
    assert steps[:4] == kb_steps()
    assert steps[4] == Step("guest.tools_heartbeat.lost")
    with pytest.raises(ValueError, match="in_order item 1: expected"):
        steps_from_spec([{"a": {}, "b": {}}])
    with pytest.raises(ValueError, match=r"in_order item 1 apd\.start: constraints must be a mapping"):
        steps_from_spec([{"apd.start": "ds-nfs01"}])


def test_search_budget_gives_unknown_never_a_guess(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checks_module, "SEARCH_BUDGET", 5)
    log = Log()
    for at in range(10):
        log.add("path.dead", at)
    steps = [Step("path.dead", label="a"), Step("path.dead", label="b", after="a", at_least=timedelta(seconds=100))]
    res = check_in_order(steps, log.timeline())
    assert res.verdict is Verdict.UNKNOWN and res.failure is Failure.BUDGET
    assert res.message.startswith("gave up after 5 search steps")


def test_large_timeline_is_decided_not_given_up() -> None:
    rng = random.Random(7)
    names = ["apd.start", "apd.timeout", "apd.exit", "path.dead", "hostd.slow_io"]
    log = Log()
    for _ in range(5000):
        log.add(rng.choice(names), rng.uniform(0, 3600), host=rng.choice(["esx01", "esx02"]))
    tl = log.timeline(fault_healed=1800)
    impossible = [
        Step("apd.start"),
        Step("path.dead"),
        Step("apd.exit", after="apd.start", within=timedelta(microseconds=1)),
    ]
    res = check_in_order(impossible, tl)
    assert res.verdict is Verdict.FALSE and res.failure is Failure.TOO_LATE, res.message
    possible = [
        Step("apd.start"),
        Step("apd.timeout", at_least=timedelta(seconds=5)),
        Step("apd.exit", after="fault.healed"),
    ]
    assert check_in_order(possible, tl).passed
