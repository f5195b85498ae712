"""guest.reset: vmware.log "CPU reset: soft|hard" lines of every VMX layout, per vCPU, with the VM as subject."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from faultlab.assertions.catalog import GREP_UNION, PREFILTER, events_from_lines
from faultlab.assertions.layouts import parse_line
from faultlab.assertions.model import CATALOG_NAMES, Event, LogKind

VM_LOG = "/vmfs/volumes/ds-nfs01/win01/vmware.log"


def events(raws: list[str], file: str = VM_LOG, kind: LogKind = LogKind.VMWARE, year: int = 2009) -> list[Event]:
    lines, prev = [], None
    for no, raw in enumerate(raws, 1):
        prev = parse_line(raw, kind, file=file, line_no=no, host="esx01", prev=prev, year=year)
        lines.append(prev)
    return events_from_lines(lines)


@pytest.mark.parametrize(
    ("raw", "when", "kind", "vcpu"),
    [
        # ESXi 5.x-7.0 layout (open-vm-tools#327 shape)
        ("2019-03-14T12:03:04.445Z| vcpu-0| I125: CPU reset: soft (mode Emulation)",
         datetime(2019, 3, 14, 12, 3, 4, 445000, tzinfo=UTC), "soft", "vcpu-0"),
        # ESX 3.x/4.x layout: no year in the stamp (the caller's year is used)
        ("Aug 20 20:11:30.540: vcpu-0| CPU reset: soft (mode 2)",
         datetime(2009, 8, 20, 20, 11, 30, 540000, tzinfo=UTC), "soft", "vcpu-0"),
        # ESXi 8 VMX layout
        ("2026-11-22T04:56:05.827Z In(05) vcpu-0 - CPU reset: soft (mode Emulation)",
         datetime(2026, 11, 22, 4, 56, 5, 827000, tzinfo=UTC), "soft", "vcpu-0"),
        ("2026-11-22T04:56:05.830Z In(05) vcpu-1 - CPU reset: hard", datetime(2026, 11, 22, 4, 56, 5, 830000,
                                                                             tzinfo=UTC), "hard", "vcpu-1"),
        ("2019-03-14T12:03:04.445Z| vcpu-3| I125: CPU reset: hard (mode BT)",
         datetime(2019, 3, 14, 12, 3, 4, 445000, tzinfo=UTC), "hard", "vcpu-3"),
    ],
)  # fmt: skip
def test_reset_lines_of_each_layout(raw: str, when: datetime, kind: str, vcpu: str) -> None:
    (ev,) = events([raw])
    assert ev.name == "guest.reset" and "guest.reset" in CATALOG_NAMES
    assert ev.time == when
    assert ev.subject == "win01"
    assert ev.fields == {"kind": kind, "vcpu": vcpu}
    assert (ev.host, ev.file, ev.line_no, ev.raw, ev.kind) == ("esx01", VM_LOG, 1, raw, LogKind.VMWARE)
    assert any(re.search(p, raw) for p in PREFILTER) and re.search(GREP_UNION, raw)


def test_subject_from_rotated_and_numbered_logs_else_none() -> None:
    raw = "2019-03-14T12:03:04.445Z| vcpu-0| I125: CPU reset: soft (mode Emulation)"
    assert events([raw], file="vmfs/volumes/ds1/sql 02/vmware-3.log")[0].subject == "sql 02"
    assert events([raw], file="esx01/win01/vmware.log.1.gz")[0].subject == "win01"
    assert events([raw], file="vmware.log")[0].subject is None


def test_every_vcpu_line_is_an_event_and_vcpu0_counts_resets() -> None:
    raws = [
        "2026-11-22T04:56:05.827Z In(05) vcpu-0 - CPU reset: soft (mode Emulation)",
        "2026-11-22T04:56:05.828Z In(05) vcpu-1 - CPU reset: soft (mode Emulation)",
        "2026-11-22T04:56:05.829Z In(05) vmx - Tools: Changing running status: 2 => 1.",
        "2026-11-22T04:58:00.000Z In(05) vcpu-0 - CPU reset: hard (mode Emulation)",
        "2026-11-22T04:58:00.002Z In(05) vcpu-1 - CPU reset: hard (mode Emulation)",
    ]
    evs = events(raws)
    assert [(e.line_no, e.fields["kind"], e.fields["vcpu"]) for e in evs] == [
        (1, "soft", "vcpu-0"), (2, "soft", "vcpu-1"), (4, "hard", "vcpu-0"), (5, "hard", "vcpu-1"),
    ]  # fmt: skip
    assert sum(e.fields["vcpu"] == "vcpu-0" for e in evs) == 2


@pytest.mark.parametrize(
    "raw",
    [
        # the words inside another message
        "2019-03-14T12:03:04.445Z| vmx| I125: Vix: Reporting 'CPU reset: soft' to the guest",
        "2026-11-22T04:56:05.827Z In(05) vmx - GuestRpc: Got message 'CPU reset: soft (mode 2)'",
        "2019-03-14T12:03:04.445Z| vcpu-0| I125: CPU reset: soft (mode Emulation) ignored, VM powering off",
        "2019-03-14T12:03:04.445Z| vcpu-0| I125: CPU reset: warm",
        "2019-03-14T12:03:04.445Z| vcpu-0| I125: CPU reset: softly",
        "2019-03-14T12:03:04.445Z| vcpu-0| I125: Triple fault: CPU reset",
    ],
)
def test_reset_words_inside_other_messages_are_not_resets(raw: str) -> None:
    assert events([raw]) == []


def test_reset_is_a_vmware_log_signature_only() -> None:
    raw = "2019-03-14T12:03:04.445Z cpu1:2097)CPU reset: soft"
    assert events([raw], file="var/run/log/vmkernel.log", kind=LogKind.VMKERNEL) == []


def test_reset_between_bsod_msr_lines_flushes_the_bsod_first() -> None:
    msr = [f"2026-11-22T04:56:0{i}.000Z In(05) vcpu-0 - WinBSOD: Synthetic MSR[0x4000010{i}] 0x{0xEF + i:x}"
           for i in range(5)]  # fmt: skip
    reset = "2026-11-22T04:56:09.000Z In(05) vcpu-0 - CPU reset: soft (mode Emulation)"
    evs = events([*msr, reset])
    assert [e.name for e in evs] == ["guest.bsod", "guest.reset"]
    assert evs[0].fields["complete"] and evs[0].subject == evs[1].subject == "win01"
    evs = events([*msr[:3], reset])  # an incomplete set is emitted before the reset, not lost
    assert [e.name for e in evs] == ["guest.bsod", "guest.reset"] and evs[0].fields["complete"] is False


def test_old_layout_year_rolls_over_new_year() -> None:
    raws = ["Dec 31 23:59:59.900: vcpu-0| CPU reset: soft (mode 2)", "Jan  1 00:00:00.100: vcpu-0| CPU reset: hard"]
    evs = events(raws, year=2010)
    assert [e.time for e in evs] == [
        datetime(2010, 12, 31, 23, 59, 59, 900000, tzinfo=UTC),
        datetime(2011, 1, 1, 0, 0, 0, 100000, tzinfo=UTC),
    ]


def test_old_layout_keeps_other_vmware_signatures_and_odd_stamps() -> None:
    (ev,) = events(["Aug 20 20:11:30.540: vmx| Tools: Tools heartbeat timeout."])
    assert ev.name == "guest.tools_heartbeat.lost" and ev.time is not None
    ln = parse_line("Feb 30 20:11:30.540: vcpu-0| CPU reset: soft", LogKind.VMWARE, year=2009)
    assert not ln.ok and ln.problem == "impossible timestamp" and ln.body == ln.raw


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["Jan", "Feb", "Aug", "Dec", "Foo"]), st.integers(0, 40), st.integers(0, 99),
    st.sampled_from(["vcpu-0", "vcpu-12", "vmx", "mks"]), st.text(max_size=40),
)  # fmt: skip
@example("Jan", 5, 3, "vmx", "0\r")  # found by hypothesis: a body ending in CR
def test_old_layout_never_loses_text(mon: str, day: int, hour: int, thread: str, body: str) -> None:
    raw = f"{mon} {day:2d} {hour:02d}:11:30.540: {thread}| {body}"
    ln = parse_line(raw, LogKind.VMWARE, year=2009)
    if ln.ok:
        assert ln.layout == "esx-vmx" and ln.program == thread and ln.time is not None and ln.time.year == 2009
        assert raw.rstrip("\r\n").endswith(ln.body)  # a trailing CR is the line's end, not its text
    else:
        assert ln.problem and ln.body == raw.rstrip("\r\n")
    if events([raw]):
        assert re.search(GREP_UNION, raw), raw  # an event line always passes the prefilter
