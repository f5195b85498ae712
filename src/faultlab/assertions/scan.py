"""Stream a log through a multi-pattern prefilter and the catalog: memory stays flat whatever the input size.

Lines are read in large blocks; Hyperscan (or `re` where Hyperscan is missing) finds the few lines that can
hold a catalog event or that look odd (masked or cut timestamps); only those are split into header and body
and matched against the signatures. Every line is counted. With `all_lines=True` every line is parsed, which
reports every malformed line at a higher cost (tests, small inputs, `faultlab triage --all-lines`).
"""

from __future__ import annotations

import gzip
import re
import tarfile
import zlib
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
MAX_LINE = 1 << 20  # a longer run of bytes without a newline is cut into lines of this size
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
    error: str | None = None  # the file could not be read (or only up to a damage, see `lines`)
    cut_lines: int = 0  # runs of MAX_LINE bytes without a newline, cut (each also an odd line)
    progress: Callable[[int], None] | None = field(default=None, repr=False)  # bytes read so far
    bad_lines: set[int] = field(default_factory=set, repr=False)  # undecodable lines of the current block

    def note(self, line: LogLine) -> None:
        self.examined += 1
        if line.masked:
            self.masked += 1
        if not line.ok and line.line_no not in self.bad_lines:
            self._odd(line.line_no, line.raw, line.problem or "unrecognised")

    def note_bad(self, line_no: int, text: str, problem: str) -> None:
        """A line that is not text (NUL bytes, not UTF-8): odd whether or not it is parsed."""
        self.bad_lines.add(line_no)
        self._odd(line_no, text, problem)

    def note_cut(self, line_no: int, text: str, size: int) -> None:
        """A run of MAX_LINE bytes without a newline, read as one line: odd (once, even if also binary)."""
        self.cut_lines += 1
        if line_no not in self.bad_lines:
            self.note_bad(line_no, text, f"no newline in {size} bytes: cut")

    def _odd(self, line_no: int, text: str, problem: str) -> None:
        self.odd += 1
        if len(self.odd_examples) < MAX_ODD_EXAMPLES:
            self.odd_examples.append(OddLine(line_no, text[:300], problem))


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


# What a damaged or truncated compressed stream raises part-way (gzip, ISA-L, zlib, tar members).
READ_ERRORS: tuple[type[BaseException], ...] = (EOFError, OSError, zlib.error, gzip.BadGzipFile, tarfile.TarError)


def iter_blocks(
    stream: BinaryIO, block_size: int = BLOCK_SIZE, stats: ScanStats | None = None
) -> Iterator[tuple[bytes, bool]]:
    """(block, cut) for blocks that end on a line boundary. A run of MAX_LINE bytes without a newline is cut
    into a line of its own (cut=True, counted odd) so memory stays flat; a read error (truncated .gz) ends the
    stream after what was readable and is recorded in `stats.error`."""
    carry = b""
    done = 0
    while True:
        try:
            data = stream.read(block_size)
        except READ_ERRORS as exc:
            if stats is not None:
                stats.error = f"damaged: read up to byte {done + len(carry)} of its content, then: {exc}"
            break
        if not data:
            break
        done += len(data)
        if stats is not None:
            stats.bytes = done
        block = carry + data if carry else data
        cut = block.rfind(b"\n")
        if cut < 0:
            if len(block) < MAX_LINE:
                carry = block
                continue
            carry = b""
            yield block + b"\n", True  # one line, cut
        else:
            carry = block[cut + 1 :]
            yield (block[: cut + 1] if carry else block), False
        if stats is not None and stats.progress is not None:
            stats.progress(done)
    if carry:
        yield carry + b"\n", False


def _undecodable(block: bytes, first_line: int, stats: ScanStats) -> None:
    """Count lines with NUL bytes or bytes that are not UTF-8 as odd (binary input); cheap on ASCII blocks."""
    if block.isascii():
        if block.find(b"\x00") < 0:
            return
    elif block.find(b"\x00") < 0:
        try:
            block.decode("utf-8")
            return
        except UnicodeDecodeError:
            pass
    stats.bad_lines.clear()
    for i, raw in enumerate(block.split(b"\n")[:-1]):
        if b"\x00" in raw:
            problem = "binary: NUL bytes"
        else:
            try:
                raw.decode("utf-8")
                continue
            except UnicodeDecodeError:
                problem = "undecodable bytes (not UTF-8)"
        stats.note_bad(first_line + i, _decode(raw[:300].replace(b"\x00", b"")) or "\\x00...", problem)


def candidate_lines(
    stream: BinaryIO, prefilter: Prefilter, stats: ScanStats | None = None, block_size: int = BLOCK_SIZE
) -> Iterator[tuple[int, bytes]]:
    """(line number, raw line) for each line the prefilter selects; counts every line into `stats`.

    Newlines are counted once per block, piecewise up to each candidate and then to the block's end."""
    st = stats if stats is not None else ScanStats(name="", host="", kind=LogKind.OTHER)
    line_no = 1  # number of the block's first line
    for block, cut in iter_blocks(stream, block_size, st):
        _undecodable(block, line_no, st)
        if cut:
            st.note_cut(line_no, _decode(block[:300].replace(b"\x00", b"")), len(block))
        ends = prefilter.offsets(block)
        counted_to = 0
        current = line_no
        if ends:
            ends.sort()
            line_end = -1
            for end in ends:
                if end <= line_end:
                    continue  # another match on a line already taken
                # a match never spans a newline, so its last byte (end - 1) is inside the line
                start = block.rfind(b"\n", 0, end - 1) + 1
                line_end = block.find(b"\n", end - 1)
                current += block.count(b"\n", counted_to, start)
                counted_to = start
                yield current, block[start:line_end]
        line_no = current + block.count(b"\n", counted_to)
        st.lines = line_no - 1


def all_lines(stream: BinaryIO, stats: ScanStats | None = None) -> Iterator[tuple[int, bytes]]:
    """(line number, raw line) for every line."""
    st = stats if stats is not None else ScanStats(name="", host="", kind=LogKind.OTHER)
    line_no = 1
    for block, cut in iter_blocks(stream, stats=st):
        lines = block.split(b"\n")[:-1]
        _undecodable(block, line_no, st)
        if cut:
            st.note_cut(line_no, _decode(block[:300].replace(b"\x00", b"")), len(block))
        for i, raw in enumerate(lines):
            yield line_no + i, raw
        line_no += len(lines)
        st.lines = line_no - 1


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
    progress: Callable[[int], None] | None = None,
) -> tuple[list[Event], ScanStats]:
    """Parse one log stream into catalog events and its statistics. Never raises on content; a stream damaged
    part-way (truncated .gz) yields what was readable and names the damage in `stats.error`.
    `progress` gets the bytes read so far after each block."""
    stats = ScanStats(name=name, host=host, kind=kind, progress=progress)
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
