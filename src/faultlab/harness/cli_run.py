"""`faultlab run SCENARIO` and `faultlab judge RECORD`: one scenario from the command line, or a record re-judged."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from faultlab.harness.console import report_console
from faultlab.harness.judge import judge as judge_record
from faultlab.harness.progress import Progress
from faultlab.harness.record import ERROR, PASSED, RunRecord, load_record
from faultlab.harness.report_html import REPORT_FILE
from faultlab.harness.report_text import print_report
from faultlab.harness.runner import RunInterrupted, RunOptions, run_file
from faultlab.lab.errors import ConfigError, FaultlabError

EMBEDDED_STATE_ROOT = Path("/run/faultlab")  # `faultlab lab up` writes <root>/<lab id>/inventory.yaml
VC_PASSWORD_VAR = "FAULTLAB_VC_PASSWORD"  # the variable an embedded lab's inventory names
EXIT_PASSED, EXIT_FAILED, EXIT_ERROR, EXIT_USAGE = 0, 1, 3, 2


def inventory_of_lab(lab_id: str) -> Path:
    """The inventory an embedded lab wrote (`faultlab lab up`), by its id."""
    path = EMBEDDED_STATE_ROOT / lab_id / "inventory.yaml"
    if not path.is_file():
        raise typer.BadParameter(f"no embedded lab {lab_id!r}: {path} does not exist (see `faultlab lab status`)")
    return path


def embedded_vcenter_password(lab_id: str) -> None:
    """An embedded lab keeps its vCenter's password in <state dir>/vcenter/password (0600); put it where the
    inventory's ${FAULTLAB_VC_PASSWORD} points, unless the environment already has it."""
    path = EMBEDDED_STATE_ROOT / lab_id / "vcenter" / "password"
    if not os.environ.get(VC_PASSWORD_VAR) and path.is_file():
        os.environ[VC_PASSWORD_VAR] = path.read_text(encoding="utf-8").strip()


def summary(record: RunRecord) -> list[str]:
    """The terminal report: outcome, the checks, the figures, where the record is."""
    out = [f"{record.scenario_name}: {record.outcome.upper()}  (run {record.run_id})"]
    f = record.figures
    if f:
        out.append(
            f"wall {f.get('wall_s', 0):.1f}s = hold {f.get('hold_s', 0):.1f}s + recovery {f.get('recovery_s', 0):.1f}s"
            f" + harness {f.get('overhead_s', 0):.1f}s; collected {f.get('bytes_collected', 0):.0f} bytes,"
            f" logs grew {f.get('bytes_grown', 0):.0f} bytes"
        )
    return out


def run(
    scenario: Annotated[Path, typer.Argument(help="A scenario file (scenarios/*.yaml).")],
    inventory: Annotated[Path | None, typer.Option(help="The lab's inventory (inventory.example.yaml).")] = None,
    lab: Annotated[str | None, typer.Option(help="An embedded lab's id (instead of --inventory).")] = None,
    artifacts: Annotated[Path, typer.Option(help="Folder for run records and collected logs.")] = Path("artifacts"),
    state_dir: Annotated[Path | None, typer.Option(help="Fault ledger folder.")] = None,
) -> None:
    """Run one scenario: inject, hold, heal, recover, collect the logs and judge them. Exit 0 passed, 1 failed,
    3 lab problem, 2 bad input."""
    err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
    if (inventory is None) == (lab is None):
        err.print("faultlab run: give exactly one of --inventory FILE or --lab ID (start one with `faultlab lab up`)")
        raise typer.Exit(EXIT_USAGE)
    inv_path = inventory if inventory is not None else inventory_of_lab(str(lab))
    if lab is not None:
        embedded_vcenter_password(lab)
    try:
        with Progress() as progress:
            record = run_file(
                scenario, inv_path, RunOptions(artifacts=artifacts, state_dir=state_dir, progress=progress)
            )
    except ConfigError as exc:
        err.print(f"faultlab run: {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    except RunInterrupted as exc:  # healed already; say what was interrupted and what became of the fault
        err.print(f"faultlab run: {exc}")
        err.print(f"record: {artifacts / exc.record.run_id / 'record.json'}")
        raise typer.Exit(143 if exc.signal_name == "SIGTERM" else 130) from None
    except FaultlabError as exc:
        err.print(f"faultlab run: lab problem: {exc}")
        raise typer.Exit(EXIT_ERROR) from None
    run_dir = artifacts / record.run_id
    print_report(record, run_dir, report_console())
    out = Console(highlight=False, soft_wrap=True, markup=False)
    for line in summary(record)[1:]:
        out.print(line)
    report = run_dir / REPORT_FILE
    if report.is_file():
        out.print(f"report: {report}")
    out.print(f"record: {run_dir / 'record.json'}")
    if record.outcome == ERROR:
        err.print(f"faultlab run: {record.message}")
    raise typer.Exit({PASSED: EXIT_PASSED, ERROR: EXIT_ERROR}.get(record.outcome, EXIT_FAILED))


def judge(
    record: Annotated[Path, typer.Argument(help="A run record (record.json) or its run folder.")],
) -> None:
    """Judge a finished run again, offline, from its record and the log bytes it collected."""
    err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
    try:
        rec, run_dir = load_record(record)
    except ValueError as exc:
        err.print(f"faultlab judge: {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    if not rec.logs:
        err.print(f"faultlab judge: {record}: the run collected no logs (outcome {rec.outcome}: {rec.message})")
        raise typer.Exit(EXIT_ERROR)
    try:
        result = judge_record(rec, run_dir)
    except ConfigError as exc:
        err.print(f"faultlab judge: the record's scenario is invalid: {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    out = Console(highlight=False, soft_wrap=True, markup=False)
    out.print(f"{rec.scenario_name} (run {rec.run_id}): verdict {result['verdict'].upper()}")
    for line in result["lines"]:
        out.print(line)
    for note in result["notes"]:
        out.print(f"note: {note}")
    raise typer.Exit(EXIT_PASSED if result["verdict"] == "true" else EXIT_FAILED)


run_app = typer.Typer(add_completion=False)
run_app.command("run")(run)
run_app.command("judge")(judge)
