"""One run from end to end: the phases in order, the outcome, what an interruption says, the figures, artifacts."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from faultlab.harness.artifacts import write_artifacts
from faultlab.harness.measures import run_measures
from faultlab.harness.precheck import check_before_contact
from faultlab.harness.record import (
    ERROR,
    FAILED,
    PASSED,
    RunRecord,
    iso,
    now_utc,
    owner_of_this_process,
    save_record,
)
from faultlab.harness.runner import hold, leased, prepare, recover
from faultlab.harness.runner.context import (
    BASELINE_WAITED,
    LEASE_WAITED,
    REBOOT_WAITED,
    RECOVERY_WAITED,
    RecordWriteError,
    RunContext,
    RunOptions,
)
from faultlab.harness.runner.judged import verdict_message, verdict_true
from faultlab.harness.scenario import Scenario, load_scenario
from faultlab.harness.signals import Terminated, sigterm_as_interrupt
from faultlab.lab.errors import FaultlabError
from faultlab.lab.inventory import Inventory, load_inventory


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM ended a run, after its heal; says what was interrupted and what was healed."""

    def __init__(self, message: str, record: RunRecord, signal_name: str) -> None:
        super().__init__(message)
        self.record, self.signal_name = record, signal_name


def new_run_id(scenario: str) -> str:
    return f"{scenario}-{now_utc():%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def interrupted_message(record: RunRecord, exc: KeyboardInterrupt) -> tuple[str, str]:
    """(the signal's name, one sentence): which signal, in which phase, and what became of the fault."""
    sig = "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C (SIGINT)"
    hit = next((p for p in reversed(record.phases) if p.status == "interrupted"), None)
    phase = hit.name if hit is not None else (record.phases[-1].name if record.phases else "start")
    fault = record.fault or {}
    what = f"{fault.get('kind', '?')} on {fault.get('node', '?')}"
    if not fault:
        healed = "no fault had been injected"
    elif record.heal is None:
        healed = f"the fault {what} was planned, not injected"
    elif record.heal.get("status") == "failed":
        healed = f"the heal of {what} FAILED ({record.heal.get('detail', '')}): run `faultlab heal`"
    else:
        healed = f"the fault {what} was healed ({record.heal.get('status')}, {record.heal.get('ended_by', 'the run')})"
    return sig, f"interrupted by {sig} during phase {phase}; {healed}"


def run_scenario(
    sc: Scenario,
    inventory: Inventory,
    *,
    scenario_text: str,
    scenario_path: str | None = None,
    inventory_path: str | None = None,
    options: RunOptions | None = None,
) -> RunRecord:
    """Run one scenario against a lab. Returns the record (outcome passed / failed / error); raises RunInterrupted
    (a KeyboardInterrupt: Ctrl-C, SIGTERM) after healing. Config mistakes (ConfigError) are raised before any
    change."""
    opts = options or RunOptions()
    check_before_contact(sc, inventory)  # nothing is contacted before the scenario fits the inventory
    run_id = opts.run_id or new_run_id(sc.name)
    record = RunRecord(
        run_id=run_id,
        scenario_name=sc.name,
        scenario_path=scenario_path,
        scenario_text=scenario_text,
        inventory_path=str(Path(inventory_path).resolve()) if inventory_path else None,
        started=iso(now_utc()),
    )
    record.owner = owner_of_this_process()
    run_dir = opts.artifacts / run_id
    save_record(record, run_dir)
    t0 = time.monotonic()
    pool = opts.pool_factory(inventory)
    run = RunContext(record, run_dir, sc, inventory, pool, opts)
    try:
        with sigterm_as_interrupt(), leased.held(run, opts.lease) as lease:
            prepare.preflight(run)
            prepare.heal_leftovers(run)
            prepare.steady(run)
            prepare.baseline(run)
            prepare.mark(run)
            hold.inject_hold_heal(run)
            recover.recover_and_judge(run)
            recover.maybe_second_reboot(run)
            run.end_observing()
            prepare.vcenter_events(run)
        record.outcome = PASSED if verdict_true(record) else FAILED
        record.message = verdict_message(record)
        if (problem := hold.fault_window_problem(run)) is not None:
            record.outcome, record.message = FAILED, f"{problem}. {record.message}"
        if lease.lost:
            record.outcome = ERROR
            record.message = (
                f"the lab lease was lost during the run ({lease.lost[0]}): another run may have injected into this "
                "lab, so this run's results cannot be trusted"
            )
    except KeyboardInterrupt as exc:
        sig, record.message = interrupted_message(record, exc)
        record.outcome = ERROR
        raise RunInterrupted(record.message, record, sig) from exc
    except RecordWriteError as exc:
        record.outcome, record.message = ERROR, str(exc)
    except FaultlabError as exc:
        failed = next((p.name for p in reversed(record.phases) if p.status == "error"), "?")
        record.outcome, record.message = ERROR, f"lab problem in phase {failed}: {exc}"
    finally:
        run.close()
        pool.close()
        record.figures = {**record.figures, **_figures(record, time.monotonic() - t0)}
        record.measures = run_measures(record, run_dir)
        if run.write_error is None:
            try:
                write_artifacts(record, run_dir)  # record.json last; a report that cannot be made is a note
            except OSError as exc:
                run.failed_write(exc)
        if run.write_error is not None and "cannot write the run record" not in record.message:
            record.outcome, record.message = ERROR, f"{run.write_failure()}"
    return record


