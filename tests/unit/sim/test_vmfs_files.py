"""VMs on the VMFS datastore: each file operation is a SCSI command on the path first, and the volume's I/O gate."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from faultlab.sim.config import IscsiDatastoreConfig
from faultlab.sim.esxi.logs.hostlogs import HostLogs
from faultlab.sim.esxi.settings import Settings
from faultlab.sim.esxi.storage.dsio import DatastoreError
from faultlab.sim.esxi.storage.iscsiclient import ScsiResult
from faultlab.sim.esxi.storage.machines import ApdState, PathState
from faultlab.sim.esxi.storage.storage_iscsi import IscsiVolume
from faultlab.sim.esxi.storage.vmfs_files import DATA_OFFSET, FILE_SLOTS, FILE_SPAN, SECTOR, VmfsClient, lba_of
from faultlab.sim.topology import Layout


class FakePath:
    """The volume's path: records the commands; `fail` makes them fail as a cut path would."""

    def __init__(self) -> None:
        self.commands: list[tuple[int | None, int]] = []
        self.fail = False

    def scsi_io(self, lba: int | None, data: bytes) -> None:
        if self.fail:
            raise DatastoreError("scsi", "Connection timed out")
        self.commands.append((lba, len(data)))


@pytest.fixture
def files(tmp_path: Path) -> tuple[VmfsClient, FakePath, Path]:
    path = FakePath()
    root = tmp_path / "ds-iscsi01"
    root.mkdir()
    return VmfsClient(path, root), path, root


def test_a_write_reaches_the_lun_before_the_file(files: tuple[VmfsClient, FakePath, Path]) -> None:
    client, path, root = files
    client.mkdir("/win-vmfs01")
    client.write("/win-vmfs01/vmware.log", 0, b"line one\n")
    assert (root / "win-vmfs01" / "vmware.log").read_bytes() == b"line one\n"
    (lba, length) = path.commands[-1]
    assert lba == lba_of("/win-vmfs01/vmware.log", 0, SECTOR) and length == SECTOR  # padded to a sector
    assert path.commands[0] == (None, 0)  # mkdir: TEST UNIT READY
    # A cut path: the command fails, the file does not change (nothing is acknowledged that did not reach the LUN).
    path.fail = True
    with pytest.raises(DatastoreError, match="timed out") as failed:
        client.write("/win-vmfs01/vmware.log", 9, b"line two\n")
    assert failed.value.timed_out and not failed.value.permanent
    assert (root / "win-vmfs01" / "vmware.log").read_bytes() == b"line one\n"
    with pytest.raises(DatastoreError):
        client.stat("/win-vmfs01/vmware.log")
    path.fail = False
    client.write("/win-vmfs01/vmware.log", 9, b"line two\n")
    assert client.read("/win-vmfs01/vmware.log") == b"line one\nline two\n"
    assert client.stat("/win-vmfs01/vmware.log") == 18


def test_missing_files_and_escapes_are_permanent_errors(files: tuple[VmfsClient, FakePath, Path]) -> None:
    client, _path, _root = files
    with pytest.raises(DatastoreError, match="NOENT") as missing:
        client.stat("/nope/vmware.log")
    assert missing.value.permanent
    with pytest.raises(DatastoreError, match="NOENT"):
        client.read("/nope.vmx")
    with pytest.raises(DatastoreError, match="NOENT"):
        client.write("/nope.vmx", 0, b"x", create=False)
    with pytest.raises(DatastoreError, match="outside the datastore") as escape:
        client.write("/../../etc/passwd", 0, b"x")
    assert escape.value.permanent


def test_file_data_stays_in_its_span_of_the_lun() -> None:
    for path, offset, length in [("/a/b.vmdk", 0, 512), ("/a/b.vmdk", (1 << 20) - 512, 1024), ("/c", 5 << 30, 65536)]:
        byte = lba_of(path, offset, length) * SECTOR
        assert byte >= DATA_OFFSET and byte + length <= DATA_OFFSET + FILE_SLOTS * FILE_SPAN
        start = DATA_OFFSET + (byte - DATA_OFFSET) // FILE_SPAN * FILE_SPAN
        assert byte + length <= start + FILE_SPAN  # never runs into the next file's span


