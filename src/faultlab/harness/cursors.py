"""Log cursors: mark (inode, size) per log, collect exactly the bytes since, across rotation; live tail; clock skew."""

from __future__ import annotations

import gzip
import logging
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from faultlab.lab.errors import LabError, RemoteFileError, UnreachableError
from faultlab.lab.esxi import HOST_LOGS, datastore_file
from faultlab.lab.result import CommandResult, FileStat
from faultlab.lab.shellbatch import FileSlice

log = logging.getLogger("faultlab.harness.cursors")

HEAD_BYTES = 64  # the first bytes of a file at mark time: how its rotated copy is recognised
ROTATED_DEPTH = 4  # rotated copies searched: .0.gz .. .3.gz (several rotations within one run are rare)
_DATE = re.compile(r"^\s*(\d+)(?:\.(\d+)|\.\D*)?\s*$")  # a date without %N prints "." plus nothing, "N" or "%N"


class FileReader(Protocol):
    """What cursors need of an SSH client (SshClient satisfies it)."""

    def stat(self, path: str) -> FileStat | None: ...

    def read_file(self, path: str, offset: int = 0, length: int | None = None) -> bytes: ...


class CommandRunner(Protocol):
    def run(self, argv: list[str] | str, timeout: float | None = None, check: bool = False) -> CommandResult: ...


@dataclass(frozen=True, slots=True)
class Mark:
    """Where a log stood: its inode and size (0/0 when it did not exist) and its first bytes."""

    path: str
    inode: int
    size: int
    head: bytes = b""


@dataclass(frozen=True, slots=True)
class Chunk:
    """The bytes of one log since a mark; `rotated` names the rotated copies read; `gap` when the marked file's
    rotated copy could not be found (some bytes may be missing at the start)."""

    path: str
    data: bytes
    rotated: tuple[str, ...] = ()
    gap: bool = False


def rotated_paths(path: str, depth: int = ROTATED_DEPTH) -> list[str]:
    """Newest first: /var/run/log/vmkernel.log -> vmkernel.0.gz, vmkernel.1.gz ...; vmware.log -> vmware-1.log ..."""
    folder, _, name = path.rpartition("/")
    prefix = f"{folder}/" if folder else ""
    if name == "vmware.log":
        return [f"{prefix}vmware-{i}.log" for i in range(1, depth + 1)]
    stem = name.removesuffix(".log")
    return [f"{prefix}{stem}.{i}.gz" for i in range(depth)]


def _decompress(path: str, data: bytes) -> bytes:
    if not path.endswith(".gz"):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        log.warning("%s: cannot decompress (%s); treating it as absent", path, exc)
        return b""


@runtime_checkable
class SliceReader(Protocol):
    """A reader that stats and reads several files in one round trip (SshClient.read_slices)."""

    def read_slices(self, reads: Sequence[tuple[str, int, int | None]]) -> list[FileSlice]: ...


def read_slices(client: FileReader, reads: Sequence[tuple[str, int, int | None]]) -> list[FileSlice]:
    """Each (path, offset, length): its stat and bytes from offset (at most length, never past the stat's size),
    in one round trip when the client can (SshClient), else a stat and a ranged read per file."""
    if isinstance(client, SliceReader):
        return client.read_slices(reads)
    out = []
    for path, offset, length in reads:
        st = client.stat(path)
        n = 0 if st is None else max(0, st.size - offset)
        n = n if length is None else min(n, length)
        out.append(FileSlice(path, st, client.read_file(path, offset, n) if n else b""))
    return out


def take_marks(client: FileReader, paths: Sequence[str]) -> dict[str, Mark]:
    """The marks of several logs at once (one round trip over SSH)."""
    got = read_slices(client, [(p, 0, HEAD_BYTES) for p in paths])
    return {s.path: Mark(s.path, s.stat.inode, s.stat.size, s.data) if s.stat else Mark(s.path, 0, 0) for s in got}


def read_all_since(client: FileReader, marks: Mapping[str, Mark]) -> dict[str, tuple[Chunk, Mark, FileStat | None]]:
    """`read_since` for several logs: one round trip for the logs that only grew (the usual case); a log that
    rotated, shrank or changed while read is read again on its own, across its rotated copies."""
    got = read_slices(client, [(m.path, m.size, None) for m in marks.values()])
    out: dict[str, tuple[Chunk, Mark, FileStat | None]] = {}
    for mark, sl in zip(marks.values(), got, strict=True):
        st = sl.stat
        grew = st is not None and st.inode == mark.inode and st.size >= mark.size
        if grew and st is not None and len(sl.data) == st.size - mark.size:
            head = mark.head if len(mark.head) >= HEAD_BYTES else (mark.head + sl.data)[:HEAD_BYTES]
            out[mark.path] = (Chunk(mark.path, sl.data), Mark(mark.path, st.inode, st.size, head), st)
        elif st is None and mark.inode == 0:
            out[mark.path] = (Chunk(mark.path, b""), mark, None)
        else:
            chunk, new = read_since(client, mark)
            out[mark.path] = (chunk, new, FileStat(new.size, new.inode, 0) if new.inode else None)
    return out


