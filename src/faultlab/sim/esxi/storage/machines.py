"""The documented storage state machines, pure: fed observations and a clock, they return transitions."""

# APD (Misc.APDHandlingEnable / Misc.APDTimeout), the NFS v3 heartbeat (NFS.HeartbeatFrequency / Timeout /
# MaxFailures / Delta), the iSCSI path (connection offline/online, path dead/on, PDL on sense 0x5/0x25/0x0)
# and the VMFS heartbeat (timeout and reclaim). The runtime (storage_*.py) does the real I/O and turns the
# transitions into log lines and host events; unit tests drive these classes with a fake clock.

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class ApdState(enum.StrEnum):
    NORMAL = "normal"
    APD = "AllPathsDown_Start"
    TIMEOUT = "AllPathsDown_Timeout"


@dataclass
class Apd:
    """All Paths Down of one device or NFS volume.

    The timeout in force is the one read when APD started: changing Misc.APDTimeout does not affect an
    APD in progress. With handling disabled there is no timeout and nothing is ever fast-failed.
    """

    state: ApdState = ApdState.NORMAL
    started_at: float = 0.0
    timeout_s: int = 0
    handling: bool = True

    def enter(self, now: float, timeout_s: int, handling: bool) -> list[str]:
        if self.state is not ApdState.NORMAL:
            return []
        self.state, self.started_at, self.timeout_s, self.handling = ApdState.APD, now, timeout_s, handling
        return ["apd.start"]

    def tick(self, now: float) -> list[str]:
        if self.state is ApdState.APD and self.handling and now - self.started_at >= self.timeout_s:
            self.state = ApdState.TIMEOUT
            return ["apd.timeout"]
        return []

    def exit(self) -> list[str]:
        if self.state is ApdState.NORMAL:
            return []
        self.state = ApdState.NORMAL
        return ["apd.exit"]

    @property
    def fast_fail(self) -> bool:
        """After the APD timeout, non-VM I/O is failed at once (VM I/O keeps being retried)."""
        return self.state is ApdState.TIMEOUT


# Consecutive failed heartbeats before a volume enters APD: one lost heartbeat is tolerated (a blip).
# With ESXi's defaults (12 s x 10) this puts APD start ~110 s before the server is declared down, which
# is what the KB 392634-style NFS logs show (apd.start 14:35:08, nfs.server.disconnect 14:36:55).
APD_AFTER_FAILURES = 2


@dataclass
class NfsHeartbeat:
    """NFS v3 heartbeat of one volume (KB 1007909 semantics) plus its APD."""

    frequency_s: float
    timeout_s: float
    max_failures: int
    delta_s: float
    last_io_ok: float = 0.0
    last_beat: float = float("-inf")
    failures: int = 0
    down: bool = False  # server declared disconnected (after max_failures)
    apd: Apd = field(default_factory=Apd)

    def due(self, now: float) -> bool:
        """A heartbeat is sent every `frequency_s` unless an I/O succeeded in the last `delta_s`."""
        if now - self.last_beat < self.frequency_s:
            return False
        if not self.down and self.failures == 0 and now - self.last_io_ok < self.delta_s:
            self.last_beat = now  # recent I/O stands in for this round's heartbeat
            return False
        self.last_beat = now
        return True

    def io_ok(self, now: float) -> list[str]:
        """Any successful I/O on the volume (VM, hostd or heartbeat)."""
        self.last_io_ok = now
        self.failures = 0
        out: list[str] = []
        if self.down:
            self.down = False
            out.append("nfs.server.restored")
        out += self.apd.exit()
        return out

    def beat_failed(self, now: float, apd_timeout_s: int, apd_handling: bool) -> list[str]:
        self.failures += 1
        out = ["nfs.heartbeat.failed"]
        if self.failures >= min(APD_AFTER_FAILURES, self.max_failures):
            out += self.apd.enter(now, apd_timeout_s, apd_handling)
        if self.failures >= self.max_failures and not self.down:
            self.down = True
            out.append("nfs.server.lost")
        return out

    def tick(self, now: float) -> list[str]:
        return self.apd.tick(now)