def _volume(tmp_path: Path) -> IscsiVolume:
    cfg: IscsiDatastoreConfig = {
        "name": "ds-iscsi01", "portal": "198.18.9.10:3260", "iqn": "iqn.2026-11.lab.faultlab:x", "lun": 1,
        "naa_id": "naa.6000000000000000000e00000000010001", "vmhba_path": "vmhba64:C0:T0:L1",
        "volume_uuid": "5c1f0a2b-11111111-2222-333333333333", "mount_point": "/vmfs/volumes/x",
        "files_dir": str(tmp_path / "files"),
    }  # fmt: skip
    (tmp_path / "files").mkdir()
    return IscsiVolume(cfg, Settings(), HostLogs(tmp_path / "log", "8.0", "esx01"), threading.Event(), "esx01", 1, 3, 2)


class Session:
    def __init__(self, status: int = 0) -> None:
        self.lock = threading.Lock()
        self.connected = True
        self.status = status
        self.sent: list[str] = []

    def write16(self, lba: int, data: bytes) -> ScsiResult:
        self.sent.append(f"write16 {lba} {len(data)}")
        return ScsiResult(status=self.status)

    def test_unit_ready(self) -> ScsiResult:
        self.sent.append("tur")
        return ScsiResult(status=self.status)


def test_vm_io_waits_for_the_path_and_host_io_is_fast_failed_after_the_apd_timeout(tmp_path: Path) -> None:
    vol = _volume(tmp_path)
    session = Session()
    vol.session = session  # type: ignore[assignment]
    client = vol.client()
    assert vol.volume_uuid == "5c1f0a2b-11111111-2222-333333333333"
    with pytest.raises(DatastoreError, match="NOENT"):  # no folder yet: a permanent error, even for a VM
        vol.run_io("vm", client, lambda c: c.write("/win-vmfs01/win-vmfs01-flat.vmdk", 512, b"s" * 512))
    vol.run_io("vm", client, lambda c: c.mkdir("/win-vmfs01"))
    session.sent.clear()
    vol.run_io("vm", client, lambda c: c.write("/win-vmfs01/win-vmfs01-flat.vmdk", 512, b"s" * 512))
    assert session.sent == [f"write16 {lba_of('/win-vmfs01/win-vmfs01-flat.vmdk', 512, 512)} 512"]

    # The path is dead and the device in APD: a VM write waits (no command is sent) until the path is on again.
    vol.path.state, vol.path.apd.state = PathState.DEAD, ApdState.APD
    done = threading.Event()
    worker = threading.Thread(
        target=lambda: (vol.run_io("vm", client, lambda c: c.write("/win-vmfs01/x", 0, b"late")), done.set()),
        daemon=True,
    )
    worker.start()
    assert not done.wait(0.5), "a VM write went through a dead path"
    assert len(session.sent) == 1
    # Non-VM I/O waits too until the APD timeout, then is failed at once; on PDL it fails at once.
    vol.path.apd.state = ApdState.TIMEOUT
    with pytest.raises(DatastoreError, match="fast failed"):
        vol.run_io("host", client, lambda c: c.read("/win-vmfs01/x"))
    vol.path.state, vol.path.apd.state = PathState.PDL, ApdState.NORMAL  # PDL supersedes APD
    with pytest.raises(DatastoreError, match="permanent device loss"):
        vol.run_io("host", client, lambda c: c.read("/win-vmfs01/x"))
    assert not done.is_set()
    vol.path.state, vol.path.apd.state = PathState.ON, ApdState.NORMAL
    assert done.wait(2.0), "the VM's write did not complete once the path was back"
    worker.join(2.0)
    assert (tmp_path / "files" / "win-vmfs01" / "x").read_bytes() == b"late"

    # A command that fails (CHECK CONDITION, transport error) is retried for a VM: the write lands when it succeeds.
    session.status = 2
    threading.Timer(0.5, lambda: setattr(session, "status", 0)).start()
    vol.run_io("vm", client, lambda c: c.write("/win-vmfs01/x", 0, b"LATE"))
    assert (tmp_path / "files" / "win-vmfs01" / "x").read_bytes() == b"LATE"
    assert sum(s.startswith("write16") for s in session.sent) >= 3
    vol.stop.set()
    with pytest.raises(DatastoreError, match="stopping"):
        vol.run_io("vm", client, lambda c: c.stat("/win-vmfs01/x"))


def test_the_lab_places_vmfs_vms_after_the_nfs_ones_round_robin() -> None:
    layout = Layout("fl0a0b", 3, 2, ("win01", "win02"), False, ("win-vmfs01",))
    assert [(v.name, v.host, v.datastore) for v in layout.vms] == [
        ("win01", "esx01", "ds-nfs01"),
        ("win02", "esx02", "ds-nfs01"),
        ("win-vmfs01", "esx01", "ds-iscsi01"),
    ]
    assert Layout("fl0a0b", 3, 1, ("win01",)).vms[0].datastore == "ds-nfs01"
