"""Input discovery: files, folders, rotated sets, vm-support bundles, stdin sniffing, and clear errors."""

from __future__ import annotations

import gzip
import io
import os
import socket
import tarfile
import zlib
from pathlib import Path

import pytest

from faultlab.assertions import gzread
from faultlab.assertions.model import LogKind
from faultlab.assertions.sources import SourceError, classify, discover, discover_all, opened, sniff_kind


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("vmkernel.log", LogKind.VMKERNEL),
        ("vmkernel.0.gz", LogKind.VMKERNEL),
        ("vmkwarning.log", LogKind.VMKERNEL),
        ("vobd.log", LogKind.VOBD),
        ("hostd.3.gz", LogKind.HOSTD),
        ("vmware.log", LogKind.VMWARE),
        ("vmware-2.log", LogKind.VMWARE),
        ("vmksummary.log", LogKind.VMKSUMMARY),
        ("vmksummary", LogKind.VMKSUMMARY),
        ("vmkernel.log.txt", LogKind.VMKERNEL),
        ("fdm.log", LogKind.OTHER),
        ("README.md", None),
        ("vmware.vmx", None),
        # ESX 3.5/4 classic and vm-support names
        ("vmkernel", LogKind.VMKERNEL),
        ("vmkernel.1", LogKind.VMKERNEL),
        ("vmkwarning.0.gz", LogKind.VMKERNEL),
        ("hostd-0.log", LogKind.HOSTD),
        ("hostd-probe.log", LogKind.OTHER),
        ("vmware-1.log", LogKind.VMWARE),
        ("messages", LogKind.OTHER),
        ("messages.1.gz", LogKind.OTHER),
        ("syslog.log", LogKind.OTHER),
        ("vpxa-12.log", LogKind.OTHER),
        # names that do not say for certain: the content decides
        ("kb432676.vobd.log", None),
        ("host1-vmkernel.txt", None),
        ("vmwaretips.vmkernel.log", None),
        ("vmware-vmx.log", None),
    ],
)
def test_classify_names(name: str, kind: LogKind | None) -> None:
    assert classify(name) == kind


def test_sniff_kind_from_content() -> None:
    assert sniff_kind(b"2018-07-06T21:02:11.204Z cpu0:65641)ScsiDevice: 4993: x\n") == LogKind.VMKERNEL
    assert sniff_kind(b"2012-05-22T07:02:04.680Z: [scsiCorrelator] 1us: [vob.scsi.x] y\n") == LogKind.VOBD
    assert sniff_kind(b"2018-07-06T21:02:11.204Z info hostd[B781B70] [Originator@6876 sub=X] y\n") == LogKind.HOSTD
    assert sniff_kind(b"2019-03-14T12:03:04.445Z| vmx| I125: Tools\n") == LogKind.VMWARE
    assert sniff_kind(b"garbage") == LogKind.OTHER


def _write_rotated(d: Path) -> None:
    d.mkdir(parents=True)
    (d / "vobd.log").write_text("newest\n")
    with gzip.open(d / "vobd.0.gz", "wt") as fh:
        fh.write("middle\n")
    with gzip.open(d / "vobd.1.gz", "wt") as fh:
        fh.write("oldest\n")
    (d / "notes.md").write_text("not a log\n")


def test_folder_rotated_parts_read_oldest_first(tmp_path: Path) -> None:
    _write_rotated(tmp_path / "esx-esx07-2026-11-20--14.40-1" / "var" / "run" / "log")
    sources = discover(tmp_path)
    assert [s.name for s in sources] == ["var/run/log/vobd.1.gz", "var/run/log/vobd.0.gz", "var/run/log/vobd.log"]
    assert {s.host for s in sources} == {"esx07"}
    texts = []
    for s in sources:
        with opened(s) as fh:
            texts.append(fh.read().decode().strip())
    assert texts == ["oldest", "middle", "newest"]


