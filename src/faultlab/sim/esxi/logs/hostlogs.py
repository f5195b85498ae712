"""The host's log set in /var/run/log and its record of host events (fed to the state snapshot)."""

from __future__ import annotations

import collections
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from faultlab.sim.esxi.logs.authlog import AuthShellLog
from faultlab.sim.esxi.logs.clock import Uptime, esx_timestamp
from faultlab.sim.esxi.logs.hostd import HostdLog
from faultlab.sim.esxi.logs.rotate import RotatingLog
from faultlab.sim.esxi.logs.vmkernel import VmkernelLog
from faultlab.sim.esxi.logs.vmksummary import VmksummaryLog
from faultlab.sim.esxi.logs.vobd import VobdLog

# Rotation sizes and counts (KiB, files): ESXi's per-logger defaults, scaled down 8x for the lab.
ROTATION = {
    "vmkernel": (1280, 8),
    "vmkwarning": (128, 8),
    "vobd": (128, 8),
    "hostd": (1280, 10),
    "vmksummary": (128, 8),
    "auth": (128, 8),  # auth/shell 1 MB x 8 on ESXi (esxi-facts 7.4)
    "shell": (128, 8),
}


class HostLogs:
    """vmkernel, vmkwarning, vobd, hostd, vmksummary, auth and shell writers of one host, plus its event history."""

    def __init__(self, log_dir: Path, profile: str, host_name: str, rotation_scale: float = 1.0) -> None:
        self.profile = profile
        self.host_name = host_name
        self.uptime = Uptime()
        pid = os.getpid()

        def sink(name: str) -> RotatingLog:
            kib, keep = ROTATION[name]
            return RotatingLog(log_dir / f"{name}.log", max(4096, int(kib * 1024 * rotation_scale)), keep)

        self.vmkernel = VmkernelLog(profile, sink("vmkernel"), sink("vmkwarning"))
        self.vobd = VobdLog(profile, sink("vobd"), self.uptime, 2097000 + pid % 1000)
        self.hostd = HostdLog(profile, sink("hostd"), base_tid=2099000 + pid % 900)
        self.sessions = AuthShellLog(profile, sink("auth"), sink("shell"))
        self.vmksummary = VmksummaryLog(profile, sink("vmksummary"), self.uptime, 137000 + pid % 1000)
        self._events: collections.deque[dict[str, Any]] = collections.deque(maxlen=500)
        self._lock = threading.Lock()

    def host_event(self, event_type: str, message: str, subject: str | None = None) -> int:
        """Log `Event N : message` in hostd and keep it (with its ESXi event type id) for the snapshot."""
        key = self.hostd.event(message)
        with self._lock:
            self._events.append(
                {
                    "key": key,
                    "eventTypeId": event_type,
                    "message": message,
                    "subject": subject,
                    "createdTime": esx_timestamp(datetime.now(UTC)),
                }
            )
        return key

    def events(self, since_key: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._events if e["key"] > since_key]
