"""An NFS datastore as the host's storage stack sees it: heartbeat world, APD, I/O gate, log lines."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from faultlab.sim.config import NfsDatastoreConfig
from faultlab.sim.esxi.dsio import DatastoreError, FileClient, IoKind
from faultlab.sim.esxi.hostlogs import HostLogs
from faultlab.sim.esxi.machines import ApdState, NfsHeartbeat
from faultlab.sim.esxi.nfsclient import NfsClient, NfsError
from faultlab.sim.esxi.settings import Settings
from faultlab.sim.esxi.worlds import TICK_S, DatastoreWorlds

T = TypeVar("T")
IO_RETRY_S = 0.2


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
        self._handle = 0x430000000000 + (hash(self.ident) & 0xFFFFFFFFF)
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

    def _on_tick(self, now: float) -> list[str]:
        return self.machine.tick(now)

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
            self._report(self.machine.io_ok(time.monotonic()))

    # -- the I/O gate -------------------------------------------------------------------------------
    def run_io(self, kind: IoKind, client: FileClient, op: Callable[[FileClient], T]) -> T:
        """Run `op` until it succeeds. VM I/O is retried for as long as it takes; non-VM ("host") I/O is
        retried until the APD timeout and fast-failed after it (NfsError 'Input/output error')."""
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
                self.stop.wait(IO_RETRY_S)
                continue
            self._io_ok()
            return result

    # -- log lines ----------------------------------------------------------------------------------
    def _report(self, transitions: list[str]) -> None:
        for name in transitions:
            getattr(self, "_on_" + name.replace(".", "_"), lambda: None)()

    def _apd_text(self, what: str) -> str:
        return f"Device or filesystem with identifier [{self.ident}] {what}"

    def _on_apd_start(self) -> None:
        self.logs.vmkernel.log("apd", f"StorageApdHandler: 1205: APD start for 0x{self._handle:x} [{self.ident}]")
        text = self._apd_text("has entered the All Paths Down state.")
        self.logs.vobd.emit(
            [("APDCorrelator", "vob.storage.apd.start", text), ("APDCorrelator", "esx.problem.storage.apd.start", text)]
        )
        self.logs.host_event(
            "esx.problem.storage.apd.start",
            f"Device or filesystem with identifier {self.ident} has entered the All Paths Down state.",
            self.name,
        )

    def _on_apd_timeout(self) -> None:
        seconds = self.machine.apd.timeout_s
        self.logs.vmkernel.log("apd", f"StorageApdHandler: 609: APD timeout for 0x{self._handle:x} [{self.ident}]")
        tail = (
            f"has entered the All Paths Down Timeout state after being in the All Paths Down state for "
            f"{seconds} seconds. I/Os will now be fast failed."
        )
        self.logs.vobd.emit(
            [
                ("APDCorrelator", "vob.storage.apd.timeout", self._apd_text(tail)),
                ("APDCorrelator", "esx.problem.storage.apd.timeout", self._apd_text(tail)),
            ]
        )
        self.logs.host_event(
            "esx.problem.storage.apd.timeout", f"Device or filesystem with identifier {self.ident} {tail}", self.name
        )

    def _on_apd_exit(self) -> None:
        self.logs.vmkernel.log("apd", f"StorageApdHandler: 507: APD exit for 0x{self._handle:x} [{self.ident}]")
        text = self._apd_text("has exited the All Paths Down state.")
        self.logs.vobd.emit(
            [("APDCorrelator", "vob.storage.apd.exit", text), ("APDCorrelator", "esx.clear.storage.apd.exit", text)]
        )
        self.logs.host_event(
            "esx.clear.storage.apd.exit",
            f"Device or filesystem with identifier {self.ident} has exited the All Paths Down state.",
            self.name,
        )

    def _where(self) -> str:
        c = self.cfg
        return f'the server {c["server_ip"]} mount point {c["export"]}, mounted as {self.uuid} ("{self.name}")'

    def _on_nfs_server_lost(self) -> None:
        c = self.cfg
        self.logs.vmkernel.log("nfs", f"NFS: 349: Lost connection to {self._where()}")
        self.logs.vobd.emit(
            [
                (None, "vob.vmfs.nfs.server.disconnect", ""),
                (
                    "vmfsCorrelator",
                    "esx.problem.vmfs.nfs.server.disconnect",
                    f"{c['server_ip']}{c['export']} {self.uuid} {self.name}",
                ),
            ]
        )
        self.logs.host_event(
            "esx.problem.vmfs.nfs.server.disconnect",
            f"Lost connection to server {c['server_ip']} mount point {c['export']} mounted as "
            f"{self.uuid} ({self.name}).",
            self.name,
        )

    def _on_nfs_server_restored(self) -> None:
        c = self.cfg
        self.logs.vmkernel.log("nfs", f"NFS: 340: Restored connection to {self._where()}")
        self.logs.vobd.emit(
            [
                ("vmfsCorrelator", "vob.vmfs.nfs.server.restored", f"Restored connection to {self._where()}"),
                (
                    "vmfsCorrelator",
                    "esx.clear.vmfs.nfs.server.restored",
                    f"{c['server_ip']}{c['export']} {self.uuid} {self.name}",
                ),
            ]
        )
        self.logs.host_event(
            "esx.clear.vmfs.nfs.server.restored",
            f"Restored connection to server {c['server_ip']} mount point {c['export']} mounted as "
            f"{self.uuid} ({self.name}).",
            self.name,
        )
