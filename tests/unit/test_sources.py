"""Input discovery: files, folders, rotated sets, vm-support bundles, stdin sniffing, and clear errors."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from faultlab.assertions.model import LogKind
from faultlab.assertions.sources import SourceError, classify, discover, opened, sniff_kind


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
