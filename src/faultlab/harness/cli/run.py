"""`faultlab run SCENARIO` and `faultlab judge RECORD`: one scenario from the command line, or a record re-judged."""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from faultlab.harness.cli.history import HISTORY_HELP
from faultlab.harness.console import report_console
from faultlab.harness.embedded import LabShape, shapes_for
from faultlab.harness.judge import judge as judge_record
from faultlab.harness.ledger import default_state_dir
from faultlab.harness.progress import Progress
from faultlab.harness.record import ERROR, PASSED, RunRecord, load_record
from faultlab.harness.report.html import REPORT_FILE
from faultlab.harness.report.text import print_report
from faultlab.harness.scenario import Scenario, load_scenario
from faultlab.harness.session import DEFAULT_LEASE_WAIT_S, LabSource, SessionOptions, run_batch
from faultlab.lab.errors import ConfigError
from faultlab.lab.lease import LeaseInfo

EXIT_PASSED, EXIT_FAILED, EXIT_ERROR, EXIT_USAGE = 0, 1, 3, 2


def folder_problem(folder: Path) -> str | None:
    """Why files cannot be written into `folder` (None: they can). Tried for real, with a file created and
    removed (permission bits say nothing for root; a read-only or immutable folder refuses root too). Folders
    created only for the try are removed again, so a refused run leaves nothing behind."""
    created: list[Path] = []
    probe = folder
    while not probe.exists() and probe != probe.parent:
        created.append(probe)
        probe = probe.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".faultlab-write-test-"):
            pass
    except OSError as exc:
        return f"cannot write files there: {exc.strerror or exc}"
    finally:
        for made in created:  # deepest first; a folder someone else filled meanwhile stays
            with contextlib.suppress(OSError):
                made.rmdir()
    return None


def summary(record: RunRecord) -> list[str]:
    """The terminal report: outcome, the checks, the figures, where the record is."""
    out = [f"{record.scenario_name}: {record.outcome.upper()}  (run {record.run_id})"]
    f = record.figures
    if f:
        out.append(
            f"wall {f.get('wall_s', 0):.1f}s = hold {f.get('hold_s', 0):.1f}s + waiting for recovery "
            f"{f.get('recovery_wait_s', 0):.1f}s + waiting on the lab {f.get('waiting_s', 0):.1f}s + harness "
            f"{f.get('harness_s', 0):.1f}s; collected {f.get('bytes_collected', 0):.0f} bytes,"
            f" logs grew {f.get('bytes_grown', 0):.0f} bytes"
        )
    return out


def _print_run(record: RunRecord, artifacts: Path) -> None:
    run_dir = artifacts / record.run_id
    print_report(record, run_dir, report_console())
    out = Console(highlight=False, soft_wrap=True, markup=False)
    for line in summary(record)[1:]:
        out.print(line)
    for note in record.notes:
        if "lease" in note:
            out.print(f"note: {note}")
    report = run_dir / REPORT_FILE
    if report.is_file():
        out.print(f"report: {report}")
    out.print(f"record: {run_dir / 'record.json'}")
    if record.outcome == ERROR:
        Console(stderr=True, highlight=False, soft_wrap=True, markup=False).print(f"faultlab run: {record.message}")


def _lease_progress(err: Console) -> Callable[[LeaseInfo], None]:
    last = [0.0]

    def show(holder: LeaseInfo) -> None:
        now = time.monotonic()
        if now - last[0] >= 10:
            last[0] = now
            err.print(f"waiting for the lab: leased by {holder.describe()}")

    return show


