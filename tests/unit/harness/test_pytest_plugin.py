"""The pytest plugin via pytester: scenario items, PASS / FAIL naming the step / ERROR, options, fixtures, JUnit."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

# pytester's in-process runs drop the modules they imported; SQLAlchemy's compiled parts cannot be imported twice
# in one process, so the history is loaded here, before any run, and kept.
import faultlab.harness.history.trends  # noqa: F401
from faultlab.harness import session
from faultlab.harness.session import EmbeddedLabHandle

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
import contextlib
import subprocess
from pathlib import Path
from faultlab.harness.record import RunRecord, Recovery
from faultlab.lab.lease import LabLease
from faultlab.lab.ssh import CommandResult

class LocalShell:  # the lab's lease on this machine's shell and file system instead of over SSH
    def run(self, argv, timeout=None, check=False):
        p = subprocess.run(["/bin/sh", "-c", argv], capture_output=True, text=True, timeout=timeout, check=False)
        return CommandResult(argv, p.returncode, p.stdout, p.stderr, 0.0, "esx01")

LEASES = []

@contextlib.contextmanager
def local_lease(lab, ttl_s):
    worker = WORKER[0]  # each xdist worker's lab has its own lease
    lease = LabLease(LocalShell(), node="esx01", path=str(Path(__file__).parent / f"lab-{worker}.lease"), ttl_s=ttl_s)
    LEASES.append(lease)
    yield lease

WORKER = ["gw0"]

def pytest_configure(config):
    WORKER[0] = getattr(config, "workerinput", {}).get("workerid", "gw0")

def pytest_faultlab_lease_factory(config):
    return local_lease

CALLS = []

def take_lease(name, options):  # what the runner's lease phase does, on the local shell: (error, notes)
    from faultlab.lab.lease import LeaseError, LeaseEvents, acquire
    events = LeaseEvents()
    with options.lease.factory(None, options.lease.ttl_s) as lease:
        try:
            acquire(lease, owner="t:1", run_id=name, wait_s=options.lease.wait_s, events=events)
        except LeaseError as exc:
            return str(exc), []
        lease.release()
    return None, events.notes

def fake(scenario_path, inventory_path, options):
    name = Path(scenario_path).stem
    busy, notes = take_lease(name, options) if options.lease else (None, [])
    CALLS.append((name, Path(inventory_path).name, options.artifacts))
    rec = RunRecord(run_id=f"{name}-1", scenario_name=name, scenario_path=str(scenario_path),
                    scenario_text="", inventory_path=str(inventory_path), started="2026-01-01T00:00:00Z")
    rec.figures = {"wall_s": 12.5, "hold_s": 6.0, "recovery_s": 3.0, "bytes_collected": 800.0}
    rec.recovery = [Recovery("vm win01 powered_on", True, 3.0, 30.0)]
    rec.measures = {"fault_to_apd_start_s": 4.2, "heal_to_guest_heartbeat_green_s": 4.5}
    rec.notes = list(notes)
    if busy:
        rec.outcome = "error"
        rec.message = f"lab problem in phase lease: {busy}"
    elif name.startswith("fails"):
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


# -- pytest by the book (issue 15): collection, -k, --lf, markers, leases, history, xdist --------------------


def test_a_scenario_file_named_on_the_command_line_is_collected_wherever_it_lives(lab_dir: pytest.Pytester) -> None:
    (lab_dir.path / "elsewhere").mkdir()
    path = lab_dir.path / "elsewhere" / "nfs-here.yaml"
    path.write_text(SCENARIO.format(name="nfs-here"))
    (lab_dir.path / "elsewhere" / "other.yaml").write_text(SCENARIO.format(name="other"))
    result = lab_dir.runpytest("--inventory", "inv.yaml", "elsewhere/nfs-here.yaml", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*elsewhere/nfs-here.yaml::nfs-here PASSED*"])
    assert "other" not in result.stdout.str()


def test_an_ini_scenario_folder_adds_its_files(lab_dir: pytest.Pytester) -> None:
    (lab_dir.path / "nightly").mkdir()
    (lab_dir.path / "nightly" / "nfs-a.yaml").write_text(SCENARIO.format(name="nfs-a"))
    lab_dir.makeini("[pytest]\nfaultlab_scenario_dirs = nightly\n")
    result = lab_dir.runpytest("--inventory", "inv.yaml", "nightly", "-v")
    result.assert_outcomes(passed=1)


def test_k_lf_and_content_markers_select_scenarios(lab_dir: pytest.Pytester) -> None:
    scenario(lab_dir, "nfs-ok")
    scenario(lab_dir, "fails-one")
    iscsi = SCENARIO.format(name="iscsi-ok").replace("references", "x")
    scenario(lab_dir, "iscsi-ok", iscsi.replace("story: a test scenario", "story: s\nreferences: [KB 392634]"))
    lab_dir.runpytest("--inventory", "inv.yaml", "-k", "iscsi").assert_outcomes(passed=1, deselected=2)
    lab_dir.runpytest("--inventory", "inv.yaml").assert_outcomes(passed=2, failed=1)
    lf = lab_dir.runpytest("--inventory", "inv.yaml", "--lf", "-v")
    lf.assert_outcomes(failed=1)  # only the failed scenario's file is collected again
    lf.stdout.fnmatch_lines(["*fails-one.yaml::fails-one FAILED*"])
    kb = lab_dir.runpytest("--inventory", "inv.yaml", "--strict-markers", "-m", "kb392634", "-v")
    kb.assert_outcomes(passed=1, deselected=2)
    kind = lab_dir.runpytest("--inventory", "inv.yaml", "--strict-markers", "-m", "network_blackhole")
    kind.assert_outcomes(passed=2, failed=1)


def test_a_lab_leased_by_another_run_is_an_error_at_once_with_lease_wait_zero(lab_dir: pytest.Pytester) -> None:
    scenario(lab_dir, "nfs-ok")
    (lab_dir.path / "lab-gw0.lease").symlink_to("faultlab-lease v=1 owner=ci7:4242 run=nightly-x expires=99999999999")
    result = lab_dir.runpytest("--inventory", "inv.yaml", "--lease-wait", "0")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*lab problem in phase lease: the lab is leased by run nightly-x of ci7:4242*"])


def test_an_expired_lease_is_broken_with_a_note_and_every_run_lands_in_the_history(
    lab_dir: pytest.Pytester,
) -> None:
    from faultlab.harness.history import HistoryStore

    scenario(lab_dir, "nfs-ok")
    scenario(lab_dir, "fails-one")
    (lab_dir.path / "lab-gw0.lease").symlink_to("faultlab-lease v=1 owner=dead:1 run=killed expires=1000")
    lab_dir.runpytest("--inventory", "inv.yaml", "--artifacts", "out").assert_outcomes(passed=1, failed=1)
    assert not (lab_dir.path / "lab-gw0.lease").is_symlink()  # released after the runs
    with HistoryStore(f"sqlite:///{lab_dir.path / 'out' / 'history.sqlite'}") as store:
        runs = {r.scenario: r for r in store.runs()}
    assert set(runs) == {"nfs-ok", "fails-one"} and runs["fails-one"].outcome == "failed"
    assert runs["nfs-ok"].measures["heal_to_guest_heartbeat_green_s"] == 4.5


def test_xdist_workers_take_their_own_lab_from_the_pool(lab_dir: pytest.Pytester) -> None:
    lab_dir.makefile(".yaml", inv2=INVENTORY)
    lab_dir.makefile(".yaml", pool="pool: [inv.yaml, inv2.yaml]\n")
    for i in range(4):
        scenario(lab_dir, f"nfs-{i}")
    conftest = (lab_dir.path / "conftest.py").read_text()
    (lab_dir.path / "conftest.py").write_text(
        conftest.replace(
            "    CALLS.append((name, Path(inventory_path).name, options.artifacts))\n",
            "    CALLS.append((name, Path(inventory_path).name, options.artifacts))\n"
            "    with open(Path(__file__).parent / 'calls.txt', 'a') as fh:\n"
            "        fh.write(f'{name} {Path(inventory_path).name}\\n')\n",
        )
    )
    result = lab_dir.runpytest_subprocess("--inventory", "pool.yaml", "-n", "2", "--junitxml", "j.xml")
    result.assert_outcomes(passed=4)
    calls = dict(line.split() for line in (lab_dir.path / "calls.txt").read_text().splitlines())
    assert sorted(calls) == [f"nfs-{i}" for i in range(4)]
    assert set(calls.values()) == {"inv.yaml", "inv2.yaml"}  # each worker its own lab
    assert len(list(ET.parse(lab_dir.path / "j.xml").iter("testcase"))) == 4  # one JUnit for all workers


def test_xdist_hands_out_scenarios_longest_first_by_the_history(lab_dir: pytest.Pytester) -> None:
    """xdist's own `load` gives each of two workers two consecutive items (a+b against c+d: 13 s against 5 s by the
    history); the plugin's scheduler balances them by the history's wall times (a+d, b+c: 9 s each)."""
    from datetime import UTC, datetime

    from faultlab.harness.history.store import SQLITE_FILE, HistoryStore, RunSummary

    lab_dir.makefile(".yaml", inv2=INVENTORY)
    lab_dir.makefile(".yaml", pool="pool: [inv.yaml, inv2.yaml]\n")
    past = {"nfs-a": 8.0, "nfs-b": 5.0, "nfs-c": 4.0, "nfs-d": 1.0}
    for name in past:
        scenario(lab_dir, name)
    with HistoryStore(f"sqlite:///{lab_dir.path / 'out' / SQLITE_FILE}") as store:
        for i, (name, wall) in enumerate(past.items()):
            store.add(RunSummary(f"r{i}", name, "passed", datetime.now(UTC), duration_s=wall))
    conftest = (lab_dir.path / "conftest.py").read_text()
    (lab_dir.path / "conftest.py").write_text(
        conftest.replace(
            "    CALLS.append((name, Path(inventory_path).name, options.artifacts))\n",
            "    CALLS.append((name, Path(inventory_path).name, options.artifacts))\n"
            "    with open(Path(__file__).parent / 'calls.txt', 'a') as fh:\n"
            "        fh.write(f'{name} {Path(inventory_path).name}\\n')\n",
        )
    )
    lab_dir.runpytest_subprocess("--inventory", "pool.yaml", "--artifacts", "out", "-n", "2").assert_outcomes(passed=4)
    calls = dict(line.split() for line in (lab_dir.path / "calls.txt").read_text().splitlines())
    assert calls["nfs-a"] == calls["nfs-d"] != calls["nfs-b"] == calls["nfs-c"], calls


def test_first_round_is_balanced_by_estimate_and_the_rest_goes_longest_first() -> None:
    from faultlab.harness.xdist_order import is_scenario_id, plan_first_round

    # everything fits in the first round: placed on the least loaded worker, longest first
    assert plan_first_round([8, 5, 4, 1], 2) == ([[0, 3], [1, 2]], [])
    assert plan_first_round([17, 8.2, 10, 2.1], 2) == ([[0, 3], [2, 1]], [])
    assert plan_first_round([1, 1, 1], 2) == ([[0, 2], [1]], [])  # no history: round robin in file order
    assert plan_first_round([30, 1, 1, 1], 2) == ([[0], [1, 2, 3]], [])
    # more to come: two each now (a worker runs an item only once it holds the next), the rest longest first
    assert plan_first_round([1, 9, 3, 7, 5, 2], 2) == ([[1, 2], [3, 4]], [5, 0])
    assert plan_first_round([], 2) == ([[], []], [])
    assert is_scenario_id("scenarios/nfs.yaml::nfs") and not is_scenario_id("tests/test_x.py::test_y")


def test_user_properties_cross_xdist_workers() -> None:
    # xdist sends each report's user_properties through execnet, which takes plain values only (an enum killed a
    # `pytest -n 2` session with an INTERNALERROR).
    import execnet

    from faultlab.harness.pytest_plugin import _properties
    from faultlab.harness.record import load_record

    record, _ = load_record(Path(__file__).parents[2] / "fixtures" / "runs" / "nfs-apd-bsod")
    props = _properties(record)
    assert ("outcome", "passed") in props and len(props) > 2
    assert execnet.loads(execnet.dumps(props)) == props


# -- embedded labs per ESX(i) version (issue 14): the simulator boundary faked, the plugin's grouping real --------

EMBEDDED_CONFTEST = """
import json
from pathlib import Path
import faultlab.harness.session as session

