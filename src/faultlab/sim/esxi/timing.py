"""The host's and the guests' timings in each timing profile (`lab up --timing fast|real`), varied per run.

`real` follows ESXi and a Windows guest with VMware Tools; `fast` scales them down so a scenario takes
seconds (and is labelled lab-scaled wherever a lab's numbers are shown). ESXi's advanced options themselves
(Misc.APDTimeout, NFS.Heartbeat*) are in settings.py; these are the timings that are not options.

Sources, per knob ([V]/[S]/[I]/[U] as in reference/esxi-facts.md):
* VMFS heartbeat: written about every 3 s, a lock is stale after about 16 s [V KB 320840].
* iSCSI: APD starts about 10 s after the connection is marked OFFLINE (HAUC lab logs, esxi-facts 1.3) [S].
* vmksummary: one heartbeat line an hour [S-log, real vmksummary.log files; audit C2].
* hostd IoTracker: the KB 392634 excerpt reports opens that "took over 140 sec" and "76 sec"; hostd's own
  threshold is not documented, 10 s is assumed [U].
* Windows disk TimeOutValue: 60 s as VMware Tools sets it [V esxi-facts 6.3].
* Tools heartbeat loss: the VMX logs the timeout 20-30 s after the last heartbeat (a VMX sample's "last
  received 20s ago"; vSphere HA's failureInterval default 30 s) [S].
* Crash dump before the reset: seconds to minutes (an automatic memory dump of a small VM) [I]; the reset
  comes after the heartbeat timeout here, as in the sample above.
* Boot back to Tools running: tens of seconds for Windows Server 2019 [I].
* The bugcheck itself: when the first completions reach the already timed-out request, a moment after the
  datastore returns (KB 392634: "as storage connectivity begins to recover"), never the same millisecond [I].
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from faultlab.sim.esxi.settings import TimingProfile


@dataclass
class SimKnobs:
    """Host timings that are not ESXi advanced options (the optional `sim` object of the config overrides)."""

    iotracker_threshold_s: float = 2.0
    vmx_poll_s: float = 1.0
    vmksummary_heartbeat_s: float = 30.0
    vmfs_hb_interval_s: float = 1.0
    vmfs_hb_timeout_s: float = 4.0
    iscsi_recovery_s: float = 2.0
    log_rotation_scale: float = 1.0

    @classmethod
    def for_timing(cls, timing: TimingProfile, raw: dict[str, Any] | None = None) -> SimKnobs:
        out = cls()
        if timing == "real":
            out = cls(
                iotracker_threshold_s=10.0,
                vmx_poll_s=3.0,
                vmksummary_heartbeat_s=3600.0,
                vmfs_hb_interval_s=3.0,
                vmfs_hb_timeout_s=16.0,
                iscsi_recovery_s=10.0,
            )
        for key, value in (raw or {}).items():
            if hasattr(out, key):
                setattr(out, key, float(value))
        return out

    @classmethod
    def from_config(cls, raw: dict[str, Any]) -> SimKnobs:
        return cls.for_timing("fast", raw)


@dataclass(frozen=True, slots=True)
class GuestTiming:
    """Ranges (low, high) in seconds the guest's timings are drawn from, once per VM and run."""

    disk_timeout_s: float
    crash_delay_s: tuple[float, float]
    tools_timeout_s: tuple[float, float]
    dump_after_tools_s: tuple[float, float]
    boot_s: tuple[float, float]


GUEST_TIMING: dict[TimingProfile, GuestTiming] = {
    "fast": GuestTiming(4.0, (0.15, 0.9), (0.8, 1.3), (0.4, 1.2), (1.2, 2.1)),
    "real": GuestTiming(60.0, (0.5, 4.0), (20.0, 30.0), (5.0, 25.0), (25.0, 45.0)),
}


def draw(bounds: tuple[float, float], rng: random.Random) -> float:
    """A value in [low, high), rounded to the millisecond (never a whole-second step by construction)."""
    low, high = bounds
    return round(rng.uniform(low, high), 3)