def test_bundle_members_and_nested_gz(tmp_path: Path) -> None:
    bundle = tmp_path / "esx-esx02-2026-11-20--14.40-77.tgz"
    with tarfile.open(bundle, "w:gz") as tar:
        for name, data in (
            ("esx-esx02-2026-11-20--14.40-77/var/run/log/hostd.log", b"h1\n"),
            ("esx-esx02-2026-11-20--14.40-77/var/run/log/hostd.0.gz", gzip.compress(b"h0\n")),
            ("esx-esx02-2026-11-20--14.40-77/vmfs/volumes/ds1/win01/vmware.log", b"v\n"),
            ("esx-esx02-2026-11-20--14.40-77/etc/hosts", b"x\n"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    sources = discover(bundle)
    names = [s.name for s in sources]
    assert names.index("var/run/log/hostd.0.gz") < names.index("var/run/log/hostd.log")
    assert "vmfs/volumes/ds1/win01/vmware.log" in names
    assert all(s.host == "esx02" for s in sources)
    by_name = {s.name: s for s in sources}
    with opened(by_name["var/run/log/hostd.0.gz"]) as fh:
        assert fh.read() == b"h0\n"


def test_bad_paths_give_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file or folder"):
        discover(tmp_path / "missing")
    broken = tmp_path / "broken.tgz"
    broken.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(SourceError, match="not a readable archive"):
        discover(broken)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="no ESXi log found"):
        discover(empty)
    for exc_text in (str(e) for e in [SourceError("x")]):
        assert "\n" not in exc_text


VMK = b"2018-07-06T21:02:11.204Z cpu0:65641)ScsiDevice: 4993: Device state of naa.6001 set to APD_START; token num:1\n"
VOB = (
    b"2012-05-22T07:02:04.680Z: [scsiCorrelator] 1680920122975us: [vob.scsi.scsipath.pathstate.dead] "
    b"scsiPath vmhba2:C0:T1:L1 changed state from on\n"
)


def test_uncertain_names_are_read_by_content_and_the_rest_skipped_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "kb432676.vobd.log").write_bytes(VOB * 3)
    (tmp_path / "host1-vmkernel.txt").write_bytes(VMK * 3)
    (tmp_path / "vmwaretips.vmkernel.log").write_bytes(VMK)  # starts with "vmware": still not a guest log
    (tmp_path / "fdm-copy.gz").write_bytes(gzip.compress(b"2012-12-14T18:59:58Z fdm[123]: Host state: Dead\n"))
    (tmp_path / "notes.md").write_text("# how I collected these\n\nsee KB 432676\n")
    (tmp_path / "core.bin").write_bytes(b"\x7fELF\x00\x00" * 100)
    (tmp_path / "empty.log").write_bytes(b"")
    found = discover_all(tmp_path)
    kinds = {s.name: s.kind for s in found.sources}
    assert kinds == {
        "kb432676.vobd.log": LogKind.VOBD,
        "host1-vmkernel.txt": LogKind.VMKERNEL,
        "vmwaretips.vmkernel.log": LogKind.VMKERNEL,
        "fdm-copy.gz": LogKind.OTHER,
    }
    reasons = {k.name: k.reason for k in found.skipped}
    assert set(reasons) == {"notes.md", "core.bin", "empty.log"}
    assert reasons["notes.md"] == "not a log: 0 of its first 1 text line(s) start with a time stamp"
    assert "binary" in reasons["core.bin"] and reasons["empty.log"] == "empty"


def test_a_fifo_socket_and_broken_link_in_a_folder_are_skipped_unopened(tmp_path: Path) -> None:
    (tmp_path / "vobd.log").write_bytes(VOB)
    os.mkfifo(tmp_path / "vmkernel.log")  # a certain name: still never opened (opening would block)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(tmp_path / "hostd.sock"))
    (tmp_path / "gone.log").symlink_to(tmp_path / "nowhere")
    try:
        found = discover_all(tmp_path)
    finally:
        sock.close()
    assert [s.name for s in found.sources] == ["vobd.log"]
    assert {k.name: k.reason for k in found.skipped} == {
        "vmkernel.log": "not a regular file: a FIFO (named pipe)",
        "hostd.sock": "not a regular file: a socket",
        "gone.log": "broken symbolic link",
    }


