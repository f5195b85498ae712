"""Find ESXi logs in what a user hands us (file, folder, rotated set, vm-support .tgz, stdin) and open them."""

from __future__ import annotations

import gzip
import io
import os
import re
import stat
import sys
import tarfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO, cast

from faultlab.assertions.gzread import GzipStream, content_size
from faultlab.assertions.model import LogKind


class SourceError(Exception):
    """A path that cannot be read as logs: the message is one line naming the path and why."""


# Names that say for certain which log a file is (ESX 3.5 to ESXi 8 and vm-support bundles): the live file,
# its rotated parts (.0.gz, .1, -1.log, .log.1) and a .txt copy. Any other name is decided from the content.
_ROTATED = r"(\.log)?([.-]\d+)?(\.log)?(\.\d+)?(\.gz)?(\.txt)?"
_CERTAIN_NAMES: tuple[tuple[re.Pattern[str], LogKind], ...] = (
    (re.compile(rf"^(vmkernel|vmkwarning|vmkalert){_ROTATED}$"), LogKind.VMKERNEL),
    (re.compile(rf"^vobd{_ROTATED}$"), LogKind.VOBD),
    (re.compile(rf"^hostd{_ROTATED}$"), LogKind.HOSTD),
    (re.compile(r"^vmware(-\d+)?\.log(\.gz)?(\.txt)?$"), LogKind.VMWARE),
    (re.compile(rf"^vmksummary{_ROTATED}$"), LogKind.VMKSUMMARY),
    (
        re.compile(
            rf"^(fdm|vpxa|vpxd|syslog|auth|shell|messages|hostd-probe|usb|vmauthd|sdrsinjector|storagerm"
            rf"|lacp|clomd|osfsd|vsanvpd|loadesx|boot){_ROTATED}$"
        ),
        LogKind.OTHER,
    ),
)
_BUNDLE_HOST = re.compile(r"^esx-(?P<host>.+?)-\d{4}-\d{2}-\d{2}--\d{2}\.\d{2}(-\d+)?$")
_TAR_SUFFIXES = (".tgz", ".tar.gz", ".tar", ".tar.xz", ".tar.bz2")
SNIFF_BYTES = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"
# A line that starts like a log line: an ISO or syslog time stamp (digits or a KB's mask; a syslog day padded
# or not), an ESX 3/4 vmkernel header without date (with or without its "vmkernel: " tag), or an ESXi header
# whose time a KB left out: "In(182) vmkernel: ", "[scsiCorrelator] 1728...us: ", "cpu6:32909)". A file whose
# first lines are not mostly these is not a log.
_LOG_LINE_START = re.compile(
    r"^\[?([0-9Y]{4}-[0-9M]{2}-[0-9D]{2}[T ][0-9Hh]{2}:|<date|<YYYY|[A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d:\d\d"
    r"|\d{1,3}-\d\d-\d\dT\d\d:)|^\s*(vmk\w*: )?\d+:\d+:\d+:\d+\.\d+ cpu\d+:"
    r"|^(Em|Al|Cr|Er|Wa|No|In|Db)\(\d+\)\S* [\w.\-]+(\[\w*\])?: |^\[\w*Correlator\] \d+us: |^cpu\d+:\d+\)",
)
LOG_LINE_SHARE = 0.2  # at least this share of the first lines start like a log line


