"""The worlds (threads) of one mounted datastore: its probe loop and its APD timer, and how late they run."""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod

from faultlab.sim.esxi.storage.tickstats import TickStats

TICK_S = 0.05  # the APD (and VMFS heartbeat) timers' poll period


class DatastoreWorlds(ABC):
    """Base of NfsVolume and IscsiVolume: starts the probe world and the timer world, joins them, reports their
    lateness. A subclass gives `_probe_loop`, `_on_tick` (the timers' transitions) and `_report`."""

    name: str
    stop: threading.Event
    _lock: threading.RLock
    PREFIX = "ds"  # thread names: <prefix>-hb-<datastore>, <prefix>-tick-<datastore>
    PROBE_STAT = "heartbeat"  # the probe's name in `stats` (nfs.heartbeat, vmfs.heartbeat)

    def __init__(self, probe_period_s: float) -> None:
        self._threads: list[threading.Thread] = []
        self.hb_stats = TickStats(probe_period_s)  # probe rounds: each is due one period after the previous one
        self.tick_stats = TickStats(TICK_S)

    def start(self) -> None:
        for target, role in ((self._probe_loop, "hb"), (self._tick_loop, "tick")):
            thread = threading.Thread(target=target, name=f"{self.PREFIX}-{role}-{self.name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def join(self, timeout: float) -> None:
        self._wake_probe()
        for thread in self._threads:
            thread.join(timeout)
        self._close()

    def stats(self, reset: bool = False) -> dict[str, dict[str, float | int]]:
        return {self.PROBE_STAT: self.hb_stats.as_dict(reset), "apd.tick": self.tick_stats.as_dict(reset)}

    def _tick_loop(self) -> None:
        last = time.monotonic()
        while not self.stop.wait(TICK_S):
            now = time.monotonic()
            self.tick_stats.tick(last + TICK_S, now)
            last = now
            with self._lock:
                self._report(self._on_tick(now))

    # -- what a datastore kind gives -----------------------------------------------------------------------
    @abstractmethod
    def _probe_loop(self) -> None:
        """The probe world: runs until `stop`, feeding the state machines what it observes."""

    @abstractmethod
    def _on_tick(self, now: float) -> list[str]:
        """The timers' transitions at `now` (called under `_lock`)."""

    @abstractmethod
    def _report(self, transitions: list[str]) -> None:
        """Turn transitions into log lines and host events."""

    @abstractmethod
    def _wake_probe(self) -> None:
        """Let the probe loop see `stop` now rather than at the end of its round (when it sleeps on an event)."""

    @abstractmethod
    def _close(self) -> None:
        """Release the probe's connection once the worlds have stopped."""
