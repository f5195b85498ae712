"""Streaming: the scanner's memory does not grow with the size of its input."""

from __future__ import annotations

import io
import tracemalloc

from faultlab.assertions.model import LogKind
from faultlab.assertions.scan import scan_stream

NOISE = b"2025-01-20T16:36:35.796Z In(182) vmkernel: cpu63:2099984 opID=be121f44)SchedVsi: 2208: Group: min=64382\n"
SIGNAL = (
    b"2018-07-06T21:02:11.204Z cpu0:65641)ScsiDevice: 4993: Device state of naa.60014055c425cd10a874374b415629b3 "
    b"set to APD_START; token num:1\n"
)


class GeneratedLog(io.RawIOBase):
    """A log of `size` bytes produced on the fly, so the input itself takes no memory."""

    def __init__(self, size: int) -> None:
        self.remaining = size
        self.count = 0
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buf: bytearray | memoryview) -> int:  # type: ignore[override]
        while len(self.pending) < len(buf) and self.remaining > 0:
            self.count += 1
            chunk = NOISE * 64 + (SIGNAL if self.count % 100 == 0 else b"")  # events stay sparse, as in real logs
            self.pending += chunk
            self.remaining -= len(chunk)
        n = min(len(buf), len(self.pending))
        buf[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


def _peak(size: int) -> tuple[int, int]:
    stream = io.BufferedReader(GeneratedLog(size), buffer_size=1 << 16)
    tracemalloc.start()
    try:
        events, stats = scan_stream(stream, kind=LogKind.VMKERNEL, name="vmkernel.log", host="esx01")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stats.lines > 0 and events
    return peak, stats.lines


def test_peak_memory_is_flat_in_input_size() -> None:
    small_peak, small_lines = _peak(8 << 20)
    big_peak, big_lines = _peak(64 << 20)
    assert big_lines > 7 * small_lines
    # 8x the input, same working set: a block or two plus the (sparse) events.
    assert big_peak < small_peak * 1.5 + (2 << 20), (small_peak, big_peak)
