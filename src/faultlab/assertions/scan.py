"""Stream a log through a multi-pattern prefilter and the catalog: memory stays flat whatever the input size.

Lines are read in blocks; Hyperscan (or `re` where Hyperscan is missing) finds the few lines that can hold
a catalog event or that look odd (masked timestamps); only those and each file's first line (a cut excerpt)
are split into header and body and matched against the signatures. Every line is counted; lines that are not
text (NUL bytes, not UTF-8, 1 MiB without a newline) are odd; a stream damaged part-way (truncated .gz) gives
what was readable and names the damage. With `all_lines=True` every line is parsed, which reports every
malformed line at a higher cost (tests, small inputs, `faultlab triage --all-lines`).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import tarfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from faultlab.assertions import catalog, layouts
from faultlab.assertions.model import Event, LogKind, LogLine

try:
    import hyperscan

    HAVE_HYPERSCAN = True
except ImportError:  # pragma: no cover - hyperscan is a declared dependency; `re` is the slow fallback
    HAVE_HYPERSCAN = False

try:  # SIMD byte counting and search: newlines counted 2-3x faster than bytes.count (a scalar loop)
    import stringzilla

    HAVE_STRINGZILLA = True
except ImportError:  # pragma: no cover - stringzilla is a declared dependency; bytes' methods are the fallback
    HAVE_STRINGZILLA = False

BLOCK_SIZE = 256 << 10  # read size: a block stays in the CPU cache between the prefilter and the newline count
MAX_LINE = 1 << 20  # a longer run of bytes without a newline is cut into lines of this size
MAX_ODD_EXAMPLES = 20

# Lines worth a look although no signature names them: masked timestamps, so that odd lines are counted and
# reported instead of passing silently as noise. Each has a rare literal (YYYY, -MM-, THH:), so Hyperscan
# skips through them; a timestamp cut at the front (`019-03-14T...`, an excerpt or a file cut mid-line) has
# none and would halve the scan's speed, so the first line of every file is parsed instead (see
# `candidate_lines`), and `--all-lines` reports every such line.
ODD_LINE_PATTERNS: tuple[str, ...] = (
    r"^\[?YYYY",
    r"^\[?[0-9]{4}-MM-",
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
        self._hs: object | None = _cached_database(self.patterns) if HAVE_HYPERSCAN else None
        self._re: re.Pattern[bytes] | None = None

    def offsets(self, block: bytes | memoryview) -> list[int]:
        """End offsets of matches in `block` (unsorted, possibly several per line)."""
        if self._hs is not None:
            found: list[int] = []

            def on_match(_id: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
                found.append(end)

            self._hs.scan(block, match_event_handler=on_match)  # type: ignore[attr-defined]
            return found
        if self._re is None:
            self._re = re.compile("|".join(f"(?:{p})" for p in self.patterns).encode(), re.MULTILINE)
        return [m.end() for m in self._re.finditer(block)]


CACHE_MAGIC = b"faultlab-hsdb-1\n"
CACHE_MAX_AGE_S = 30 * 86400  # cached databases not rewritten for this long are removed when one is written


def _pattern_digest(patterns: Sequence[str]) -> bytes:
    return hashlib.sha256("\0".join((str(getattr(hyperscan, "__version__", "")), *patterns)).encode()).digest()


def cache_file(patterns: Sequence[str]) -> Path:
    """Where the compiled database of `patterns` is cached: the per-user cache folder, keyed by their hash."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "faultlab" / f"prefilter-{_pattern_digest(patterns).hex()[:24]}.v1.hsdb"  # v1: CACHE_MAGIC


