"""The typed judgement: its JSON round trip through the record, records written before it was typed (loaded as
they are, judged again the same), the recovery measures from one place, the atomic writer and the UTC helper."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from faultlab.harness.anchors import HEALED, REBOOTED, ConditionKey
from faultlab.harness.atomic import write_atomic
from faultlab.harness.cli import app
from faultlab.harness.compare import SLOWER, compare
from faultlab.harness.judge import judge
from faultlab.harness.judgement import Failure, Judgement, StepStatus, Verdict
from faultlab.harness.measures import measures, observations, run_measures, shown_by_conditions
from faultlab.harness.record import PASSED, Outcome, Recovery, RunRecord, load_record, save_record
from faultlab.harness.report.data import build_view
from faultlab.harness.utc import iso, parse_iso

FIXTURE = Path(__file__).parent.parent / "fixtures" / "runs" / "nfs-apd-bsod"  # a real run, recorded before


@pytest.fixture
def run(tmp_path: Path) -> tuple[RunRecord, Path]:
    shutil.copytree(FIXTURE, tmp_path / "run")
    return load_record(tmp_path / "run")


def stored_judgement() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURE / "record.json").read_text())["judgement"]
    return data


def summary(j: Judgement) -> list[Any]:
    """What a re-judgement has to give again: the verdict, and every check with the events its steps matched."""
    checks = [
        (
            c.verdict,
            c.check,
            c.message,
            c.failure,
            [(m.status, m.event and (m.event.where, m.event.time)) for m in c.matched],
        )
        for c in j.checks
    ]
    return [j.verdict, j.message, checks, j.lines]


# -- records from before the typed judgement ---------------------------------------------------------------


def test_a_record_from_before_loads_typed_and_judges_again_the_same(run: tuple[RunRecord, Path]) -> None:
    record, run_dir = run
    stored = record.judgement
    assert stored is not None and stored.passed and record.outcome is Outcome.PASSED
    assert [c.verdict for c in stored.checks] == [Verdict.TRUE] * 5
    assert [m.status for m in stored.checks[0].matched] == [StepStatus.MET] * 8
    again = judge(record, run_dir)
    assert summary(again) == summary(stored)
    # The catalog grew since the run was recorded (guest.reset; a vob.* line and its esx.* twin counted once), so
    # the events seen are not the same list; the ones the steps matched are among them.
    seen = {(e.name, e.where, e.time) for e in again.events}
    assert {(m.name, m.event.where, m.event.time) for m in stored.checks[0].matched if m.event} <= seen
    res = CliRunner().invoke(app, ["judge", str(run_dir)])
    assert res.exit_code == 0, res.output
    assert "verdict TRUE" in res.output and "[met] step 8 guest.tools_heartbeat.lost" in res.output


def same_event(new: dict[str, Any], old: dict[str, Any]) -> None:
    """Every key the old event had, with the same value (times as instants: the log's own time was written with
    milliseconds before, with all its digits now)."""
    for k, v in old.items():
        if k == "untimed":  # that is `time is None`, not stored twice
            assert (new["time"] is None) == v
        elif k in ("original_time", "time", "time_on_harness_clock") and v is not None:
            assert parse_iso(new[k]) == parse_iso(v), k
        else:
            assert new[k] == v, k


def test_the_judgement_keeps_its_json_shape(run: tuple[RunRecord, Path]) -> None:
    """Scripts read record.json: every key an old judgement had is written again with the same value."""
    record, _run_dir = run
    assert record.judgement is not None
    old, new = stored_judgement(), record.judgement.to_json()
    assert {k: new[k] for k in ("verdict", "message", "lines", "notes")} == {
        k: old[k] for k in ("verdict", "message", "lines", "notes")
    }
    for e, old_e in zip(new["events"], old["events"], strict=True):
        same_event(e, old_e)
    for c, old_c in zip(new["checks"], old["checks"], strict=True):
        plain = [k for k in old_c if k not in ("matched", "offending", "candidates")]
        assert {k: c[k] for k in plain} == {k: old_c[k] for k in plain}
        assert len(c["candidates"]) == len(old_c["candidates"]) and len(c["offending"]) == len(old_c["offending"])
        for e, old_e in zip(c["offending"], old_c["offending"], strict=True):
            same_event(e, old_e)
        for m, old_m in zip(c["matched"], old_c["matched"], strict=True):
            assert (m["label"], m["name"], m["status"]) == (old_m["label"], old_m["name"], old_m["status"])
            same_event(m["event"], old_m["event"])


def test_a_failing_judgement_round_trips_through_the_record(run: tuple[RunRecord, Path]) -> None:
    record, run_dir = run
    record.scenario_text = record.scenario_text.replace("code: 0xEF", "code: 0x7A")
    record.judgement = judge(record, run_dir)
    j = record.judgement
    assert j.verdict is Verdict.FALSE and not record.passed
    seq = j.sequence
    assert seq is not None and seq.failure is Failure.MISMATCH and seq.step_index == 7
    assert [m.status for m in seq.matched][6:] == [StepStatus.MISSED, StepStatus.NOT_REACHED]
    assert seq.candidates and seq.candidates[0].name == "guest.bsod" and seq.candidates[0].fields["code"] == 0xEF
    save_record(record, run_dir)
    again, _ = load_record(run_dir)
    assert again.judgement == j and again == record
    assert isinstance(again.judgement.checks[0].verdict, Verdict)  # typed after loading, not a str
    view = build_view(again, run_dir)
    assert [s.status for s in view.steps][6] is StepStatus.MISSED and "nearest: guest.bsod" in view.steps[6].message


def test_a_judgement_that_cannot_be_read_is_left_out_with_a_note(run: tuple[RunRecord, Path]) -> None:
    _record, run_dir = run
    data = json.loads((run_dir / "record.json").read_text())
    data["judgement"]["verdict"] = "maybe"
    (run_dir / "record.json").write_text(json.dumps(data))
    record, _ = load_record(run_dir)
    assert record.judgement is None
    assert any("judgement.verdict" in n and "faultlab judge" in n for n in record.notes), record.notes
    # the reports draw it from its collected logs, and `faultlab judge` judges it again
    assert build_view(record, run_dir).run_measures == run_measures(record, run_dir) != {}
    res = CliRunner().invoke(app, ["judge", str(run_dir)])
    assert res.exit_code == 0 and "verdict TRUE" in res.output, res.output


def test_a_bad_outcome_names_the_file(run: tuple[RunRecord, Path]) -> None:
    _record, run_dir = run
    data = json.loads((run_dir / "record.json").read_text())
    data["outcome"] = "fine"
    (run_dir / "record.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"record\.json: 'fine' is not a valid Outcome"):
        load_record(run_dir)


# -- recovery conditions and measures ----------------------------------------------------------------------


def test_a_recovery_condition_carries_its_key_and_anchor() -> None:
    reboot = Recovery("vm win01 reboots_cleanly", True, 20.0, 30.0)
    assert reboot.key is ConditionKey.REBOOTS_CLEANLY and reboot.since == REBOOTED
    ds = Recovery("datastore ds-nfs01 accessible", True, 1.0, 30.0)
    assert ds.key is ConditionKey.ACCESSIBLE and ds.since == HEALED
    assert Recovery("something else", None, None, 30.0).key is None
    named = Recovery("the share is back", True, 1.0, 30.0, key="accessible")  # type: ignore[arg-type]
    assert named.key is ConditionKey.ACCESSIBLE


def heal_plus(record: RunRecord, s: float) -> str:
    return iso(parse_iso(record.anchors[HEALED]) + timedelta(seconds=s))


def test_measures_come_from_typed_conditions_and_observations(run: tuple[RunRecord, Path]) -> None:
    record, run_dir = run
    # A condition is found by its key, whatever its display name says.
    record.recovery[0] = Recovery("the share came back", True, 1.5, 30.0, key=ConditionKey.ACCESSIBLE)
    assert run_measures(record, run_dir)["heal_to_datastore_accessible_s"] == 1.5
    assert shown_by_conditions(record) == {"heal_to_datastore_accessible_s", "heal_to_vm_powered_on_s"}
    # Without the condition, the first vSphere change to the recovered value after the heal gives it; the object's
    # name (a lane title) and a value logged as a bool do not matter.
    record.recovery = []
    record.observations = [
        {"time": heal_plus(record, -1.0), "object": "x", "property": "summary.accessible", "value": True},
        {"time": heal_plus(record, 2.0), "object": "y", "property": "summary.accessible", "value": False},
        {"time": heal_plus(record, 3.25), "object": "z", "property": "summary.accessible", "value": True},
        {"time": heal_plus(record, 4.0), "object": "vm win01", "property": "guestHeartbeatStatus", "value": "green"},
        {"time": "not a time", "object": "vm win01", "property": "guestHeartbeatStatus", "value": "green"},
    ]
    assert [o.value for o in observations(record)] == ["true", "false", "true", "green"]
    m = measures(record, record.judgement.events if record.judgement else [], observations(record))
    assert m["heal_to_datastore_accessible_s"] == 3.25 and m["heal_to_guest_heartbeat_green_s"] == 4.0
    assert m == build_view(record, run_dir).run_measures == run_measures(record, run_dir)


def test_compare_judges_the_measures_of_the_one_place(run: tuple[RunRecord, Path]) -> None:
    base, run_dir = run
    base.recovery = []
    base.observations = [{"time": heal_plus(base, 2.0), "object": "d", "property": "accessible", "value": "true"}]
    cand = RunRecord.from_json(json.loads(json.dumps(base.to_json())))
    cand.run_id = "cand"
    cand.observations = [{"time": heal_plus(cand, 6.0), "object": "d", "property": "accessible", "value": "true"}]
    cmp = compare(base, cand, baseline_dir=run_dir, candidate_dir=run_dir)
    rows = {r.label: r for r in cmp.rows if r.section == "measure"}
    assert set(rows) == set(run_measures(base, run_dir)) | set(run_measures(cand, run_dir))
    slow = rows["heal_to_datastore_accessible_s"]
    assert (slow.baseline, slow.candidate, slow.change, slow.regression) == (2.0, 6.0, SLOWER, True)
    assert rows["fault_to_apd_start_s"].regression is False and cand.outcome == PASSED


# -- the atomic writer and the UTC helper ------------------------------------------------------------------


def test_the_atomic_writer_leaves_the_old_file_when_a_write_fails(tmp_path: Path, monkeypatch: Any) -> None:
    path = tmp_path / "sub" / "f.json"
    write_atomic(path, "old\n")
    write_atomic(path, b"\x00bytes")
    assert path.read_bytes() == b"\x00bytes"
    synced: list[int] = []
    real_fsync = os.fsync

    def failing_fsync(fd: int) -> None:
        synced.append(fd)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="Input/output error"):
        write_atomic(path, "new\n")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert path.read_bytes() == b"\x00bytes" and synced
    assert sorted(p.name for p in path.parent.iterdir()) == ["f.json"]  # the temp file is gone


def test_the_utc_helper() -> None:
    t = parse_iso("2026-11-22T04:55:50.959029Z")
    assert t == datetime(2026, 11, 22, 4, 55, 50, 959029, tzinfo=UTC) and t.utcoffset() == timedelta(0)
    assert parse_iso("2026-11-22T04:55:50") == datetime(2026, 11, 22, 4, 55, 50, tzinfo=UTC)  # no offset: UTC
    assert parse_iso("2026-11-22T06:55:50+02:00").utcoffset() == timedelta(0)
    assert iso(datetime(2026, 11, 22, 6, 55, 50, 959029, tzinfo=timezone(timedelta(hours=2)))) == (
        "2026-11-22T04:55:50.959029Z"
    )
    assert iso(t, "milliseconds") == "2026-11-22T04:55:50.959Z"
    with pytest.raises(ValueError):
        parse_iso("yesterday")
