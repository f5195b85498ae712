"""A VMFS datastore on an iSCSI LUN: session, path state, APD/PDL and the VMFS heartbeat, over real iSCSI."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from faultlab.sim.config import IscsiDatastoreConfig
from faultlab.sim.esxi.dsio import DatastoreError, FileClient, IoKind
from faultlab.sim.esxi.hostlogs import HostLogs
from faultlab.sim.esxi.iscsiclient import SCSI_STATUS_CHECK_CONDITION, IscsiSession, ScsiResult
from faultlab.sim.esxi.machines import ApdState, IscsiPath, PathState, VmfsHeartbeat
from faultlab.sim.esxi.settings import Settings
from faultlab.sim.esxi.vmfs_files import VmfsClient
from faultlab.sim.esxi.worlds import DatastoreWorlds

T = TypeVar("T")

HB_OFFSET = 3248128  # byte offset of this host's heartbeat slot in the VMFS heartbeat region
SCSI_UNIT_ATTENTION = 0x6
IO_RETRY_S = 0.2  # a VM's I/O waiting for the path, or retried after a failed command


class IscsiVolume(DatastoreWorlds):
    """One software-iSCSI path (vmhba64) to one LUN holding a VMFS volume; the heartbeat write is the probe."""

    PREFIX, PROBE_STAT = "iscsi", "vmfs.heartbeat"

    def __init__(
        self,
        cfg: IscsiDatastoreConfig,
        settings: Settings,
        logs: HostLogs,
        stop: threading.Event,
        host_name: str,
        hb_interval_s: float,
        hb_timeout_s: float,
        recovery_s: float,
    ) -> None:
        self.cfg = cfg
        self.name = cfg["name"]
        self.naa = cfg["naa_id"]
        self.vmhba_path = cfg["vmhba_path"]
        self.adapter = self.vmhba_path.split(":", 1)[0]
        self.settings = settings
        self.logs = logs
        self.stop = stop
        self.initiator = f"iqn.1998-01.com.vmware:{host_name}-4f6c3a21"
        self.session = IscsiSession(self.initiator, cfg["portal"], cfg["iqn"], cfg["lun"], max(1, round(hb_interval_s)))
        self.hb_interval_s = hb_interval_s
        self.path = IscsiPath(recovery_s=recovery_s)
        self.vmfs = VmfsHeartbeat(timeout_s=hb_timeout_s, last_ok=time.monotonic())
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._handle = 0x4302FF581AD0 + cfg["lun"] * 0x100
        self.last_error = ""
        self.writes_ok = 0
        self.capacity_mb = 0
        super().__init__(hb_interval_s)  # VMFS heartbeat writes: each is due one interval after the previous

    # -- the datastore's files (VMs on VMFS) ------------------------------------------------------------
    @property
    def volume_uuid(self) -> str:
        return self.cfg["volume_uuid"]

    def client(self, timeout_ms: int | None = None) -> FileClient:
        """A world's handle on the VMFS files; its commands share the volume's session (the one path)."""
        files_dir = self.cfg.get("files_dir")
        if not files_dir:
            raise DatastoreError("open", f"datastore {self.name} has no files folder in the host config")
        return VmfsClient(self, Path(files_dir))

    def scsi_io(self, lba: int | None, data: bytes) -> None:
        """One command for a file operation: WRITE(16) FUA of `data` at `lba`, or TEST UNIT READY (lba None).
        Raises DatastoreError unless it completed GOOD; the path's state is the probe's to judge, not this."""
        with self.session.lock:
            if not self.session.connected:
                raise DatastoreError("scsi", "path not logged in")
            result = self._command(lba, data)
        if not result.good:
            raise DatastoreError("scsi", result.error or f"status 0x{result.status:x} sense 0x{result.sense_key:x}")

    def run_io(self, kind: IoKind, client: FileClient, op: Callable[[FileClient], T]) -> T:
        """Run `op` once the path can carry it. VM I/O waits through APD and PDL for as long as it takes (the guest
        sees a stall); non-VM ("host") I/O is fast-failed after the APD timeout, and at once on a PDL device."""
        while True:
            if self.stop.is_set():
                raise DatastoreError("io", "host is stopping")
            with self._lock:
                if kind == "host" and self.path.apd.fast_fail:
                    raise DatastoreError("io", "Input/output error (APD timeout: I/O fast failed)")
                if kind == "host" and self.path.state is PathState.PDL:
                    raise DatastoreError("io", "Input/output error (permanent device loss)")
                ready = self.path.state is PathState.ON and self.path.apd.state is ApdState.NORMAL
            if ready:
                try:
                    with client.lock:
                        return op(client)
                except DatastoreError as exc:
                    if exc.permanent:
                        raise
            self.stop.wait(IO_RETRY_S)

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            if self.path.state is PathState.PDL:
                reason: str | None = "PermanentDeviceLoss"
            elif self.path.apd.state is not ApdState.NORMAL:
                reason = str(self.path.apd.state)
            else:
                reason = None
            return {
                "name": self.name,
                "type": "VMFS",
                "device": self.naa,
                "path": self.vmhba_path,
                "iqn": self.cfg["iqn"],
                "url": f"ds:///vmfs/volumes/{self.cfg['volume_uuid']}/",
                "accessible": reason is None and self.path.state is PathState.ON,
                "inaccessibleReason": reason,
                "apdState": str(self.path.apd.state),
                "pathState": str(self.path.state),
                "deviceStatus": self.device_status(),
                "vmfsHeartbeat": "timedout" if self.vmfs.timed_out else "ok",
                "heartbeatWrites": self.writes_ok,
                "capacityMB": self.capacity_mb,
                "lastError": self.last_error,
            }

    def device_status(self) -> str:
        """`esxcli storage core device list` Status: on, dead (all paths down or off), not connected (PDL)."""
        return {PathState.ON: "on", PathState.DEAD: "dead", PathState.PDL: "not connected", PathState.OFF: "dead"}[
            self.path.state
        ]

    def set_path_state(self, state: str) -> None:
        """`esxcli storage core path set --state off|active` on this volume's only path."""
        with self._lock:
            if state == "off":
                self._report(self.path.set_off())
            elif state == "active":
                self._report(self.path.set_active(time.monotonic()))
                self._wake.set()
            else:
                raise ValueError(f"path state must be off or active, not {state!r}")

    # -- worlds -------------------------------------------------------------------------------------
    def _wake_probe(self) -> None:
        self._wake.set()

    def _close(self) -> None:
        with self.session.lock:
            self.session.close()

    def _on_tick(self, now: float) -> list[str]:
        out = self.path.tick(
            now, self.settings.integer("Misc.APDTimeout"), self.settings.integer("Misc.APDHandlingEnable") == 1
        )
        if self.path.state is not PathState.PDL:
            out += self.vmfs.tick(now)
        return out

    def _probe(self) -> ScsiResult | str:
        with self.session.lock:
            if not self.session.connected:
                error = self.session.connect()
                if error is not None:
                    return error
                # The first command after a login may draw a UNIT ATTENTION: ask twice.
                size = self.session.capacity_bytes() or self.session.capacity_bytes()
                if size:
                    self.capacity_mb = size // (1024 * 1024)
            block = f"HB {self.initiator} {time.time():.3f}".encode().ljust(512, b"\0")
            return self._command(HB_OFFSET // 512, block)

    def _command(self, lba: int | None, data: bytes) -> ScsiResult:
        """WRITE(16) of `data` at `lba` (TEST UNIT READY when lba is None), asked once more after a UNIT ATTENTION
        (the first command after a (re)login draws one). The caller holds the session's lock."""
        for _attempt in range(2):
            result = self.session.write16(lba, data) if lba is not None else self.session.test_unit_ready()
            if not (result.status == SCSI_STATUS_CHECK_CONDITION and result.sense_key == SCSI_UNIT_ATTENTION):
                break
        return result

    def _probe_loop(self) -> None:
        previous: float | None = None
        while True:
            self._wake.wait(self.hb_interval_s)  # a path set active is probed at once, not a round later
            self._wake.clear()
            if self.stop.is_set():
                break
            started = time.monotonic()
            if previous is not None:  # the write is sleep + probe: late when the probe or the wake-up is slow
                self.hb_stats.tick(previous + self.hb_interval_s, started)
            previous = started
            with self._lock:
                off = self.path.state is PathState.OFF
            if off:  # administratively off: log out and send nothing on the path until it is set active
                with self.session.lock:
                    self.session.close()
                continue
            result = self._probe()
            now = time.monotonic()
            with self._lock:
                if isinstance(result, str):
                    self.last_error = result
                    if "not supported" in result.lower() or "unavailable" in result.lower():
                        self._report(self.path.lun_not_supported())
                    else:
                        self._report(self.path.command_failed(now))
                elif result.good:
                    self.writes_ok += 1
                    self._report(self.path.command_ok() + self.vmfs.write_ok(now))
                elif result.lun_not_supported:
                    self.last_error = "sense 0x5 0x25 0x0"
                    self._report(self.path.lun_not_supported())
                else:
                    self.last_error = result.error or f"status 0x{result.status:x}"
                    self._report(self.path.command_failed(now))

    # -- log lines ------------------------------------------------------------------------------------
    def _report(self, transitions: list[str]) -> None:
        for name in transitions:
            getattr(self, "_on_" + name.replace(".", "_"))()

    def _conn_lines(self, fn: str) -> list[str]:
        return [
            f"iscsi_vmk: {fn}: Sess [ISID: 00023d000001 TARGET: {self.cfg['iqn']} TPGT: 1 TSIH: 0]",
            f"iscsi_vmk: {fn}: Conn [CID: 0 L: 198.18.0.1:58200 R: {self.cfg['portal']}]",
        ]

    def _on_iscsi_connection_offline(self) -> None:
        vk = self.logs.vmkernel
        head = f"{self.adapter}:CH:0 T:0 CN:0"
        vk.log(
            "iscsi",
            f'iscsi_vmk: iscsivmk_StopConnection: {head}: iSCSI connection is being marked "OFFLINE" (Event:6)',
            warning=True,
        )
        for line in self._conn_lines("iscsivmk_StopConnection"):
            vk.log("iscsi", line, warning=True)
        vk.log(
            "nmp",
            f'NMP: nmp_ThrottleLogForDevice:3617: Cmd 0x2a (0x43950c44a000, 65575) to dev "{self.naa}" '
            f'on path "{self.vmhba_path}" Failed: H:0x2 D:0x0 P:0x0 Invalid sense data: 0x0 0x0 0x0. '
            "Act:EVAL",
        )
        vk.log(
            "nmp",
            f'NMP: nmp_DeviceRequestFastDeviceProbe:237: NMP device "{self.naa}" state in doubt; '
            "requested fast path state update...",
            warning=True,
        )

    def _on_iscsi_connection_online(self) -> None:
        head = f"{self.adapter}:CH:0 T:0 CN:0"
        self.logs.vmkernel.log(
            "iscsi",
            f'iscsi_vmk: iscsivmk_StartConnection: {head}: iSCSI connection is being marked "ONLINE"',
            warning=True,
        )
        for line in self._conn_lines("iscsivmk_StartConnection"):
            self.logs.vmkernel.log("iscsi", line, warning=True)

    def _on_path_dead(self) -> None:
        text = (
            f"Lost connectivity to storage device {self.naa}. Path {self.vmhba_path} is down. "
            f'Affected datastores: "{self.name}".'
        )
        self.logs.vobd.emit(
            [
                (
                    "scsiCorrelator",
                    "vob.scsi.scsipath.pathstate.dead",
                    f"scsiPath {self.vmhba_path} changed state from on",
                ),
                ("scsiCorrelator", "esx.problem.storage.connectivity.lost", text),
            ]
        )
        self.logs.host_event("esx.problem.storage.connectivity.lost", text, self.name)

    def _on_path_on(self) -> None:
        text = (
            f'Connectivity to storage device {self.naa} (Datastores: "{self.name}") restored. '
            f"Path {self.vmhba_path} is active again."
        )
        self.logs.vobd.emit(
            [
                (
                    "scsiCorrelator",
                    "vob.scsi.scsipath.pathstate.on",
                    f"scsiPath {self.vmhba_path} changed state from dead",
                ),
                ("scsiCorrelator", "esx.clear.storage.connectivity.restored", text),
            ]
        )
        self.logs.host_event("esx.clear.storage.connectivity.restored", text, self.name)

    def _apd_text(self, what: str) -> str:
        return f"Device or filesystem with identifier [{self.naa}] {what}"

    def _on_apd_start(self) -> None:
        vk = self.logs.vmkernel
        vk.log("apd", f"HBX: 6214: APD EventType: APD_START (3) for vol '{self.name}'")
        vk.log("apd", f"ScsiDevice: 4993: Device state of {self.naa} set to APD_START; token num:1")
        vk.log("apd", f"StorageApdHandler: 1205: APD start for 0x{self._handle:x} [{self.naa}]")
        text = self._apd_text("has entered the All Paths Down state.")
        self.logs.vobd.emit(
            [("APDCorrelator", "vob.storage.apd.start", text), ("APDCorrelator", "esx.problem.storage.apd.start", text)]
        )
        self.logs.host_event(
            "esx.problem.storage.apd.start",
            f"Device or filesystem with identifier {self.naa} has entered the All Paths Down state.",
            self.name,
        )

    def _on_apd_timeout(self) -> None:
        tail = (
            f"has entered the All Paths Down Timeout state after being in the All Paths Down state for "
            f"{self.path.apd.timeout_s} seconds. I/Os will now be fast failed."
        )
        self.logs.vmkernel.log("apd", f"StorageApdHandler: 609: APD timeout for 0x{self._handle:x} [{self.naa}]")
        self.logs.vobd.emit(
            [
                ("APDCorrelator", "vob.storage.apd.timeout", self._apd_text(tail)),
                ("APDCorrelator", "esx.problem.storage.apd.timeout", self._apd_text(tail)),
            ]
        )
        self.logs.host_event(
            "esx.problem.storage.apd.timeout", f"Device or filesystem with identifier {self.naa} {tail}", self.name
        )

    def _on_apd_exit(self) -> None:
        vk = self.logs.vmkernel
        vk.log("apd", f"ScsiDevice: 5015: Setting Device {self.naa} state back to 0x2")
        vk.log("apd", f"ScsiDevice: 5036: Device {self.naa} is Out of APD; token num:1")
        vk.log("apd", f"HBX: 6214: APD EventType: APD_EXIT (4) for vol '{self.name}'")
        text = self._apd_text("has exited the All Paths Down state.")
        self.logs.vobd.emit(
            [("APDCorrelator", "vob.storage.apd.exit", text), ("APDCorrelator", "esx.clear.storage.apd.exit", text)]
        )
        self.logs.host_event(
            "esx.clear.storage.apd.exit",
            f"Device or filesystem with identifier {self.naa} has exited the All Paths Down state.",
            self.name,
        )

    def _on_pdl(self) -> None:
        vk = self.logs.vmkernel
        vk.log(
            "scsi",
            f'ScsiDeviceIO: 2316: Cmd(0x4124403c1fc0) 0x2a, CmdSN 0xecab to dev "{self.naa}" failed '
            "H:0x0 D:0x2 P:0x0 Valid sense data: 0x5 0x25 0x0.",
        )
        vk.log(
            "scsi",
            f"ScsiDevice: 1223: Device :{self.naa} has been removed or is permanently inaccessible.",
            warning=True,
        )
        vk.log(
            "nmp",
            f'NMP: nmp_DeviceStartLoop:721:NMP Device "{self.naa}" is blocked. Not starting I/O from device.',
            warning=True,
        )
        self.logs.vobd.emit(
            [
                (
                    "scsiCorrelator",
                    "vob.scsi.device.state.permanentloss",
                    f"Device :{self.naa} has been removed or is permanently inaccessible.",
                ),
                (
                    "scsiCorrelator",
                    "esx.problem.scsi.device.state.permanentloss",
                    f"Device {self.naa} has been removed or is permanently inaccessible. Affected datastores (if any): "
                    f'"{self.name}".',
                ),
            ]
        )
        self.logs.host_event(
            "esx.problem.scsi.device.state.permanentloss",
            f"Device {self.naa} has been removed or is permanently inaccessible. Affected datastores "
            f'(if any): "{self.name}".',
            self.name,
        )

    def _on_pdl_cleared(self) -> None:
        text = (
            f"Device {self.naa} has been plugged back in after being marked permanently inaccessible. "
            "No data consistency guarantees."
        )
        self.logs.vobd.emit([("scsiCorrelator", "esx.clear.scsi.device.state.permanentloss.deviceonline", text)])
        self.logs.host_event("esx.clear.scsi.device.state.permanentloss.deviceonline", text, self.name)

    def _hb_state(self, stamp_us: int) -> str:
        uuid = self.cfg["volume_uuid"]
        return (
            f"[HB state abcdef02 offset {HB_OFFSET} gen {self.vmfs.gen} stampUS {stamp_us} uuid {uuid} "
            f"jrnl <FB 796920> drv 24.82]"
        )

    def _on_vmfs_heartbeat_timeout(self) -> None:
        uuid = self.cfg["volume_uuid"]
        self.logs.vobd.emit([("vmfsCorrelator", "esx.problem.vmfs.heartbeat.timedout", f"{uuid} {self.name}")])
        self.logs.host_event(
            "esx.problem.vmfs.heartbeat.timedout",
            f"Lost access to volume {uuid} ({self.name}) due to connectivity issues. Recovery "
            "attempt is in progress and outcome will be reported shortly.",
            self.name,
        )

    def _on_vmfs_heartbeat_reclaimed(self) -> None:
        uuid = self.cfg["volume_uuid"]
        state = self._hb_state(self.logs.uptime.us())
        self.logs.vmkernel.log(
            "hbx",
            f"HBX: 294: '{uuid}': HB at offset {HB_OFFSET} - Reclaimed heartbeat [Timeout]:",
            lines=[f"  {state}"],
        )
        self.logs.vobd.emit(
            [
                (
                    "vmfsCorrelator",
                    "vob.vmfs.heartbeat.recovered",
                    f"Reclaimed heartbeat for volume {uuid} {self.name}  [Timeout] {state}",
                ),
                ("vmfsCorrelator", "esx.problem.vmfs.heartbeat.recovered", f"{uuid} {self.name}"),
            ]
        )
        self.logs.host_event(
            "esx.problem.vmfs.heartbeat.recovered",
            f"Successfully restored access to volume {uuid} ({self.name}) following connectivity issues.",
            self.name,
        )