def test_bundle_members_by_content_and_skipped_members(tmp_path: Path) -> None:
    bundle = tmp_path / "esx-esx03-2026-11-20--14.40-9.tgz"
    with tarfile.open(bundle, "w:gz") as tar:
        for name, data in (
            ("esx-esx03-2026-11-20--14.40-9/var/run/log/vobd.log", VOB),
            ("esx-esx03-2026-11-20--14.40-9/tmp/host1-vmkernel.txt.gz", gzip.compress(VMK)),
            ("esx-esx03-2026-11-20--14.40-9/commands/esxcli_storage_nfs_list.txt", b"Volume Name  Host\n---\n"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("esx-esx03-2026-11-20--14.40-9/var/log/vmkernel.log")
        link.type = tarfile.SYMTYPE
        link.linkname = "../run/log/vmkernel.log"
        tar.addfile(link)
    found = discover_all(bundle)
    assert {s.name: s.kind for s in found.sources} == {
        "var/run/log/vobd.log": LogKind.VOBD,
        "tmp/host1-vmkernel.txt.gz": LogKind.VMKERNEL,
    }
    assert {k.name: k.reason.split(":")[0] for k in found.skipped} == {
        "commands/esxcli_storage_nfs_list.txt": "not a log",
        "var/log/vmkernel.log": "not a regular file",
    }


@pytest.mark.parametrize("in_thread", [True, False], ids=["isal-thread", "isal-inline"])
def test_a_truncated_gz_reads_every_byte_before_the_damage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_thread: bool
) -> None:
    """Read as one process does (ISA-L in its own thread) and as a forked scan worker does (ISA-L inline)."""
    monkeypatch.setattr(gzread, "DECOMPRESS_IN_THREAD", in_thread)
    data = b"".join(b"2018-07-06T21:02:11.204Z cpu0:65641)noise %d\n" % i for i in range(300_000))
    whole = gzip.compress(data)
    (tmp_path / "vmkernel.0.gz").write_bytes(whole[: len(whole) * 2 // 3])
    expected = bytearray()
    inflater = zlib.decompressobj(wbits=31)
    expected += inflater.decompress(whole[: len(whole) * 2 // 3])  # what zlib can inflate before the damage
    (src,) = discover(tmp_path)
    got = bytearray()
    with opened(src) as fh, pytest.raises(EOFError):
        while chunk := fh.read(1 << 20):
            got += chunk
    assert len(expected) > len(data) // 2
    assert got[: len(expected)] == expected and data.startswith(got)  # ISA-L may get a few bytes further


def test_a_link_inside_the_folder_is_read_once_where_it_points(tmp_path: Path) -> None:
    """An extracted vm-support bundle: var/log/vobd.log -> ../run/log/vobd.log must not double every event."""
    (tmp_path / "var" / "run" / "log").mkdir(parents=True)
    (tmp_path / "var" / "log").mkdir()
    (tmp_path / "var" / "run" / "log" / "vobd.log").write_bytes(VOB)
    (tmp_path / "var" / "log" / "vobd.log").symlink_to("../run/log/vobd.log")
    outside = tmp_path.parent / f"{tmp_path.name}-elsewhere.log"
    outside.write_bytes(VOB)
    (tmp_path / "vobd.1.log").symlink_to(outside)  # points outside the folder: read here
    found = discover_all(tmp_path)
    assert sorted(s.name for s in found.sources) == ["var/run/log/vobd.log", "vobd.1.log"]
    assert [(k.name, k.reason) for k in found.skipped] == [
        ("var/log/vobd.log", "symbolic link to var/run/log/vobd.log (read there)")
    ]


@pytest.mark.parametrize("in_thread", [True, False], ids=["isal-thread", "isal-inline"])
def test_a_whole_gz_of_several_members_reads_every_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_thread: bool
) -> None:
    """Concatenated members (a rotated log appended to) read in full by both ways of decompressing."""
    monkeypatch.setattr(gzread, "DECOMPRESS_IN_THREAD", in_thread)
    parts = [
        b"".join(b"2018-07-06T21:02:11.204Z cpu0:65641)part %d line %d\n" % (p, i) for i in range(40_000))
        for p in range(3)
    ]
    (tmp_path / "vmkernel.0.gz").write_bytes(b"".join(gzip.compress(part) for part in parts))
    (src,) = discover(tmp_path)
    with opened(src) as fh:
        got = b"".join(iter(lambda: fh.read(1 << 18), b""))
    assert got == b"".join(parts)
