"""VMX + Windows guest model of one VM: real guest disk I/O, disk TimeOutValue, BSOD, Tools heartbeat."""

# An I/O stalled past the guest's disk TimeOutValue dooms the guest; when that I/O finally completes (storage
# is coming back) the guest has already failed it and bugchecks: the five WinBSOD Synthetic MSR lines go to
# vmware.log on the datastore, the Tools heartbeat stops, the guest restarts by itself and the heartbeat
# returns. A later reboot does not crash again. Acknowledged guest writes are checked after the restart.

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from faultlab.sim.config import VmConfig
from faultlab.sim.esxi.guest.vmxlog import VmxLog
from faultlab.sim.esxi.logs import kinds
from faultlab.sim.esxi.logs.clock import esx_timestamp
from faultlab.sim.esxi.logs.hostlogs import HostLogs
from faultlab.sim.esxi.logs.kinds import LineKind
from faultlab.sim.esxi.logs.vmwarelog import vmware_line, winbsod_lines
from faultlab.sim.esxi.release import RELEASES
from faultlab.sim.esxi.settings import TimingProfile
from faultlab.sim.esxi.storage.dsio import DatastoreError, FileClient, VmVolume
from faultlab.sim.esxi.storage.tickstats import TickStats
from faultlab.sim.esxi.timing import GUEST_TIMING, draw

SECTOR = 512
RPC_LEAD = 8.685 / 20  # the toolbox RPC timeout precedes the heartbeat timeout by this share of the Tools window
SLOTS = 2048  # the guest's write ring on its disk: 1 MiB
BUGCHECK_NAMES = {
    0xEF: "CRITICAL_PROCESS_DIED",
    0x7A: "KERNEL_DATA_INPAGE_ERROR",
    0x77: "KERNEL_STACK_INPAGE_ERROR",
    0xF4: "CRITICAL_OBJECT_TERMINATION",
}
BUILDS = {p: (r.version, int(r.build)) for p, r in RELEASES.items()}  # the release.py profiles' real builds


@dataclass
class GuestSettings:
    """Per-VM guest knobs: drawn from the host's timing profile (timing.GUEST_TIMING, varied per run), then
    the VM's optional `guest` object in the host config overrides any of them."""

    disk_timeout_s: float = 4.0  # HKLM\...\Services\Disk\TimeOutValue, 60 s on a real guest with Tools
    bugcheck_code: int = 0xEF
    bugcheck_params: tuple[int, int, int, int] | None = None  # None: 0xEF's EPROCESS address drawn per run
    crash_delay_s: float = 0.4  # the doomed I/O completes -> the bugcheck (first completions reach it)
    restart_after_s: float = 2.0  # BSOD screen -> reboot (the crash dump is written in between)
    boot_s: float = 1.5  # reboot -> Tools running again
    io_interval_s: float = 0.2
    tools_timeout_s: float = 1.0  # heartbeat missing this long -> red
    vcpus: int = 2  # numvcpus in the .vmx; the WinBSOD lines come from one of them (KB 392634 shows vcpu-1)

    @classmethod
    def for_timing(cls, timing: TimingProfile, rng: random.Random | None = None) -> GuestSettings:
        rng = rng or random.Random()
        spec = GUEST_TIMING[timing]
        tools = draw(spec.tools_timeout_s, rng)
        return cls(
            disk_timeout_s=spec.disk_timeout_s,
            crash_delay_s=draw(spec.crash_delay_s, rng),
            tools_timeout_s=tools,
            restart_after_s=round(tools + draw(spec.dump_after_tools_s, rng), 3),
            boot_s=draw(spec.boot_s, rng),
        )

    @classmethod
    def from_config(
        cls, raw: dict[str, Any], timing: TimingProfile = "fast", rng: random.Random | None = None
    ) -> GuestSettings:
        out = cls.for_timing(timing, rng)
        if "disk_timeout_s" in raw:
            out.disk_timeout_s = float(raw["disk_timeout_s"])
        if "bugcheck_code" in raw:
            out.bugcheck_code = int(str(raw["bugcheck_code"]), 0)
        if "bugcheck_params" in raw:
            params = [int(str(p), 0) for p in raw["bugcheck_params"]]
            padded = [*params, 0, 0, 0, 0]
            out.bugcheck_params = (padded[0], padded[1], padded[2], padded[3])
        for key in ("crash_delay_s", "restart_after_s", "boot_s", "io_interval_s", "tools_timeout_s"):
            if key in raw:
                setattr(out, key, float(raw[key]))
        if "vcpus" in raw:
            out.vcpus = max(1, int(raw["vcpus"]))
        return out

    def params_for_run(self, rng: random.Random) -> tuple[int, int, int, int]:
        """The configured bugcheck parameters, or for 0xEF CRITICAL_PROCESS_DIED a process address drawn in the
        kernel range (KB 392634 shows 0xffffb5096e266080; copying it on every run would be a tell)."""
        if self.bugcheck_params is not None:
            return self.bugcheck_params
        if self.bugcheck_code == 0xEF:
            eprocess = (0xFFFF800000000000 + rng.randrange(0x100000000000, 0x7FFF00000000)) & ~0x3F
            return (eprocess, 0x0, 0x0, 0x0)
        return (0x0, 0x0, 0x0, 0x0)


