"""After the heal: the recovery loop (conditions, the standing-FALSE clock, the green-too-early rule), the judging
of the collected logs, and the second reboot KB 392634 asks for."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from faultlab.harness.atomic import write_atomic
from faultlab.harness.record import LogFile, Recovery, iso, log_artifact_path, now_utc
from faultlab.harness.recovery import POLL_S, Condition, probe_together, vm_id
from faultlab.harness.runner.context import DEFAULT_BASELINE_S, REBOOT_WAITED, RECOVERY_WAITED, RunContext
from faultlab.harness.runner.judged import check_signature, judge_into, verdict_true, vm_event_times
from faultlab.harness.wait import wait_until
from faultlab.lab.esxi import Runner

REBOOT_CONDITION, REBOOT_ANCHOR = "reboots_cleanly", "guest.rebooted"
HEARTBEAT_LOST = "guest.tools_heartbeat.lost"
SETTLE_POLL_S = 1.0  # judge at most this often while the conditions hold
# Once every recovery condition holds, a FALSE verdict that has not changed for this long (or 10% of the budget,
# if longer) is final: late log lines (vmware.log lands when the datastore is back) have had their chance.
FALSE_SETTLE_MIN_S = 5.0


@dataclass
class StandingFalse:
    """How long the same FALSE judgement has stood while every recovery condition held; a change in any check
    restarts the clock. Final once it has stood `settle_s`."""

    settle_s: float
    since: float | None = None
    signature: list[tuple[Any, Any, Any]] | None = None

    def reset(self) -> None:
        self.since = self.signature = None

    def is_final(self, signature: list[tuple[Any, Any, Any]]) -> bool:
        now = time.monotonic()
        if self.since is None or signature != self.signature:
            self.since, self.signature = now, signature
            return False
        return now - self.since >= self.settle_s


def green_too_early(
    state: dict[str, Recovery],
    met_at: dict[str, datetime],
    vm: str | None,
    lost: Sequence[datetime],
    budget_s: float,
    loss_expected: bool = False,
    seen_lost: tuple[datetime, datetime | None] | None = None,
) -> bool:
    """A heartbeat seen green before the Tools heartbeat loss is not the recovery: reset it, so the wait goes on for
    green after the loss. The loss is the one the logs show (the guest bugchecked after storage returned) or, when
    the scenario expects one and none is logged yet, the one still to come (Tools notices a bugcheck only after its
    own timeout, so the heartbeat stays green for a while after the guest has stopped).

    `seen_lost` is (when the loop started watching, when it last probed the heartbeat not green): hostd reports the
    loss a moment after vmware.log logs it, so a loss logged while the loop watched counts as over only once the
    loop has itself seen the heartbeat not green after it, and green again."""
    name = f"vm {vm} heartbeat_green"
    if vm is None or name not in state or state[name].met is not True:
        return False
    if lost:
        last = max(lost)
        watched, unmet = seen_lost if seen_lost is not None else (last, last)
        seen_after = last < watched or (unmet is not None and unmet >= last)
        if met_at[name] > last and seen_after:
            return False
        why = (
            f"green was seen before the heartbeat loss at {iso(last)} in vmware.log; waiting for green again"
            if met_at[name] <= last
            else f"green, but not yet seen lost since the heartbeat loss at {iso(last)} in vmware.log "
            "(hostd reports it a moment later); waiting for the loss and green after it"
        )
    elif loss_expected:
        why = (
            f"green was seen, but the Tools heartbeat loss the scenario expects ({HEARTBEAT_LOST}) is not in "
            "vmware.log yet; waiting for the loss and green after it"
        )
    else:
        return False
    state[name] = Recovery(name, False, None, budget_s, why)
    return True


@dataclass
class RecoveryLoop:
    """Probe the conditions and judge until every condition holds and the verdict is TRUE, or a FALSE verdict has
    stood long enough with every condition held, or the budget (counted from `healed`, a monotonic time) is
    spent. A condition's time is that of its LAST change to met: "recovered" means recovered for good.

    `judge(recovery)` judges the logs with these recovery results and says whether the verdict is TRUE;
    `signature()` identifies the last judgement; `heartbeat_lost()` the harness times of the guest's Tools
    heartbeat losses the last judgement found."""

    conditions: Sequence[Condition]
    budget_s: float
    healed: float
    judge: Callable[[list[Recovery]], bool]
    signature: Callable[[], list[tuple[Any, Any, Any]]]
    heartbeat_lost: Callable[[], list[datetime]]
    vm: str | None = None
    loss_expected: bool = False  # the scenario expects the guest's Tools heartbeat loss (HEARTBEAT_LOST)
    stop: threading.Event = field(default_factory=threading.Event)
    tick: Callable[[str, float], None] | None = None
    notes: list[str] = field(default_factory=list)
    settle_min_s: float = FALSE_SETTLE_MIN_S
    state: dict[str, Recovery] = field(default_factory=dict)
    judged: list[Recovery] | None = None  # the recovery results the last judgement saw
    # How long the loop waited for the lab, from its first probe round: to the round that ended it with a TRUE
    # verdict, else to the round that saw the last condition met (a FALSE verdict settling is the harness's own
    # time), else (a condition never met) to its end. The heal and the probe round that found all met are not.
    waited_s: float = 0.0

    def run(self) -> list[Recovery]:
        self._met_at: dict[str, datetime] = {}
        self._standing = StandingFalse(max(self.settle_min_s, 0.1 * self.budget_s))
        self._judged_at: float | None = None
        self._watched, self._unmet_at = now_utc(), cast(datetime | None, None)
        self._first: float | None = None
        self._true_at: float | None = None
        deadline = self.healed + self.budget_s
        wait_until(
            lambda: self._step(deadline),
            max(deadline - time.monotonic(), 0.0),
            POLL_S,
            wake=self.stop,
            on_tick=lambda finished, _: self._show(),
        )
        final = [self.state[c.name] for c in self.conditions]
        self.waited_s = self._waited(final, time.monotonic())
        if self.judged != final:  # judge on what the loop saw last
            self.judged = final
            self.judge(final)
        return final

    def _step(self, deadline: float) -> bool:
        now = time.monotonic()
        if self._first is None:
            self._first = now
        for c, met in zip(self.conditions, probe_together(self.conditions), strict=True):
            prev = self.state.get(c.name)
            if met is not True and c.name == f"vm {self.vm} heartbeat_green":
                self._unmet_at = now_utc()
            detail = getattr(c, "detail", "")
            if met is True and prev is not None and prev.met is True:
                prev.detail = detail
            else:
                self.state[c.name] = Recovery(c.name, met, now - self.healed if met else None, self.budget_s, detail)
                self._met_at[c.name] = now_utc()
        done = all(self.state[c.name].met is not False for c in self.conditions)
        if not done:
            self._standing.reset()  # a FALSE verdict is timed only while every condition holds
        out_of_time = time.monotonic() >= deadline
        if not (done or out_of_time):
            return False
        if not out_of_time and self._judged_at is not None and now - self._judged_at < SETTLE_POLL_S:
            return False
        self._judged_at = now
        self.judged = [self.state[c.name] for c in self.conditions]
        verdict = self.judge(self.judged)
        if green_too_early(
            self.state,
            self._met_at,
            self.vm,
            self.heartbeat_lost(),
            self.budget_s,
            self.loss_expected,
            (self._watched, self._unmet_at),
        ):
            done = verdict = False
        if verdict and done:
            self._true_at = now
            return True
        if done and not verdict and self._standing.is_final(self.signature()):
            self.notes.append(
                f"recovery: every condition held and the verdict stayed FALSE for {self._standing.settle_s:g} s; "
                f"stopped waiting {max(deadline - time.monotonic(), 0):.0f} s before the budget's end"
            )
            return True
        if not done or verdict:
            self._standing.reset()
        return out_of_time

    def _waited(self, final: list[Recovery], end: float) -> float:
        if self._first is None:
            return 0.0
        if self._true_at is not None:
            until = self._true_at
        elif all(r.met is not False for r in final):
            until = max((self.healed + r.seconds for r in final if r.seconds is not None), default=self._first)
        else:
            until = end
        return max(0.0, until - self._first)

    def _show(self) -> None:
        if self.tick is not None:
            pending = [c.name for c in self.conditions if self.state[c.name].met is False]
            self.tick(", ".join(pending) or "the expected events in the logs", time.monotonic() - self.healed)


@dataclass
class SecondReboot:
    """KB 392634: after recovery, a guest-initiated reboot (`vim-cmd vmsvc/power.reboot`, through VMware Tools)
    must not bugcheck again. Met when vmware.log shows the guest's reset after the reboot request (`reset_after`
    judges the logs again and gives its time, or None) and the heartbeat is green again after it: seen not green
    since the request (Tools stop for the reboot), then green."""

    vm: str
    vmid: Callable[[], int]
    client: Runner
    green: Condition
    reset_after: Callable[[datetime], str | None]
    budget_s: float
    stop: threading.Event = field(default_factory=threading.Event)
    tick: Callable[[str, float], None] | None = None
    waited_s: float = 0.0  # from the request's answer to the probe round that saw the guest back: the guest's time

    @property
    def name(self) -> str:
        return f"vm {self.vm} {REBOOT_CONDITION}"

    def run(self, asked: datetime) -> Recovery:
        result = Recovery(self.name, False, None, self.budget_s, "")
        t0 = time.monotonic()
        res = self.client.run(["vim-cmd", "vmsvc/power.reboot", str(self.vmid())])
        if not res.succeeded:
            why = (res.stderr.strip() or res.stdout.strip() or f"exit {res.exit_status}").splitlines()
            result.detail = f"vim-cmd vmsvc/power.reboot failed: {' '.join(why)[:200]}"
            return result
        reset_at: list[str] = []
        left_green: list[bool] = []  # the heartbeat was seen not green since the request: a green now is "again"
        answered = time.monotonic()

        def back() -> bool:
            round_began = time.monotonic()
            if not reset_at and (at := self.reset_after(asked)) is not None:
                reset_at.append(at)
            # A reboot stops Tools: hostd's heartbeat leaves green a moment after the reset is logged. A green
            # before that is the old one, and the guest is still restarting.
            green = self.green.probe() is True
            if not green:
                left_green[:] = [True]
            if reset_at and left_green and green:
                self.waited_s = round_began - answered
                return True
            return False

        def show(_: bool, elapsed: float) -> None:
            if self.tick is not None:
                what = "heartbeat green" if reset_at else "the guest's reset in vmware.log"
                self.tick(f"{what} after the reboot", elapsed)

        waited = wait_until(back, self.budget_s, POLL_S * 2, wake=self.stop, on_tick=show)
        if not waited.done:
            self.waited_s = time.monotonic() - answered  # waited for the guest all along
        if waited.done:
            return Recovery(self.name, True, time.monotonic() - t0, self.budget_s, f"guest reset at {reset_at[0]}")
        if not reset_at:
            result.detail = "no guest reset in vmware.log after the reboot request"
        elif not left_green:
            result.detail = f"guest reset at {reset_at[0]}, but the heartbeat never left green: Tools never stopped"
        else:
            result.detail = (
                f"guest reset at {reset_at[0]}, heartbeat not green again ({getattr(self.green, 'detail', '')})"
            )
        return result


# -- glue to a run -------------------------------------------------------------------------------------------


def collect(run: RunContext) -> None:
    """The log bytes since the marks, into the run folder (a failing write stops the run: RecordWriteError)."""
    logs: list[LogFile] = []
    for host, cur in run.cursors.items():
        for path, chunk in cur.collect().items():
            rel = log_artifact_path(host, path)
            target = run.run_dir / rel
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(target, chunk.data)
            except OSError as exc:
                run.failed_write(exc)
                raise run.write_failure() from None
            logs.append(LogFile(host, path, rel, len(chunk.data), None, list(chunk.rotated), chunk.gap))
    run.record.logs = logs


def grown(run: RunContext) -> None:
    """How much each log grew on the host since its mark (same inode only), for the overhead figures: the sizes
    the collect just read up to."""
    for lf in run.record.logs:
        mark, cur = run.marks[lf.host][lf.path], run.cursors[lf.host]
        st = cur.stats[lf.path] if lf.path in cur.stats else cur.client.stat(lf.path)  # as collect() found it
        if st is not None and (mark.inode in (st.inode, 0)):
            lf.grown = st.size - mark.size


def judge_now(run: RunContext) -> bool:
    collect(run)
    grown(run)  # right after the read: the figure compares like with like
    return judge_into(run.record, run.run_dir)


def recover_and_judge(run: RunContext) -> None:
    """The recovery loop on the run's conditions, counted from the fault's real end."""
    budget = run.record.recover_budget_s
    wait_s = budget if budget is not None else run.record.hold_s or 0.0

    def judge(recovery: list[Recovery]) -> bool:
        run.record.recovery = list(recovery)  # the verdict includes recovery
        return judge_now(run)

    loop = RecoveryLoop(
        conditions=run.conditions() if budget is not None else [],
        budget_s=wait_s,
        healed=run.heal_mono or time.monotonic(),
        judge=judge,
        signature=lambda: check_signature(run.record),
        heartbeat_lost=lambda: vm_event_times(run.record, HEARTBEAT_LOST, run.sc.target.vm) if run.sc.target.vm else [],
        vm=run.sc.target.vm,
        loss_expected=any(
            HEARTBEAT_LOST in ({item} if isinstance(item, str) else item) for item in run.sc.in_order_spec()
        ),
        stop=run.stop,
        tick=run.progress.tick,
        notes=run.record.notes,
    )
    with run.phase("recover+judge", wait_s):
        try:
            loop.run()
        finally:
            run.record.figures[RECOVERY_WAITED] = round(loop.waited_s, 3)


def maybe_second_reboot(run: RunContext) -> None:
    """The second reboot when the scenario asks for it, only once the run has recovered (verdict TRUE)."""
    rec, vm = run.sc.recover, run.sc.target.vm
    if rec is None or REBOOT_CONDITION not in rec.vm or vm is None:
        return
    if verdict_true(run.record):
        second_reboot(run, vm)
        return
    budget = run.record.recover_budget_s or DEFAULT_BASELINE_S
    why = "not attempted: the run had not recovered"
    run.record.recovery.append(Recovery(f"vm {vm} {REBOOT_CONDITION}", False, None, budget, why))


def second_reboot(run: RunContext, vm: str) -> None:
    budget = run.record.recover_budget_s or DEFAULT_BASELINE_S
    with run.phase("second-reboot", budget):
        esx = run.esx()

        def reset_after(t: datetime) -> str | None:
            judge_now(run)
            times = [x for x in vm_event_times(run.record, "guest.reset", vm) if x >= t]
            return iso(min(times)) if times else None

        reboot = SecondReboot(
            vm,
            lambda: run.vm_ids[0] if run.vm_ids else vm_id(esx, vm),  # the id the power probes looked up
            run.client(),
            run.heartbeat(vm),
            reset_after,
            budget,
            run.stop,
            run.progress.tick,
        )
        asked = now_utc()
        run.record.anchors[REBOOT_ANCHOR] = iso(asked)
        try:
            run.record.recovery.append(reboot.run(asked))
        finally:
            run.record.figures[REBOOT_WAITED] = round(reboot.waited_s, 3)
        judge_now(run)
