"""Unit tests: what the iSCSI/VMFS datastore logs when its heartbeat times out, is reclaimed, and on PDL."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

from faultlab.sim.config import IscsiDatastoreConfig
from faultlab.sim.esxi.hostlogs import HostLogs
from faultlab.sim.esxi.machines import PathState
from faultlab.sim.esxi.settings import Settings
from faultlab.sim.esxi.storage_iscsi import IscsiVolume

CFG: IscsiDatastoreConfig = {
    "name": "ds-iscsi01", "portal": "198.18.1.22:3260", "iqn": "iqn.2026-01.lab.faultlab:lun1", "lun": 1,
    "naa_id": "naa.6001405f00dfaa01", "vmhba_path": "vmhba64:C0:T0:L1",
    "volume_uuid": "5f3b1c2d-9e8a7b6c-1a2b-005056a1b2c3", "mount_point": "/vmfs/volumes/ds-iscsi01",
}  # fmt: skip


def volume(tmp_path: Path, host: str = "esx01") -> IscsiVolume:
    return IscsiVolume(CFG, Settings(), HostLogs(tmp_path, "8.0", host), threading.Event(), host, 1, 3, 2)


def test_heartbeat_state_names_the_host_and_the_label(tmp_path: Path) -> None:
    vol = volume(tmp_path)
    vol._on_vmfs_heartbeat_timeout()
    vol._on_vmfs_heartbeat_reclaimed()
    kernel = (tmp_path / "vmkernel.log").read_text()
    assert "HBX: 2956: 'ds-iscsi01': HB at offset 3248128 - Waiting for timed out HB:" in kernel
    assert "HBX: 294: 'ds-iscsi01': HB at offset 3248128 - Reclaimed heartbeat [Timeout]:" in kernel
    uuids = set(
        re.findall(r"\[HB state abcdef02 .* uuid (\S+) jrnl <FB \d+> drv [\d.]+ lockImpl 4 ip 198\.18\.0\.1\]", kernel)
    )
    assert uuids == {vol.host_uuid} and vol.host_uuid != CFG["volume_uuid"]
    assert vol.host_uuid != volume(tmp_path / "other", "esx02").host_uuid  # the holder, not the volume
    vobd = (tmp_path / "vobd.log").read_text()
    for event in ("vob.vmfs.heartbeat.timedout", "esx.problem.vmfs.heartbeat.timedout"):
        assert f"[{event}] {CFG['volume_uuid']} ds-iscsi01" in vobd
    assert "The event ([esx.problem.vmfs.heartbeat.timedout] " in vobd  # 8.0 forwarding line (KB 439361)


def test_a_pdl_device_loses_its_heartbeat_too(tmp_path: Path) -> None:
    vol = volume(tmp_path)
    with vol._lock:
        vol._report(vol.path.lun_not_supported())
        assert vol.path.state is PathState.PDL
        out = vol._on_tick(time.monotonic() + 10)
    assert "vmfs.heartbeat.timeout" in out
    kernel = (tmp_path / "vmkernel.log").read_text()
    assert re.search(
        r"ScsiDeviceIO: \d+: Cmd\(0x45[0-9a-f]+\) 0x2a, CmdSN 0x[0-9a-f]+ from world \d+ to dev "
        r'"naa\.6001405f00dfaa01" failed H:0x0 D:0x2 P:0x0 Valid sense data: 0x5 0x25 0x0',
        kernel,
    )
