"""A VMFS datastore on an iSCSI LUN: session, path state, APD/PDL and the VMFS heartbeat, over real iSCSI."""

from __future__ import annotations

import random
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from faultlab.sim.config import IscsiDatastoreConfig
from faultlab.sim.esxi.dsio import DatastoreError, FileClient, IoKind
from faultlab.sim.esxi.hostlogs import HostLogs
from faultlab.sim.esxi.iscsiclient import SCSI_STATUS_CHECK_CONDITION, IscsiSession, ScsiResult
from faultlab.sim.esxi.logs import kinds
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
        self._rng = random.Random()
        # The host's own VMFS uuid (what the HB state's `uuid` names: the server holding the heartbeat): creation
        # epoch, a random word, and the vmnic0 MAC's tail (VMware OUI 00:50:56), as real ESXi uuids are built.
        crc = zlib.crc32(host_name.encode())
        self.host_uuid = (
            f"{0x67000000 + crc % 0x900000:08x}-{crc ^ 0x5A5A5A5A:08x}-{crc % 0xFFFF:04x}-005056{crc % 0xFFFFFF:06x}"
        )
        self.local_ip = "198.18.0.1"  # the software iSCSI vmknic's address in the lab
        self._failed_cmds = 0
        self._sn = self._rng.randrange(0x1000, 0xFFFFFF)
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
        # a PDL'd device cannot take the heartbeat write either: the volume loses its heartbeat too (audit B9)
        return out + self.vmfs.tick(now)

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
                        self._log_failed_command()
                        self._report(self.path.command_failed(now))
                elif result.good:
                    self._failed_cmds = 0
                    self.writes_ok += 1
                    self._report(self.path.command_ok() + self.vmfs.write_ok(now))
                elif result.lun_not_supported:
                    self.last_error = "sense 0x5 0x25 0x0"
                    self._report(self.path.lun_not_supported())
                else:
                    self.last_error = result.error or f"status 0x{result.status:x}"
                    self._log_failed_command()
                    self._report(self.path.command_failed(now))

    # -- log lines ------------------------------------------------------------------------------------
    def _report(self, transitions: list[str]) -> None:
        for name in transitions:
            getattr(self, "_on_" + name.replace(".", "_"))()

    def log_mount(self) -> None:
        self.logs.vmkernel.log("apd", kinds.APD_HANDLE, handle=self._handle + 0x60)

    def _cmd(self) -> int:
        """A SCSI command's kernel address (0x45…, 64-byte aligned, as in the 7/8 ScsiDeviceIO lines)."""
        return (0x459B00000000 + self._rng.randrange(0x10000000, 0xFFFFFFFF)) & ~0x3F

    def _next_sn(self) -> int:
        self._sn += self._rng.randrange(1, 40)
        return self._sn

    def _log_failed_command(self) -> None:
        """The heartbeat write failed on a dead path: NO_CONNECT (H:0x1), the first one logged in full, then NMP's
        throttle summary every 10 (cunnie 6.5: `last error status from device … repeated 10 times`)."""
        self._failed_cmds += 1
        vk = self.logs.vmkernel
        hb_world = vk.world("hb")
        if self._failed_cmds == 1:
            vk.log(
                "scsi",
                kinds.SCSI_CMD_FAILED,
                cmd=self._cmd(),
                op=0x2A,
                sn=self._next_sn(),
                world=hb_world,
                naa=self.naa,
                host=1,
                sense="Invalid sense data: 0x0 0x0 0x0.",
            )
        elif self._failed_cmds % 10 == 0:
            vk.log("nmp", kinds.NMP_REPEATED, naa=self.naa, count=10)

    def _conn_lines(self, fn: str, local_port: int) -> list[tuple[kinds.LineKind, dict[str, object]]]:
        return [
            (kinds.ISCSI_SESS, {"fn": fn, "iqn": self.cfg["iqn"]}),
            (kinds.ISCSI_CONN, {"fn": fn, "local": f"{self.local_ip}:{local_port}", "remote": self.cfg["portal"]}),
        ]

    def _on_iscsi_connection_offline(self) -> None:
        """The order of the HAUC sample: receive failure (+ Sess/Conn under ConnReceiveAtomic), rx notify, OFFLINE,
        then NMP's failed command and the state-in-doubt probe. "Connection closed by peer" is the sample's cause;
        a blackholed portal would rather time out [U: no real sample of that cause found]."""
        vk = self.logs.vmkernel
        head = f"{self.adapter}:CH:0 T:0 CN:0"
        rx = vk.world("iscsi-rx")
        vk.log(
            rx,
            kinds.ISCSI_RX_FAILED,
            *self._conn_lines("iscsivmk_ConnReceiveAtomic", 58200),
            head=head,
            cause="Connection closed by peer",
        )
        vk.log(rx, kinds.ISCSI_RX_NOTIFY, head=head)
        vk.log("iscsi", kinds.ISCSI_OFFLINE, head=head)
        world = vk.world("nmp")
        vk.log(world, kinds.NMP_THROTTLE, cmd=self._cmd(), world=vk.world("hb"), naa=self.naa, path=self.vmhba_path)
        vk.log(world, kinds.NMP_FAST_PROBE, naa=self.naa)

    def _on_iscsi_connection_online(self) -> None:
        head = f"{self.adapter}:CH:0 T:0 CN:0"
        port = self._rng.randrange(10000, 60000)
        self.logs.vmkernel.log(
            "iscsi-start", kinds.ISCSI_ONLINE, *self._conn_lines("iscsivmk_StartConnection", port), head=head
        )

    def _on_path_dead(self) -> None:
        path: dict[str, object] = {"path": self.vmhba_path}
        lost: dict[str, object] = {"naa": self.naa, "path": self.vmhba_path, "label": self.name}
        self.logs.vobd.emit([(kinds.VOB_PATH_DEAD, path), (kinds.ESX_CONN_LOST, lost)])
        text = (
            f"Lost connectivity to storage device {self.naa}. Path {self.vmhba_path} is down. "
            f'Affected datastores: "{self.name}".'
        )
        self.logs.host_event("esx.problem.storage.connectivity.lost", text, self.name)

    def _on_path_on(self) -> None:
        path: dict[str, object] = {"path": self.vmhba_path}
        back: dict[str, object] = {"naa": self.naa, "path": self.vmhba_path, "label": self.name}
        self.logs.vobd.emit([(kinds.VOB_PATH_ON, path), (kinds.ESX_CONN_RESTORED, back)])
        text = (
            f'Connectivity to storage device {self.naa} (Datastores: "{self.name}") restored. '
            f"Path {self.vmhba_path} is active again."
        )
        self.logs.host_event("esx.clear.storage.connectivity.restored", text, self.name)

    def _on_apd_start(self) -> None:
        vk = self.logs.vmkernel
        world = vk.world("apd")  # one world logs the triple, on one CPU (HAUC: cpu0:65641 x3)
        vk.log(world, kinds.HBX_APD_START, label=self.name)
        vk.log(world, kinds.SCSI_APD_START, naa=self.naa)
        vk.log(world, kinds.APD_START, handle=self._handle, ident=self.naa)
        self.logs.vobd.emit([(kinds.VOB_APD_START, {"ident": self.naa}), (kinds.ESX_APD_START, {"ident": self.naa})])
        self.logs.host_event(
            "esx.problem.storage.apd.start",
            f"Device or filesystem with identifier {self.naa} has entered the All Paths Down state.",
            self.name,
        )

    def _on_apd_timeout(self) -> None:
        seconds = self.path.apd.timeout_s
        self.logs.vmkernel.log("apd", kinds.APD_TIMEOUT, handle=self._handle, ident=self.naa)
        fields: dict[str, object] = {"ident": self.naa, "seconds": seconds}
        self.logs.vobd.emit([(kinds.VOB_APD_TIMEOUT, fields), (kinds.ESX_APD_TIMEOUT, fields)])
        tail = (
            f"has entered the All Paths Down Timeout state after being in the All Paths Down state for "
            f"{seconds} seconds. I/Os will now be fast failed."
        )
        self.logs.host_event(
            "esx.problem.storage.apd.timeout", f"Device or filesystem with identifier {self.naa} {tail}", self.name
        )

    def _on_apd_exit(self) -> None:
        vk = self.logs.vmkernel
        world = vk.world("apd-exit")
        vk.log(world, kinds.SCSI_STATE_BACK, naa=self.naa)
        vk.log(world, kinds.SCSI_OUT_OF_APD, naa=self.naa)
        vk.log("hbx", kinds.HBX_APD_EXIT, label=self.name)
        self.logs.vobd.emit([(kinds.VOB_APD_EXIT, {"ident": self.naa}), (kinds.ESX_APD_EXIT, {"ident": self.naa})])
        self.logs.host_event(
            "esx.clear.storage.apd.exit",
            f"Device or filesystem with identifier {self.naa} has exited the All Paths Down state.",
            self.name,
        )

    def _on_pdl(self) -> None:
        """7/8 form of the failed command (KB 326859: `from world N`, a 0x45… command address), then the device
        marked permanently lost and NMP blocking it (KB 2004684)."""
        vk = self.logs.vmkernel
        vk.log("scsi", kinds.PDL_CMD_FAILED, cmd=self._cmd(), sn=self._next_sn(), world=vk.world("hb"), naa=self.naa)
        vk.log("scsi", kinds.PDL_REMOVED, naa=self.naa)
        vk.log("nmp", kinds.NMP_BLOCKED, naa=self.naa)
        self.logs.vobd.emit(
            [(kinds.VOB_PDL, {"naa": self.naa}), (kinds.ESX_PDL, {"naa": self.naa, "label": self.name})]
        )
        self.logs.host_event(
            "esx.problem.scsi.device.state.permanentloss",
            f"Device {self.naa} has been removed or is permanently inaccessible. Affected datastores "
            f'(if any): "{self.name}".',
            self.name,
        )

    def _on_pdl_cleared(self) -> None:
        # the catalog's text of this id (vSphere 8.0u2 event mapping); the "plugged back in" text is another event's
        self.logs.vobd.emit([(kinds.ESX_PDL_ONLINE, {})])
        self.logs.host_event(
            "esx.clear.scsi.device.state.permanentloss.deviceonline",
            "Device that was permanently inaccessible is now online.",
            self.name,
        )

    def _hb_state(self) -> tuple[kinds.LineKind, dict[str, object]]:
        """The two-line HB state: this host's uuid, lock implementation 4 and its vmknic address (KB 392634)."""
        return (
            kinds.HB_STATE,
            {
                "offset": HB_OFFSET,
                "gen": self.vmfs.gen,
                "stamp": self.logs.uptime.us(),
                "host_uuid": self.host_uuid,
                "jrnl": 796920 + zlib.crc32(self.volume_uuid.encode()) % 4096 * 8,
                "drv": "24.82",
                "impl": 4,
                "ip": self.local_ip,
            },
        )

    def _on_vmfs_heartbeat_timeout(self) -> None:
        uuid = self.cfg["volume_uuid"]
        self.logs.vmkernel.log("hbx", kinds.HBX_WAITING, self._hb_state(), label=self.name, offset=HB_OFFSET)
        args: dict[str, object] = {"uuid": uuid, "label": self.name}
        self.logs.vobd.emit([(kinds.VOB_HB_TIMEDOUT, args), (kinds.ESX_HB_TIMEDOUT, args)])
        self.logs.host_event(
            "esx.problem.vmfs.heartbeat.timedout",
            f"Lost access to volume {uuid} ({self.name}) due to connectivity issues. Recovery "
            "attempt is in progress and outcome will be reported shortly.",
            self.name,
        )

    def _on_vmfs_heartbeat_reclaimed(self) -> None:
        uuid = self.cfg["volume_uuid"]
        state_kind, state = self._hb_state()
        self.logs.vmkernel.log("hbx", kinds.HBX_RECLAIMED, (state_kind, state), label=self.name, offset=HB_OFFSET)
        text = state_kind.render(**state).strip()
        self.logs.vobd.emit(
            [
                (kinds.VOB_HB_RECOVERED, {"uuid": uuid, "label": self.name, "state": text}),
                (kinds.ESX_HB_RECOVERED, {"uuid": uuid, "label": self.name}),
            ]
        )
        self.logs.host_event(
            "esx.problem.vmfs.heartbeat.recovered",
            f"Successfully restored access to volume {uuid} ({self.name}) following connectivity issues.",
            self.name,
        )