class PathState(enum.StrEnum):
    ON = "on"
    DEAD = "dead"
    PDL = "not connected"
    OFF = "off"  # administratively disabled (esxcli storage core path set --state off)


@dataclass
class IscsiPath:
    """One software-iSCSI path to one LUN: connection online/offline, path on/dead, APD after the
    session recovery time, PDL when the target answers ILLEGAL REQUEST / LU NOT SUPPORTED."""

    recovery_s: float  # iSCSI session recovery timeout: connection offline this long -> APD
    state: PathState = PathState.ON
    offline_since: float | None = None
    apd: Apd = field(default_factory=Apd)
    # Set active again, not yet probed: the first command decides between on and dead. No pathstate.* vob
    # is logged for an administrative change (esxi-facts.md documents only dead <-> on).
    resuming: bool = False

    def set_off(self) -> list[str]:
        """`path set --state off`: no I/O on the path from now on; the only path, so APD starts at the next tick."""
        if self.state is PathState.OFF:
            return []
        self.state, self.offline_since, self.resuming = PathState.OFF, None, False
        return []

    def set_active(self, now: float) -> list[str]:
        """`path set --state active`: the path is probed again; nothing changes before a command completes."""
        if self.state is not PathState.OFF:
            return []
        self.state, self.offline_since, self.resuming = PathState.DEAD, now, True
        return []

    def command_failed(self, now: float) -> list[str]:
        """Transport failure (timeout, reset, login refused)."""
        if self.state in (PathState.PDL, PathState.OFF):
            return []
        if self.resuming:  # back from off into an unreachable target: stays dead, already in APD
            self.resuming = False
            return []
        if self.state is PathState.ON:
            self.state, self.offline_since = PathState.DEAD, now
            return ["iscsi.connection.offline", "path.dead"]
        return []

    def lun_not_supported(self) -> list[str]:
        if self.state in (PathState.PDL, PathState.OFF):
            return []
        self.resuming = False
        self.state = PathState.PDL
        self.offline_since = None
        out = ["pdl"]
        if self.apd.state is not ApdState.NORMAL:
            self.apd.state = ApdState.NORMAL  # PDL supersedes APD
        return out

    def command_ok(self) -> list[str]:
        out: list[str] = []
        if self.state is PathState.OFF:
            return []  # a command still in flight when the path was set off: the path stays off
        if self.state is PathState.DEAD and not self.resuming:
            out += ["iscsi.connection.online", "path.on"]
        elif self.state is PathState.PDL:
            out += ["pdl.cleared"]  # the LUN came back: ESXi treats it as a new device
        self.state, self.offline_since, self.resuming = PathState.ON, None, False
        out += self.apd.exit()
        return out

    def tick(self, now: float, apd_timeout_s: int, apd_handling: bool) -> list[str]:
        out: list[str] = []
        offline = self.offline_since
        recovery_over = self.state is PathState.DEAD and offline is not None and now - offline >= self.recovery_s
        if recovery_over or self.state is PathState.OFF:  # off: no path left at all, no recovery time to wait
            out += self.apd.enter(now, apd_timeout_s, apd_handling)
        out += self.apd.tick(now)
        return out


@dataclass
class VmfsHeartbeat:
    """This host's heartbeat slot on a VMFS volume: written every interval; no write completed for
    `timeout_s` -> timed out (I/O to the volume suspended); the next completed write reclaims it."""

    timeout_s: float
    last_ok: float = 0.0
    timed_out: bool = False
    gen: int = 1

    def write_ok(self, now: float) -> list[str]:
        self.last_ok = now
        if self.timed_out:
            self.timed_out = False
            self.gen += 1
            return ["vmfs.heartbeat.reclaimed"]
        return []

    def tick(self, now: float) -> list[str]:
        if not self.timed_out and now - self.last_ok >= self.timeout_s:
            self.timed_out = True
            return ["vmfs.heartbeat.timeout"]
        return []
