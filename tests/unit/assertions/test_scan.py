"""The streaming scanner: block edges, line numbers, the multi-pattern prefilter."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from faultlab.assertions.model import LogKind
from faultlab.assertions.scan import (
    MAX_LINE,
    Prefilter,
    ScanStats,
    all_lines,
    candidate_lines,
    iter_blocks,
    scan_stream,
)

APD_LINE = (
    b"2018-07-06T21:02:11.204Z cpu0:65641)ScsiDevice: 4993: Device state of naa.60014055c425cd10a874374b415629b3 "
    b"set to APD_START; token num:1\n"
)
NOISE_LINE = b"2018-07-06T21:02:11.204Z cpu0:65641)Jumpstart plugin swapobjd activated.\n"


def test_iter_blocks_end_on_line_edges() -> None:
    data = b"".join(b"line %d\n" % i for i in range(1, 1001)) + b"tail without newline"
    seen = []
    for buf, start, end, cut in iter_blocks(io.BytesIO(data), block_size=37):
        assert buf[end - 1 : end] == b"\n" and not cut
        seen.extend(buf[start:end].split(b"\n")[:-1])
    seen = [(i + 1, raw) for i, raw in enumerate(seen)]
    assert len(seen) == 1001
    assert seen[0] == (1, b"line 1")
    assert seen[499] == (500, b"line 500")
    assert seen[-1] == (1001, b"tail without newline")


def test_candidate_lines_only_selected_with_right_numbers() -> None:
    lines = [b"noise %d" % i for i in range(5000)]
    lines[10] = b"x APD start here, APD again"  # two matches on one line: yielded once
    lines[4321] = b"WinBSOD: Synthetic MSR[0x40000100] 0xef"
    lines[4999] = b"last APD"
    data = b"\n".join(lines)  # no final newline
    pf = Prefilter([r"APD", r"WinBSOD"])
    stats = ScanStats(name="x", host="h", kind=LogKind.VMKERNEL)
    got = list(candidate_lines(io.BytesIO(data), pf, stats))
    assert got == [(11, lines[10]), (4322, lines[4321]), (5000, lines[4999])]
    assert stats.lines == 5000


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from([b"", b"APD", b"noise", b"a APD b", b"\r", b"\xff\xfe", b"APDAPD"]), max_size=60),
    st.integers(min_value=1, max_value=64),
)
def test_prefilter_agrees_with_a_plain_loop(parts: list[bytes], block_size: int) -> None:
    data = b"\n".join(parts) + b"\n"
    got = list(candidate_lines(io.BytesIO(data), Prefilter([r"APD"]), block_size=block_size))
    expected = [(i + 1, raw) for i, raw in enumerate(data.split(b"\n")[:-1]) if b"APD" in raw]
    assert got == expected
    assert [raw for _, raw in all_lines(io.BytesIO(data))] == data.split(b"\n")[:-1]


def test_binary_lines_are_counted_odd_and_text_lines_still_read() -> None:
    """NUL bytes and bytes that are not UTF-8 make odd lines (named), the readable lines still give events."""
    data = NOISE_LINE + b"\x00\x01\x02 core dump\n" + APD_LINE + b"caf\xe9 latin-1 \xff\n" + NOISE_LINE
    for every_line in (False, True):
        events, stats = scan_stream(
            io.BytesIO(data), kind=LogKind.VMKERNEL, name="vmkernel.log", host="h", every_line=every_line
        )
        assert [e.name for e in events] == ["apd.start"]
        assert stats.lines == 5
        assert stats.odd == 2, stats.odd_examples
        assert [(o.line_no, o.problem) for o in stats.odd_examples] == [
            (2, "binary: NUL bytes"),
            (4, "undecodable bytes (not UTF-8)"),
        ]


def test_valid_utf8_is_not_odd() -> None:
    data = NOISE_LINE + "2018-07-06T21:02:11.204Z cpu0:65641)VM naïve ünïcode\n".encode() + APD_LINE
    _, stats = scan_stream(io.BytesIO(data), kind=LogKind.VMKERNEL, name="v", host="h")
    assert stats.odd == 0 and stats.lines == 3


def test_a_run_without_newlines_is_cut_and_memory_stays_bounded() -> None:
    """A sparse or binary file with no newline at all: read in MAX_LINE pieces, each an odd line, never one
    growing line held in memory."""
    size = 5 * MAX_LINE + 123
    blocks = list(iter_blocks(io.BytesIO(b"\x00" * size), block_size=1 << 16))
    assert all(len(b) <= MAX_LINE + (1 << 16) + 1 for b, _, _, _ in blocks)
    assert sum(1 for *_, cut in blocks if cut) == 5
    events, stats = scan_stream(
        io.BytesIO(b"\x00" * size + b"\n" + APD_LINE), kind=LogKind.VMKERNEL, name="v", host="h"
    )
    assert [e.name for e in events] == ["apd.start"]
    # five pieces of MAX_LINE bytes, then the rest of the NUL run up to its newline: all odd; then the APD line
    assert stats.cut_lines == 5 and stats.odd == 6
    assert stats.lines == 7
    assert all(o.problem == "binary: NUL bytes" for o in stats.odd_examples)


class _Damaged(io.RawIOBase):
    """A stream that yields `good` and then fails like a truncated gzip member."""

    def __init__(self, good: bytes) -> None:
        self.good = good

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if not self.good:
            raise EOFError("Compressed file ended before the end-of-stream marker was reached")
        out, self.good = self.good[:size], self.good[size:]
        return out


def test_a_read_error_keeps_what_was_read_and_names_the_damage() -> None:
    data = NOISE_LINE * 10 + APD_LINE + NOISE_LINE * 3 + b"half a li"
    events, stats = scan_stream(_Damaged(data), kind=LogKind.VMKERNEL, name="v", host="h")  # type: ignore[arg-type]
    assert [e.name for e in events] == ["apd.start"]
    assert stats.lines == 15  # the cut-off last line is kept
    assert stats.error is not None and "damaged" in stats.error and "end-of-stream" in stats.error


def test_progress_is_told_the_bytes_read() -> None:
    seen: list[int] = []
    data = NOISE_LINE * 5000
    scan_stream(io.BytesIO(data), kind=LogKind.VMKERNEL, name="v", host="h", progress=seen.append)
    assert seen and seen == sorted(seen) and seen[-1] == len(data)