def classify(name: str) -> LogKind | None:
    """The log kind a file name says for certain (basename), or None when only the content can tell."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].lower()
    for pattern, kind in _CERTAIN_NAMES:
        if pattern.match(base):
            return kind
    return None


def sniff_kind(head: bytes) -> LogKind:
    """Guess the log kind from the first bytes of a stream (stdin, a file whose name is not certain)."""
    text = head.decode("utf-8", "replace")
    checks = (
        (LogKind.VOBD, r"Correlator\]|\[(vob|esx)\.[a-z]|vobd"),
        # [Originator@6876 is every vmacore daemon's (fdm, vpxa, hostd): only hostd's own name counts
        (
            LogKind.HOSTD,
            r"\b[Hh]ostd\[|^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [0-9A-F]{8} (info|verbose|warning|error) '",
        ),
        (LogKind.VMWARE, r"\| (vcpu-\d+|vmx|mks|svga|worker-\d+)\| |\) (vcpu-\d+|vmx|mks|svga) |WinBSOD"),
        (LogKind.VMKSUMMARY, r"bootstop|heartbeat(\[\d+\])?: up |hb: vmk loaded|vmkhalt"),
        (LogKind.VMKERNEL, r"cpu\d+:\d+(\s+opID=\S+)?\)"),
    )
    scores = {kind: len(re.findall(pattern, text, re.MULTILINE)) for kind, pattern in checks}
    best = max(scores, key=lambda k: scores[k])
    return best if scores[best] else LogKind.OTHER


def judge_content(head: bytes) -> tuple[LogKind | None, str]:
    """(kind, "") for the first bytes of a log whose name is not certain, or (None, why it is not a log)."""
    if not head:
        return None, "empty"
    if b"\x00" in head[:SNIFF_BYTES]:
        return None, "binary content (NUL bytes), not a text log"
    text = head.decode("utf-8", "replace")
    if text.count("\ufffd") > len(text) // 20:
        return None, "binary content (not UTF-8 text), not a text log"
    lines = [ln for ln in text.splitlines()[:200] if ln.strip() and not ln.startswith("#")]
    if not lines:
        return None, "no text line"
    starts = sum(1 for ln in lines if _LOG_LINE_START.match(ln))
    if starts < max(1, LOG_LINE_SHARE * len(lines)):
        return None, f"not a log: {starts} of its first {len(lines)} text line(s) start with a time stamp"
    return sniff_kind(head), ""


def _known_other(name: str) -> str:
    """The reason for a file that is not a log but is read for something else."""
    if name.startswith("meminfo"):
        return "not a log: a /proc/meminfo copy, read for the KB 308590 swap figures"
    return ""


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file found in a folder or bundle and not read as a log, with the reason (shown and in the JSON)."""

    name: str
    host: str
    reason: str


@dataclass(frozen=True, slots=True)
class LogSource:
    """One log file (or one rotated part) to read: where it is, what kind, which host, how to open it."""

    kind: LogKind
    host: str
    name: str  # shown to users and written in events: host-relative path such as var/run/log/vobd.log
    open: Callable[[], BinaryIO]
    order: tuple[int, int] = (0, 0)  # (rotation age: higher = older, tie-breaker) within its rotation group
    group: str = ""  # the rotation group: all parts of one log share it
    size: int | None = None  # bytes stored (compressed for a .gz), for progress
    content_size: int | None = None  # bytes of content when known (a .gz's from its trailer): the scan's order
    once: bool = False  # an open stream (stdin, a FIFO named on the command line): read once, in this process

    @property
    def compressed(self) -> bool:
        return self.name.endswith(".gz")


def _rotation_age(base: str) -> int:
    """Age rank of a rotated part: the live file is 0, .0.gz is 1, .1.gz is 2 ... (older = larger)."""
    for pattern in (r"\.(\d+)(\.gz)?$", r"-(\d+)\.log(\.gz)?$", r"\.log\.(\d+)(\.gz)?$"):
        m = re.search(pattern, base)
        if m:
            return int(m.group(1)) + 1
    return 0


def _group_name(base: str) -> str:
    stem = re.sub(r"(\.\d+)?(\.gz)?$", "", base)
    stem = re.sub(r"-\d+(?=\.log$)", "", stem)
    return re.sub(r"\.log$", "", stem)


def _open_path(path: Path) -> Callable[[], BinaryIO]:
    def opener() -> BinaryIO:
        fh = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
        try:
            compressed = fh.read(2) == GZIP_MAGIC
            fh.seek(0)
        except OSError:
            fh.close()
            raise
        if not compressed:
            return fh
        fh.close()
        return cast(BinaryIO, GzipStream(path))

    return opener