def run(
    scenarios: Annotated[list[Path], typer.Argument(help="Scenario files (scenarios/*.yaml), run one after another.")],
    inventory: Annotated[
        Path | None, typer.Option(help="The lab's inventory (inventory.example.yaml), or a pool file.")
    ] = None,
    lab: Annotated[str | None, typer.Option(help="An embedded lab's id (instead of --inventory).")] = None,
    artifacts: Annotated[Path, typer.Option(help="Folder for run records and collected logs.")] = Path("artifacts"),
    state_dir: Annotated[Path | None, typer.Option(help="Fault ledger folder.")] = None,
    lease_wait: Annotated[
        float, typer.Option(help="Seconds to wait for a lab another run holds (0: fail at once).")
    ] = DEFAULT_LEASE_WAIT_S,
    history: Annotated[str | None, typer.Option(help=HISTORY_HELP)] = None,
) -> None:
    """Run scenarios: inject, hold, heal, recover, collect the logs and judge them, one after another, each under
    the lab's lease and recorded in the history. Without --lab or --inventory, an embedded lab shaped for the
    scenarios is started and taken down afterwards. Exit 0 all passed, 1 one failed, 3 lab problem, 2 bad input."""
    err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
    if inventory is not None and lab is not None:
        err.print("faultlab run: give at most one of --inventory FILE or --lab ID")
        raise typer.Exit(EXIT_USAGE)
    loaded: list[tuple[str, Scenario]] = []
    for path in scenarios:
        try:
            loaded.append((str(path), load_scenario(path)))
        except ConfigError as exc:
            err.print(f"faultlab run: {exc}")
            raise typer.Exit(EXIT_USAGE) from None
    try:
        shapes = shapes_for(loaded) if inventory is None and lab is None else {}
    except ConfigError as exc:
        err.print(f"faultlab run: {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    ledgers = state_dir or default_state_dir()
    for option, folder, what in (("--artifacts", artifacts, "run records"), ("--state-dir", ledgers, "fault ledger")):
        problem = folder_problem(folder)
        if problem is not None:
            err.print(f"faultlab run: {option} {folder}: {problem} (faultlab keeps the {what} there). Nothing was run.")
            raise typer.Exit(EXIT_USAGE)
    source = LabSource(
        inventories=[inventory] if inventory else [],
        lab_id=lab,
        shape=lambda version: shapes.get(version) or LabShape(version=version),
        on_release=lambda handle: err.print(f"taking the embedded lab {handle.lab_id} down ({handle.shape.version})"),
    )
    session = SessionOptions(lease_wait_s=lease_wait, history=history, on_lease_wait=_lease_progress(err))
    if inventory is None and lab is None:
        labs = "; ".join(s.describe() for s in shapes.values())
        err.print(f"embedded lab(s) for {len(scenarios)} scenario(s), each started when first needed: {labs}")
    from faultlab.harness.runner import RunInterrupted, RunOptions, run_file

    try:
        with Progress() as progress:
            outcomes = run_batch(
                scenarios,
                source,
                RunOptions(artifacts=artifacts, state_dir=state_dir, progress=progress),
                run_file,
                session,
                on_done=lambda o: _print_run(o.record, artifacts) if o.record is not None else None,
            )
    except RunInterrupted as exc:  # healed already; say what was interrupted and what became of the fault
        err.print(f"faultlab run: {exc}")
        err.print(f"record: {artifacts / exc.record.run_id / 'record.json'}")
        raise typer.Exit(143 if exc.signal_name == "SIGTERM" else 130) from None
    except OSError as exc:  # this machine failed the run (a full or read-only disk, a vanished folder)
        where = f"{exc.filename}: " if exc.filename else ""
        err.print(
            f"faultlab run: cannot go on: {where}{exc.strerror or exc}. The run stopped; "
            "`faultlab heal` heals whatever fault its ledger still lists."
        )
        raise typer.Exit(EXIT_ERROR) from None
    finally:
        source.close()
    codes = []
    for o in outcomes:
        if o.record is not None:
            codes.append({PASSED: EXIT_PASSED, ERROR: EXIT_ERROR}.get(o.record.outcome, EXIT_FAILED))
        else:
            err.print(f"faultlab run: {o.scenario}: {o.problem}")
            codes.append(EXIT_USAGE if o.bad_input else EXIT_ERROR)
    if len(outcomes) > 1:
        out = Console(highlight=False, soft_wrap=True, markup=False)
        for o in outcomes:
            what = o.record.outcome.upper() if o.record is not None else (o.problem or "").split(":")[0].upper()
            out.print(f"{what:8} {o.scenario}")
    raise typer.Exit(max(codes, key=_SEVERITY.index) if codes else EXIT_PASSED)


_SEVERITY = [EXIT_PASSED, EXIT_FAILED, EXIT_USAGE, EXIT_ERROR]


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
    out.print(f"{rec.scenario_name} (run {rec.run_id}): verdict {result.verdict.value.upper()}")
    for line in result.lines:
        out.print(line)
    for note in result.notes:
        out.print(f"note: {note}")
    raise typer.Exit(EXIT_PASSED if result.passed else EXIT_FAILED)
