"""The pytest plugin via pytester: scenario items, PASS / FAIL naming the step / ERROR, options, fixtures, JUnit."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

INVENTORY = """\
version: 1
kind: real
ssh: {user: root, private_key: key, known_hosts: kh}
hosts: [{name: esx01, address: 198.18.9.11}]
storage_targets:
  - {name: nfs01, kind: nfs, address: 198.18.9.21, allow_faults: true, ports: {nfs: 2049},
     service: {start: "s start", stop: "s stop"}}
datastores: [{name: ds-nfs01, type: nfs, target: nfs01, hosts: [esx01]}]
vms: [{name: win01, host: esx01, datastore: ds-nfs01}]
"""

SCENARIO = """\
name: {name}
story: a test scenario
target: {{host: esx01, datastore: ds-nfs01, vm: win01}}
fault: {{kind: network-blackhole, on: nfs01}}
hold: "{{Misc.APDTimeout}}s"
expect:
  in_order: [apd.start, apd.exit]
"""

# The fake runner decides the outcome from the scenario's name and records what it was called with.
CONFTEST = """\
from pathlib import Path
from faultlab.harness.record import RunRecord, Recovery

CALLS = []

def fake(scenario_path, inventory_path, options):
    name = Path(scenario_path).stem
    CALLS.append((name, Path(inventory_path).name, options.artifacts))
    rec = RunRecord(run_id=f"{name}-1", scenario_name=name, scenario_path=str(scenario_path),
                    scenario_text="", inventory_path=str(inventory_path), started="2026-01-01T00:00:00Z")
    rec.figures = {"wall_s": 12.5, "hold_s": 6.0, "recovery_s": 3.0, "bytes_collected": 800.0}
    rec.recovery = [Recovery("vm win01 powered_on", True, 3.0, 30.0)]
    rec.measures = {"fault_to_apd_start_s": 4.2, "heal_to_guest_heartbeat_green_s": 4.5}
    if name.startswith("fails"):
        rec.outcome = "failed"
        rec.message = "FALSE in order: apd.start -> apd.exit\\n  step 2 apd.exit: absent: no apd.exit event"
    elif name.startswith("labproblem"):
        rec.outcome = "error"
        rec.message = "lab problem in phase inject: nfs01: iptables -I INPUT: Permission denied"
    else:
        rec.outcome = "passed"
    return rec

def pytest_faultlab_runner(config):
    return fake
"""


@pytest.fixture
def lab_dir(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".yaml", inv=INVENTORY)
    (pytester.path / "key").write_text("")
    (pytester.path / "key").chmod(0o600)
    (pytester.path / "kh").write_text("")
    pytester.makeconftest(CONFTEST)
    (pytester.path / "scenarios").mkdir()
    return pytester


def scenario(p: pytest.Pytester, name: str, text: str | None = None) -> Path:
    path = p.path / "scenarios" / f"{name}.yaml"
    path.write_text(text if text is not None else SCENARIO.format(name=name))
    return path


def test_scenario_files_are_items_and_pass(lab_dir: pytest.Pytester) -> None:
    scenario(lab_dir, "nfs-ok")
    (lab_dir.path / "scenarios" / "notes.txt").write_text("not a scenario")
    result = lab_dir.runpytest("--inventory", "inv.yaml", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*scenarios/nfs-ok.yaml::nfs-ok PASSED*"])


def test_differing_behaviour_is_a_fail_naming_the_step(lab_dir: pytest.Pytester) -> None:
    scenario(lab_dir, "fails-order")
    result = lab_dir.runpytest("--inventory", "inv.yaml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*scenario fails-order failed: FALSE in order*", "*step 2 apd.exit: absent*"])
    assert "Traceback" not in result.stdout.str()


def test_lab_problem_is_an_error(lab_dir: pytest.Pytester) -> None:
    scenario(lab_dir, "labproblem")
    result = lab_dir.runpytest("--inventory", "inv.yaml")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*lab problem in phase inject: nfs01: iptables -I INPUT: Permission denied*"])


def test_bad_scenario_is_an_error_with_file_line_key(lab_dir: pytest.Pytester) -> None:
    scenario(lab_dir, "broken", SCENARIO.format(name="broken").replace("network-blackhole", "network-nuke"))
    result = lab_dir.runpytest("--inventory", "inv.yaml")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*bad scenario: *broken.yaml, line 4, key fault*"])


def test_bad_inventory_is_an_error_naming_the_key(lab_dir: pytest.Pytester) -> None:
    scenario(lab_dir, "nfs-ok")
    lab_dir.makefile(".yaml", badinv=INVENTORY.replace("address: 198.18.9.11", "adress: 198.18.9.11"))
    result = lab_dir.runpytest("--inventory", "badinv.yaml")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*bad inventory: 2 problems:*", "*badinv.yaml, line 4, key hosts[[]0].adress: unknown key*"]
    )
    assert "During handling" not in result.stdout.str()


def test_unknown_embedded_lab_is_an_error(lab_dir: pytest.Pytester) -> None:
    scenario(lab_dir, "nfs-ok")
    result = lab_dir.runpytest("--lab", "flzzzz")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no embedded lab 'flzzzz'*"])


def test_ini_keys_and_artifacts_reach_the_runner(lab_dir: pytest.Pytester) -> None:
    scenario(lab_dir, "nfs-ok")
    lab_dir.makeini("[pytest]\nfaultlab_inventory = inv.yaml\nfaultlab_artifacts = out\n")
    lab_dir.makepyfile(
        test_calls="""
        import conftest
        def test_after():
            assert conftest.CALLS == [("nfs-ok", "inv.yaml", conftest.Path.cwd() / "out")]
        """
    )
    result = lab_dir.runpytest("-p", "no:randomly", "scenarios", "test_calls.py")
    result.assert_outcomes(passed=2)


def test_markers_registered_and_selectable(lab_dir: pytest.Pytester) -> None:
    scenario(lab_dir, "nfs-ok")
    markers = lab_dir.runpytest("--markers")
    markers.stdout.fnmatch_lines(["@pytest.mark.lab:*", "@pytest.mark.destructive:*"])
    result = lab_dir.runpytest("--inventory", "inv.yaml", "--strict-markers", "-m", "not destructive")
    result.assert_outcomes(deselected=1)


def test_junit_carries_the_measured_times(lab_dir: pytest.Pytester) -> None:
    scenario(lab_dir, "nfs-ok")
    lab_dir.runpytest("--inventory", "inv.yaml", "--junitxml", "junit.xml")
    tree = ET.parse(lab_dir.path / "junit.xml")
    props = {p.get("name"): p.get("value") for p in tree.iter("property")}
    assert props["wall_s"] == "12.5" and props["hold_s"] == "6.0" and props["recovery_s"] == "3.0"
    assert props["recover_vm_win01_powered_on_s"] == "3.0" and props["outcome"] == "passed"
    assert props["fault_to_apd_start_s"] == "4.2" and props["heal_to_guest_heartbeat_green_s"] == "4.5"


def test_run_scenario_fixture_for_python_scenarios(lab_dir: pytest.Pytester) -> None:
    scenario(lab_dir, "fails-x")
    lab_dir.makepyfile(
        test_py="""
        def test_record(run_scenario, lab):
            assert lab.inventory_path.name == "inv.yaml"
            rec = run_scenario("scenarios/fails-x.yaml", check=False)
            assert rec.outcome == "failed"

        def test_checked(run_scenario):
            run_scenario("scenarios/fails-x.yaml")
        """
    )
    result = lab_dir.runpytest("--inventory", "inv.yaml", "test_py.py")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*scenario fails-x failed: FALSE in order*"])
