"""The scenario catalog end to end on the embedded lab (one per session, from the plugin), and wrong expectations.

Each catalog scenario must pass; the figures (wall time against hold + recovery, bytes collected against
bytes the logs grew) are printed and kept as JUnit properties. A deliberately wrong expectation must FAIL
with a message naming the step, both from a real run and when the record is judged again offline.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from faultlab.harness.judge import judge
from faultlab.harness.judgement import Verdict
from faultlab.harness.record import RunRecord, load_record, parse_iso
from faultlab.harness.scenario import load_scenario

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

ROOT = Path(__file__).resolve().parents[2]
# The catalog's scenarios for the plugin's default (8.0) lab; esx4-lost-heartbeat (`lab: {version: "4.1"}`) runs
# on a 4.1 lab of its own: tests/lab/test_esx4_lost_heartbeat.py and `pytest scenarios/`.
ALL = sorted((ROOT / "scenarios").glob("*.yaml"))
CATALOG = [p for p in ALL if load_scenario(p).required_version is None]
RunScenario = Callable[..., RunRecord]


def run_dir(pytestconfig: pytest.Config, record: RunRecord) -> Path:
    from faultlab.harness.pytest_plugin import artifacts_dir

    return artifacts_dir(pytestconfig) / record.run_id


def test_catalog_is_complete() -> None:
    names = {p.stem for p in CATALOG}
    assert {"nfs-apd-bsod", "nfs-blip-no-apd", "nfs-service-stop", "iscsi-apd", "iscsi-pdl"} <= names
    assert {p.stem for p in ALL} - names == {"esx4-lost-heartbeat"}


@pytest.mark.parametrize("path", CATALOG, ids=[p.stem for p in CATALOG])
def test_catalog_scenario_passes(run_scenario: RunScenario, path: Path, pytestconfig: pytest.Config) -> None:
    record = run_scenario(path)
    f = record.figures
    print(
        f"\nFIGURES {record.scenario_name}: wall {f['wall_s']:.1f}s, hold {f['hold_s']:.1f}s + recovery "
        f"{f['recovery_s']:.1f}s = inherent {f['inherent_s']:.1f}s, harness overhead {f['overhead_s']:.1f}s; "
        f"collected {f['bytes_collected']:.0f} B, logs grew {f['bytes_grown']:.0f} B"
    )
    assert record.judgement is not None and record.judgement.verdict is Verdict.TRUE
    assert [p.status for p in record.phases] == ["ok"] * len(record.phases)
    assert record.heal is not None and record.heal["status"] == "healed", record.heal
    assert all(r.met for r in record.recovery)
    assert f["wall_s"] >= f["inherent_s"]
    if "hold_until:" in path.read_text():  # the live tail ended the hold once the named events were in the logs
        assert any(n.startswith("hold ended") for n in record.notes), record.notes
        assert f["hold_s"] < f["hold_planned_s"], f
    # The 5 host logs and the vmware.log of every VM on the host (the plugin's lab: win01 on NFS, win-vmfs01 on VMFS).
    vm_logs = sorted(lf.path for lf in record.logs if lf.path.endswith("/vmware.log"))
    assert vm_logs == ["/vmfs/volumes/ds-iscsi01/win-vmfs01/vmware.log", "/vmfs/volumes/ds-nfs01/win01/vmware.log"]
    assert len(record.logs) == 7 and f["bytes_collected"] <= f["bytes_grown"]
    # A heartbeat counts as recovered only once green after the Tools heartbeat loss the logs show.
    lost = [e.time for e in record.judgement.named("guest.tools_heartbeat.lost") if e.time is not None]
    for r in record.recovery:
        if r.condition.endswith("heartbeat_green") and lost and r.seconds is not None:
            healed = parse_iso(record.anchors["fault.healed"])
            assert healed + timedelta(seconds=r.seconds + 0.5) >= max(lost), (r, lost)
    # What the live tail saw during the hold is in the collected logs too.
    assert {o["name"] for o in record.observed} <= {e.name for e in record.judgement.events}
    # The record alone judges the same way again (offline).
    rec, folder = load_record(run_dir(pytestconfig, record) / "record.json")
    assert judge(rec, folder).verdict is Verdict.TRUE


def test_wrong_expectation_fails_naming_the_step(run_scenario: RunScenario, pytestconfig: pytest.Config) -> None:
    right = (ROOT / "scenarios" / "nfs-apd-bsod.yaml").read_text()
    wrong_code = right.replace("code: 0xEF", "code: 0x7A")
    assert wrong_code != right
    record = run_scenario(wrong_code, check=False)
    assert record.outcome == "failed", record.message
    assert "step 7 guest.bsod" in record.message and "0x7a" in record.message.lower(), record.message
    assert {"apd.start", "apd.timeout"} <= {o["name"] for o in record.observed}  # seen live during the hold
    # Every condition held and the FALSE verdict stood: the run did not sit out the rest of its recovery budget.
    stopped = [n for n in record.notes if "verdict stayed FALSE" in n]
    assert stopped, record.notes
    assert record.figures["wall_s"] < record.figures["hold_s"] + (record.recover_budget_s or 0), record.figures

    # The same run judged offline: with steps swapped it fails naming the step; with the right file it passes.
    rec, folder = load_record(run_dir(pytestconfig, record))
    swapped = right.replace(
        "    - apd.start: {subject: $datastore}\n    - nfs.server.lost: {subject: $datastore}\n",
        "    - nfs.server.lost: {subject: $datastore}\n    - apd.start: {subject: $datastore}\n",
    )
    assert swapped != right
    rec.scenario_text = swapped
    verdict = judge(rec, folder)
    assert verdict.verdict is Verdict.FALSE
    assert "apd.start" in verdict.message and "step" in verdict.message, verdict.message
    # With the right file every check holds but the second reboot, which the failed run did not attempt.
    rec.scenario_text = right
    again = judge(rec, folder)
    failing = [(c.check, c.message) for c in again.checks if c.verdict is not Verdict.TRUE]
    assert failing == [
        (
            "recover: vm win01 reboots_cleanly within 30s of guest.rebooted",
            "vm win01 reboots_cleanly not reached within 30s: not attempted: the run had not recovered",
        )
    ], failing
