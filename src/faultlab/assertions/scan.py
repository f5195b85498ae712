"""Stream a log through a multi-pattern prefilter and the catalog: memory stays flat whatever the input size.

Lines are read in large blocks; Hyperscan (or `re` where Hyperscan is missing) finds the few lines that can
hold a catalog event or that look odd (masked or cut timestamps); only those are split into header and body
and matched against the signatures. Every line is counted. With `all_lines=True` every line is parsed, which
reports every malformed line at a higher cost (tests, small inputs, `faultlab triage --all-lines`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from faultlab.assertions import catalog, layouts
from faultlab.assertions.model import Event, LogKind, LogLine

try:
    import hyperscan

    HAVE_HYPERSCAN = True
except ImportError:  # pragma: no cover - hyperscan is a declared dependency; `re` is the slow fallback
    HAVE_HYPERSCAN = False

BLOCK_SIZE = 4 << 20
MAX_ODD_EXAMPLES = 20

# Lines worth a look although no signature names them: masked or cut timestamps, so that odd lines are
# counted and reported instead of passing silently as noise.
ODD_LINE_PATTERNS: tuple[str, ...] = (
    r"^\[?YYYY",
    r"^\[?[0-9]{4}-MM-",
    r"^[0-9]{3}-[0-9]{2}-[0-9]{2}T",
    r"T(HH|hh):(MM|mm):",
)


@dataclass(slots=True)
class OddLine:
    line_no: int
    text: str
    problem: str


@dataclass(slots=True)
class ScanStats:
    """What one log source held: all lines counted, the odd ones kept (up to MAX_ODD_EXAMPLES)."""

    name: str
    host: str
    kind: LogKind
    lines: int = 0
    bytes: int = 0
    examined: int = 0
    events: int = 0
    odd: int = 0
    masked: int = 0
    odd_examples: list[OddLine] = field(default_factory=list)
    error: str | None = None

    def note(self, line: LogLine) -> None:
        self.examined += 1
        if line.masked:
            self.masked += 1
        if not line.ok:
            self.odd += 1
            if len(self.odd_examples) < MAX_ODD_EXAMPLES:
                self.odd_examples.append(OddLine(line.line_no, line.raw[:300], line.problem or "unrecognised"))


class Prefilter:
    """Finds candidate line offsets in a block of bytes, with one pass of a compiled pattern set."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = tuple(patterns)
        self._hs: object | None = None
        if HAVE_HYPERSCAN:
            db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            flags = [hyperscan.HS_FLAG_MULTILINE] * len(self.patterns)
            db.compile(
                expressions=[p.encode() for p in self.patterns],
                ids=list(range(len(self.patterns))),
                flags=flags,
            )
            self._hs = db
        self._re = re.compile("|".join(f"(?:{p})" for p in self.patterns).encode(), re.MULTILINE)

    def offsets(self, block: bytes) -> list[int]:
        """End offsets of matches in `block` (unsorted, possibly several per line)."""
        if self._hs is not None:
            found: list[int] = []

            def on_match(_id: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
                found.append(end)

            self._hs.scan(block, match_event_handler=on_match)  # type: ignore[attr-defined]
            return found
        return [m.end() for m in self._re.finditer(block)]


_DEFAULT_PREFILTER: Prefilter | None = None


def default_prefilter() -> Prefilter:
    global _DEFAULT_PREFILTER  # noqa: PLW0603 - compiled once per process
    if _DEFAULT_PREFILTER is None:
        _DEFAULT_PREFILTER = Prefilter((*catalog.PREFILTER, *ODD_LINE_PATTERNS))
    return _DEFAULT_PREFILTER


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").rstrip("\r")


def iter_blocks(stream: BinaryIO, block_size: int = BLOCK_SIZE) -> Iterator[tuple[bytes, int]]:
    """Blocks that end on a line boundary, with the number of the first line in each (1-based)."""
    carry = b""
    line_no = 1
    while True:
        data = stream.read(block_size)
        if not data:
            break
        block = carry + data
        cut = block.rfind(b"\n")
        if cut < 0:
            carry = block
            continue
        carry = block[cut + 1 :]
        chunk = block[: cut + 1]
        yield chunk, line_no
        line_no += chunk.count(b"\n")
    if carry:
        yield carry + b"\n", line_no


def candidate_lines(
    stream: BinaryIO, prefilter: Prefilter, stats: ScanStats | None = None, block_size: int = BLOCK_SIZE
) -> Iterator[tuple[int, bytes]]:
    """(line number, raw line) for each line the prefilter selects; counts every line into `stats`."""
    for block, first_line in iter_blocks(stream, block_size):
        if stats is not None:
            stats.lines += block.count(b"\n")
            stats.bytes += len(block)
        ends = prefilter.offsets(block)
        if not ends:
            continue
        ends.sort()
        counted_to = 0
        line_no = first_line
        line_end = -1
        for end in ends:
            if end <= line_end:
                continue  # another match on a line already taken
            # a match never spans a newline, so its last byte (end - 1) is inside the line
            start = block.rfind(b"\n", 0, end - 1) + 1
            line_end = block.find(b"\n", end - 1)
            line_no += block.count(b"\n", counted_to, start)
            counted_to = start
            yield line_no, block[start:line_end]


def all_lines(stream: BinaryIO, stats: ScanStats | None = None) -> Iterator[tuple[int, bytes]]:
    """(line number, raw line) for every line."""
    for block, first_line in iter_blocks(stream):
        lines = block.split(b"\n")[:-1]
        if stats is not None:
            stats.lines += len(lines)
            stats.bytes += len(block)
        for i, raw in enumerate(lines):
            yield first_line + i, raw


def scan_stream(
    stream: BinaryIO,
    *,
    kind: LogKind,
    name: str,
    host: str,
    every_line: bool = False,
    prefilter: Prefilter | None = None,
    year: int | None = None,
    on_line: Callable[[LogLine], None] | None = None,
) -> tuple[list[Event], ScanStats]:
    """Parse one log stream into catalog events and its statistics. Never raises on content."""
    stats = ScanStats(name=name, host=host, kind=kind)
    builder = catalog.EventBuilder()
    events: list[Event] = []
    pairs: Iterable[tuple[int, bytes]] = (
        all_lines(stream, stats) if every_line else candidate_lines(stream, prefilter or default_prefilter(), stats)
    )
    prev: LogLine | None = None
    for line_no, raw in pairs:
        line = layouts.parse_line(_decode(raw), kind, file=name, line_no=line_no, host=host, prev=prev, year=year)
        stats.note(line)
        if on_line is not None:
            on_line(line)
        events.extend(builder.feed(line))
        prev = line
    events.extend(builder.close())
    stats.events = len(events)
    return events, stats