def _host_for(path: Path, root: Path) -> str:
    """The host a log belongs to: the bundle/folder name (esx-<host>-<date>), or the folder holding var/run/log
    or vmfs/volumes (<host>/var/run/log/vobd.log, <host>/vmfs/volumes/<ds>/<vm>/vmware.log: a run's logs folder)."""
    try:
        rel_parts = path.relative_to(root).parts
    except ValueError:
        rel_parts = path.parts
    for part in (root.name, *rel_parts):
        m = _BUNDLE_HOST.match(part)
        if m:
            return m.group("host")
    for top in ("var", "vmfs"):
        if top in rel_parts:
            i = rel_parts.index(top)
            if i > 0:
                return rel_parts[i - 1]
    return root.name if root.is_dir() else path.parent.name


def _display_name(path: Path, root: Path) -> str:
    try:
        rel = path.relative_to(root)
    except ValueError:
        return path.name
    parts = rel.parts
    # Drop the bundle's top folder (esx-host-date) so names read as on the host: var/run/log/vobd.log
    if parts and _BUNDLE_HOST.match(parts[0]):
        parts = parts[1:]
    return "/".join(parts) if parts else path.name


@dataclass(slots=True)
class Found:
    """What a path holds: the logs to read and every other file with the reason it is not read."""

    sources: list[LogSource]
    skipped: list[Skipped]


def discover(path: str | os.PathLike[str]) -> list[LogSource]:
    """Every log under `path` (see `discover_all`); the skipped files are dropped."""
    return discover_all(path).sources


def discover_all(path: str | os.PathLike[str]) -> Found:
    """Every log under `path` (a file, folder or vm-support archive; '-' is stdin) in a stable order, and
    every other file found with the reason it is skipped.

    A file's log kind comes from its name when the name is certain (`classify`), else from its first 64 KiB
    (`judge_content`). In a folder, what is not a regular file (FIFO, socket, device, broken link) is skipped
    without being opened, so it cannot hang the scan. Raises SourceError with one clear line when the path is
    missing, unreadable or holds no log.
    """
    if str(path) == "-":
        return Found([_stdin_source()], [])
    p = Path(path)
    if not p.exists():
        raise SourceError(f"{p}: no such file or folder")
    if p.is_dir():
        return _folder(p)
    if not os.access(p, os.R_OK):
        raise SourceError(f"{p}: not readable (permission denied)")
    if not p.is_file():  # a FIFO or device named on the command line (`<(zcat x)`): read once, like stdin
        return Found([_stream_source(p)], [])
    if p.name.endswith(_TAR_SUFFIXES) or _is_tar(p):
        return _tar_sources(p)
    kind = classify(p.name)
    if kind is None:
        head = _head(p)
        found, _why = judge_content(head)
        kind = found or sniff_kind(head)  # named explicitly: read it anyway; its odd lines are reported
    return Found([_path_source(p, p.parent, kind, host=_host_for(p, p.parent))], [])