def record(seq: int) -> bytes:
    """The sector the guest writes for sequence number `seq`: verifiable content."""
    head = f"faultlab-guest seq={seq:012d} ".encode()
    digest = hashlib.sha256(head).hexdigest().encode()
    return (head + digest).ljust(SECTOR, b".")


@dataclass
class GuestState:
    power: str = "poweredOff"  # until the VMX starts (its files must be reachable first)
    guest: str = "off"  # off | running | doomed | crashed | booting
    heartbeat: str = "gray"  # green | red | gray (VirtualMachine.guestHeartbeatStatus)
    tools: str = "guestToolsNotRunning"
    crashes: int = 0
    boots: int = 0
    acked: dict[int, int] = field(default_factory=dict)  # slot -> seq of the last acknowledged write
    writes_acked: int = 0
    inflight_since: float | None = None
    inflight_boot: int = 0  # the boot (`boots`) that issued the I/O in flight: an older boot's I/O dooms nothing
    max_stall_s: float = 0.0
    last_verify: dict[str, Any] | None = None


class Vmx:
    """One powered-on VM: its VMX (vmware.log) and the Windows guest inside it."""

    def __init__(
        self, vmid: int, cfg: VmConfig, volume: VmVolume, logs: HostLogs, profile: str, timing: TimingProfile = "fast"
    ) -> None:
        self.vmid = vmid
        self.cfg = cfg
        self.name = cfg["name"]
        self.volume = volume
        self.logs = logs
        self.profile = profile
        self.guest = GuestSettings.from_config(dict(cfg).get("guest") or {}, timing)  # type: ignore[arg-type]
        self.state = GuestState()
        self._lock = threading.Lock()
        self.vmx_path = "/" + cfg["vmx_file"].lstrip("/")
        self.disk_path = "/" + cfg["disk_file"].lstrip("/")
        folder = os.path.dirname(self.vmx_path)
        self.log = VmxLog(volume, f"{folder}/vmware.log")
        self._client: FileClient = volume.client(timeout_ms=1000)
        self.world_id = 2100000 + vmid * 1117
        self._thread = threading.Thread(target=self._run, name=f"guest-{self.name}", daemon=True)
        self._watch = threading.Thread(target=self._watchdog, name=f"guest-watch-{self.name}", daemon=True)
        self._seq = 0
        self.io_stats = TickStats(self.guest.io_interval_s)  # guest I/O due io_interval_s after the last one ended
        # How long each guest I/O took, against the disk TimeOutValue that dooms the guest ("late" = duration).
        self.disk_stats = TickStats(self.guest.disk_timeout_s)
        self._rng = random.Random()
        self._powered_on = time.monotonic()
        self._hb_base = self._rng.randrange(2000, 40000)  # Tools heartbeat counter (1 per second)

    @property
    def datastore_path(self) -> str:
        """`/vmfs/volumes/<uuid>/<vm>/<vm>.vmx` as hostd names it."""
        return f"/vmfs/volumes/{self.volume.volume_uuid}{self.vmx_path}"

    def lock_files(self) -> list[str]:
        """The files the VMX holds open (and locked) on its datastore, as NFSLock names them (SmartX 8.0 sample:
        the -flat.vmdk, vmx-<vm>-<hash>-1.vswp, <vm>.vmx.lck, <vm>-<8 hex>.vswp)."""
        digest = hashlib.sha256(self.datastore_path.encode()).hexdigest()
        return [
            os.path.basename(self.disk_path),
            f"vmx-{self.name}-{digest[:64]}-1.vswp",
            f"{self.name}.vmx.lck",
            f"{self.name}-{digest[-8:]}.vswp",
        ]

    def vmx_line(self, kind: LineKind, thread: str = "vmx", /, **fields: object) -> str:
        return vmware_line(self.profile, kind, thread, **fields)

    def _vcpu(self) -> str:
        return f"vcpu-{self._rng.randrange(self.guest.vcpus)}"

    def _jitter(self, seconds: float, low: float = 0.85, high: float = 1.35) -> float:
        """A guest timing varies run to run around its configured value (nothing on exact steps)."""
        return seconds * self._rng.uniform(low, high)

    def _heartbeat_value(self) -> int:
        return self._hb_base + int(time.monotonic() - self._powered_on)

    # -- lifecycle ------------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Create the VM folder, .vmx and disk through NFS if the datastore lacks them (idempotent)."""
        folder = os.path.dirname(self.vmx_path)

        def make(c: FileClient) -> None:
            c.mkdir(folder)
            try:
                c.stat(self.vmx_path)
            except DatastoreError:
                text = (
                    f'.encoding = "UTF-8"\nconfig.version = "8"\nvirtualHW.version = "19"\n'
                    f'displayName = "{self.name}"\nguestOS = "windows2019srv-64"\nnumvcpus = "{self.guest.vcpus}"\n'
                    f'scsi0:0.fileName = "{os.path.basename(self.disk_path)}"\n'
                )
                c.write(self.vmx_path, 0, text.encode())

        self.volume.run_io("host", self._client, make)

    def start(self) -> None:
        hostd, vmx = self.logs.hostd, self.datastore_path
        tid = hostd.tid()
        # the power-on task, then event 3673 "is starting" before the transition (HAUC notes, log-samples/hostd.log.txt)
        task, op = hostd.task(str(self.vmid), "vim.VirtualMachine.powerOn")
        hostd.log(kinds.HOSTD_TASK_CREATED, hostd.tid(), op=op, task=task)
        self.logs.host_event(
            "VmStartingEvent", f"{self.name} on host {self.logs.host_name} in ha-datacenter is starting", self.name
        )
        hostd.log(kinds.HOSTD_STATE, tid, vmx=vmx, old="VM_STATE_OFF", new="VM_STATE_POWERING_ON")
        # "on  <host>" with two spaces, as hostd writes event 3674 (HAUC notes, log-samples/hostd.log.txt)
        self.logs.host_event(
            "VmPoweredOnEvent", f"{self.name} on  {self.logs.host_name} in ha-datacenter is powered on", self.name
        )
        hostd.log(kinds.HOSTD_STATE, tid, vmx=vmx, old="VM_STATE_POWERING_ON", new="VM_STATE_ON")
        hostd.log(kinds.HOSTD_TASK_COMPLETED, hostd.tid(), task=task)
        self._powered_on = time.monotonic()
        with self._lock:
            s = self.state
            s.power, s.guest, s.heartbeat, s.tools = "poweredOn", "running", "green", "guestToolsRunning"
            s.boots += 1
        self.log.start()
        version, build = BUILDS[self.profile]
        self.log.write(
            [
                self.vmx_line(kinds.VMX_HEADER, pid=self.world_id, version=version, build=build),
                self.vmx_line(kinds.VMX_PROCESS_64),
                self.vmx_line(kinds.VMX_CODEPAGE),
                self.vmx_line(kinds.VMX_HOSTNAME, host=self.logs.host_name),
                self.vmx_line(kinds.VMX_DICT, vmx=self.datastore_path),
                *self._tools_up_lines(),
            ]
        )
        self._thread.start()
        self._watch.start()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            s = self.state
            now = time.monotonic()
            stall = now - s.inflight_since if s.inflight_since is not None else 0.0
            return {
                "vmid": self.vmid,
                "name": self.name,
                "datastore": self.cfg["datastore"],
                "vmx": self.datastore_path,
                "annotation": dict(self.cfg).get("annotation") or "",  # optional in the host config (getallvms)
                "powerState": s.power,
                "guestState": s.guest,
                "guestHeartbeatStatus": s.heartbeat,
                "toolsRunningStatus": s.tools,
                "crashes": s.crashes,
                "boots": s.boots,
                "writesAcked": s.writes_acked,
                "currentStall_s": round(stall, 3),
                "maxStall_s": round(max(s.max_stall_s, stall), 3),
                "diskTimeOutValue_s": self.guest.disk_timeout_s,
                "bugcheck": f"0x{self.guest.bugcheck_code:x}",
                "lastVerify": s.last_verify,
                "vmwareLogPending": self.log.pending,
            }

    # -- the guest --------------------------------------------------------------------------------------
    def _watchdog(self) -> None:
        """Windows' disk class driver: an I/O outstanding past TimeOutValue is failed -> guest doomed."""
        while not self.volume.stop.wait(0.05):
            with self._lock:
                s = self.state
                # Only an I/O this boot issued: one from before a reset was dropped with the old kernel's disk
                # driver (the VMX lets it finish; no Windows is left waiting on it to fail it).
                stalled = (
                    s.inflight_since is not None
                    and s.inflight_boot == s.boots
                    and time.monotonic() - s.inflight_since >= self.guest.disk_timeout_s
                )
                if stalled and s.guest == "running":
                    s.guest = "doomed"

    def _run(self) -> None:
        stop = self.volume.stop
        ended = time.monotonic()
        while not stop.wait(self.guest.io_interval_s):
            woke = time.monotonic()
            self.io_stats.tick(ended + self.guest.io_interval_s, woke)
            ended = woke
            seq = self._seq
            slot = seq % SLOTS
            data = record(seq)
            with self._lock:  # checked with the issue, so a reboot cannot slip between them
                if self.state.guest == "booting":
                    continue  # no guest I/O while Windows restarts
                self.state.inflight_since = time.monotonic()
                self.state.inflight_boot = self.state.boots
            try:
                self.volume.run_io("vm", self._client, self._writer(slot, data))
            except DatastoreError:
                return  # host stopping
            with self._lock:
                s = self.state
                done = time.monotonic()
                started = s.inflight_since or done
                s.max_stall_s = max(s.max_stall_s, done - started)
                s.inflight_since = None
                doomed = s.guest == "doomed"
                if not doomed:
                    s.acked[slot] = seq
                    s.writes_acked += 1
            self.disk_stats.tick(started, done)
            self._seq += 1
            if doomed:
                self._crash_and_restart()
            ended = time.monotonic()

    def _writer(self, slot: int, data: bytes) -> Callable[[FileClient], None]:
        def write(client: FileClient) -> None:
            client.write(self.disk_path, slot * SECTOR, data)

        return write

    def _crash_and_restart(self) -> None:
        """The doomed I/O has completed: the guest, which already failed it, bugchecks a moment later (KB 392634:
        "as storage connectivity begins to recover"), writes its dump and resets; Tools' heartbeat times out
        meanwhile, and returns after the boot."""
        g = self.guest
        stop = self.volume.stop
        if stop.wait(g.crash_delay_s):  # drawn per run from the timing profile
            return
        crashed_at = time.monotonic()
        with self._lock:
            self.state.guest = "crashed"
            self.state.crashes += 1
        self.log.write(winbsod_lines(self.profile, self._vcpu(), g.bugcheck_code, g.params_for_run(self._rng)))
        self.logs.hostd.log(kinds.HOSTD_GUEST_CRASH, vmx=self.datastore_path)
        self.logs.host_event(
            "VmGuestOSCrashedEvent",
            f"{self.name} on {self.logs.host_name} in ha-datacenter: Guest operating system has crashed.",
            self.name,
        )
        tools_at = self._jitter(g.tools_timeout_s, 1.0, 1.4)
        reset_at = max(self._jitter(g.restart_after_s, 0.9, 1.5), tools_at + self._jitter(0.3, 0.5, 1.5))
        # The VMX 2026 case notes: the toolbox RPC times out first (13:06:00.039, with the TOOLS appName line in the
        # same ms), the heartbeat timeout follows 8.7 s later (08.724) saying "last received 20s ago", then the rpc
        # handler 7 ms and the last-heartbeat line 1 ms after it. The RPC lead is that share of the Tools window.
        rpc_at = tools_at * (1 - RPC_LEAD * self._rng.uniform(0.85, 1.15))
        if stop.wait(rpc_at):
            return
        self.log.write(
            [self.vmx_line(kinds.VMX_GUESTRPC_TIMEOUT), self.vmx_line(kinds.VMX_TOOLS_APP_STATUS, old=1, new=2)]
        )
        if stop.wait(tools_at - rpc_at):
            return
        with self._lock:
            self.state.heartbeat = "red"
        ago = max(1, round(time.monotonic() - crashed_at))
        at = datetime.now(UTC)
        handler_at = at + timedelta(milliseconds=self._rng.uniform(4, 10))
        last_at = handler_at + timedelta(milliseconds=self._rng.uniform(0.6, 2))
        self.log.write(
            [
                self.vmx_line(kinds.VMX_TOOLS_HB_TIMEOUT, "vcpu-0"),  # on vcpu-0 in a real 6.0 log (boche.net)
                vmware_line(self.profile, kinds.VMX_TOOLS_RPC, "vmx", esx_timestamp(handler_at), old=1, new=0),
                vmware_line(
                    self.profile, kinds.VMX_TOOLS_LAST_HB, "vmx", esx_timestamp(last_at),
                    value=self._heartbeat_value() - ago, ago=ago,
                ),
            ]
        )  # fmt: skip
        if stop.wait(max(0.0, reset_at - tools_at)):
            return
        with self._lock:
            self.state.guest, self.state.heartbeat, self.state.tools = "booting", "gray", "guestToolsNotRunning"
        self._log_reset()
        self._boot()

    def _tools_up_lines(self) -> list[str]:
        """Tools running again (the VMX 2026 case notes: rpc handler 0 => 1, then running status 0 => 1)."""
        return [self.vmx_line(kinds.VMX_TOOLS_RPC, old=0, new=1), self.vmx_line(kinds.VMX_TOOLS_STATUS, old=0, new=1)]

    def _log_reset(self, tools_running: bool = False) -> None:
        """The guest asks for a reset (Windows restarting itself): the chipset line and the toolbox channel reset
        that VMware's GOS validation suite greps for a Windows reboot, and the vCPU reset."""
        lines = [self.vmx_line(kinds.VMX_CHIPSET_RESET, self._vcpu())]
        if tools_running:  # a Tools-driven reboot: Tools stop first
            lines.append(self.vmx_line(kinds.VMX_TOOLS_RPC, old=1, new=0))
        lines += [self.vmx_line(kinds.VMX_CPU_RESET, "vcpu-0", how="soft"), self.vmx_line(kinds.VMX_GUESTRPC_REINIT)]
        self.log.write(lines)

    def _boot(self) -> dict[str, Any] | None:
        """Windows boots (boot_s), the acknowledged writes are verified, Tools run again; None if the host stops."""
        if self.volume.stop.wait(self._jitter(self.guest.boot_s, 1.0, 1.4)):
            return None
        verify = self.verify()
        with self._lock:
            s = self.state
            s.guest, s.heartbeat, s.tools = "running", "green", "guestToolsRunning"
            s.boots += 1
            s.last_verify = verify
        self.log.write(self._tools_up_lines())
        return verify

    def reboot(self, wait: bool = True) -> dict[str, Any]:
        """A guest-initiated restart through VMware Tools (RebootGuest): Tools stop, the guest resets and boots,
        Tools return, writes verified. Never a bugcheck: the doom of a stalled I/O was spent by the crash.

        Refused ({"rebooted": False, ...}) unless the VM is on and its guest running with Tools (a doomed guest
        is refused too, although its Tools still answer). `wait=False` returns once the reset is logged and the
        heartbeat has left green, as RebootGuest returns before the guest is back; the boot ends on a thread."""
        with self._lock:
            s = self.state
            if s.power != "poweredOn" or s.guest != "running" or s.tools != "guestToolsRunning":
                return {"rebooted": False, "powerState": s.power, "guestState": s.guest, "toolsRunningStatus": s.tools}
            s.guest, s.heartbeat, s.tools = "booting", "gray", "guestToolsNotRunning"
        self.log.write(
            [self.vmx_line(kinds.VMX_TOOLS_OS_REBOOT), self.vmx_line(kinds.VMX_TOOLS_STATE_CHANGE, state=2, status=1)]
        )
        self._log_reset(tools_running=True)
        if not wait:
            threading.Thread(target=self._boot, name=f"guest-boot-{self.name}", daemon=True).start()
            return {"rebooted": True, "lastVerify": None}
        return {"rebooted": True, "lastVerify": self._boot()}

    def verify(self) -> dict[str, Any]:
        """Read back every acknowledged sector: nothing the guest was told is written may be lost."""
        with self._lock:
            expected = dict(self.state.acked)
        lost: list[int] = []

        def read_all(c: FileClient) -> bytes:
            return c.read(self.disk_path, 0, SLOTS * SECTOR)

        try:
            disk = self.volume.run_io("vm", self._client, read_all)
        except DatastoreError as exc:
            return {"checked": 0, "lost": -1, "error": str(exc)}
        for slot, seq in expected.items():
            # A later write to the same slot may have landed without an ack (the doomed I/O): either is fine.
            got = disk[slot * SECTOR : (slot + 1) * SECTOR]
            if got != record(seq) and got != record(seq + SLOTS):
                lost.append(seq)
        return {"checked": len(expected), "lost": len(lost), "lostSeqs": lost[:20]}
