"""The streaming scanner: block edges, line numbers, the multi-pattern prefilter."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from faultlab.assertions.model import LogKind
from faultlab.assertions.scan import Prefilter, ScanStats, all_lines, candidate_lines, iter_blocks


def test_iter_blocks_keeps_line_numbers_across_block_edges() -> None:
    data = b"".join(b"line %d\n" % i for i in range(1, 1001)) + b"tail without newline"
    seen = []
    for block, first in iter_blocks(io.BytesIO(data), block_size=37):
        for i, raw in enumerate(block.split(b"\n")[:-1]):
            seen.append((first + i, raw))
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
