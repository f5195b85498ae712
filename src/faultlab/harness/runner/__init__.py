"""The runner: preflight, heal leftovers, steady lab, baseline, mark, inject, hold, heal, recover, collect, judge,
report; `run_scenario` and `run_file` are the entry points (faultlab run, the pytest plugin).

The record is written after every phase, never at the cost of the heal; heal runs in `finally`, also on Ctrl-C
and SIGTERM. A lab problem ends the run with outcome "error"; a behaviour that differs from the scenario with
"failed". Parts: context (state, record, phases), prepare (before the fault), hold (inject, hold, heal, the
fault's real end), recover (recovery loop, second reboot, judging), run (orchestration).
"""

from faultlab.harness.ledger import default_state_dir
from faultlab.harness.record import ERROR, FAILED, PASSED, write_atomic
from faultlab.harness.runner.context import Pool, RecordWriteError, RunContext, RunOptions
from faultlab.harness.runner.hold import FaultEnd, FaultWatch, HoldWatcher
from faultlab.harness.runner.prepare import scenario_settings
from faultlab.harness.runner.recover import RecoveryLoop, SecondReboot, StandingFalse, green_too_early
from faultlab.harness.runner.run import RunInterrupted, new_run_id, run_file, run_scenario

__all__ = [
    "ERROR",
    "FAILED",
    "PASSED",
    "FaultEnd",
    "FaultWatch",
    "HoldWatcher",
    "Pool",
    "RecordWriteError",
    "RecoveryLoop",
    "RunContext",
    "RunInterrupted",
    "RunOptions",
    "SecondReboot",
    "StandingFalse",
    "default_state_dir",
    "green_too_early",
    "new_run_id",
    "run_file",
    "run_scenario",
    "scenario_settings",
    "write_atomic",
]
