"""hostd as far as storage faults show it: IoTracker on real .vmx opens, DictionaryLoad errors, VM registry."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass

from faultlab.sim.esxi.dsio import DatastoreError, FileClient
from faultlab.sim.esxi.hostlogs import HostLogs
from faultlab.sim.esxi.vm import Vmx


@dataclass
class _TrackedIo:
    thread_id: int
    verb: str
    path: str
    started: float
    last_report: float | None = None


class IoTracker:
    """Watches hostd's in-flight file operations: one slower than `threshold_s` is reported as
    `In thread N, fopen("<path>") took over N sec.` with the seconds it has really taken: as it crosses the
    threshold, then every `scan_s` while it blocks, and once more when it completes. So the values are the
    real elapsed times, as in KB 392634's excerpt ("took over 140 sec", "76 sec"), not a 2/4/8 ladder;
    hostd's own reporting period is not documented [U]."""

    def __init__(self, logs: HostLogs, threshold_s: float, stop: threading.Event, scan_s: float = 0.0) -> None:
        self.logs = logs
        self.threshold_s = threshold_s
        self.scan_s = scan_s or threshold_s * 1.5
        self.stop = stop
        self._ops: dict[int, _TrackedIo] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.reports = 0

    def begin(self, thread_id: int, verb: str, path: str) -> int:
        key = next(self._ids)
        with self._lock:
            self._ops[key] = _TrackedIo(thread_id, verb, path, time.monotonic())
        return key

    def end(self, key: int) -> None:
        with self._lock:
            op = self._ops.pop(key, None)
        elapsed = time.monotonic() - op.started if op else 0.0
        if op is not None and elapsed >= self.threshold_s:
            self._report(op, elapsed)

    def _report(self, op: _TrackedIo, elapsed: float) -> None:
        self.reports += 1
        self.logs.hostd.log(
            "warning",
            self.logs.hostd_tid,
            "IoTracker",
            f'In thread {op.thread_id}, {op.verb}("{op.path}") took over {int(elapsed)} sec.',
        )

    def run(self) -> None:
        while not self.stop.wait(0.05):
            now = time.monotonic()
            due: list[tuple[_TrackedIo, float]] = []
            with self._lock:
                for op in self._ops.values():
                    first = op.last_report is None and now - op.started >= self.threshold_s
                    if first or (op.last_report is not None and now - op.last_report >= self.scan_s):
                        op.last_report = now
                        due.append((op, now - op.started))
            for op, elapsed in due:
                self._report(op, elapsed)


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
        while not stop.wait(self.interval_s):
            key = self.tracker.begin(self.thread_id, "fopen", path)
            try:
                self.vm.volume.run_io("host", self._client, lambda c: c.read(self.vm.vmx_path))
            except DatastoreError as exc:
                if stop.is_set():
                    break
                self.failures += 1
                reason = "Input/output error" if "Input/output" in str(exc) else "Connection timed out"
                op_id = f"vmx-poll-{self.vm.vmid}-{self.failures:04d}"
                self.logs.hostd.log(
                    "info", self.logs.hostd_tid, "Libs", f'DictionaryLoad: Cannot open file "{path}": {reason}.', op_id
                )
                self.logs.hostd.log(
                    "info", self.logs.hostd_tid, "Libs", f"VigorOffline_GenSecPolicy: retry reading {path}", op_id
                )
            finally:
                self.tracker.end(key)
        self._client.close()
