"""Unit tests: the NFS I/O gate (VM I/O retried, non-VM I/O fast-failed after the APD timeout) and the guest."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from faultlab.sim.config import NfsDatastoreConfig
from faultlab.sim.esxi.hostlogs import HostLogs
from faultlab.sim.esxi.nfsclient import NfsClient, NfsError
from faultlab.sim.esxi.settings import Settings
from faultlab.sim.esxi.storage_nfs import NfsVolume, apd_identifier, full_uuid
from faultlab.sim.esxi.vm import SECTOR, GuestSettings, record

DS: NfsDatastoreConfig = {
    "name": "ds-nfs01",
    "server_ip": "198.18.9.9",
    "export": "/ds-nfs01",
    "volume_uuid": "5c1f0a2b-7e3d4f61",
    "mount_point": "/vmfs/volumes/5c1f0a2b-7e3d4f61",
}


@pytest.fixture
def volume(tmp_path: Path) -> NfsVolume:
    return NfsVolume(DS, Settings(), HostLogs(tmp_path, "8.0", "esx01"), threading.Event())


class Flaky:
    """An operation that times out `failures` times, then answers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self, client: NfsClient) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise NfsError("stat /", 'stat call failed with "Command timed out"')
        return "ok"


def test_ids() -> None:
    assert full_uuid("5c1f0a2b-7e3d4f61") == "5c1f0a2b-7e3d4f61-0000-000000000000"
    assert apd_identifier("5c1f0a2b-7e3d4f61-0000-000000000000") == "5c1f0a2b-7e3d4f61"


def test_io_is_retried_until_it_succeeds(volume: NfsVolume, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("faultlab.sim.esxi.storage_nfs.IO_RETRY_S", 0.0)
    op = Flaky(3)
    assert volume.run_io("vm", volume.client(), op) == "ok" and op.calls == 4
    assert volume.machine.last_io_ok > 0  # the success feeds NFS.HeartbeatDelta


def test_after_apd_timeout_host_io_fast_fails_vm_io_retries(volume: NfsVolume, tmp_path: Path) -> None:
    volume.machine.apd.enter(0.0, 6, True)
    volume.machine.apd.tick(6.0)
    op = Flaky(0)
    with pytest.raises(NfsError, match="Input/output error"):
        volume.run_io("host", volume.client(), op)
    assert op.calls == 0  # failed without touching the wire
    assert volume.run_io("vm", volume.client(), op) == "ok"  # VM I/O is never fast-failed ...
    assert volume.accessible  # ... and its success ends the APD
    vobd = (tmp_path / "vobd.log").read_text()
    assert "[esx.clear.storage.apd.exit] Device or filesystem with identifier [5c1f0a2b-7e3d4f61]" in vobd


def test_permanent_errors_are_not_retried(volume: NfsVolume) -> None:
    def missing(client: NfsClient) -> None:
        raise NfsError("open /x", "NFS3ERR_NOENT")

    with pytest.raises(NfsError, match="NOENT"):
        volume.run_io("vm", volume.client(), missing)


def test_guest_settings_from_config() -> None:
    g = GuestSettings.from_config(
        {"disk_timeout_s": 60, "bugcheck_code": "0x7A", "bugcheck_params": ["0x1", "0xc000009d"]}
    )
    assert (g.disk_timeout_s, g.bugcheck_code, g.bugcheck_params) == (60.0, 0x7A, (1, 0xC000009D, 0, 0))
    assert GuestSettings.from_config({}).bugcheck_code == 0xEF


def test_guest_records_are_distinct_sectors() -> None:
    assert len(record(7)) == SECTOR and record(7) != record(8) and record(7) == record(7)


def test_an_outage_gives_up_the_file_locks_and_takes_them_again(volume: NfsVolume, tmp_path: Path) -> None:
    """NFSLock "Stop accessing fd" for each open file once the outage outlasts the lock renewals, "Start accessing
    fd ... again" after the first success, the retry line of the VM's write, and the 8.0 latency warning."""
    volume.add_open_files(["win01-flat.vmdk", "win01.vmx.lck"])
    scale = volume._scale()  # the lab profile's heartbeat clock (NFS.HeartbeatFrequency / 12 s)
    volume._io_failed("vm")  # a VM write found no connection: the outage starts now
    start = volume._outage_since
    assert start is not None
    volume._lock_tick(start + 14.0 * scale)  # not yet: the first lock is given up after 15 s (scaled)
    kernel = tmp_path / "vmkernel.log"
    assert "NFSLock" not in kernel.read_text()
    volume._lock_tick(start + 15.5 * scale)
    volume._lock_tick(start + 36.0 * scale)
    volume._recovered(start + 40.0 * scale)
    volume._latency(12e6)  # the blocked write completes after 12 s
    volume._lock_tick(start + 60.0)
    lines = kernel.read_text().splitlines()
    stops = [ln for ln in lines if "NFSLock: 1505: Stop accessing fd 0x" in ln]
    starts = [ln for ln in lines if "NFSLock: 1469: Start accessing fd 0x" in ln and ln.endswith(" again")]
    assert [s.split("(")[-1] for s in stops] == ["win01-flat.vmdk)  3", "win01.vmx.lck)  3"]
    assert len(starts) == 2 and lines.index(stops[-1]) < lines.index(starts[0])
    assert (
        sum("NFS: 6339: Status:No connection. Retrying synchronous write I/O 1 of 25 times" in ln for ln in lines) == 1
    )
    warning = (tmp_path / "vmkwarning.log").read_text()
    assert "Wa(180) vmkwarning:" in warning and "WARNING: NFS: 5544: NFS volume ds-nfs01 performance has" in warning
