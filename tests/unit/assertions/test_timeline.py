"""Timeline: merge order, clock offsets, untimed placement, twins, filters, anchors and rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from faultlab.assertions.model import Event, LogKind
from faultlab.assertions.timeline import Timeline

T0 = datetime(2026, 3, 1, 14, 35, 8, tzinfo=UTC)


def ev(
    name: str,
    at: float | None,
    *,
    host: str = "esx01",
    file: str = "vobd.log",
    line: int = 1,
    subject: str | None = "ds-nfs01",
    twin: tuple[str, int] | None = None,
    **fields: Any,
) -> Event:
    return Event(
        name=name,
        time=None if at is None else T0 + timedelta(seconds=at),
        host=host,
        file=file,
        line_no=line,
        raw=f"{name} line {line}",
        subject=subject,
        fields=dict(fields),
        kind=LogKind.VOBD,
        twin=twin,
    )


def names(tl: Timeline) -> list[str]:
    return [f"{e.event.host}/{e.name}" for e in tl]


def test_merges_hosts_and_files_in_time_order_stable_on_ties() -> None:
    events = [
        ev("apd.timeout", 140, line=2),
        ev("hostd.slow_io", 5, file="hostd.log", line=1),
        ev("apd.start", 0, line=1),
        ev("path.dead", 5, host="esx02", line=1),  # same instant as hostd.slow_io, given later
    ]
    tl = Timeline.build(events)
    assert names(tl) == ["esx01/apd.start", "esx01/hostd.slow_io", "esx02/path.dead", "esx01/apd.timeout"]
    assert [e.seq for e in tl] == [0, 1, 2, 3]


def test_offsets_correct_times_keep_originals_and_change_order_across_hosts() -> None:
    # esx02's clock runs 10 s ahead: its path.dead at +8 really happened at -2, before apd.start on esx01.
    start = ev("apd.start", 0)
    dead = ev("path.dead", 8, host="esx02")
    assert names(Timeline.build([start, dead])) == ["esx01/apd.start", "esx02/path.dead"]
    tl = Timeline.build([start, dead], offsets={"esx02": timedelta(seconds=-10)})
    assert names(tl) == ["esx02/path.dead", "esx01/apd.start"]
    first = tl.entries[0]
    assert first.time == T0 - timedelta(seconds=2)
    assert first.original_time == T0 + timedelta(seconds=8)
    assert first.offset == timedelta(seconds=-10)
    assert dead.time == T0 + timedelta(seconds=8), "the caller's event must not be modified"
    assert first.to_json()["original_time"] == "2026-03-01T14:35:16.000Z"


def test_untimed_events_follow_the_previous_timed_event_of_their_file() -> None:
    events = [
        ev("apd.start", 0, file="vobd.log", line=1),
        ev("apd.timeout", None, file="vobd.log", line=2),  # masked: belongs right after line 1
        ev("apd.exit", 30, file="vobd.log", line=3),
        ev("hostd.slow_io", 10, file="hostd.log", line=1),
        ev("hostd.slow_io", 20, file="hostd.log", line=2),
    ]
    tl = Timeline.build(events)
    assert [(e.event.file, e.event.line_no) for e in tl] == [
        ("vobd.log", 1),
        ("vobd.log", 2),
        ("hostd.log", 1),
        ("hostd.log", 2),
        ("vobd.log", 3),
    ]
    assert [e.untimed for e in tl] == [False, True, False, False, False]
    assert [e.line_no for e in (x.event for x in tl.untimed())] == [2]


def test_untimed_at_file_start_goes_before_its_first_timed_event_and_all_untimed_file_goes_last() -> None:
    events = [
        ev("apd.start", 0, file="a.log", line=1),
        ev("path.dead", None, file="b.log", line=1),
        ev("path.dead", 50, file="b.log", line=2),
        ev("guest.bsod", None, file="vmware.log", line=7),
        ev("apd.exit", 90, file="a.log", line=2),
    ]
    tl = Timeline.build(events)
    assert [(e.event.file, e.event.line_no) for e in tl] == [
        ("a.log", 1),
        ("b.log", 1),
        ("b.log", 2),
        ("a.log", 2),
        ("vmware.log", 7),
    ]


def test_naive_event_times_are_taken_as_utc() -> None:
    naive = Event("apd.start", datetime(2026, 3, 1, 14, 35, 9), "esx01", "vobd.log", 1, "raw")
    tl = Timeline.build([naive, ev("apd.exit", 0, line=2)])
    assert names(tl) == ["esx01/apd.exit", "esx01/apd.start"]
    assert tl.entries[1].time is not None and tl.entries[1].time.tzinfo is UTC


def test_primary_drops_twins_but_keeps_a_twin_whose_original_is_missing() -> None:
    vob = ev("apd.start", 0, line=10)
    esx = ev("apd.start", 0, line=11, twin=("vobd.log", 10))
    orphan = ev("apd.exit", 60, line=20, twin=("vobd.log", 19))  # its vob.* line was cut off
    tl = Timeline.build([vob, esx, orphan])
    assert len(tl) == 3
    prim = tl.primary()
    assert [(e.name, e.event.line_no) for e in prim] == [("apd.start", 10), ("apd.exit", 20)]
    assert [e.primary for e in tl] == [True, False, True]


def test_select_by_window_hosts_names_and_subject() -> None:
    events = [
        ev("apd.start", 0, line=1, subject="naa.6000c29a"),
        ev("apd.timeout", 140, line=2, subject="naa.6000c29a"),
        ev("apd.exit", 200, line=3, subject="naa.6000c29b"),
        ev("path.dead", 1, host="esx02", line=1),
        ev("apd.start", None, host="esx03", line=1),
    ]
    tl = Timeline.build(events)
    assert len(tl.select(names=["apd.start"])) == 2
    assert {e.name for e in tl.select(names=["apd."])} == {"apd.start", "apd.timeout", "apd.exit"}
    assert {e.name for e in tl.select(names=["apd.*"])} == {"apd.start", "apd.timeout", "apd.exit"}
    assert [e.name for e in tl.select(names=["apd.s*"], hosts=["esx01"])] == ["apd.start"]
    assert [e.name for e in tl.select(subject="naa.6000c29a")] == ["apd.start", "apd.timeout"]
    assert [e.name for e in tl.select(subject="naa.*b")] == ["apd.exit"]
    window = tl.select(since=T0 + timedelta(seconds=1), until=T0 + timedelta(seconds=140))
    assert names(window) == ["esx02/path.dead", "esx01/apd.timeout", "esx03/apd.start"]
    strict = tl.select(since=T0 + timedelta(seconds=1), keep_untimed=False)
    assert "esx03/apd.start" not in names(strict)
    with pytest.raises(ValueError, match="since must be an aware datetime"):
        tl.select(since=datetime(2026, 3, 1))


def test_anchors_are_aware_copied_to_views_and_shown_in_rows() -> None:
    tl = Timeline.build(
        [
            ev("apd.start", 0, line=1),
            ev("apd.start", 0, line=2, twin=("vobd.log", 1)),
            ev("apd.timeout", None, line=3),
            ev("apd.exit", 200, line=4, code=0xEF),
        ]
    )
    tl.anchor("fault.injected", T0 - timedelta(seconds=1.5))
    tl.anchor("fault.healed", T0 + timedelta(seconds=195))
    with pytest.raises(ValueError, match="aware"):
        tl.anchor("bad", datetime(2026, 3, 1))
    view = tl.select(names=["apd.exit"])
    assert view.anchors == tl.anchors
    view.anchor("only.in.view", T0)
    assert "only.in.view" not in tl.anchors

    rows = tl.render_rows("fault.healed")
    assert [(r.name, r.rel_text, r.anchor) for r in rows] == [
        ("fault.injected", "-196.5 s", True),
        ("apd.start", "-195.0 s", False),
        ("apd.timeout", "?", False),
        ("fault.healed", "+0.0 s", True),
        ("apd.exit", "+5.0 s", False),
    ]
    exit_row = rows[-1]
    assert exit_row.detail == "code=0xEF"
    assert exit_row.where == "esx01:vobd.log:4"
    assert exit_row.as_tuple()[0] == "2026-03-01T14:38:28.000Z"
    with_twins = tl.render_rows(include_anchors=False, include_twins=True)
    assert [(r.name, r.twin, r.rel_text) for r in with_twins][:2] == [
        ("apd.start", False, "+0.0 s"),
        ("apd.start", True, "+0.0 s"),
    ]
    with pytest.raises(ValueError, match="unknown anchor 'nope'"):
        tl.render_rows("nope")
