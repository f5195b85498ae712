"""Hypothesis fuzzing of parse_line and EventBuilder: never raise, never lose a line's text."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from faultlab.assertions.catalog import GREP_UNION, EventBuilder, link_twins
from faultlab.assertions.layouts import parse_line
from faultlab.assertions.model import CATALOG_NAMES, Event, LogKind, LogLine

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "log-samples"  # verbatim copy of reference/
SAMPLE_LINES = [
    raw
    for p in sorted(SAMPLES.glob("*.txt"))
    for raw in p.read_text(encoding="utf-8").splitlines()
    if raw.strip() and not raw.startswith("#")
]
KINDS = st.sampled_from(list(LogKind))
PREFILTER_UNION = re.compile(GREP_UNION)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_line(raw: str, kind: LogKind, prev: LogLine | None = None) -> LogLine:
    ln = parse_line(raw, kind, file="f", line_no=3, prev=prev)
    assert ln.kind is kind and ln.line_no == 3
    text = raw.rstrip("\r\n")
    assert ln.raw == text
    if not ln.ok:  # the whole text is the body, or (a line cut at its start) the message after its vmkernel prefix
        whole = text.lstrip(" \t")
        assert ln.problem and (ln.body == whole or (ln.layout == "cut" and whole.endswith(ln.body)))
        assert not ln.problem.startswith("parser error"), ln.problem  # no bug hidden by the safety net
    if ln.time is not None:
        assert ln.time.utcoffset() is not None and ln.time.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    return ln


@FUZZ
@given(st.text(), KINDS)
def test_random_text(raw: str, kind: LogKind) -> None:
    check_line(raw, kind)


@FUZZ
@given(st.binary(max_size=300), KINDS)
def test_random_bytes_decoded_with_replace(data: bytes, kind: LogKind) -> None:
    check_line(data.decode("utf-8", errors="replace"), kind)


@FUZZ
@given(st.sampled_from(SAMPLE_LINES), st.integers(min_value=0, max_value=400), st.integers(0, 400), KINDS)
def test_sample_lines_cut_at_random_points(raw: str, start: int, length: int, kind: LogKind) -> None:
    check_line(raw[start : start + length], kind)
    check_line(raw[:start], kind)


# Timestamps with odd fields: month 13, hour 25, leap seconds, day 0, odd fractions and zones.
_TWO = st.integers(0, 99).map(lambda n: f"{n:02d}")
_STAMP = st.builds(
    lambda y, mo, d, h, mi, s, frac, tz: f"{y:04d}-{mo}-{d}T{h}:{mi}:{s}{frac}{tz}",
    st.integers(0, 9999), _TWO, _TWO, _TWO, _TWO, st.sampled_from(["00", "59", "60", "61", "99"]),
    st.sampled_from(["", ".1", ".123", ".123456789", ".###", ".XXX"]),
    st.sampled_from(["Z", "", "+02:00", "-0530", "+99:99"]),
)  # fmt: skip
_TAIL = st.sampled_from(
    [
        " cpu1:2)HBX: 6214: APD EventType: APD_START (3) for vol 'x'",
        " In(182) vmkernel: cpu1:2)x",
        ": [APDCorrelator] 1us: [vob.storage.apd.timeout] identifier [naa.1] for 140 seconds.",
        ' info hostd[1] [Originator@6876 sub=IoTracker] In thread 1, fopen("/p") took over 5 sec.',
        "| vcpu-0| I125: WinBSOD: Synthetic MSR[0x40000100] 0x7a",
        " Wa(03)+ vcpu-1 -",
        "",
    ]
)


@FUZZ
@given(_STAMP, _TAIL, st.booleans(), KINDS)
def test_odd_timestamps(stamp: str, tail: str, bracket: bool, kind: LogKind) -> None:
    raw = f"[{stamp}]{tail}" if bracket else stamp + tail
    ln = check_line(raw, kind)
    if ln.ok and ln.time is not None:
        assert 0 <= ln.time.year <= 9999


_SYSLOG = st.builds(
    lambda mon, d, h, body: f"{mon} {d} {h}:00:00 esx vmkernel: {body}",
    st.sampled_from(["Jan", "Feb", "Foo", "Dec"]), st.integers(0, 40), _TWO, st.text(max_size=40),
)  # fmt: skip


@FUZZ
@given(_SYSLOG, st.one_of(st.none(), st.integers(1, 9999)))
def test_classic_syslog_with_odd_dates(raw: str, year: int | None) -> None:
    ln = parse_line(raw, LogKind.VMKERNEL, year=year)
    if not ln.ok:
        assert ln.problem and ln.body == raw.rstrip("\r\n")
    elif ln.time is not None and year is not None:
        assert ln.time.year == year


# EventBuilder over arbitrary sequences of real, cut and random lines of any kind.
_ANY_LINE = st.one_of(
    st.sampled_from(SAMPLE_LINES),
    st.sampled_from(SAMPLE_LINES).map(lambda s: s[: len(s) // 2]),
    st.text(max_size=80),
    st.sampled_from(
        [
            "2024-01-01T00:00:00.000Z In(05) vcpu-0 - WinBSOD: Synthetic MSR[0x40000100] 0xef",
            "2024-01-01T00:00:00.000Z In(05) vcpu-0 - WinBSOD: Synthetic MSR[0x40000103] 0xffffffffffffffff",
            "[YYYY-MM-DDTHH:MM:SS] Wa(03) vcpu-1 - WinBSOD: Synthetic MSR[0x#######2] 0x0",
            "[YYYY-MM-DDTHH:MM:SS] Wa(03)+ vcpu-1 -",
            "2024-01-01T00:00:00.000Z In(05) vmx - Tools: Tools heartbeat timeout.",
        ]
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_ANY_LINE, max_size=40), KINDS, st.sampled_from(["vmware.log", "/vmfs/volumes/d/vm1/vmware.log"]))
def test_event_builder_arbitrary_sequences(raws: list[str], kind: LogKind, file: str) -> None:
    b = EventBuilder(host="esx01", file=file)
    events: list[Event] = []
    prev = None
    for no, raw in enumerate(raws, 1):
        prev = parse_line(raw, kind, file=file, line_no=no, prev=prev)
        events += b.feed(prev)
    events += b.close()
    assert b.close() == [] and b.errors == []
    link_twins(events)
    seen_bsod_lines = set()
    for e in events:
        assert e.name in CATALOG_NAMES
        assert PREFILTER_UNION.search(e.raw), e.raw  # the fast scanner would have kept this line
        assert 1 <= e.line_no <= len(raws) and e.host == "esx01" and e.file == file
        assert e.raw == raws[e.line_no - 1].rstrip("\r\n")
        if e.name == "guest.bsod":
            assert e.line_no not in seen_bsod_lines  # one event per set, never two from one line
            seen_bsod_lines.add(e.line_no)
            assert isinstance(e.fields["complete"], bool) and len(e.fields["params"]) == 4
        if e.twin is not None:
            assert e.twin != e.key


# Mutated event lines: whenever a mutant still yields an event, the prefilter must keep it.
_KIND_OF = {"vmkernel": LogKind.VMKERNEL, "vobd": LogKind.VOBD, "hostd": LogKind.HOSTD, "vmware": LogKind.VMWARE,
            "vmksummary": LogKind.VMKSUMMARY, "other": LogKind.OTHER}  # fmt: skip
EVENT_SAMPLES = [
    (raw, kind)
    for p in sorted(SAMPLES.glob("*.txt"))
    for kind in [next(k for key, k in _KIND_OF.items() if p.name.startswith(key))]
    for raw in p.read_text(encoding="utf-8").splitlines()
    if raw.strip() and not raw.startswith("#") and PREFILTER_UNION.search(raw)
]


@FUZZ
@given(
    st.sampled_from(EVENT_SAMPLES),
    st.lists(st.tuples(st.integers(0, 300), st.integers(0, 3), st.text(max_size=3)), max_size=4),
)
@example(  # found by this test: str.isdigit() accepts "¹", int() does not
    (
        "Feb 25 15:01:01 h logger: (1235592061) hb: vmk loaded, 5.1, 5.0, 20, 1, 1, 2, vmware-h-\u00b961456",
        LogKind.VMKSUMMARY,
    ),
    [],
)
def test_mutated_event_lines_still_pass_the_prefilter(sample: tuple[str, LogKind], edits: list[Any]) -> None:
    raw, kind = sample
    for pos, cut, ins in edits:
        raw = raw[:pos] + ins + raw[pos + cut :]
    b = EventBuilder()
    events = b.feed(parse_line(raw, kind, line_no=1)) + b.close()
    assert b.errors == []
    for e in events:
        assert PREFILTER_UNION.search(e.raw), e.raw
