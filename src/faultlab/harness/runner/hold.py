"""Plan, inject, hold and heal: the live tail of the hosts' logs, the check that the fault still holds, and when
(and by whom) the fault really ended."""

from __future__ import annotations

import io
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from faultlab.assertions.layouts import kind_from_filename
from faultlab.assertions.model import LogKind
from faultlab.assertions.scan import scan_stream
from faultlab.harness.cursors import LogCursors, esxi_log_paths
from faultlab.harness.faults import Fault, HealOutcome, Injector, plan_fault
from faultlab.harness.faults.deadman import timer_began_heal
from faultlab.harness.ledger import Ledger
from faultlab.harness.record import iso, now_utc, parse_iso
from faultlab.harness.runner.context import Pool, RunContext
from faultlab.harness.signals import shielded
from faultlab.harness.wait import wait_until
from faultlab.lab.errors import FaultlabError, LabError
from faultlab.lab.inventory import Inventory

HOLD_TAIL_S = 1.0  # how often the logs are tailed, and the fault checked, during the hold
HOLD_TICK_S = 0.5  # how often the hold looks at what the watchers saw
# A fault that ended this much before the run's heal, or after it began, did not hold as the scenario says.
FAULT_END_TOLERANCE_S = 2 * HOLD_TAIL_S
RUN, TIMER, SOMEONE_ELSE = "the run", "the dead-man timer", "someone else"


class HoldWatcher(threading.Thread):
    """Tails the hosts' own logs during the hold, on its own SSH connections, and notes catalog events as they
    appear (the live view and record.observed). Only for watching: the verdict comes from the collected bytes.
    A thread, so that a slow tail never stretches the hold; datastore files (vmware.log) are left out, since
    reading them blocks while the datastore is cut off."""

    def __init__(self, inv: Inventory, pool_factory: Callable[[Inventory], Pool], hosts: list[str]) -> None:
        super().__init__(name="faultlab-hold-watcher", daemon=True)
        self.inv, self.pool_factory, self.hosts = inv, pool_factory, hosts
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._seen: list[dict[str, str]] = []
        self._problems: list[str] = []
        self._pool: Pool | None = None

    def names(self) -> list[str]:
        with self._lock:
            return [s["name"] for s in self._seen]

    def run(self) -> None:
        try:
            self._pool = self.pool_factory(self.inv)
            pool = self._pool
            cursors = {
                h: LogCursors(
                    pool.get(h), esxi_log_paths(self.inv.host(h).log_dir, version=self.inv.host(h).version), h
                )
                for h in self.hosts
            }
            for cur in cursors.values():
                cur.mark()

            def tail() -> bool:
                for host, cur in cursors.items():
                    for path, data in cur.tail().items():
                        self._note(host, path, data)
                return False

            wait_until(tail, math.inf, HOLD_TAIL_S, wake=self.stop)
        except Exception as exc:  # watching is best effort: the run goes on without it
            if not self.stop.is_set():
                with self._lock:
                    self._problems.append(f"log tail during the hold stopped: {type(exc).__name__}: {exc}")
        finally:
            if self._pool is not None:
                self._pool.close()

    def _note(self, host: str, path: str, data: bytes) -> None:
        events, _ = scan_stream(io.BytesIO(data), kind=kind_from_filename(path) or LogKind.OTHER, name=path, host=host)
        with self._lock:
            known = {s["name"] for s in self._seen}
            for ev in events:
                if ev.twin is None and ev.name not in known:
                    known.add(ev.name)
                    self._seen.append({"name": ev.name, "host": host, "seen_at": iso(now_utc())})

    def finish(self) -> tuple[list[dict[str, str]], list[str]]:
        """Stop, close its connections (that also ends a tail stuck in a read), and hand over what it saw."""
        self.stop.set()
        self.join(timeout=2 * HOLD_TAIL_S)
        if self._pool is not None:
            self._pool.close()
        self.join(timeout=2.0)
        with self._lock:
            return list(self._seen), list(self._problems)


