"""Triage a log folder or vm-support bundle: every catalog event on one timeline, plus the KB diagnoses."""

from __future__ import annotations

import fnmatch
import os
import tarfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from faultlab.assertions import catalog, gzread
from faultlab.assertions.diagnose import DiagContext, Diagnosis, diagnose_all, parse_meminfo
from faultlab.assertions.model import Event
from faultlab.assertions.scan import ScanStats, default_prefilter, scan_stream
from faultlab.assertions.sources import LogSource, Skipped, SourceError, discover_all, opened


@dataclass(slots=True)
class TriageFilter:
    """What the user asked to see; diagnoses always use every event."""

    since: datetime | None = None
    until: datetime | None = None
    hosts: Sequence[str] = ()
    signatures: Sequence[str] = ()  # exact names, prefixes ending in '.', or globs ("apd.*")

    def keeps(self, event: Event) -> bool:
        if self.hosts and event.host not in self.hosts:
            return False
        if self.signatures and not any(_name_matches(event.name, s) for s in self.signatures):
            return False
        if self.since is not None or self.until is not None:
            if event.time is None:
                return False
            if self.since is not None and event.time < self.since:
                return False
            if self.until is not None and event.time > self.until:
                return False
        return True


def _name_matches(name: str, wanted: str) -> bool:
    if wanted.endswith("."):
        return name.startswith(wanted)
    return fnmatch.fnmatchcase(name, wanted)


@dataclass(slots=True)
class TriageReport:
    events: list[Event]  # shown events, time order (twins included, linked)
    all_events: list[Event]
    stats: list[ScanStats]
    diagnoses: list[Diagnosis] = field(default_factory=list)
    hidden_untimed: int = 0  # events without a time that --since/--until could not place
    skipped: list[Skipped] = field(default_factory=list)  # files found and not read, with the reason

    @property
    def damaged(self) -> list[ScanStats]:
        """Files that could not be read to their end (truncated archive, read error)."""
        return [s for s in self.stats if s.error]

    def skipped_lines(self) -> list[str]:
        """One line per file not read (skipped or damaged), for the console."""
        out = [f"skipped {s.name}: {s.reason}" for s in self.skipped]
        out += [f"damaged {s.name}: {s.error} ({s.lines} lines read)" for s in self.damaged]
        return out

    @property
    def odd_lines(self) -> int:
        return sum(s.odd for s in self.stats)

    @property
    def total_lines(self) -> int:
        return sum(s.lines for s in self.stats)

    def to_json(self) -> dict[str, Any]:
        return {
            "events": [e.to_json() for e in self.events],
            "diagnoses": [d.to_json() for d in self.diagnoses],
            "files": [
                {
                    "file": s.name,
                    "host": s.host,
                    "log": s.kind.value,
                    "lines": s.lines,
                    "events": s.events,
                    "odd_lines": s.odd,
                    "masked_time_lines": s.masked,
                    "odd_examples": [{"line": o.line_no, "text": o.text, "problem": o.problem} for o in s.odd_examples],
                    "error": s.error,
                    "skipped": None,
                }
                for s in self.stats
            ]
            + [
                {
                    "file": k.name,
                    "host": k.host,
                    "log": None,
                    "lines": 0,
                    "events": 0,
                    "odd_lines": 0,
                    "masked_time_lines": 0,
                    "odd_examples": [],
                    "error": None,
                    "skipped": k.reason,
                }
                for k in self.skipped
            ],
        }


def _sort_key(e: Event) -> tuple[int, datetime, str, str, int]:
    # Untimed (masked) events sort after timed ones, in file order; they still appear.
    floor = datetime.min.replace(tzinfo=None)
    t = e.time.replace(tzinfo=None) if e.time else floor
    return (0 if e.time else 1, t, e.host, e.file, e.line_no)


Progress = Callable[[str, int, int | None], None]  # (file, bytes read, its size when known)
Scanned = tuple[list[Event], ScanStats]


# Scanning in parallel pays when there is enough to read: forked workers, one file each, on every core.
PARALLEL_MIN_BYTES = 64 << 20
_WORK: list[LogSource] = []  # the sources the forked workers read (inherited, never pickled)
_DONE_BYTES: Any = None  # a shared counter of bytes read by all workers, for progress


def scan_one(src: LogSource, *, every_line: bool = False, on_bytes: Callable[[int], None] | None = None) -> Scanned:
    """Scan one source into events; a source that cannot be read (or only in part) says so in its stats."""
    try:
        with opened(src) as fh:
            evs, st = scan_stream(
                fh, kind=src.kind, name=src.name, host=src.host, every_line=every_line, progress=on_bytes
            )
    except (SourceError, OSError, EOFError, tarfile.TarError) as exc:
        st = ScanStats(name=src.name, host=src.host, kind=src.kind, error=str(exc))
        evs = []
    st.progress = None
    return evs, st


def _worker_start() -> None:
    gzread.DECOMPRESS_IN_THREAD = False  # the other worker has the other core


def _worker_scan(index: int, every_line: bool) -> Scanned:
    last = 0

    def on_bytes(done: int) -> None:
        nonlocal last
        with _DONE_BYTES.get_lock():
            _DONE_BYTES.value += done - last
        last = done

    return scan_one(_WORK[index], every_line=every_line, on_bytes=on_bytes if _DONE_BYTES is not None else None)


