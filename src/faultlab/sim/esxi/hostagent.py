"""hostd as far as storage faults show it: IoTracker on real .vmx opens, DictionaryLoad errors, VM registry."""

from __future__ import annotations

import itertools
import random
import threading
import time
from dataclasses import dataclass

from faultlab.sim.esxi.dsio import DatastoreError, FileClient
from faultlab.sim.esxi.hostlogs import HostLogs
from faultlab.sim.esxi.logs.kinds import HOSTD_DICTLOAD, HOSTD_IOTRACKER, HOSTD_VIGOR_RETRY
from faultlab.sim.esxi.vm import Vmx


@dataclass
class _TrackedIo:
    thread_id: int
    verb: str
    path: str
    started: float
    next_report_s: float
    reported: int = 0  # the last "took over N sec" value written


class IoTracker:
    """Watches hostd's in-flight file operations: one outstanding past the (lab-scaled) threshold is reported as
    `In thread N, fopen("<path>") took over N sec.` with the real elapsed whole seconds, again after an irregular
    interval while it stays blocked, and once more when it ends (real values are irregular: 140 and 76 in
    KB 392634, 2850/2800/2950/2900/310/410 in a 7.0 hostd.log, log-samples/hostd.log.txt; the KB's 140 is the
    APD timeout, when the open is fast-failed)."""

    def __init__(self, logs: HostLogs, threshold_s: float, stop: threading.Event) -> None:
        self.logs = logs
        self.threshold_s = threshold_s
        self.stop = stop
        self._ops: dict[int, _TrackedIo] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._rng = random.Random()
        self.reports = 0

    def begin(self, thread_id: int, verb: str, path: str) -> int:
        key = next(self._ids)
        with self._lock:
            self._ops[key] = _TrackedIo(thread_id, verb, path, time.monotonic(), self.threshold_s)
        return key

    def end(self, key: int) -> None:
        with self._lock:
            op = self._ops.pop(key, None)
        if op is None:
            return
        took = int(time.monotonic() - op.started)
        if op.reported and took > op.reported:  # a blocked open that was reported: its final figure
            self._report(op, took)

    def _report(self, op: _TrackedIo, seconds: int) -> None:
        self.reports += 1
        op.reported = seconds
        self.logs.hostd.log(HOSTD_IOTRACKER, thread=op.thread_id, op=op.verb, path=op.path, seconds=seconds)

    def run(self) -> None:
        while not self.stop.wait(0.05):
            now = time.monotonic()
            due: list[tuple[_TrackedIo, int]] = []
            with self._lock:
                for op in self._ops.values():
                    elapsed = now - op.started
                    if elapsed >= op.next_report_s:
                        due.append((op, int(elapsed)))
                        op.next_report_s = elapsed + self.threshold_s * self._rng.uniform(1.3, 2.9)
            for op, seconds in due:
                self._report(op, seconds)


class VmxPoller:
    """hostd re-reading a VM's .vmx every `interval_s` (a real fopen + read on its datastore, non-VM I/O)."""

    def __init__(self, vm: Vmx, tracker: IoTracker, logs: HostLogs, interval_s: float) -> None:
        self.vm = vm
        self.tracker = tracker
        self.logs = logs
        self.interval_s = interval_s
        self.thread_id = 2102900 + vm.vmid * 53
        self._client: FileClient = vm.volume.client(timeout_ms=1000)
        self.failures = 0

    def run(self) -> None:
        stop = self.vm.volume.stop
        path = self.vm.datastore_path
        rng = random.Random()
        # hostd's re-reads are not on exact steps (a fast-failed read otherwise logs every 1.000 s)
        while not stop.wait(self.interval_s * rng.uniform(0.85, 1.3)):
            key = self.tracker.begin(self.thread_id, "fopen", path)
            try:
                self.vm.volume.run_io("host", self._client, lambda c: c.read(self.vm.vmx_path))
            except DatastoreError as exc:
                if stop.is_set():
                    break
                self.failures += 1
                # sub=vm and no opID, as in the 7.0 OneNote sample (the KB's opID is masked: its shape is unknown)
                reason = "Input/output error" if "Input/output" in str(exc) else "Connection timed out"
                tid = self.logs.hostd.tid()
                self.logs.hostd.log(HOSTD_DICTLOAD, tid, path=path, reason=reason)
                self.logs.hostd.log(HOSTD_VIGOR_RETRY, tid, path=path)
            finally:
                self.tracker.end(key)
        self._client.close()
