"""Inject and heal through the ledger and the dead-man timer; heal what crashed runs left behind."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from faultlab.harness.faults.deadman import (
    cancel_timer,
    clear_marker,
    start_timer,
    timer_fired,
    timer_marks,
    timer_running,
)
from faultlab.harness.faults.kinds.base import FaultError, NodePool
from faultlab.harness.faults.model import Fault
from faultlab.harness.ledger import Entry, Ledger, ledger_files
from faultlab.lab.errors import FaultlabError

log = logging.getLogger("faultlab.harness.faults")


def wait_for(cond: Callable[[], bool | None], timeout_s: float, interval_s: float = 0.2) -> bool:
    """Poll `cond` until it returns True or the monotonic deadline passes; the last answer."""
    deadline = time.monotonic() + timeout_s
    pause = threading.Event()
    while True:
        if cond() is True:
            return True
        if time.monotonic() >= deadline:
            return False
        pause.wait(interval_s)


@dataclass(frozen=True, slots=True)
class HealOutcome:
    """What heal did for one ledger entry; `line()` is the one-line report of `faultlab heal`."""

    run_id: str
    fault_id: str
    description: str
    status: str  # healed | already healed | healed by timer | unverified | not injected | failed
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def line(self) -> str:
        return f"{self.status:<14} {self.description}" + (f": {self.detail}" if self.detail else "")


class Injector:
    """Applies faults of one run: ledger first, dead-man timer next, then the fault, then its check."""

    def __init__(self, pool: NodePool, ledger: Ledger, *, verify_timeout_s: float = 20.0) -> None:
        self.pool, self.ledger, self.verify_timeout_s = pool, ledger, verify_timeout_s

    def inject(self, fault: Fault) -> None:
        """Idempotent: a fault the ledger already holds as active is not applied again. The kind's preflight reads
        the node first (a refusal there leaves even the ledger untouched); on any later failure the fault is
        healed again before the error propagates."""
        entry = self.ledger.entry(fault.fault_id)
        if entry is not None and entry.state == "active":
            return
        if entry is None or not entry.open:
            fault.preflight(self.pool)
        if entry is None:
            entry = self.ledger.record(fault.to_dict())
        elif not entry.open:  # the same fault again after a heal: a new life, with a new timer
            entry = self.ledger.update(
                fault.fault_id, fault=fault.to_dict(), state="pending", timer_pid=None, healed_at=None
            )
        try:
            if entry.timer_pid is None:
                pid = start_timer(
                    self.pool.get(fault.node), fault.tag, fault.deadline_s, fault.heal_shell(), node=fault.node
                )
                self.ledger.update(fault.fault_id, timer_node=fault.node, timer_pid=pid)
            fault.inject(self.pool)
            if not wait_for(lambda: fault.verify_active(self.pool) is not False, self.verify_timeout_s):
                raise FaultError(f"{fault.describe()} is not in effect after inject", host=fault.node)
            self.ledger.update(fault.fault_id, state="active")
        except BaseException:
            log.warning("inject of %s failed; healing it again", fault.describe())
            heal_entry(self.pool, self.ledger, self.ledger.entry(fault.fault_id) or entry, self.verify_timeout_s)
            raise

    def heal(self, fault: Fault) -> HealOutcome:
        """Heal a fault of this run. One the ledger never held was never applied (the ledger is written before
        anything changes; a preflight refusal comes before it): nothing is done, not even a "heal" of a LUN that
        was never presented."""
        entry = self.ledger.entry(fault.fault_id)
        if entry is None:
            return HealOutcome(self.ledger.run_id, fault.fault_id, fault.describe(), "not injected")
        return heal_entry(self.pool, self.ledger, entry, self.verify_timeout_s)


def heal_entry(pool: NodePool, ledger: Ledger, entry: Entry, verify_timeout_s: float = 20.0) -> HealOutcome:
    """Heal one entry (no-op when healed), check it is gone, cancel its timer, mark it healed in the ledger.
    The timer is cancelled only after a successful heal: if heal fails, it still heals by itself."""
    fault = Fault.from_dict(entry.fault)

    def out(status: str, detail: str = "") -> HealOutcome:
        return HealOutcome(ledger.run_id, fault.fault_id, fault.describe(), status, detail)

    if not entry.open:
        return out("already healed")
    try:
        node = pool.get(entry.timer_node or fault.node)
        timed = entry.timer_pid is not None
        marks = timer_marks(node, fault.tag) if timed else frozenset()
        if "firing" in marks and "healed" not in marks:
            # The timer is healing now: let it finish rather than race it (and misreport who healed).
            pid = entry.timer_pid or 0
            wait_for(lambda: timer_fired(node, fault.tag) or not timer_running(node, pid, fault.tag), verify_timeout_s)
            marks = timer_marks(node, fault.tag)
        if "healed" in marks and fault.verify_healed(pool) is not False:
            # The dead-man timer healed it (its heal exited 0): acting again could fail (lun_add of a present LUN).
            clear_marker(node, fault.tag)
            ledger.update(fault.fault_id, state="healed", healed_at=time.time(), note="healed by the dead-man timer")
            return out("healed by timer")
        did = fault.heal(pool)
        seen: list[bool | None] = []

        def healed() -> bool:
            seen.append(fault.verify_healed(pool))
            return seen[-1] is not False

        if not wait_for(healed, verify_timeout_s):
            ledger.update(fault.fault_id, note="heal did not take effect")
            return out("failed", "still in effect after heal")
        checked = seen[-1]
        if entry.timer_pid is not None:
            # a timer whose own heal failed leaves its `firing` marker: cleared with the kill
            cancel_timer(node, entry.timer_pid, fault.tag, clear_marks=True)
        ledger.update(fault.fault_id, state="healed", healed_at=time.time(), note="")
    except FaultlabError as exc:
        ledger.update(fault.fault_id, note=str(exc)[:500])
        return out("failed", str(exc))
    if checked is None:
        return out("unverified", "heal command succeeded; the inventory gives no way to check it")
    return out("healed" if did else "already healed")


def heal_ledger(pool: NodePool, ledger: Ledger, verify_timeout_s: float = 20.0) -> list[HealOutcome]:
    """Heal every open entry; the file is removed when nothing stays open."""
    outcomes = [heal_entry(pool, ledger, e, verify_timeout_s) for e in ledger.open_entries()]
    ledger.close()
    return outcomes


def heal_leftovers(
    pool: NodePool | Callable[[Ledger], NodePool],
    state_dir: Path | None = None,
    *,
    skip_live: bool = True,
    verify_timeout_s: float = 20.0,
) -> list[HealOutcome]:
    """At the start of a run: heal what crashed runs left in their ledgers. Ledgers of runs still alive on this
    machine are skipped (unless `skip_live` is False). `pool` may be a function of the ledger (its inventory)."""
    outcomes: list[HealOutcome] = []
    for path in ledger_files(state_dir):
        try:
            ledger = Ledger.load(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            outcomes.append(HealOutcome("?", "?", str(path), "failed", f"unreadable ledger: {exc}"))
            continue
        if skip_live and ledger.owner_alive():
            continue
        nodes = pool if isinstance(pool, NodePool) else pool(ledger)
        outcomes.extend(heal_ledger(nodes, ledger, verify_timeout_s))
    return outcomes