def _load_cached(path: Path, digest: bytes) -> object | None:
    """The database cached at `path` if the file is whole and made for these patterns (its header names
    them and the payload's hash), else None: a missing, cut, corrupt or stale file is never trusted."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    head = len(CACHE_MAGIC)
    payload = data[head + 64 :]
    if data[:head] != CACHE_MAGIC or data[head : head + 32] != digest:
        return None
    if data[head + 32 : head + 64] != hashlib.sha256(payload).digest():
        return None
    try:
        loaded = hyperscan.loadb(payload, hyperscan.HS_MODE_BLOCK)
        loaded.scratch = hyperscan.Scratch(loaded)  # a loaded database comes without its scratch space
    except (ValueError, TypeError, hyperscan.error):
        return None  # built by another Hyperscan or for a CPU with other features: compile again
    return loaded


def _store(path: Path, digest: bytes, db: hyperscan.Database) -> None:
    """Write the database whole or not at all (a reader never sees half a file); drop long-unused ones."""
    payload = hyperscan.dumpb(db)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(CACHE_MAGIC + digest + hashlib.sha256(payload).digest() + payload)
        tmp.replace(path)
        now = time.time()
        for old in path.parent.glob("prefilter-*.hsdb"):
            if now - old.stat().st_mtime > CACHE_MAX_AGE_S:
                old.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only home: compile each time


def _cached_database(patterns: Sequence[str]) -> object:
    """The compiled pattern set, from the user's cache when it was compiled before (compiling the catalog's
    union takes about 0.3 s, as long as scanning 500 MB; loading it takes milliseconds)."""
    path, digest = cache_file(patterns), _pattern_digest(patterns)
    loaded = _load_cached(path, digest)
    if loaded is not None:
        return loaded
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(
        expressions=[p.encode() for p in patterns],
        ids=list(range(len(patterns))),
        flags=[hyperscan.HS_FLAG_MULTILINE] * len(patterns),
    )
    _store(path, digest, db)
    return db


_DEFAULT_PREFILTER: Prefilter | None = None


def default_prefilter() -> Prefilter:
    global _DEFAULT_PREFILTER  # noqa: PLW0603 - compiled once per process
    if _DEFAULT_PREFILTER is None:
        _DEFAULT_PREFILTER = Prefilter((*catalog.PREFILTER, *ODD_LINE_PATTERNS))
    return _DEFAULT_PREFILTER


def count_newlines(buf: bytes, start: int, end: int) -> int:
    """Newlines in buf[start:end]."""
    if HAVE_STRINGZILLA:
        return int(stringzilla.count(buf, b"\n", start, end))
    return buf.count(b"\n", start, end)


_NOT_ASCII_TEXT = bytes(range(0x80, 0x100)) + b"\x00"  # a NUL or a byte that may start a non-ASCII character


def _plain_ascii(buf: bytes, start: int, end: int) -> bool:
    """buf[start:end] is ASCII without NUL bytes (nearly every block of a log), in one SIMD pass."""
    if HAVE_STRINGZILLA:
        return int(stringzilla.find_first_of(buf, _NOT_ASCII_TEXT, start, end)) < 0
    piece = buf if start == 0 and end == len(buf) else buf[start:end]
    return piece.isascii() and piece.find(b"\x00") < 0


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").rstrip("\r")


# What a damaged or truncated compressed stream raises part-way (gzip, ISA-L, zlib, tar members).
READ_ERRORS: tuple[type[BaseException], ...] = (EOFError, OSError, zlib.error, gzip.BadGzipFile, tarfile.TarError)


def iter_blocks(
    stream: BinaryIO, block_size: int = BLOCK_SIZE, stats: ScanStats | None = None
) -> Iterator[tuple[bytes, int, int, bool]]:
    """(buf, start, end, cut): buf[start:end] is whole lines, each ending in a newline; the big blocks are the
    bytes as read (no copy: a line across two reads comes as a small block of its own). A run of MAX_LINE bytes
    without a newline is cut into a line of its own (cut=True, counted odd) so memory stays flat; a read error
    (truncated .gz) ends the stream after what was readable and is recorded in `stats.error`."""
    carry = b""
    done = 0
    while True:
        try:
            data = stream.read(block_size)
        except READ_ERRORS as exc:
            if stats is not None:
                stats.error = f"damaged: read up to byte {done} of its content, then: {exc}"
            break
        if not data:
            break
        done += len(data)
        if stats is not None:
            stats.bytes = done
            if stats.progress is not None:
                stats.progress(done)
        start = 0
        if carry:
            nl = data.find(b"\n")
            if nl < 0:
                carry += data
                if len(carry) >= MAX_LINE:
                    yield carry + b"\n", 0, len(carry) + 1, True
                    carry = b""
                continue
            head = carry + data[: nl + 1]
            carry = b""
            yield head, 0, len(head), False
            start = nl + 1
        cut = data.rfind(b"\n", start)
        if cut < 0:
            rest = data[start:]
            if len(rest) >= MAX_LINE:
                yield rest + b"\n", 0, len(rest) + 1, True
            else:
                carry = rest
            continue
        yield data, start, cut + 1, False
        carry = data[cut + 1 :]
    if carry:
        yield carry + b"\n", 0, len(carry) + 1, False


def _undecodable(buf: bytes, start: int, end: int, first_line: int, stats: ScanStats) -> None:
    """Count lines with NUL bytes or bytes that are not UTF-8 as odd (binary input); cheap on ASCII blocks."""
    if _plain_ascii(buf, start, end):
        return
    if buf.find(b"\x00", start, end) < 0:
        try:
            buf[start:end].decode("utf-8")
            return
        except UnicodeDecodeError:
            pass
    stats.bad_lines.clear()
    for i, raw in enumerate(buf[start:end].split(b"\n")[:-1]):
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
    stream: BinaryIO,
    prefilter: Prefilter,
    stats: ScanStats | None = None,
    block_size: int = BLOCK_SIZE,
    first_line: bool = False,
) -> Iterator[tuple[int, bytes]]:
    """(line number, raw line) for each line the prefilter selects (and line 1 with `first_line`: where a cut
    excerpt shows); counts every line into `stats`.

    Newlines are counted once per block, piecewise up to each candidate and then to the block's end."""
    st = stats if stats is not None else ScanStats(name="", host="", kind=LogKind.OTHER)
    line_no = 1  # number of the block's first line
    for buf, start, end, cut in iter_blocks(stream, block_size, st):
        _undecodable(buf, start, end, line_no, st)
        if cut:
            st.note_cut(line_no, _decode(buf[:300].replace(b"\x00", b"")), end - 1)
        # The whole read is scanned (Hyperscan's binding copies a slice: 15% slower); matches outside
        # buf[start:end] belong to the partial lines at its edges, read whole in the blocks before and after.
        ends = prefilter.offsets(buf)
        counted_to = start
        current = line_no
        line_end = -1
        if first_line and line_no == 1:
            line_end = buf.find(b"\n", start, end)
            yield 1, buf[start:line_end]
        if ends:
            ends.sort()
            for match_end in ends:
                if match_end <= start or match_end > end:
                    continue  # in a partial line at an edge of the read
                if match_end <= line_end:
                    continue  # another match on a line already taken
                # a match never spans a newline, so its last byte (match_end - 1) is inside the line
                line_start = buf.rfind(b"\n", start, match_end - 1) + 1 or start
                line_start = max(line_start, start)
                line_end = buf.find(b"\n", match_end - 1, end)
                current += count_newlines(buf, counted_to, line_start)
                counted_to = line_start
                yield current, buf[line_start:line_end]
        line_no = current + count_newlines(buf, counted_to, end)
        st.lines = line_no - 1


def all_lines(stream: BinaryIO, stats: ScanStats | None = None) -> Iterator[tuple[int, bytes]]:
    """(line number, raw line) for every line."""
    st = stats if stats is not None else ScanStats(name="", host="", kind=LogKind.OTHER)
    line_no = 1
    for buf, start, end, cut in iter_blocks(stream, stats=st):
        _undecodable(buf, start, end, line_no, st)
        if cut:
            st.note_cut(line_no, _decode(buf[:300].replace(b"\x00", b"")), end - 1)
        lines = buf[start:end].split(b"\n")[:-1]
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
        all_lines(stream, stats)
        if every_line
        else candidate_lines(stream, prefilter or default_prefilter(), stats, first_line=True)
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