class FaultWatch(threading.Thread):
    """Checks, at the live-tail cadence and on its own connections, that the fault still holds (the kind's
    verify-active: one cheap command on the fault's node). When it is gone, notes when and whether the dead-man
    timer removed it (its marker) or someone else did. A thread: a node whose SSH hangs never stretches the hold."""

    def __init__(self, inv: Inventory, pool_factory: Callable[[Inventory], Pool], fault: Fault) -> None:
        super().__init__(name="faultlab-fault-watch", daemon=True)
        self.inv, self.pool_factory, self.fault = inv, pool_factory, fault
        self.stop = threading.Event()
        self.gone = threading.Event()
        self.last_active: datetime | None = None
        self.gone_at: datetime | None = None
        self.by: str | None = None
        self.problem = ""
        self._pool: Pool | None = None

    def run(self) -> None:
        try:
            self._pool = pool = self.pool_factory(self.inv)
            wait_until(lambda: self._check(pool), math.inf, HOLD_TAIL_S, wake=self.stop)
        except Exception as exc:  # the hold goes on; the heal says what it found
            if not self.stop.is_set():
                self.problem = f"the check that the fault holds stopped: {type(exc).__name__}: {exc}"
        finally:
            if self._pool is not None:
                self._pool.close()

    def _check(self, pool: Pool) -> bool:
        try:
            active = self.fault.verify_active(pool)
        except FaultlabError as exc:  # cannot tell now (the node may be slow): ask again next time
            self.problem = f"fault check: {exc}"
            return False
        now = now_utc()
        if active is not False:
            self.last_active = now if active else self.last_active
            return False
        if self.stop.is_set():
            return True  # the run's own heal has begun: not an early end
        # `firing`, not `healed`: the fault can be gone before the timer's heal has returned and said so.
        fired = timer_began_heal(pool.get(self.fault.node), self.fault.tag)
        self.gone_at, self.by = now, TIMER if fired else SOMEONE_ELSE
        self.gone.set()
        return True

    def finish(self) -> None:
        self.stop.set()
        self.join(timeout=2 * HOLD_TAIL_S)
        if self._pool is not None:
            self._pool.close()
        self.join(timeout=2.0)


@dataclass(frozen=True, slots=True)
class FaultEnd:
    """When the fault really ended (harness clock), by whom, and how that compares with the run's heal."""

    at: datetime
    by: str
    planned_end: datetime  # when the run healed, or meant to (the hold's planned end, when cut short by the end)
    injected: datetime
    seen: str  # how the end was established

    @property
    def planned_s(self) -> float:
        return (self.planned_end - self.injected).total_seconds()

    @property
    def held_s(self) -> float:
        return (self.at - self.injected).total_seconds()

    @property
    def off_s(self) -> float:
        """Seconds after (+) or before (-) the run's heal (or the planned end of a hold the fault's end cut short)."""
        return (self.at - self.planned_end).total_seconds()

    def problem(self) -> str | None:
        """None when the fault ended with the run's heal; else what the verdict must say."""
        if abs(self.off_s) <= FAULT_END_TOLERANCE_S:
            return None
        how = "early" if self.off_s < 0 else "late"
        return (
            f"the fault ended {abs(self.off_s):.1f}s {how} ({self.by} removed it at {iso(self.at)}, {self.seen}): "
            f"it held {self.held_s:.1f}s where the run meant {self.planned_s:.1f}s, so the scenario's timing did "
            "not happen as written; recovery is timed from the real end"
        )


def fault_end(
    fault: Fault,
    outcome: HealOutcome,
    watch: FaultWatch | None,
    injected: datetime,
    started: datetime,
    ended: datetime,
    hold_end: datetime | None = None,
) -> FaultEnd:
    """The fault's real end from what the watch saw during the hold and what the heal found. `started`: the run's
    heal began; `hold_end`: the planned end of the hold, the yardstick when the fault's end cut the hold short."""
    if watch is not None and watch.gone_at is not None and watch.by is not None:
        since = f"last seen in place at {iso(watch.last_active)}" if watch.last_active else "never seen in place"
        planned = max(hold_end or started, started)
        return FaultEnd(watch.gone_at, watch.by, planned, injected, f"seen gone during the hold, {since}")
    if outcome.status == "healed by timer":
        due = injected + timedelta(seconds=fault.deadline_s)
        at = min(max(due, injected), ended)
        return FaultEnd(at, TIMER, started, injected, "found by the heal; the timer's due time")
    if outcome.status == "already healed":
        last = watch.last_active if watch is not None and watch.last_active is not None else started
        return FaultEnd(last, SOMEONE_ELSE, started, injected, "found gone by the heal")
    return FaultEnd(started, RUN, started, injected, "the run's heal")


