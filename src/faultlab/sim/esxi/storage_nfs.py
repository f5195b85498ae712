"""An NFS datastore as the host's storage stack sees it: heartbeat world, APD, I/O gate, log lines."""

from __future__ import annotations

import random
import threading
import time
import zlib
from collections.abc import Callable
from typing import TypeVar

from faultlab.sim.config import NfsDatastoreConfig
from faultlab.sim.esxi.dsio import DatastoreError, FileClient, IoKind
from faultlab.sim.esxi.hostlogs import HostLogs
from faultlab.sim.esxi.logs import kinds
from faultlab.sim.esxi.machines import ApdState, NfsHeartbeat
from faultlab.sim.esxi.nfsclient import NfsClient, NfsError
from faultlab.sim.esxi.settings import Settings
from faultlab.sim.esxi.worlds import TICK_S, DatastoreWorlds

T = TypeVar("T")
IO_RETRY_S = 0.2
# NFSv3 file locks are renewed every NFS.DiskFileLockUpdateFreq (10 s) and given up after
# NFS.LockRenewMaxFailureNumber (3) failed renewals [I: ESXi defaults]; in the SmartX 8.0 sample the first
# "Stop accessing fd" comes 15 s after the first retry line and the rest 20 s later in one batch. Scaled by the
# profile's heartbeat clock (NFS.HeartbeatFrequency / 12 s).
LOCK_GIVE_UP_S = 15.0
LOCK_BATCH_GAP_S = 20.0
LATENCY_THRESHOLD_US = 10000  # NFS: 5544 "Exceeded threshold 10000(us)"


def full_uuid(volume_uuid: str) -> str:
    """NFS volumes show as `a20f9958-58eaf9ec-0000-000000000000` in vmkernel/vobd lines."""
    return volume_uuid if volume_uuid.count("-") >= 3 else f"{volume_uuid}-0000-000000000000"


def apd_identifier(volume_uuid: str) -> str:
    """The APD identifier of an NFS volume: the first two groups of its uuid."""
    return "-".join(volume_uuid.split("-")[:2])


