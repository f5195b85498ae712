"""Find ESXi logs in what a user hands us (file, folder, rotated set, vm-support .tgz, stdin) and open them."""

from __future__ import annotations

import gzip
import io
import os
import re
import sys
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO, cast

from faultlab.assertions.layouts import kind_from_filename
from faultlab.assertions.model import LogKind

try:  # ISA-L decompresses gzip 2-3x faster than zlib, in a thread of its own; optional.
    from isal import igzip_threaded as _igzip_threaded

    HAVE_ISAL = True
except ImportError:  # pragma: no cover - isal is a declared dependency
    HAVE_ISAL = False


class SourceError(Exception):
    """A path that cannot be read as logs: the message is one line naming the path and why."""


# Logs of kind OTHER that are worth reading; any other unknown file in a folder or bundle is skipped.
_OTHER_LOGS = re.compile(r"^(fdm|vpxa|syslog|auth|shell|messages|hostd-probe|other)([.-].*)?$")
_BUNDLE_HOST = re.compile(r"^esx-(?P<host>.+?)-\d{4}-\d{2}-\d{2}--\d{2}\.\d{2}(-\d+)?$")
_TAR_SUFFIXES = (".tgz", ".tar.gz", ".tar", ".tar.xz", ".tar.bz2")


def classify(name: str) -> LogKind | None:
    """The log kind for a file name (basename), or None when it is not a log faultlab reads."""
    base = name.rsplit("/", 1)[-1]
    kind = kind_from_filename(base)
    if kind is LogKind.OTHER and not _OTHER_LOGS.match(base):
        return None
    return kind


def sniff_kind(head: bytes) -> LogKind:
    """Guess the log kind from the first bytes of an unnamed stream (stdin)."""
    text = head.decode("utf-8", "replace")
    checks = (
        (LogKind.VOBD, r"Correlator\]|\[(vob|esx)\.[a-z]|vobd"),
        (LogKind.HOSTD, r"Originator@\d+|\b[Hh]ostd\["),
        (LogKind.VMWARE, r"\| (vcpu-\d+|vmx|mks|svga|worker-\d+)\| |\) (vcpu-\d+|vmx|mks|svga) |WinBSOD"),
        (LogKind.VMKSUMMARY, r"bootstop|heartbeat(\[\d+\])?: up |hb: vmk loaded|vmkhalt"),
        (LogKind.VMKERNEL, r"cpu\d+:\d+"),
    )
    scores = {kind: len(re.findall(pattern, text)) for kind, pattern in checks}
    best = max(scores, key=lambda k: scores[k])
    return best if scores[best] else LogKind.OTHER


@dataclass(frozen=True, slots=True)
class LogSource:
    """One log file (or one rotated part) to read: where it is, what kind, which host, how to open it."""

    kind: LogKind
    host: str
    name: str  # shown to users and written in events: host-relative path such as var/run/log/vobd.log
    open: Callable[[], BinaryIO]
    order: tuple[int, int] = (0, 0)  # (rotation age: higher = older, tie-breaker) within its rotation group
    group: str = ""  # the rotation group: all parts of one log share it

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
        if path.name.endswith(".gz"):
            if HAVE_ISAL:
                return cast(BinaryIO, _igzip_threaded.open(path, "rb", threads=1))  # type: ignore[no-untyped-call]
            return cast(BinaryIO, gzip.open(path, "rb"))
        return open(path, "rb")

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


def discover(path: str | os.PathLike[str]) -> list[LogSource]:
    """Every log under `path` (a file, folder or vm-support archive), in a stable order; '-' is stdin.

    Raises SourceError with one clear line when the path is missing, unreadable or holds no log.
    """
    if str(path) == "-":
        return [_stdin_source()]
    p = Path(path)
    if not p.exists():
        raise SourceError(f"{p}: no such file or folder")
    if p.is_file() and (p.name.endswith(_TAR_SUFFIXES) or _is_tar(p)):
        return _tar_sources(p)
    if p.is_file():
        if not os.access(p, os.R_OK):
            raise SourceError(f"{p}: not readable (permission denied)")
        kind = classify(p.name) or _sniff_file(p)
        return [_path_source(p, p.parent, kind, host=_host_for(p, p.parent))]
    sources: list[LogSource] = []
    for dirpath, dirnames, filenames in os.walk(p):
        dirnames.sort()
        for fname in sorted(filenames):
            fp = Path(dirpath) / fname
            if fname.endswith(_TAR_SUFFIXES):
                sources.extend(_tar_sources(fp))
                continue
            found = classify(fname)
            if found is not None:
                sources.append(_path_source(fp, p, found, host=_host_for(fp, p)))
    if not sources:
        raise SourceError(f"{p}: no ESXi log found (looked for vmkernel*, vobd*, hostd*, vmware*.log, vmksummary*)")
    return _order(sources)


def _path_source(fp: Path, root: Path, kind: LogKind, host: str) -> LogSource:
    base = fp.name
    return LogSource(
        kind=kind,
        host=host,
        name=_display_name(fp, root),
        open=_open_path(fp),
        order=(_rotation_age(base), 0),
        group=f"{host}:{fp.parent}/{_group_name(base)}",
    )


def _order(sources: list[LogSource]) -> list[LogSource]:
    """Group rotated parts together, oldest part first, so each log reads in time order."""
    return sorted(sources, key=lambda s: (s.group, -s.order[0], s.order[1], s.name))


def _sniff_file(p: Path) -> LogKind:
    try:
        with _open_path(p)() as fh:
            return sniff_kind(fh.read(64 * 1024))
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise SourceError(f"{p}: cannot read ({exc})") from exc


def _is_tar(p: Path) -> bool:
    try:
        return tarfile.is_tarfile(p)
    except OSError:
        return False


def _tar_sources(archive: Path) -> list[LogSource]:
    """Logs inside a vm-support bundle; each member is read straight from the archive when scanned."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = [m for m in tar.getmembers() if m.isfile()]
    except (tarfile.TarError, OSError, EOFError, gzip.BadGzipFile) as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0].rstrip(":")
        raise SourceError(f"{archive}: not a readable archive ({reason})") from exc
    bundle_host = _BUNDLE_HOST.match(re.sub(r"(\.tgz|\.tar(\.\w+)?)$", "", archive.name))
    sources: list[LogSource] = []
    for m in members:
        mpath = PurePosixPath(m.name)
        kind = classify(mpath.name)
        if kind is None:
            continue
        parts = mpath.parts
        host = bundle_host.group("host") if bundle_host else ""
        if parts and _BUNDLE_HOST.match(parts[0]):
            host = _BUNDLE_HOST.match(parts[0]).group("host")  # type: ignore[union-attr]
            parts = parts[1:]
        if not host:
            host = re.sub(r"(\.tgz|\.tar(\.\w+)?)$", "", archive.name)
        sources.append(
            LogSource(
                kind=kind,
                host=host,
                name="/".join(parts),
                open=_tar_member_opener(archive, m.name),
                order=(_rotation_age(mpath.name), 0),
                group=f"{host}:{mpath.parent}/{_group_name(mpath.name)}",
            )
        )
    if not sources:
        raise SourceError(f"{archive}: archive holds no ESXi log (looked for var/run/log/* and vmware*.log)")
    return _order(sources)


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
    head = raw.peek(64 * 1024)[: 64 * 1024] if hasattr(raw, "peek") else b""
    kind = sniff_kind(head)

    def opener() -> BinaryIO:
        return raw

    return LogSource(kind=kind, host="stdin", name="<stdin>", open=opener)


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