def run_file(scenario_path: str | Path, inventory_path: str | Path, options: RunOptions | None = None) -> RunRecord:
    """Load (ConfigError names file, line, key) and run."""
    inv = load_inventory(inventory_path)
    sc = load_scenario(scenario_path)
    text = Path(scenario_path).read_text(encoding="utf-8")
    return run_scenario(
        sc,
        inv,
        scenario_text=text,
        scenario_path=str(scenario_path),
        inventory_path=str(inventory_path),
        options=options,
    )


def _figures(record: RunRecord, wall_s: float) -> dict[str, float]:
    """Wall time against what the scenario inherently needs, and bytes collected vs grown.

    inherent: the hold, and the time the recovery loop waited for the lab (RecoveryLoop.waited_s: from its first
    probe round on; the heal's own commands before it are the harness's).
    waiting: on the lab rather than working: another run's lease, a lab settling after an earlier run's
    leftovers or fault (steady, and the baseline beyond its first probe round), the guest's own second reboot.
    harness: all the rest, the harness's own time."""
    recovery_s = max(
        (
            r.seconds
            for r in record.recovery
            if r.seconds is not None and r.met and r.condition.endswith("reboots_cleanly") is False
        ),
        default=0.0,
    )  # the second reboot is the guest's own: waiting, below
    phases = {p.name: p.seconds or 0.0 for p in record.phases}
    hold_s = phases.get("hold", 0.0)  # as held (hold_until may end it early; a run that ended before held nothing)
    recovery_wait = record.figures.get(RECOVERY_WAITED, 0.0)
    waits = (LEASE_WAITED, BASELINE_WAITED, REBOOT_WAITED)
    waiting = phases.get("steady", 0.0) + sum(record.figures.get(k, 0.0) for k in waits)
    inherent = hold_s + recovery_wait
    anchors = record.anchor_times()
    outage = (
        (anchors["fault.healed"] - anchors["fault.injected"]).total_seconds()
        if {"fault.injected", "fault.healed"} <= anchors.keys()
        else 0.0
    )
    return {
        "wall_s": round(wall_s, 3),
        "outage_s": round(outage, 3),  # inject start to the fault's real end: the hold plus the inject's own time
        "hold_s": round(hold_s, 3),
        "hold_planned_s": record.hold_s or 0.0,
        "recovery_s": round(recovery_s, 3),  # from the fault's end to the last condition seen met
        "recovery_wait_s": round(recovery_wait, 3),
        "inherent_s": round(inherent, 3),
        "overhead_s": round(max(0.0, wall_s - inherent), 3),  # the waiting and the harness's own time
        "waiting_s": round(waiting, 3),
        "harness_s": round(max(0.0, wall_s - inherent - waiting), 3),  # the harness's own time
        **{f"phase_{k.replace('+', '_').replace('-', '_')}_s": round(v, 3) for k, v in phases.items()},
        "bytes_collected": float(sum(lf.bytes for lf in record.logs)),
        "bytes_grown": float(sum(lf.grown for lf in record.logs if lf.grown is not None)),
    }