def _workers(sources: Sequence[LogSource]) -> int:
    """How many processes to scan with: 1 unless there are several files, enough bytes and several cores."""
    if len(sources) < 2 or any(s.once for s in sources):
        return 1
    if sum(s.content_size or s.size or 0 for s in sources) < PARALLEL_MIN_BYTES:
        return 1
    import multiprocessing as mp  # only for a parallel scan: 20 ms of a small triage's start-up otherwise

    if "fork" not in mp.get_all_start_methods():
        return 1
    return min(len(sources), len(os.sched_getaffinity(0)))


def scan_sources(
    sources: Iterable[LogSource],
    *,
    every_line: bool = False,
    hosts: Sequence[str] = (),
    progress: Progress | None = None,
    workers: int | None = None,
) -> tuple[list[Event], list[ScanStats]]:
    """Scan each source into events (in parallel when it pays, see `_workers`), in the order given."""
    chosen = [s for s in sources if not hosts or s.host in hosts]
    n = workers if workers is not None else _workers(chosen)
    results: list[Scanned] | None = None
    if n > 1:
        from concurrent.futures.process import BrokenProcessPool

        try:
            results = _scan_parallel(chosen, n, every_line, progress)
        except BrokenProcessPool:  # a worker was killed (out of memory?): scan again in this process
            results = None
    if results is None:
        results = []
        for src in chosen:
            on_bytes = None
            if progress is not None:
                size = None if src.compressed else src.size

                def on_bytes(done: int, name: str = src.name, size: int | None = size) -> None:
                    progress(name, done, size)

            results.append(scan_one(src, every_line=every_line, on_bytes=on_bytes))
    events = [e for evs, _ in results for e in evs]
    return events, [st for _, st in results]


def _scan_parallel(sources: list[LogSource], n: int, every_line: bool, progress: Progress | None) -> list[Scanned]:
    """Biggest files first over `n` forked workers (one decompresses and scans while the other does too);
    results come back in the sources' order. The workers share one byte counter for progress."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, wait

    global _WORK, _DONE_BYTES  # handed to the forked workers by inheritance
    ctx = mp.get_context("fork")
    default_prefilter()  # compiled once here, inherited by every worker
    _WORK, _DONE_BYTES = list(sources), ctx.Value("q", 0)
    label = f"{len(sources)} files"
    total = None if any(s.compressed or s.size is None for s in sources) else sum(s.size or 0 for s in sources)
    # the longest work first (decompressed sizes): the last file to finish is a short one, no core waits long
    order = sorted(range(len(sources)), key=lambda i: -(sources[i].content_size or sources[i].size or 0))
    try:
        with ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_worker_start) as pool:
            futures = {i: pool.submit(_worker_scan, i, every_line) for i in order}
            pending = set(futures.values())
            while pending:
                _done, pending = wait(pending, timeout=0.25)
                if progress is not None:
                    progress(label, int(_DONE_BYTES.value), total)  # no total with .gz: their size is compressed
            return [futures[i].result() for i in range(len(sources))]
    finally:
        _WORK, _DONE_BYTES = [], None


def find_meminfo(path: str | os.PathLike[str]) -> str | None:
    """The text of a /proc/meminfo copy in a folder or bundle (KB 308590 compares swap against it)."""
    p = Path(path)
    if p.is_dir():
        for candidate in sorted(p.rglob("meminfo*")):
            if candidate.is_file():
                return candidate.read_text(errors="replace")
        return None
    if p.is_file() and tarfile.is_tarfile(p):
        with tarfile.open(p, "r:*") as tar:
            for m in tar.getmembers():
                if m.isfile() and Path(m.name).name.startswith("meminfo"):
                    fh = tar.extractfile(m)
                    return fh.read().decode(errors="replace") if fh else None
    return None


def triage(
    paths: Sequence[str | os.PathLike[str]],
    *,
    flt: TriageFilter | None = None,
    every_line: bool = False,
    offsets: dict[str, timedelta] | None = None,
    progress: Progress | None = None,
) -> TriageReport:
    """Scan `paths` (files, folders, bundles, '-' for stdin) and diagnose. Raises SourceError on a bad path.
    `progress` is told the bytes read of each file as the scan goes (the command line shows it on stderr)."""
    flt = flt or TriageFilter()
    sources: list[LogSource] = []
    skipped: list[Skipped] = []
    for path in paths:
        found = discover_all(path)
        sources.extend(found.sources)
        skipped.extend(found.skipped)
    events, stats = scan_sources(sources, every_line=every_line, hosts=flt.hosts, progress=progress)
    catalog.link_twins(events)
    if offsets:
        for e in events:
            if e.time is not None and e.host in offsets:
                e.fields.setdefault("time_as_logged", e.time.isoformat())
                e.time = e.time + offsets[e.host]
    events.sort(key=_sort_key)
    meminfo_text = next((m for m in (find_meminfo(p) for p in paths if str(p) != "-") if m), None)
    meminfo = parse_meminfo(meminfo_text) if meminfo_text else None
    diagnoses: list[Diagnosis] = diagnose_all(events, DiagContext(meminfo))
    shown = [e for e in events if flt.keeps(e)]
    hidden = 0
    if flt.since is not None or flt.until is not None:
        hidden = sum(1 for e in events if e.time is None)
    return TriageReport(
        events=shown, all_events=events, stats=stats, diagnoses=diagnoses, hidden_untimed=hidden, skipped=skipped
    )
