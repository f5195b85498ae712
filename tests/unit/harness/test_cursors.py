"""Log cursors over a fake remote file system that rotates as ESXi does; clock skew over a fake `date -u`."""

from __future__ import annotations

import gzip
import itertools
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from faultlab.harness.cursors import (
    HEAD_BYTES,
    LogCursors,
    esxi_log_paths,
    measure_skew,
    parse_date_output,
    rotated_paths,
    take_mark,
    watch,
)
from faultlab.lab.errors import LabError, RemoteFileError, UnreachableError
from faultlab.lab.ssh import CommandResult, FileStat

VMK = "/var/run/log/vmkernel.log"
CLASSIC = "/var/log/vmkernel"  # ESX 4


class FakeFs:
    """Remote files with inodes; `rotate` does what ESXi's vmsyslogd does: gzip to .0.gz, shift older, new inode."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[int, bytes]] = {}
        self._inodes = itertools.count(100)
        self.reads: list[tuple[str, int, int | None]] = []

    def write(self, path: str, data: bytes) -> None:
        inode, old = self.files.get(path, (next(self._inodes), b""))
        self.files[path] = (inode, old + data)

    def rotate(self, path: str) -> None:
        stem = path.removesuffix(".log")
        for i in range(6, -1, -1):
            if f"{stem}.{i}.gz" in self.files:
                self.files[f"{stem}.{i + 1}.gz"] = self.files.pop(f"{stem}.{i}.gz")
        self.files[f"{stem}.0.gz"] = (next(self._inodes), gzip.compress(self.files.pop(path)[1]))
        self.files[path] = (next(self._inodes), b"")

    def stat(self, path: str) -> FileStat | None:
        if path not in self.files:
            return None
        inode, data = self.files[path]
        return FileStat(len(data), inode, 0)

    def read_file(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        self.reads.append((path, offset, length))
        if path not in self.files:
            raise RemoteFileError(f"no such file {path}", path=path, missing=True)
        data = self.files[path][1][offset:]
        return data if length is None else data[:length]


def lines(prefix: str, n: int) -> bytes:
    return b"".join(f"2026-11-22T04:00:{i:02d}.000Z cpu0:1){prefix} line {i}\n".encode() for i in range(n))


def test_rotated_paths() -> None:
    assert rotated_paths(VMK, 2) == ["/var/run/log/vmkernel.0.gz", "/var/run/log/vmkernel.1.gz"]
    vm = "/vmfs/volumes/ds-nfs01/win01/vmware.log"
    assert rotated_paths(vm, 2) == [
        "/vmfs/volumes/ds-nfs01/win01/vmware-1.log",
        "/vmfs/volumes/ds-nfs01/win01/vmware-2.log",
    ]


def test_collect_without_rotation_is_a_ranged_read() -> None:
    fs = FakeFs()
    fs.write(VMK, lines("before", 5))
    cur = LogCursors(fs, [VMK], "esx01")
    marks = cur.mark()
    assert marks[VMK].size == len(lines("before", 5)) and marks[VMK].head == lines("before", 5)[:HEAD_BYTES]
    fs.write(VMK, lines("during", 3))
    fs.reads.clear()
    assert cur.collect()[VMK].data == lines("during", 3)
    assert fs.reads == [(VMK, len(lines("before", 5)), len(lines("during", 3)))]
    assert cur.collect()[VMK].data == lines("during", 3)  # collect does not move the mark


def test_collect_across_a_rotation_to_0_gz() -> None:
    fs = FakeFs()
    fs.write(VMK, lines("old", 10))
    cur = LogCursors(fs, [VMK])
    cur.mark()
    fs.write(VMK, lines("a", 4))
    fs.rotate(VMK)
    fs.write(VMK, lines("b", 2))
    chunk = cur.collect()[VMK]
    assert chunk.data == lines("a", 4) + lines("b", 2)
    assert chunk.rotated == ("/var/run/log/vmkernel.0.gz",) and not chunk.gap


def test_collect_across_two_rotations_includes_the_middle_file_whole() -> None:
    fs = FakeFs()
    fs.write(VMK, lines("old", 10))
    cur = LogCursors(fs, [VMK])
    cur.mark()
    fs.write(VMK, lines("a", 3))
    fs.rotate(VMK)
    fs.write(VMK, lines("m", 7))
    fs.rotate(VMK)
    fs.write(VMK, lines("c", 1))
    chunk = cur.collect()[VMK]
    assert chunk.data == lines("a", 3) + lines("m", 7) + lines("c", 1)
    assert chunk.rotated == ("/var/run/log/vmkernel.0.gz", "/var/run/log/vmkernel.1.gz")


def test_vmware_log_rotation_and_a_file_missing_at_mark() -> None:
    fs = FakeFs()
    vm = "/vmfs/volumes/ds-nfs01/win01/vmware.log"
    fs.write(vm, lines("vmx", 3))
    cur = LogCursors(fs, [vm, "/var/run/log/vobd.log"])
    cur.mark()
    fs.write(vm, lines("vmx2", 1))
    inode, data = fs.files.pop(vm)
    fs.files["/vmfs/volumes/ds-nfs01/win01/vmware-1.log"] = (inode, data)  # power cycle: vmware.log -> vmware-1.log
    fs.write(vm, lines("new", 2))
    fs.write("/var/run/log/vobd.log", lines("vob", 2))
    got = cur.collect()
    assert got[vm].data == lines("vmx2", 1) + lines("new", 2)
    assert got["/var/run/log/vobd.log"].data == lines("vob", 2)


def test_no_matching_rotated_copy_is_reported_as_a_gap() -> None:
    fs = FakeFs()
    fs.write(VMK, lines("old", 3))
    cur = LogCursors(fs, [VMK])
    cur.mark()
    fs.files[VMK] = (999, lines("new", 1))  # replaced, and no rotated copy kept
    chunk = cur.collect()[VMK]
    assert chunk.gap and chunk.data == lines("new", 1)


def test_tail_returns_each_byte_once_across_rotation() -> None:
    fs = FakeFs()
    fs.write(VMK, b"x" * 10)  # shorter than HEAD_BYTES: the head grows as the file does
    cur = LogCursors(fs, [VMK])
    cur.mark()
    assert cur.tail() == {}
    fs.write(VMK, lines("a", 2))
    assert cur.tail() == {VMK: lines("a", 2)}
    fs.write(VMK, lines("b", 1))
    fs.rotate(VMK)
    fs.write(VMK, lines("c", 1))
    assert cur.tail() == {VMK: lines("b", 1) + lines("c", 1)}
    fs.write(VMK, lines("d", 1))
    assert cur.tail() == {VMK: lines("d", 1)}
    assert cur.collect()[VMK].data == lines("a", 2) + lines("b", 1) + lines("c", 1) + lines("d", 1)


class GoneFs(FakeFs):
    """A host that disappears (purple screen) and comes back with its logs appended, not rotated (ESX 4 syslog)."""

    gone = False

    def stat(self, path: str) -> FileStat | None:
        if self.gone:
            raise UnreachableError("connection lost", host="esx01")
        return super().stat(path)


def test_tail_and_collect_across_a_host_that_goes_away_and_returns() -> None:
    fs = GoneFs()
    fs.write(CLASSIC, lines("boot", 1))
    cur = LogCursors(fs, [CLASSIC], "esx01")
    cur.mark()
    fs.write(CLASSIC, lines("before", 2))
    assert cur.tail() == {CLASSIC: lines("before", 2)}
    fs.write(CLASSIC, lines("psod", 1))
    fs.gone = True
    assert cur.tail() == {} and cur.unreachable
    fs.gone = False
    fs.write(CLASSIC, lines("after", 1))
    assert cur.tail() == {CLASSIC: lines("psod", 1) + lines("after", 1)} and not cur.unreachable
    assert cur.collect()[CLASSIC].data == lines("before", 2) + lines("psod", 1) + lines("after", 1)


def test_collect_before_mark_is_an_error() -> None:
    with pytest.raises(LabError, match="before mark"):
        LogCursors(FakeFs(), [VMK], "esx01").collect()
    assert take_mark(FakeFs(), VMK).inode == 0


def test_watch_stops_as_soon_as_the_event_is_seen() -> None:
    fs = FakeFs()
    fs.write(VMK, b"")
    cur = LogCursors(fs, [VMK])
    cur.mark()
    fs.write(VMK, b"... APD timer started ...\n")
    seen: list[bytes] = []

    def saw(host: str, path: str, data: bytes) -> bool:
        seen.append(data)
        return b"APD" in data

    assert watch({"esx01": cur}, saw, timeout_s=30) is True
    assert seen == [b"... APD timer started ...\n"]
    assert watch({"esx01": cur}, lambda h, p, d: True, timeout_s=0.05, interval_s=0.01) is False


def test_esxi_log_paths() -> None:
    assert esxi_log_paths("/var/run/log/", ["[ds-nfs01] win01/win01.vmx"]) == [
        "/var/run/log/vmkernel.log",
        "/var/run/log/vmkwarning.log",
        "/var/run/log/vobd.log",
        "/var/run/log/hostd.log",
        "/var/run/log/vmksummary.log",
        "/vmfs/volumes/ds-nfs01/win01/vmware.log",
    ]
    assert esxi_log_paths("/var/log", version="4.1") == [
        "/var/log/vmkernel",
        "/var/log/vmkwarning",
        "/var/log/vmksummary",
        "/var/log/messages",
        "/var/log/vmware/hostd.log",
    ]


# -- clock skew ---------------------------------------------------------------------------------------------


class FakeDate:
    def __init__(self, outputs: list[str]) -> None:
        self.outputs = outputs

    def run(self, argv: list[str] | str, timeout: float | None = None, check: bool = False) -> CommandResult:
        assert argv == "date -u +%s.%N; date -u +%s.%N"
        return CommandResult(argv, 0, self.outputs.pop(0), "", 0.0)


def test_parse_date_output() -> None:
    assert parse_date_output("1763784000.250000000\n") == (1763784000.25, 1e-9)
    assert parse_date_output("1763784000.\n") == (1763784000.0, 1.0)  # date without %N
    assert parse_date_output("1763784000.%N\n") == (1763784000.0, 1.0)
    with pytest.raises(ValueError, match="not an epoch time"):
        parse_date_output("Sun Nov 22 04:00:00 UTC 2026")


class SlowDate:
    """A host whose `date` reads the clock after a start-up of `startup_s` (the simulator starts Python)."""

    def __init__(self, offset_s: float, startup_s: float) -> None:
        self.offset_s, self.startup_s = offset_s, startup_s

    def run(self, argv: list[str] | str, timeout: float | None = None, check: bool = False) -> CommandResult:
        reads = []
        for _ in range(2):
            done = threading.Event()
            done.wait(self.startup_s)  # the start-up before each read
            reads.append(f"{time.time() + self.offset_s:.9f}")
        return CommandResult(argv, 0, "\n".join(reads) + "\n", "", 0.0)


def test_a_date_that_reads_the_clock_late_does_not_skew_the_offset() -> None:
    skew = measure_skew(SlowDate(0.0, 0.15), "esx01")  # same clock: the true offset is 0
    assert abs(skew.offset_s) < 0.05, skew  # the middle of the round trip would have said +0.15 s
    assert skew.uncertainty_s >= 0.14  # still half the round trip


def test_measure_skew_finds_the_offset() -> None:
    local = 1763784000.0
    skew = measure_skew(FakeDate([f"{local + 2.5:.9f}"] * 3), "esx01", clock=lambda: local)
    assert skew.offset_s == pytest.approx(2.5, abs=0.05) and skew.uncertainty_s < 0.05
    coarse = measure_skew(FakeDate(["1763784003."]), "esx01", samples=1, clock=lambda: local)
    assert coarse.offset_s == pytest.approx(3.5, abs=0.05) and coarse.uncertainty_s >= 0.5
    when = datetime(2026, 11, 22, 4, 0, 10, tzinfo=UTC)
    assert skew.to_local(when) == when - timedelta(seconds=skew.offset_s)