def take_mark(client: FileReader, path: str) -> Mark:
    st = client.stat(path)
    if st is None:
        return Mark(path, 0, 0)
    head = client.read_file(path, 0, min(st.size, HEAD_BYTES)) if st.size else b""
    return Mark(path, st.inode, st.size, head)


def read_since(client: FileReader, mark: Mark) -> tuple[Chunk, Mark]:
    """The bytes appended since `mark`, and the mark for the next read. Same inode and not shorter: a ranged read.
    Otherwise the file rotated: the rest of the marked file from its rotated copy (recognised by its first
    bytes; newer rotations in between are included whole), then the new file from 0."""
    st = client.stat(mark.path)
    if st is not None and st.inode == mark.inode and st.size >= mark.size:
        new = client.read_file(mark.path, mark.size, st.size - mark.size) if st.size > mark.size else b""
        head = mark.head if len(mark.head) >= HEAD_BYTES else (mark.head + new)[:HEAD_BYTES]
        return Chunk(mark.path, new), Mark(mark.path, st.inode, st.size, head)
    older: list[bytes] = []  # rotated copies newer than the marked file, newest first
    rest, used, gap = b"", [], mark.inode != 0
    if mark.inode != 0:
        for rpath in rotated_paths(mark.path):
            try:
                data = _decompress(rpath, client.read_file(rpath))
            except RemoteFileError as exc:
                if exc.missing:
                    break
                raise
            used.append(rpath)
            if data.startswith(mark.head) and len(data) >= mark.size:
                rest, gap = data[mark.size :], False
                break
            older.append(data)
        if gap:
            log.warning(
                "%s: rotated since the mark, but no rotated copy starts as it did; bytes may be missing", mark.path
            )
            older = []
    current = client.read_file(mark.path, 0, st.size) if st is not None and st.size else b""
    data = rest + b"".join(reversed(older)) + current
    new_mark = Mark(mark.path, st.inode, st.size, current[:HEAD_BYTES]) if st is not None else Mark(mark.path, 0, 0)
    return Chunk(mark.path, data, tuple(used), gap), new_mark


class LogCursors:
    """Cursors over the logs of one host: `mark()`, then `tail()` during the hold, `collect()` at the end."""

    def __init__(self, client: FileReader, paths: Sequence[str], host: str = "") -> None:
        self.client, self.paths, self.host = client, list(paths), host
        self.marks: dict[str, Mark] = {}
        self._tail: dict[str, Mark] = {}
        self.unreachable = False  # the last tail() could not reach the host
        self.stats: dict[str, FileStat | None] = {}  # each log as the last collect() found it

    def mark(self) -> dict[str, Mark]:
        self.marks = take_marks(self.client, self.paths)
        self._tail = dict(self.marks)
        return dict(self.marks)

    def collect(self) -> dict[str, Chunk]:
        """Exactly the bytes written since mark() (rotations included); the marks stay where they are."""
        if not self.marks:
            raise LabError("collect() before mark()", host=self.host)
        got = read_all_since(self.client, self.marks)
        self.stats = {p: st for p, (_, _, st) in got.items()}
        return {p: chunk for p, (chunk, _, _) in got.items()}

    def tail(self) -> dict[str, bytes]:
        """The bytes written since the previous tail() (or the mark): a stat and a ranged read per log.
        A host that cannot be reached (gone in a purple screen, rebooting) gives nothing this time; its marks stay,
        so the next tail after it returns reads on from there: no byte lost or repeated."""
        if not self._tail:
            raise LabError("tail() before mark()", host=self.host)
        out: dict[str, bytes] = {}
        try:
            got = read_all_since(self.client, self._tail)
        except UnreachableError as exc:
            if not self.unreachable:
                log.warning("%s: unreachable while tailing its logs (%s); reading on once it answers", self.host, exc)
            self.unreachable = True
            return out
        for path, (chunk, mark, _) in got.items():
            self._tail[path] = mark
            if chunk.data:
                out[path] = chunk.data
        self.unreachable = False
        return out


