"""nfs-apd-bsod on the embedded lab with its simulated vCenter, as a QA engineer judges recovery: what vSphere
showed through pyVmomi (WaitForUpdatesEx), the vCenter events of the window, the recovery measures, the guest's
restarts and its second reboot, the artifacts; and a VM that does not recover within budget FAILs naming it."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from faultlab.harness.judgement import Verdict
from faultlab.harness.record import RunRecord, parse_iso

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "nfs-apd-bsod.yaml"
RunScenario = Callable[..., RunRecord]


def values(record: RunRecord, obj: str, prop: str) -> list[tuple[datetime, Any]]:
    return [
        (parse_iso(o["time"]), o["value"]) for o in record.observations if (o["object"], o["property"]) == (obj, prop)
    ]


def first(seq: list[tuple[datetime, Any]], value: Any, after: datetime) -> datetime | None:
    return next((t for t, v in seq if v == value and t >= after), None)


def test_nfs_apd_bsod_as_vsphere_shows_it(
    run_scenario: RunScenario, pytestconfig: pytest.Config, tmp_path: Path
) -> None:
    record = run_scenario(SCENARIO)
    injected, healed = parse_iso(record.anchors["fault.injected"]), parse_iso(record.anchors["fault.healed"])

    # The datastore: accessible before, inaccessible during the outage (APD start, then timeout), accessible after.
    accessible = values(record, "datastore ds-nfs01", "summary.accessible")
    assert accessible and accessible[0][1] is True and accessible[0][0] <= injected, accessible
    down = first(accessible, False, injected)
    assert down is not None and down < healed, accessible
    up = first(accessible, True, healed)
    assert up is not None, accessible
    reasons = [v for t, v in values(record, "datastore ds-nfs01", "host[esx01].mountInfo.inaccessibleReason")]
    assert reasons[:2] == ["AllPathsDown_Start", "AllPathsDown_Timeout"], reasons

    # The VM: powered on throughout; its guest heartbeat red after the bugcheck, green again afterwards.
    assert {v for _t, v in values(record, "vm win01", "runtime.powerState")} == {"poweredOn"}
    beat = values(record, "vm win01", "guestHeartbeatStatus")
    red = first(beat, "red", healed)
    assert red is not None, beat
    green = first(beat, "green", red)
    assert green is not None, beat

    # The vCenter events of the window, on the harness clock.
    events = {e["eventTypeId"]: parse_iso(e["time"]) for e in reversed(record.vcenter_events)}
    for type_id in (
        "esx.problem.storage.apd.start",
        "esx.problem.storage.apd.timeout",
        "esx.problem.vmfs.nfs.server.disconnect",
    ):
        assert injected < events[type_id] < healed, (type_id, events)
    for type_id in ("esx.clear.storage.apd.exit", "esx.clear.vmfs.nfs.server.restored", "VmGuestOSCrashedEvent"):
        assert events[type_id] > healed, (type_id, events)
    assert events["esx.problem.storage.apd.start"] < events["esx.problem.storage.apd.timeout"]

    # The recovery measures: present, and in the order the story tells.
    m = record.measures
    assert m["fault_to_apd_start_s"] > 0 and m["fault_to_apd_start_s"] < m["fault_window_s"], m
    assert m["apd_start_to_timeout_s"] >= record.settings["Misc.APDTimeout"] - 0.05, m
    assert 0 < m["heal_to_apd_exit_s"] <= m["heal_to_datastore_accessible_s"] + 0.5, m
    assert m["heal_to_datastore_accessible_s"] < m["heal_to_guest_heartbeat_green_s"], m
    assert m["heal_to_guest_heartbeat_green_s"] <= (record.recover_budget_s or 0), m

    # KB 392634's guest conditions: one restart after the fault, and a second reboot that does not bugcheck.
    assert record.judgement is not None
    checks = {c.check: c for c in record.judgement.checks}
    restarts = checks["recover: vm win01 restarted at most once after fault.injected"]
    assert restarts.verdict is Verdict.TRUE and "1 guest.reset" in restarts.message, restarts
    clean = checks["recover: vm win01 reboots without a bugcheck after guest.rebooted"]
    assert clean.verdict is Verdict.TRUE, clean
    reboot = next(r for r in record.recovery if r.condition == "vm win01 reboots_cleanly")
    assert reboot.met and reboot.seconds is not None, reboot
    rebooted = parse_iso(record.anchors["guest.rebooted"])
    # The harness asked for the second reboot only once its own read said green; the update stream stamps the same
    # green when it arrives, up to a bridge poll later (seen: 13 ms after the request), so not compared directly.
    beat_green = next(r for r in record.recovery if r.key == "heartbeat_green")
    assert beat_green.seconds is not None and healed + timedelta(seconds=beat_green.seconds) < rebooted
    assert abs((green - (healed + timedelta(seconds=beat_green.seconds))).total_seconds()) < 1.0, (green, beat)
    assert first(beat, "green", rebooted) is not None and any(t > rebooted and v != "green" for t, v in beat), beat

    # The artifacts: vCenter events and observations, JUnit with the measures, the HTML report.
    from faultlab.harness.pytest_plugin import artifacts_dir

    folder = artifacts_dir(pytestconfig) / record.run_id
    vc = json.loads((folder / "vcenter-events.json").read_text())
    assert len(vc["events"]) == len(record.vcenter_events) and len(vc["observations"]) == len(record.observations)
    props = {p.get("name"): p.get("value") for p in ET.parse(folder / "junit.xml").iter("property")}
    assert float(props["heal_to_guest_heartbeat_green_s"]) == m["heal_to_guest_heartbeat_green_s"]
    html = (folder / "report.html").read_text()
    assert "guestHeartbeatStatus" in html and "storage.apd.start" in html

    # The vCenter password (from the environment, as the inventory's ${VAR} asks) is nowhere in the artifacts.
    password = os.environ["FAULTLAB_VC_PASSWORD"].encode()
    assert len(password) >= 16
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert len(files) >= 10  # record, junit, report, vCenter events, 6 collected logs
    assert [p for p in files if password in p.read_bytes()] == []

    # The report of this real run in headless Chromium: the vSphere lanes carry what the watch and events saw.
    from tests.lab.test_report_chromium import chromium, svg_of

    res = chromium(tmp_path, "--dump-dom", (folder / "report.html").as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    gs = list(svg_of(res.stdout).iter("{http://www.w3.org/2000/svg}g"))
    lanes = {g.get("data-lane") for g in gs if (g.get("class") or "") == "lane"}
    assert {"datastore ds-nfs01", "vm win01", "esx01 vobd.log", "esx01 win01/vmware.log"} <= lanes, lanes
    names = {g.get("data-name") for g in gs if (g.get("class") or "").startswith("mark")}
    assert {"guestHeartbeatStatus=red", "accessible=false", "storage.apd.start", "guest.reset"} <= names, names


def test_a_vm_not_recovered_within_budget_fails_naming_the_condition(run_scenario: RunScenario) -> None:
    # The guest bugchecks as storage returns and needs its restart and boot before the heartbeat is green again:
    # 3 s after heal is not enough (the lab's guest takes 2 s to restart and 1.5 s to boot).
    text = SCENARIO.read_text().replace('  within: "{Misc.APDTimeout}s * 5"', '  within: "3s"')
    assert '  within: "3s"' in text
    record = run_scenario(text, check=False)
    assert record.outcome == "failed", (record.outcome, record.message)
    assert "vm win01 heartbeat_green not reached within 3s" in record.message, record.message
    beat = next(r for r in record.recovery if r.condition == "vm win01 heartbeat_green")
    assert beat.met is False and beat.seconds is None
    assert not any(r.condition.endswith("reboots_cleanly") and r.met for r in record.recovery)