class NfsVolume(DatastoreWorlds):
    """One mounted NFS datastore. `run_io` is the only way the host touches it."""

    PREFIX, PROBE_STAT = "nfs", "nfs.heartbeat"

    def __init__(self, cfg: NfsDatastoreConfig, settings: Settings, logs: HostLogs, stop: threading.Event) -> None:
        self.cfg = cfg
        self.name = cfg["name"]
        self.settings = settings
        self.logs = logs
        self.stop = stop
        self.ident = apd_identifier(cfg["volume_uuid"])
        self.uuid = full_uuid(cfg["volume_uuid"])
        self.machine = NfsHeartbeat(*self._hb_params())  # first heartbeat (and mount) at once
        self._lock = threading.RLock()
        self._hb_client = self.client(timeout_ms=self._timeout_ms())
        # an 8-byte aligned kernel address, stable across runs (real handles: 0x4302ff581ad0, 0x430a28b09130)
        self._handle = 0x4302FF000000 + (zlib.crc32(self.ident.encode()) & 0xFFFFF0)
        self._rng = random.Random()
        self.open_files: list[str] = []  # files the VMX holds open (and NFS-locked) on this volume
        self._fds: dict[str, int] = {}
        self._outage_since: float | None = None  # first failed I/O or heartbeat since the last success
        self._stopped: list[str] = []  # files whose lock was given up ("Stop accessing fd")
        self._restart_due: list[tuple[float, str]] = []  # "Start accessing fd ... again" scheduled
        self._last_retry_line = float("-inf")
        self._avg_us = 0.0
        self._reported_avg_us = 0.0
        self.heartbeats_sent = 0
        self.heartbeats_failed = 0
        # Heartbeat rounds (a heartbeat sent, or recent I/O standing in for it) and APD timer ticks.
        super().__init__(self.machine.frequency_s)

    # -- settings ---------------------------------------------------------------------------------
    def _hb_params(self) -> tuple[float, float, int, float]:
        s = self.settings
        return (
            float(s.integer("NFS.HeartbeatFrequency")),
            float(s.integer("NFS.HeartbeatTimeout")),
            s.integer("NFS.HeartbeatMaxFailures"),
            float(s.integer("NFS.HeartbeatDelta")),
        )

    def _timeout_ms(self) -> int:
        return self.settings.integer("NFS.HeartbeatTimeout") * 1000

    def client(self, timeout_ms: int | None = None) -> NfsClient:
        """A new connection to this datastore's export (one per world that does I/O)."""
        return NfsClient(self.cfg["server_ip"], self.cfg["export"], timeout_ms or self._timeout_ms())

    @property
    def volume_uuid(self) -> str:
        return self.cfg["volume_uuid"]

    # -- state --------------------------------------------------------------------------------------
    @property
    def apd_state(self) -> ApdState:
        return self.machine.apd.state

    @property
    def accessible(self) -> bool:
        with self._lock:
            return self.machine.apd.state is ApdState.NORMAL and not self.machine.down

    def inaccessible_reason(self) -> str | None:
        with self._lock:
            if self.machine.apd.state is not ApdState.NORMAL:
                return str(self.machine.apd.state)
            return "AllPathsDown_Start" if self.machine.down else None

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            return {
                "name": self.name,
                "type": "NFS",
                "url": f"ds:///vmfs/volumes/{self.cfg['volume_uuid']}/",
                "server": self.cfg["server_ip"],
                "export": self.cfg["export"],
                "accessible": self.machine.apd.state is ApdState.NORMAL and not self.machine.down,
                "inaccessibleReason": self.inaccessible_reason(),
                "apdState": str(self.machine.apd.state),
                "serverConnected": not self.machine.down,
                "heartbeatFailures": self.machine.failures,
                "heartbeatsSent": self.heartbeats_sent,
                "heartbeatsFailed": self.heartbeats_failed,
            }

    # -- worlds -------------------------------------------------------------------------------------
    def _wake_probe(self) -> None:
        """Nothing to wake: the heartbeat loop looks at `stop` every TICK_S."""

    def _close(self) -> None:
        self._hb_client.close()

    def _scale(self) -> float:
        return self.settings.integer("NFS.HeartbeatFrequency") / 12.0

    def add_open_files(self, names: list[str]) -> None:
        with self._lock:
            for name in names:
                self.open_files.append(name)
                self._fds[name] = 0x43088F400000 + (zlib.crc32(name.encode()) & 0x3FFFF0)

    def _on_tick(self, now: float) -> list[str]:
        self._lock_tick(now)
        return self.machine.tick(now)

    def _lock_tick(self, now: float) -> None:
        """NFSLock: give up the locks of the open files while the server stays unreachable, take them again
        (one by one, a few ms to half a second apart in the real sample) once it answers."""
        while self._restart_due and self._restart_due[0][0] <= now:
            _due, name = self._restart_due.pop(0)
            self.logs.vmkernel.log("nfslock", kinds.NFSLOCK_START, fd=self._fds[name], file=name)
        if self._outage_since is None or not self.open_files:
            return
        down = now - self._outage_since
        first = LOCK_GIVE_UP_S * self._scale()
        batch = first + LOCK_BATCH_GAP_S * self._scale()
        for index, name in enumerate(self.open_files):
            due = first if index == 0 else batch
            if down >= due and name not in self._stopped:
                self._stopped.append(name)
                self.logs.vmkernel.log("nfslock", kinds.NFSLOCK_STOP, fd=self._fds[name], file=name)

    def _outage(self, now: float) -> None:
        if self._outage_since is None:
            self._outage_since = now

    def _recovered(self, now: float) -> None:
        """The first success after an outage: the files given up are accessed again, shortly after."""
        self._outage_since = None
        at = now + self._rng.uniform(0.05, 0.4) * max(self._scale(), 0.2)
        for name in self._stopped:
            self._restart_due.append((at, name))
            at += self._rng.choice((0.0, 0.0, 0.005, 0.3, 0.5)) * max(self._scale(), 0.2)
        self._stopped = []

    def _latency(self, took_us: float) -> None:
        """NFS's moving average of I/O latency and its 8.0 vmkwarning lines (SmartX sample: 5544 when it first
        exceeds 10000 us, 5506 as it keeps rising)."""
        before = self._avg_us
        self._avg_us = before * 0.7 + took_us * 0.3
        after = self._avg_us
        if after < LATENCY_THRESHOLD_US:
            self._reported_avg_us = 0.0
            return
        if before < LATENCY_THRESHOLD_US:
            self.logs.vmkernel.log("nfslock", kinds.NFS_LATENCY, label=self.name, before=int(before), after=int(after))
            self._reported_avg_us = after
        elif after >= 2 * self._reported_avg_us:
            self.logs.vmkernel.log(
                "nfslock", kinds.NFS_LATENCY_AVG, label=self.name, before=int(before), after=int(after)
            )
            self._reported_avg_us = after

    def _probe_loop(self) -> None:
        """The NFS heartbeat world: a GETATTR every NFS.HeartbeatFrequency unless recent I/O stands in for it."""
        while not self.stop.wait(TICK_S):
            with self._lock:
                m = self.machine
                m.frequency_s, m.timeout_s, m.max_failures, m.delta_s = self._hb_params()
                previous = m.last_beat
                due = m.due(time.monotonic())
                if m.last_beat != previous and previous != float("-inf"):  # a round began: was it on time?
                    self.hb_stats.tick(previous + m.frequency_s, m.last_beat, m.frequency_s)
            if not due:
                continue
            self.heartbeats_sent += 1
            try:
                with self._hb_client.lock:
                    self._hb_client.set_timeout(self._timeout_ms())
                    self._hb_client.stat("/")
            except NfsError:
                self.heartbeats_failed += 1
                with self._lock:
                    self._outage(time.monotonic())
                    self._report(
                        self.machine.beat_failed(
                            time.monotonic(),
                            self.settings.integer("Misc.APDTimeout"),
                            self.settings.integer("Misc.APDHandlingEnable") == 1,
                        )
                    )
                continue
            self._io_ok()

    def _io_ok(self) -> None:
        with self._lock:
            now = time.monotonic()
            if self._outage_since is not None:
                self._recovered(now)
            self._report(self.machine.io_ok(now))

    # -- the I/O gate -------------------------------------------------------------------------------
    def run_io(self, kind: IoKind, client: FileClient, op: Callable[[FileClient], T]) -> T:
        """Run `op` until it succeeds. VM I/O is retried for as long as it takes; non-VM ("host") I/O is
        retried until the APD timeout and fast-failed after it (NfsError 'Input/output error')."""
        started = time.monotonic()
        while True:
            if self.stop.is_set():
                raise NfsError("io", "host is stopping")
            if kind == "host":
                with self._lock:
                    if self.machine.apd.fast_fail:
                        raise NfsError("io", "Input/output error (APD timeout: I/O fast failed)")
            try:
                with client.lock:
                    result = op(client)
            except DatastoreError as exc:
                if exc.permanent:
                    raise
                self._io_failed(kind)
                self.stop.wait(IO_RETRY_S)
                continue
            with self._lock:
                self._latency((time.monotonic() - started) * 1e6)
            self._io_ok()
            return result

    def _io_failed(self, kind: IoKind) -> None:
        """A VM's write that found no connection is retried synchronously (NFS: 6339, once per lock period)."""
        now = time.monotonic()
        with self._lock:
            self._outage(now)
            if kind != "vm" or now - self._last_retry_line < LOCK_BATCH_GAP_S * self._scale():
                return
            self._last_retry_line = now
        self.logs.vmkernel.log("nfs-io", kinds.NFS_RETRY, attempt=1)

    # -- log lines ----------------------------------------------------------------------------------
    def _report(self, transitions: list[str]) -> None:
        for name in transitions:
            getattr(self, "_on_" + name.replace(".", "_"), lambda: None)()

    def _apd_text(self, what: str) -> str:
        return f"Device or filesystem with identifier [{self.ident}] {what}"

    def log_mount(self) -> None:
        """Boot: the APD handle of the volume, then the mount (8.0 wording, SmartX sample)."""
        c = self.cfg
        self.logs.vmkernel.log("apd", kinds.APD_HANDLE, handle=self._handle + 0x60)
        self.logs.vmkernel.log("nfs", kinds.NFS_MOUNTED, server=c["server_ip"], export=c["export"], label=self.name)

    def _on_apd_start(self) -> None:
        self.logs.vmkernel.log("apd", kinds.APD_START, handle=self._handle, ident=self.ident)
        self.logs.vobd.emit(
            [(kinds.VOB_APD_START, {"ident": self.ident}), (kinds.ESX_APD_START, {"ident": self.ident})]
        )
        self.logs.host_event(
            "esx.problem.storage.apd.start",
            f"Device or filesystem with identifier {self.ident} has entered the All Paths Down state.",
            self.name,
        )

    def _on_apd_timeout(self) -> None:
        seconds = self.machine.apd.timeout_s
        self.logs.vmkernel.log("apd", kinds.APD_TIMEOUT, handle=self._handle, ident=self.ident)
        fields: dict[str, object] = {"ident": self.ident, "seconds": seconds}
        self.logs.vobd.emit([(kinds.VOB_APD_TIMEOUT, fields), (kinds.ESX_APD_TIMEOUT, fields)])
        tail = (
            f"has entered the All Paths Down Timeout state after being in the All Paths Down state for "
            f"{seconds} seconds. I/Os will now be fast failed."
        )
        self.logs.host_event(
            "esx.problem.storage.apd.timeout", f"Device or filesystem with identifier {self.ident} {tail}", self.name
        )

    def _on_apd_exit(self) -> None:
        self.logs.vmkernel.log("apd", kinds.APD_EXIT, handle=self._handle, ident=self.ident)
        self.logs.vobd.emit([(kinds.VOB_APD_EXIT, {"ident": self.ident}), (kinds.ESX_APD_EXIT, {"ident": self.ident})])
        self.logs.host_event(
            "esx.clear.storage.apd.exit",
            f"Device or filesystem with identifier {self.ident} has exited the All Paths Down state.",
            self.name,
        )

    def _where(self) -> dict[str, object]:
        c = self.cfg
        return {"server": c["server_ip"], "export": c["export"], "uuid": self.uuid, "label": self.name}

    def _on_nfs_server_lost(self) -> None:
        c = self.cfg
        self.logs.vmkernel.log("nfs", kinds.NFS_LOST, **self._where())
        self.logs.vobd.emit([(kinds.VOB_NFS_DISCONNECT, {}), (kinds.ESX_NFS_DISCONNECT, self._where())])
        self.logs.host_event(
            "esx.problem.vmfs.nfs.server.disconnect",
            f"Lost connection to server {c['server_ip']} mount point {c['export']} mounted as "
            f"{self.uuid} ({self.name}).",
            self.name,
        )

    def _on_nfs_server_restored(self) -> None:
        c = self.cfg
        self.logs.vmkernel.log("nfs", kinds.NFS_RESTORED, **self._where())
        self.logs.vobd.emit([(kinds.VOB_NFS_RESTORED, self._where()), (kinds.ESX_NFS_RESTORED, self._where())])
        self.logs.host_event(
            "esx.clear.vmfs.nfs.server.restored",
            f"Restored connection to server {c['server_ip']} mount point {c['export']} mounted as "
            f"{self.uuid} ({self.name}).",
            self.name,
        )
