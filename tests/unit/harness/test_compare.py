"""Comparing runs of one scenario: moved steps, slower recovery, lost steps and conditions, the command line."""

from __future__ import annotations

import copy
import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from faultlab.harness.cli import app
from faultlab.harness.compare import (
    CHANGED,
    LATER,
    SAME,
    SLOWER,
    WORSE,
    CompareError,
    Row,
    Tolerance,
    compare,
)
from faultlab.harness.judgement import Judgement
from faultlab.harness.record import FAILED, RunRecord, iso, load_record, parse_iso, save_record

FIXTURE = Path(__file__).parents[2] / "fixtures" / "runs" / "nfs-apd-bsod"  # a real embedded-lab run


@pytest.fixture
def base(tmp_path: Path) -> RunRecord:
    shutil.copytree(FIXTURE, tmp_path / "base")
    return load_record(tmp_path / "base")[0]


def candidate(record: RunRecord, run_id: str = "cand") -> RunRecord:
    rec = copy.deepcopy(record)
    rec.run_id = run_id
    return rec


def row(cmp_rows: list[Row], label: str) -> Row:
    return next(r for r in cmp_rows if r.label == label)


def edit_judgement(rec: RunRecord, edit: Any) -> None:
    """Change the record's judgement through its JSON (as a record on disk would say it) and load it back."""
    assert rec.judgement is not None
    data = rec.judgement.to_json()
    edit(data)
    rec.judgement = Judgement.from_json(data)


def shift_step(rec: RunRecord, index: int, seconds: float) -> None:
    def edit(data: dict[str, Any]) -> None:
        event = data["checks"][0]["matched"][index]["event"]
        for ev in [event, *(e for e in data["events"] if e["name"] == event["name"])]:  # twins too
            ev["time"] = iso(parse_iso(ev["time"]) + timedelta(seconds=seconds))

    edit_judgement(rec, edit)


def test_a_run_against_itself_changes_nothing(base: RunRecord) -> None:
    cmp = compare(base, candidate(base))
    assert cmp.regressions == [] and cmp.notes == []
    assert {r.change for r in cmp.rows} == {SAME}
    sections = [r.section for r in cmp.rows]
    assert sections.count("step") == 8 and sections.count("recovery") == 2 and "outcome" in sections
    timeout = row(cmp.rows, "4 apd.timeout")
    assert isinstance(timeout.baseline, float) and timeout.baseline == timeout.candidate and timeout.delta_s == 0
    # the measure a recovery condition already shows is not repeated
    assert not any(r.label == "heal_to_datastore_accessible_s" for r in cmp.rows)


def test_a_changed_setting_moves_steps_without_a_regression(base: RunRecord) -> None:
    cand = candidate(base)
    cand.settings["Misc.APDTimeout"] = 9.0
    shift_step(cand, 3, 3.0)  # apd.timeout comes 3 s later
    cmp = compare(base, cand)
    setting = row(cmp.rows, "Misc.APDTimeout")
    assert (setting.baseline, setting.candidate, setting.change) == (6.0, 9.0, CHANGED)
    moved = row(cmp.rows, "4 apd.timeout")
    assert moved.change == LATER and moved.delta_s == pytest.approx(3.0) and not moved.regression
    assert row(cmp.rows, "apd_start_to_timeout_s").change == LATER
    assert cmp.regressions == []


def test_slower_recovery_beyond_the_tolerance_is_a_regression(base: RunRecord) -> None:
    cand = candidate(base)
    powered = next(r for r in cand.recovery if r.condition == "vm win01 powered_on")
    powered.seconds = 5.0  # 2.07 s in the baseline
    cmp = compare(base, cand)
    slow = row(cmp.rows, "vm win01 powered_on")
    assert slow.change == SLOWER and slow.regression
    assert "vm win01 powered_on: 5.0s against 2.1s" in slow.why
    # within the tolerance: 2.07 s -> 2.9 s is under the 1 s floor; with no floor and 10% it counts
    powered.seconds = 2.9
    assert compare(base, cand).regressions == []
    assert row(compare(base, cand, Tolerance(ratio=0.10, min_s=0.0)).rows, "vm win01 powered_on").regression


def test_a_lost_step_and_condition_and_a_worse_outcome_are_regressions(base: RunRecord) -> None:
    cand = candidate(base)

    def edit(data: dict[str, Any]) -> None:
        matched = data["checks"][0]["matched"]
        matched[4]["status"], matched[4]["event"] = "missed", None
        for m in matched[5:]:
            m["status"], m["event"] = "not reached", None

    edit_judgement(cand, edit)
    cand.outcome, cand.message = FAILED, "FALSE in order:\n  step 5 nfs.server.restored: absent"
    cand.recovery[1].met, cand.recovery[1].seconds = False, None
    cmp = compare(base, cand)
    whys = [r.why for r in cmp.regressions]
    assert whys[0] == "outcome: passed -> failed"
    assert "5 nfs.server.restored: met -> missed" in whys
    assert "vm win01 powered_on: met -> not met" in whys
    assert row(cmp.rows, "5 nfs.server.restored").change == WORSE
    assert any(n.startswith("candidate failed: FALSE in order") for n in cmp.notes)


def test_runs_of_different_scenarios_are_refused(base: RunRecord) -> None:
    other = candidate(base)
    other.scenario_name = "iscsi-apd"
    with pytest.raises(CompareError, match=r"different scenarios.*'nfs-apd-bsod'.*'iscsi-apd'"):
        compare(base, other)


def test_the_command_line_exits_by_regression_and_writes_json(base: RunRecord, tmp_path: Path) -> None:
    base_dir = tmp_path / "base"
    same, slow = tmp_path / "same", tmp_path / "slow"
    shutil.copytree(base_dir, same)
    shutil.copytree(base_dir, slow)
    rec = load_record(slow)[0]
    rec.run_id = "slow-run"
    rec.recovery[0].seconds = 9.5
    save_record(rec, slow)
    runner = CliRunner()

    ok = runner.invoke(app, ["compare", str(base_dir), str(same)])
    assert ok.exit_code == 0, ok.output
    assert "no regression against" in ok.output and "step 4 apd.timeout" in ok.output

    bad = runner.invoke(app, ["compare", str(base_dir), str(same), str(slow), "--json", "-"])
    assert bad.exit_code == 1, bad.output
    lines = [json.loads(line) for line in bad.output.splitlines()]
    assert [c["candidate_run"] for c in lines] == [base.run_id, "slow-run"]
    assert [c["regressions"] for c in lines] == [0, 1]
    slow_row = next(r for r in lines[1]["rows"] if r["label"] == "datastore ds-nfs01 accessible")
    assert slow_row["change"] == SLOWER and slow_row["candidate"] == 9.5

    text = runner.invoke(app, ["compare", str(base_dir), str(slow), "--tolerance", "500", "--min-delta", "10"])
    assert text.exit_code == 0, text.output  # 1.6 s -> 9.5 s is within 500% / 10 s

    missing = runner.invoke(app, ["compare", str(base_dir), str(tmp_path / "nope")])
    assert missing.exit_code == 2
    assert "faultlab compare:" in missing.output and "nope" in missing.output