def plan(run: RunContext) -> Fault:
    hold_s = run.record.hold_s or 0.0
    grace = run.opts.grace_s if run.opts.grace_s is not None else max(5.0, hold_s / 2)
    return plan_fault(
        run.inv,
        run.sc.fault,  # the kind's own section: every key it declares reaches its plan
        run_id=run.record.run_id,
        scenario_vms=[run.sc.target.vm] if run.sc.target.vm else [],
        hold_s=hold_s,
        grace_s=grace,
        datastore=run.sc.target.datastore,  # a kind's default device or LUN when its section names none
    )


def hold(run: RunContext, fault: Fault, watch: FaultWatch) -> None:
    """Until the hold time, an early stop condition seen in the live logs, the fault's end, or a stop."""
    hold_s = run.record.hold_s or 0.0
    with run.phase("hold", hold_s):
        run.hold_end = now_utc() + timedelta(seconds=hold_s)
        watcher = HoldWatcher(run.inv, run.opts.pool_factory, [run.sc.target.host])
        watcher.start()
        until = set(run.sc.hold_until)
        try:

            def over() -> str | None:
                if until and until <= set(watcher.names()):
                    return f"{', '.join(sorted(until))} seen in the live logs"
                if watch.gone.is_set():
                    return f"the fault is no longer in place ({watch.by} removed it)"
                return None

            def show(_: str | None, elapsed: float) -> None:
                seen = ", ".join(watcher.names()) or "nothing yet"
                run.progress.tick(f"end of hold ({fault.describe()}); seen: {seen}")

            waited = wait_until(
                over, hold_s, HOLD_TICK_S, done=lambda why: why is not None, wake=run.stop, on_tick=show
            )
            left = max(hold_s - waited.elapsed_s, 0.0)
            if waited.done:
                run.record.notes.append(f"hold ended {left:.1f}s early: {waited.value}")
            elif waited.woken and run.write_error is not None:
                run.record.notes.append(f"hold ended {left:.1f}s early: the run record cannot be written")
        finally:
            run.record.observed, problems = watcher.finish()
            run.record.notes.extend(problems)


def inject_hold_heal(run: RunContext) -> None:
    with run.phase("plan"):
        fault = plan(run)
        run.record.fault = fault.to_dict()
    ledger = Ledger.create(run.record.run_id, run.opts.state_dir, run.record.inventory_path)
    injector = Injector(run.pool, ledger)
    watch: FaultWatch | None = None
    injected = now_utc()
    try:
        with run.phase("inject"):
            injected = now_utc()
            run.record.anchors["fault.injected"] = iso(injected)
            injector.inject(fault)
            run.record.fault = fault.to_dict()  # resolved: paths, those already off, the host's "off" spelling
        watch = FaultWatch(run.inv, run.opts.pool_factory, fault)
        watch.start()
        hold(run, fault, watch)
    finally:
        # The heal depends on the ledger and the connection only: the record's saves never raise (RunContext).
        with shielded(), run.phase("heal"):
            if watch is not None:
                watch.stop.set()  # from here on, a fault found gone is the run's own heal
            heal_mono, started = time.monotonic(), now_utc()
            run.record.anchors["fault.healed"] = iso(started)
            outcome = injector.heal(fault)
            ledger.close()
            if watch is not None:
                watch.finish()
                if watch.problem:
                    run.record.notes.append(watch.problem)
            end = fault_end(fault, outcome, watch, injected, started, now_utc(), run.hold_end)
            run.record.anchors["fault.healed"] = iso(end.at)
            run.heal_mono = heal_mono + (end.at - started).total_seconds()
            run.record.heal = {
                "status": outcome.status,
                "detail": outcome.detail,
                "ended_by": end.by,
                "ended_at": iso(end.at),
                "heal_started": iso(started),
                "held_s": f"{end.held_s:.3f}",
                "seen": end.seen,
            }
            if (problem := end.problem()) is not None:
                if fault.spec.ends_itself and end.off_s < 0:  # e.g. the leak died with the host it brought down
                    run.record.notes.append(
                        f"the fault ended by its own effect {abs(end.off_s):.1f}s before the planned end "
                        f"({end.seen}): the expected course of {fault.kind}, not a failure"
                    )
                else:
                    run.record.heal["problem"] = problem
                    run.record.notes.append(problem)
            if not outcome.ok:
                raise LabError(f"heal failed: {outcome.line()}; run `faultlab heal --ledger {ledger.path}`")


def fault_window_problem(run: RunContext) -> str | None:
    heal = run.record.heal or {}
    return heal.get("problem")


def fault_ended_at(run: RunContext) -> datetime | None:
    heal = run.record.heal or {}
    return parse_iso(heal["ended_at"]) if "ended_at" in heal else None