HERE = Path(__file__).parent

class FakeHandle:  # stands in for EmbeddedLabHandle: an inventory file per lab, its version on the host
    def __init__(self, shape):
        self.shape = shape
        self.lab_id = f"fake-{shape.version}"
        text = (HERE / "inv.yaml").read_text()
        self.inventory_path = HERE / f"inv-{shape.version}.yaml"
        host = f'address: 198.18.9.11, version: "{shape.version}"'
        self.inventory_path.write_text(text.replace("address: 198.18.9.11", host))
        with (HERE / "labs.log").open("a") as fh:
            fh.write(json.dumps(["up", shape.version, shape.hosts, shape.vms, shape.vmfs_vms]) + "\\n")

    def close(self):
        with (HERE / "labs.log").open("a") as fh:
            fh.write(json.dumps(["down", self.shape.version]) + "\\n")

# Patched for this inner session only: the module outlives pytester's in-process run, and a patch left behind
# would hand the outer session's later lab tests (same xdist worker) this fake lab.
REAL_HANDLE = session.EmbeddedLabHandle

_configure = pytest_configure

def pytest_configure(config):
    _configure(config)
    session.EmbeddedLabHandle = FakeHandle

def pytest_unconfigure(config):
    session.EmbeddedLabHandle = REAL_HANDLE