def _folder(root: Path) -> Found:
    sources: list[LogSource] = []
    skipped: list[Skipped] = []

    def unlistable(exc: OSError) -> None:  # a sub-folder that cannot be listed is named, not passed over
        where = Path(exc.filename or root)
        skipped.append(
            Skipped(_display_name(where, root), _host_for(where, root), f"folder not readable ({exc.strerror})")
        )

    for dirpath, dirnames, filenames in os.walk(root, onerror=unlistable):
        dirnames.sort()
        for fname in sorted(filenames):
            fp = Path(dirpath) / fname
            host = _host_for(fp, root)
            why = _not_regular(fp) or _link_inside(fp, root)
            if why:
                skipped.append(Skipped(_display_name(fp, root), host, why))
                continue
            if fname.endswith(_TAR_SUFFIXES):
                try:
                    inner = _tar_sources(fp)
                except SourceError as exc:
                    skipped.append(Skipped(_display_name(fp, root), host, str(exc).split(": ", 1)[-1]))
                    continue
                sources.extend(inner.sources)
                skipped.extend(inner.skipped)
                continue
            kind = classify(fname)
            if kind is None:
                try:
                    kind, why = judge_content(_head(fp))
                    why = _known_other(fname) or why
                except SourceError as exc:
                    kind, why = None, str(exc).split(": ", 1)[-1]
            if kind is None:
                skipped.append(Skipped(_display_name(fp, root), host, why))
                continue
            sources.append(_path_source(fp, root, kind, host=host))
    if not sources:
        reasons = "; ".join(f"{s.name}: {s.reason}" for s in skipped[:3])
        more = f" (skipped {len(skipped)} file(s): {reasons}{' ...' if len(skipped) > 3 else ''})" if skipped else ""
        raise SourceError(f"{root}: no ESXi log found{more}")
    return Found(_order(sources), skipped)


def _link_inside(fp: Path, root: Path) -> str:
    """A symbolic link to a file in the same folder tree (a bundle's var/log/vmkernel.log ->
    ../run/log/vmkernel.log) is read where it points, once: else each event would show twice."""
    if not fp.is_symlink():
        return ""
    target = fp.resolve()
    try:
        rel = target.relative_to(root.resolve())
    except ValueError:
        return ""  # points outside the folder: read it here
    return f"symbolic link to {rel.as_posix()} (read there)"


def _not_regular(fp: Path) -> str:
    """Why a folder entry is not read as a file ('' for a readable regular file); never opens it."""
    try:
        st = fp.stat()
    except FileNotFoundError:
        return "broken symbolic link" if fp.is_symlink() else "vanished while listing"
    except OSError as exc:
        return f"cannot stat ({exc.strerror or exc})"
    mode = st.st_mode
    for test, what in (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return f"not a regular file: {what}"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    if not os.access(fp, os.R_OK):
        return "not readable (permission denied)"
    return ""


def _head(p: Path) -> bytes:
    """The first SNIFF_BYTES of a regular file, decompressed when it is gzip."""
    try:
        with _open_path(p)() as fh:
            return fh.read(SNIFF_BYTES)
    except (OSError, EOFError) as exc:
        raise SourceError(f"{p}: cannot read ({exc})") from exc


def _path_source(fp: Path, root: Path, kind: LogKind, host: str) -> LogSource:
    base = fp.name
    size = fp.stat().st_size
    return LogSource(
        kind=kind,
        host=host,
        name=_display_name(fp, root),
        open=_open_path(fp),
        order=(_rotation_age(base), 0),
        group=f"{host}:{fp.parent}/{_group_name(base)}",
        size=size,
        content_size=content_size(fp, size),
    )


def _order(sources: list[LogSource]) -> list[LogSource]:
    """Group rotated parts together, oldest part first, so each log reads in time order."""
    return sorted(sources, key=lambda s: (s.group, -s.order[0], s.order[1], s.name))


def _is_tar(p: Path) -> bool:
    try:
        return tarfile.is_tarfile(p)
    except OSError:
        return False


def _tar_sources(archive: Path) -> Found:
    """Logs inside a vm-support bundle, read straight from the archive when scanned, and the members skipped."""
    bundle_host = _BUNDLE_HOST.match(re.sub(r"(\.tgz|\.tar(\.\w+)?)$", "", archive.name))
    sources: list[LogSource] = []
    skipped: list[Skipped] = []
    try:
        with tarfile.open(archive, "r:*") as tar:
            for m in tar:
                if m.isdir():
                    continue
                mpath = PurePosixPath(m.name)
                parts = mpath.parts
                host = bundle_host.group("host") if bundle_host else ""
                top = _BUNDLE_HOST.match(parts[0]) if parts else None
                if top:
                    host, parts = top.group("host"), parts[1:]
                host = host or re.sub(r"(\.tgz|\.tar(\.\w+)?)$", "", archive.name)
                name = "/".join(parts)
                if not m.isfile():
                    what = "a symbolic link" if m.issym() or m.islnk() else "a FIFO or device"
                    skipped.append(Skipped(name, host, f"not a regular file: {what}"))
                    continue
                kind = classify(mpath.name)
                if kind is None:
                    kind, why = judge_content(_member_head(tar, m))
                    why = _known_other(mpath.name) or why
                    if kind is None:
                        skipped.append(Skipped(name, host, why))
                        continue
                sources.append(
                    LogSource(
                        kind=kind,
                        host=host,
                        name=name,
                        open=_tar_member_opener(archive, m.name),
                        order=(_rotation_age(mpath.name), 0),
                        group=f"{host}:{mpath.parent}/{_group_name(mpath.name)}",
                        size=m.size,
                    )
                )
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0].rstrip(":")
        raise SourceError(f"{archive}: not a readable archive ({reason})") from exc
    if not sources:
        raise SourceError(f"{archive}: archive holds no ESXi log ({len(skipped)} file(s), none a log)")
    return Found(_order(sources), skipped)