# ESX 3.x/4.x classic: the Service Console's syslog files carry no .log suffix (/var/log/vmkernel, vmksummary, KB
# 308590) and hostd logs to /var/log/vmware/hostd.log; there is no vobd.
CLASSIC_LOGS = ("vmkernel", "vmkwarning", "vmksummary", "messages", "vmware/hostd.log")


def esxi_log_paths(
    log_dir: str = "/var/run/log", vmx_paths: Iterable[str] = (), version: str | None = None
) -> list[str]:
    """vmkernel, vmkwarning, vobd, hostd, vmksummary and each VM's vmware.log (beside its "[ds] vm/vm.vmx");
    version 3.x/4.x: the classic files (CLASSIC_LOGS)."""
    folder = log_dir.rstrip("/")
    if version is not None and version.split(".")[0] in ("3", "4"):
        paths = [f"{folder}/{name}" for name in CLASSIC_LOGS]
    else:
        paths = [f"{folder}/{name}.log" for name in HOST_LOGS]
    return paths + [datastore_file(v, "vmware.log") for v in vmx_paths]


def watch(
    cursors: Mapping[str, LogCursors],
    seen: Callable[[str, str, bytes], bool],
    timeout_s: float,
    interval_s: float = 1.0,
    stop: threading.Event | None = None,
) -> bool:
    """Tail every host's logs until `seen(host, path, new_bytes)` returns True (early stop), `stop` is set,
    or the monotonic deadline passes. True when `seen` said so."""
    deadline = time.monotonic() + timeout_s
    pause = stop or threading.Event()
    while True:
        for host, cur in cursors.items():
            for path, data in cur.tail().items():
                if seen(host, path, data):
                    return True
        left = deadline - time.monotonic()
        if left <= 0 or pause.wait(min(interval_s, left)):
            return False


# -- clock skew -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClockSkew:
    """The host's clock minus ours, in seconds, +/- `uncertainty_s` (half the round trip plus resolution)."""

    host: str
    offset_s: float
    uncertainty_s: float
    samples: tuple[tuple[float, float], ...] = field(default=(), repr=False)  # (offset, half round trip)

    def to_local(self, t: datetime) -> datetime:
        """A time the host wrote, on our clock."""
        return t - timedelta(seconds=self.offset_s)


def parse_date_output(text: str) -> tuple[float, float]:
    """`date -u +%s.%N` -> (seconds, resolution in seconds)."""
    m = _DATE.match(text)
    if m is None:
        raise ValueError(f"not an epoch time: {text.strip()[:60]!r}")
    if m[2]:
        return float(f"{m[1]}.{m[2]}"), 10.0 ** -len(m[2])
    return float(m[1]), 1.0


SKEW_COMMAND = "date -u +%s.%N; date -u +%s.%N"  # two reads: the second's distance from the first is a `date`'s run


def measure_skew(
    client: CommandRunner, host: str = "", samples: int = 2, clock: Callable[[], float] = time.time
) -> ClockSkew:
    """Ask the host for its time a few times, bracketed by our monotonic clock; keep the tightest sample.

    Each sample reads the host's clock twice in one command. A `date` reads the clock after its own start-up
    (a few ms on ESXi's busybox, a Python start on the simulator), so the second read falls later in the round
    trip than its middle by about the gap between the two reads: the offset is taken against our clock at the
    middle of the round trip plus that gap. The uncertainty stays half the round trip plus the resolution."""
    found: list[tuple[float, float]] = []
    for _ in range(max(samples, 1)):
        wall, m0 = clock(), time.monotonic()
        res = client.run(SKEW_COMMAND)
        rtt = time.monotonic() - m0
        if not res.succeeded:
            raise LabError(f"date -u exited {res.exit_status}: {res.stderr.strip()}", host=host)
        try:
            reads = [parse_date_output(line) for line in res.stdout.splitlines() if line.strip()]
        except ValueError as exc:
            raise LabError(str(exc), host=host) from None
        if not reads:
            raise LabError(f"no time in {res.stdout.strip()[:60]!r}", host=host)
        remote, resolution = reads[-1]
        gap = max(0.0, min(reads[-1][0] - reads[0][0], rtt / 2)) if len(reads) > 1 and resolution < 1 else 0.0
        # A truncated clock reading lies anywhere in [remote, remote + resolution): take its middle.
        found.append((remote + resolution / 2 - (wall + rtt / 2 + gap), rtt / 2 + resolution / 2))
    offset, spread = min(found, key=lambda s: s[1])
    return ClockSkew(host, offset, spread, tuple(found))