"""


def test_no_inventory_brings_up_one_embedded_lab_per_version(lab_dir: pytest.Pytester) -> None:
    import json

    conftest = lab_dir.path / "conftest.py"
    conftest.write_text(conftest.read_text() + EMBEDDED_CONFTEST)
    scenario(lab_dir, "a-classic", SCENARIO.format(name="a-classic") + 'lab: {version: "4.1"}\n')
    scenario(lab_dir, "b-modern")
    scenario(lab_dir, "c-modern")
    result = lab_dir.runpytest("-p", "no:randomly", "scenarios", "-v")
    result.assert_outcomes(passed=3)
    assert session.EmbeddedLabHandle is EmbeddedLabHandle  # the inner session's fake is gone with it
    log = [json.loads(line) for line in (lab_dir.path / "labs.log").read_text().splitlines()]
    # each started when first needed, the 4.1 lab with no VMFS VM (none named), both down at the end
    assert log[:2] == [["up", "4.1", 1, 1, 0], ["up", "8.0", 1, 1, 1]]
    assert sorted(map(tuple, log[2:])) == [("down", "4.1"), ("down", "8.0")]


def test_a_version_no_embedded_lab_has_is_an_error_naming_the_file(lab_dir: pytest.Pytester) -> None:
    conftest = lab_dir.path / "conftest.py"
    conftest.write_text(conftest.read_text() + EMBEDDED_CONFTEST)
    scenario(lab_dir, "old", SCENARIO.format(name="old") + 'lab: {version: "6.7"}\n')
    scenario(lab_dir, "z-modern")
    result = lab_dir.runpytest("-p", "no:randomly", "scenarios")
    result.assert_outcomes(errors=1, passed=1)  # the other scenario still runs on its 8.0 lab
    assert session.EmbeddedLabHandle is EmbeddedLabHandle  # the inner session's fake is gone with it
    result.stdout.fnmatch_lines(["*old.yaml*lab.version*no ESX(i) 6.7 hosts*"])
    assert (lab_dir.path / "labs.log").read_text().splitlines()[0] == '["up", "8.0", 1, 1, 1]'


def test_estimates_are_the_median_of_recent_passed_runs_and_zero_without_an_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    from datetime import UTC, datetime

    from faultlab.harness import xdist_order
    from faultlab.harness.history.store import HistoryStore, RunSummary

    root = Path(__file__).resolve().parents[3]  # the repository: scenarios/ holds the catalog
    url = f"sqlite:///{tmp_path / 'h.sqlite'}"
    walls = [("passed", 9.0), ("passed", 1.0), ("failed", 50.0), ("passed", 4.0)]
    with HistoryStore(url) as store:
        for i, (outcome, wall) in enumerate(walls):
            store.add(RunSummary(f"r{i}", "nfs-blip-no-apd", outcome, datetime.now(UTC), duration_s=wall))
    estimate = xdist_order.estimator(root, url)
    assert estimate("scenarios/nfs-blip-no-apd.yaml::nfs-blip-no-apd") == 4.0  # median of 9, 1, 4: failed left out
    assert estimate("scenarios/iscsi-pdl.yaml::iscsi-pdl") == 0.0  # never ran
    assert estimate("scenarios/missing.yaml::missing") == 0.0
    assert xdist_order.estimator(root, None)("scenarios/nfs-blip-no-apd.yaml::nfs-blip-no-apd") == 0.0

    release = threading.Event()

    class Hanging(HistoryStore):  # a database host that does not answer
        def __init__(self, url: str) -> None:
            release.wait(10)
            super().__init__(url)

    monkeypatch.setattr(xdist_order, "HistoryStore", Hanging)
    try:
        hanging = xdist_order.estimator(root, url, wait_s=0.2)
        assert hanging("scenarios/nfs-blip-no-apd.yaml::nfs-blip-no-apd") == 0.0
    finally:
        release.set()