def _member_head(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    fh = tar.extractfile(member)
    if fh is None:
        return b""
    head = fh.read(SNIFF_BYTES)
    if head[:2] == GZIP_MAGIC:
        try:
            return zlib.decompressobj(wbits=31).decompress(head, SNIFF_BYTES)
        except zlib.error:
            return head
    return head


def _tar_member_opener(archive: Path, member: str) -> Callable[[], BinaryIO]:
    def opener() -> BinaryIO:
        tar = tarfile.open(archive, "r:*")  # noqa: SIM115 - closed with the returned stream
        fh = tar.extractfile(member)
        if fh is None:
            tar.close()
            raise SourceError(f"{archive}: member {member} cannot be read")
        stream = cast(BinaryIO, _ClosingStream(fh, tar))
        if member.endswith(".gz"):
            return cast(BinaryIO, gzip.GzipFile(fileobj=stream, mode="rb"))
        return stream

    return opener


class _ClosingStream(io.RawIOBase):
    """A tar member that also closes its archive when closed."""

    def __init__(self, inner: IO[bytes], owner: tarfile.TarFile) -> None:
        self._inner = inner
        self._owner = owner

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(b))
        n = len(data)
        b[:n] = data
        return n

    def read(self, size: int = -1) -> bytes:
        return self._inner.read(size)

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._owner.close()
            super().close()


def _stdin_source() -> LogSource:
    raw = sys.stdin.buffer
    head = raw.peek(SNIFF_BYTES)[:SNIFF_BYTES] if hasattr(raw, "peek") else b""
    kind = sniff_kind(head)

    def opener() -> BinaryIO:
        return raw

    return LogSource(kind=kind, host="stdin", name="<stdin>", open=opener, once=True)


def _stream_source(p: Path) -> LogSource:
    """A FIFO or device given by name: opened once, its kind sniffed from what is buffered, read once."""
    try:
        fh = open(p, "rb", buffering=SNIFF_BYTES)  # noqa: SIM115 - handed to the scan, which closes it
    except OSError as exc:
        raise SourceError(f"{p}: cannot open ({exc.strerror or exc})") from exc
    kind = classify(p.name) or sniff_kind(fh.peek(SNIFF_BYTES)[:SNIFF_BYTES])  # type: ignore[attr-defined]

    def opener() -> BinaryIO:
        return fh

    return LogSource(kind=kind, host=p.parent.name, name=str(p), open=opener, once=True)


@contextmanager
def opened(source: LogSource) -> Iterator[BinaryIO]:
    """Open a source, turning low-level read errors into SourceError with the source's name."""
    try:
        fh = source.open()
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise SourceError(f"{source.name}: cannot open ({exc})") from exc
    try:
        yield fh
    finally:
        if fh is not sys.stdin.buffer:
            fh.close()
