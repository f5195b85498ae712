"""The runner's parts without a lab or root: the one wait helper, the recovery loop on fake conditions and a fake
judge (happy path, standing FALSE, green before the Tools loss, budget spent), the second reboot, the fault's real
end, a record that cannot be written, a dead run's record, and what an interruption says."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from faultlab.harness.faults import Fault, HealOutcome
from faultlab.harness.record import Recovery, RunRecord, iso, load_record, now_utc, save_record
from faultlab.harness.runner import RecordWriteError, RecoveryLoop, RunContext, RunOptions, SecondReboot
from faultlab.harness.runner.hold import SOMEONE_ELSE, TIMER, FaultWatch, fault_end
from faultlab.harness.runner.run import interrupted_message
from faultlab.harness.scenario import parse_scenario
from faultlab.harness.signals import Terminated
from faultlab.harness.wait import wait_until
from faultlab.lab.inventory import parse_inventory
from faultlab.lab.ssh import CommandResult

from .test_runner import INVENTORY, SCENARIO

# -- the wait helper ----------------------------------------------------------------------------------------


def test_wait_until_done_at_once_asks_once() -> None:
    calls: list[int] = []
    got = wait_until(lambda: calls.append(1) or len(calls), 5, 0.01)
    assert got.done and got.value == 1 and calls == [1] and not got.woken


def test_wait_until_asks_last_on_the_deadline_when_the_budget_runs_out() -> None:
    asked: list[float] = []
    t0 = time.monotonic()
    got = wait_until(lambda: asked.append(time.monotonic() - t0) is not None, 0.3, 0.1)
    assert not got.done and not got.woken
    assert 0.3 <= asked[-1] < 1.5 and 2 <= len(asked) <= 5, asked  # at 0, 0.1, 0.2 and the deadline


def test_wait_until_ends_when_woken_and_says_so() -> None:
    wake = threading.Event()
    threading.Timer(0.1, wake.set).start()
    got = wait_until(lambda: False, 30, 5.0, wake=wake)
    assert got.woken and not got.done and got.elapsed_s < 2


def test_wait_until_lets_an_error_of_the_condition_through() -> None:
    def broken() -> bool:
        raise ValueError("cannot ask")

    with pytest.raises(ValueError, match="cannot ask"):
        wait_until(broken, 1, 0.01)


# -- the recovery loop on fakes -----------------------------------------------------------------------------


@dataclass
class FakeCondition:
    """A recovery condition answering from a script (the last answer repeats)."""

    name: str
    answers: list[bool | None]
    detail: str = ""
    asked: int = 0

    def probe(self) -> bool | None:
        met = self.answers[min(self.asked, len(self.answers) - 1)]
        self.asked += 1
        self.detail = f"answer {self.asked}"
        return met


@dataclass
class FakeJudge:
    """The judge: TRUE from its `true_from`-th call (never when None); the recovery results it saw each time."""

    true_from: int | None = 1
    seen: list[list[Recovery]] = field(default_factory=list)
    message: str = "step 3 apd.exit not seen"

    def __call__(self, recovery: list[Recovery]) -> bool:
        self.seen.append([Recovery(**vars(r)) for r in recovery])
        return self.true_from is not None and len(self.seen) >= self.true_from

    def signature(self) -> list[tuple[Any, Any, Any]]:
        return [("step 3", "false", self.message)]


def loop(conds: list[FakeCondition], judge: FakeJudge, budget_s: float = 5.0, **kw: Any) -> RecoveryLoop:
    return RecoveryLoop(
        conditions=conds,
        budget_s=budget_s,
        healed=time.monotonic(),
        judge=judge,
        signature=judge.signature,
        heartbeat_lost=kw.pop("heartbeat_lost", list),
        **kw,
    )


def test_recovery_happy_path_times_each_condition_from_the_heal() -> None:
    ds = FakeCondition("datastore ds-nfs01 accessible", [False, False, True])
    vm = FakeCondition("vm win01 powered_on", [True])
    judge = FakeJudge(true_from=1)
    rl = loop([ds, vm], judge)
    final = rl.run()
    assert [(r.condition, r.met) for r in final] == [(ds.name, True), (vm.name, True)]
    assert final[0].seconds is not None and final[0].seconds >= 0.4  # third probe: two POLL_S pauses
    assert final[1].seconds is not None and final[1].seconds < 0.4
    assert len(judge.seen) == 1 and judge.seen[0][0].met is True  # judged once, with the conditions met


def test_a_false_verdict_standing_with_every_condition_held_ends_the_wait_early() -> None:
    judge = FakeJudge(true_from=None)
    rl = loop([FakeCondition("vm win01 powered_on", [True])], judge, budget_s=30.0, settle_min_s=0.5)
    rl.settle_min_s = 0.5
    rl.budget_s = 3.0  # 10% of the budget (0.3 s) is below the minimum: the minimum counts
    t0 = time.monotonic()
    final = rl.run()
    took = time.monotonic() - t0
    assert final[0].met is True and 0.5 <= took < 2.5, took
    assert rl.notes and "stayed FALSE for 0.5 s" in rl.notes[0]


def test_a_changing_false_verdict_restarts_the_standing_clock() -> None:
    judge = FakeJudge(true_from=None)
    rl = loop([FakeCondition("vm win01 powered_on", [True])], judge, budget_s=2.5, settle_min_s=0.6)
    messages = iter(f"message {i}" for i in range(1000))
    rl.signature = lambda: [("step 3", "false", next(messages))]  # a new message at every judgement
    final = rl.run()
    assert final[0].met is True and rl.notes == []  # never final: ran to the budget's end
    assert len(judge.seen) >= 2


@dataclass
class TimedHeartbeat:
    """The heartbeat as hostd reports it: green, then not green from `lost_at` for `down_s`, then green again."""

    lost_at: datetime
    down_s: float
    name: str = "vm win01 heartbeat_green"
    detail: str = ""
    asked: int = 0

    def probe(self) -> bool:
        self.asked += 1
        now = now_utc()
        return not (self.lost_at <= now < self.lost_at + timedelta(seconds=self.down_s))


def test_a_heartbeat_green_before_the_tools_loss_is_not_the_recovery() -> None:
    loss = now_utc() + timedelta(seconds=0.3)  # the logs show the loss after green was first seen
    hb = TimedHeartbeat(loss + timedelta(seconds=0.2), 0.6)  # hostd reports it 0.2 s later, for 0.6 s
    judge = FakeJudge(true_from=1)
    rl = loop([hb], judge, heartbeat_lost=lambda: [loss], vm="win01")
    final = rl.run()
    assert final[0].met is True and final[0].seconds is not None and final[0].seconds >= 1.1
    # The first judgement was TRUE with green seen before the loss: the loop went on instead of stopping there,
    # and the green that counts was seen after the loss.
    assert judge.seen[0][0].met is True and len(judge.seen) >= 2 and hb.asked >= 5


def test_green_still_reported_after_the_logged_loss_is_not_the_recovery() -> None:
    # vmware.log logged the loss while the loop watched, hostd still says green: not over until the loop has seen
    # the heartbeat lost and green again (else a second reboot would meet a guest without Tools).
    loss = now_utc() + timedelta(seconds=0.1)
    hb = FakeCondition("vm win01 heartbeat_green", [True])
    final = loop([hb], FakeJudge(true_from=1), budget_s=0.8, heartbeat_lost=lambda: [loss], vm="win01").run()
    assert final[0].met is False and "not yet seen lost" in final[0].detail


def test_a_heartbeat_green_after_the_tools_loss_is_the_recovery_at_once() -> None:
    loss = now_utc() - timedelta(seconds=1)  # the guest bugchecked and came back before the heal was over
    judge = FakeJudge(true_from=1)
    final = loop(
        [FakeCondition("vm win01 heartbeat_green", [True])], judge, heartbeat_lost=lambda: [loss], vm="win01"
    ).run()
    assert final[0].met is True and len(judge.seen) == 1


def test_green_before_an_expected_loss_not_yet_logged_is_not_the_recovery() -> None:
    # Tools notices a bugcheck only after its own timeout: green at the budget's end, with the loss the scenario
    # expects not logged yet, is not "recovered".
    judge = FakeJudge(true_from=1)
    hb = FakeCondition("vm win01 heartbeat_green", [True])
    final = loop([hb], judge, budget_s=0.6, vm="win01", loss_expected=True).run()
    assert final[0].met is False and final[0].seconds is None
    assert "guest.tools_heartbeat.lost" in final[0].detail and "not in vmware.log yet" in final[0].detail
    assert judge.seen[-1][0].met is False  # the last judgement saw the condition missed
    # Without the expectation, the same green is the recovery at once.
    assert loop([FakeCondition(hb.name, [True])], FakeJudge(true_from=1), vm="win01").run()[0].met is True


def test_green_after_an_expected_loss_that_arrives_late_is_the_recovery() -> None:
    judge = FakeJudge(true_from=1)
    arrived = now_utc() + timedelta(seconds=0.3)
    losses = lambda: [arrived] if now_utc() >= arrived else []  # noqa: E731
    hb = TimedHeartbeat(arrived + timedelta(seconds=0.1), 0.5)
    final = loop([hb], judge, heartbeat_lost=losses, vm="win01", loss_expected=True).run()
    assert final[0].met is True and final[0].seconds is not None and final[0].seconds >= 0.9


def test_a_budget_that_runs_out_reports_the_condition_missed_and_judges_on_it() -> None:
    ds = FakeCondition("datastore ds-nfs01 accessible", [False])
    judge = FakeJudge(true_from=1)
    t0 = time.monotonic()
    final = loop([ds], judge, budget_s=0.6).run()
    took = time.monotonic() - t0
    assert final == [Recovery(ds.name, False, None, 0.6, final[0].detail)] and final[0].detail.startswith("answer")
    assert 0.6 <= took < 1.5
    assert judge.seen and judge.seen[-1][0].met is False  # the verdict includes the missed condition


def test_a_stop_ends_the_recovery_loop_at_once() -> None:
    stop = threading.Event()
    stop.set()
    t0 = time.monotonic()
    final = loop([FakeCondition("c", [False])], FakeJudge(), budget_s=30, stop=stop).run()
    assert final[0].met is False and time.monotonic() - t0 < 1.0


# -- the second reboot --------------------------------------------------------------------------------------


class FakeClient:
    def __init__(self, code: int = 0, err: str = "") -> None:
        self.code, self.err = code, err
        self.argv: list[list[str]] = []

    def run(self, argv: list[str] | str, timeout: float | None = None, check: bool = False) -> CommandResult:
        self.argv.append(list(argv))
        return CommandResult(" ".join(argv), self.code, "", self.err, 0.01)


def test_second_reboot_met_once_the_reset_is_logged_and_heartbeat_is_green_again() -> None:
    client = FakeClient()
    resets = iter([None, None, "2026-05-07T16:04:10Z"])
    green = FakeCondition("vm win01 heartbeat_green", [False, True])
    reboot = SecondReboot("win01", lambda: 7, client, green, lambda t: next(resets, "2026-05-07T16:04:10Z"), 5.0)
    res = reboot.run(now_utc())
    assert client.argv == [["vim-cmd", "vmsvc/power.reboot", "7"]]
    # asked every round: not green in the first (Tools stopped), green in the third, once the reset is logged
    assert res.met is True and res.detail == "guest reset at 2026-05-07T16:04:10Z" and green.asked == 3


def test_second_reboot_green_that_never_left_is_not_the_guest_back() -> None:
    # hostd reports the heartbeat a moment after the reset is logged: a green that never went away is the old one
    stale = SecondReboot(
        "win01", lambda: 7, FakeClient(), FakeCondition("g", [True]), lambda t: "2026-05-07T16:04:10Z", 0.8
    )
    res = stale.run(now_utc())
    assert res.met is False and "never left green" in res.detail


def test_second_reboot_refused_or_never_reset_says_why() -> None:
    refused = SecondReboot(
        "win01", lambda: 7, FakeClient(1, "vim.fault.ToolsUnavailable"), FakeCondition("g", [True]), lambda t: None, 1
    )
    res = refused.run(now_utc())
    assert res.met is False and res.detail == "vim-cmd vmsvc/power.reboot failed: vim.fault.ToolsUnavailable"
    silent = SecondReboot("win01", lambda: 7, FakeClient(), FakeCondition("g", [True]), lambda t: None, 0.5)
    res = silent.run(now_utc())
    assert res.met is False and res.detail == "no guest reset in vmware.log after the reboot request"


# -- the fault's real end -----------------------------------------------------------------------------------

T0 = datetime(2026, 5, 7, 16, 0, 0, tzinfo=UTC)


def fault() -> Fault:
    inv = parse_inventory(INVENTORY, "inv.yaml", check_files=False)
    from faultlab.harness.faults import plan_fault

    return plan_fault(
        inv, {"kind": "network-blackhole", "on": "iscsi01"}, run_id="r1", scenario_vms=["win01"], hold_s=12, grace_s=6
    )


def outcome(status: str) -> HealOutcome:
    return HealOutcome("r1", "f1", "network-blackhole on iscsi01", status)


def test_the_runs_own_heal_is_the_faults_end() -> None:
    heal = T0 + timedelta(seconds=12)
    end = fault_end(fault(), outcome("healed"), None, T0, heal, heal + timedelta(seconds=0.4))
    assert end.at == heal and end.problem() is None and end.held_s == 12.0


def test_a_fault_removed_by_someone_else_during_the_hold_is_an_early_end() -> None:
    watch = FaultWatch.__new__(FaultWatch)  # what the watch saw, without its thread
    watch.gone_at, watch.by, watch.last_active = T0 + timedelta(seconds=5), SOMEONE_ELSE, T0 + timedelta(seconds=4)
    heal = T0 + timedelta(seconds=5.5)  # the run healed at once, cutting its 12 s hold short
    end = fault_end(fault(), outcome("already healed"), watch, T0, heal, heal, T0 + timedelta(seconds=12))
    problem = end.problem()
    assert end.by == SOMEONE_ELSE and end.held_s == 5.0 and problem is not None
    assert problem.startswith("the fault ended 7.0s early (someone else removed it at 2026-05-07T16:00:05Z")
    assert "it held 5.0s where the run meant 12.0s" in problem


def test_a_fault_the_timer_removed_after_the_heal_began_is_a_late_end() -> None:
    f = fault()
    heal = T0 + timedelta(seconds=12)  # the run's heal hung on a frozen SSH until the timer had fired
    end = fault_end(f, outcome("healed by timer"), None, T0, heal, T0 + timedelta(seconds=25))
    assert end.by == TIMER and end.at == T0 + timedelta(seconds=f.deadline_s)
    assert (end.problem() or "").startswith(f"the fault ended {f.deadline_s - 12:.1f}s late (the dead-man timer")


# -- the record: a failing write, a dead run ----------------------------------------------------------------


def context(run_dir: Path) -> RunContext:
    inv = parse_inventory(INVENTORY, "inv.yaml", check_files=False)
    rec = RunRecord("r1", "iscsi-apd", None, SCENARIO, None, iso(T0))
    return RunContext(rec, run_dir, parse_scenario(SCENARIO), inv, None, RunOptions())  # type: ignore[arg-type]


def test_a_failing_record_write_lets_the_heal_run_and_stops_the_run_after_it(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    run = context(tmp_path / "file" / "run")  # every write fails: NotADirectoryError
    healed = []
    with run.phase("heal"):
        healed.append(True)
        run.record.heal = {"status": "healed", "detail": ""}
    assert healed and run.stop.is_set()  # the hold (had it been running) ends at once
    with pytest.raises(RecordWriteError) as err, run.phase("recover+judge"):
        pytest.fail("a phase after a failed write must not start")
    assert str(err.value).startswith(f"cannot write the run record in {tmp_path / 'file' / 'run'}: Not a directory")
    assert "the fault was healed first (healed) and its ledger closed" in str(err.value)


def test_a_killed_runs_record_is_marked_dead_when_read(tmp_path: Path) -> None:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    rec = RunRecord("r1", "iscsi-apd", None, SCENARIO, None, iso(T0))
    rec.owner = {"pid": int(child.stdout), "start": 1, "host": __import__("socket").gethostname()}
    rec.fault = {"kind": "network-blackhole", "node": "nfs01"}
    rec.begin("hold")
    save_record(rec, tmp_path)
    got, _ = load_record(tmp_path)
    assert got.outcome == "error" and got.phases[0].status == "dead"
    assert got.message.startswith(f"dead run: its process (pid {child.stdout.strip()}) is gone during phase hold")
    assert "its fault was not healed by the run" in got.message
    again, _ = load_record(tmp_path)  # written back: the mark stays
    assert again.message == got.message


def test_a_live_runs_record_stays_running(tmp_path: Path) -> None:
    from faultlab.harness.record import owner_of_this_process

    rec = RunRecord("r1", "iscsi-apd", None, SCENARIO, None, iso(T0))
    rec.owner = owner_of_this_process()
    save_record(rec, tmp_path)
    assert load_record(tmp_path)[0].outcome == "running"


def test_an_interruption_says_which_signal_which_phase_and_what_was_healed() -> None:
    rec = RunRecord("r1", "iscsi-apd", None, SCENARIO, None, iso(T0))
    rec.begin("hold").status = "interrupted"
    rec.fault = {"kind": "network-blackhole", "node": "nfs01"}
    rec.heal = {"status": "healed", "ended_by": "the run"}
    assert interrupted_message(rec, Terminated("signal SIGTERM")) == (
        "SIGTERM",
        "interrupted by SIGTERM during phase hold; the fault network-blackhole on nfs01 was healed (healed, the run)",
    )
    rec.fault, rec.heal = None, None
    assert interrupted_message(rec, KeyboardInterrupt())[1] == (
        "interrupted by Ctrl-C (SIGINT) during phase hold; no fault had been injected"
    )
