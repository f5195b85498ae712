"""The nightly path for real: `faultlab run` with no lab, lab leases between concurrent runs, history."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from faultlab.harness.history import HistoryStore
from faultlab.harness.pytest_plugin import Lab
from faultlab.harness.record import load_record, parse_iso
from faultlab.lab.inventory import load_inventory
from faultlab.lab.lease import LabLease, LeaseEvents, acquire, lease_node
from faultlab.lab.ssh import SshPool
from faultlab.sim.manifest import all_manifests

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

BLIP = Path(__file__).resolve().parents[2] / "scenarios" / "nfs-blip-no-apd.yaml"


def faultlab(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "faultlab.harness.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_run_with_no_lab_starts_one_shaped_for_the_scenario_and_leaves_none_behind(tmp_path: Path) -> None:
    labs_before = {m.lab_id for m in all_manifests()}
    db = f"sqlite:///{tmp_path / 'h.sqlite'}"
    res = faultlab("run", str(BLIP), "--artifacts", str(tmp_path / "a"), "--history", db)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (
        "embedded lab(s) for 1 scenario(s), each started when first needed: ESX(i) 8.0: 1 host(s), 1 NFS VM(s), "
        "1 VMFS VM(s)" in res.stderr
    )
    down = re.search(r"^taking the embedded lab (fl\w+) down \(8\.0\)$", res.stderr, re.M)
    assert down, res.stderr
    assert "PASSED" in res.stdout
    # its own lab taken down (other labs may come and go meanwhile: xdist workers, other runs)
    assert down[1] not in labs_before and down[1] not in {m.lab_id for m in all_manifests()}
    with HistoryStore(db) as store:
        runs = store.runs()
    assert [(r.scenario, r.outcome) for r in runs] == [("nfs-blip-no-apd", "passed")]
    assert runs[0].lab == down[1] and runs[0].settings["NFS.HeartbeatFrequency"] > 0


def test_pytest_n_2_gives_each_worker_its_own_lab_and_one_junit(tmp_path: Path) -> None:
    """`pytest -n 2` over two catalog scenarios for real: the plugin's scheduler hands them out, each worker brings
    up its own embedded lab (two lab ids in the history), one JUnit holds both, and no lab is left behind."""
    import xml.etree.ElementTree as ET

    scenarios = [str(BLIP.parent / f"{name}.yaml") for name in ("iscsi-pdl", "iscsi-path-off")]
    db = f"sqlite:///{tmp_path / 'h.sqlite'}"
    junit = tmp_path / "j.xml"
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "-n", "2", *scenarios, "--history", db,
         "--artifacts", str(tmp_path / "a"), "--junitxml", str(junit)],
        cwd=BLIP.parents[1], capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "scheduling tests via ScenarioScheduling" in res.stdout
    with HistoryStore(db) as store:
        runs = store.runs()
    assert sorted((r.scenario, r.outcome) for r in runs) == [("iscsi-path-off", "passed"), ("iscsi-pdl", "passed")]
    labs = {r.lab for r in runs}
    assert len(labs) == 2 and None not in labs, labs  # a lab per worker
    assert not labs & {m.lab_id for m in all_manifests()}  # both taken down
    assert len(list(ET.parse(junit).iter("testcase"))) == 2


def test_two_concurrent_runs_on_one_lab_never_overlap_their_fault_windows(lab: Lab, tmp_path: Path) -> None:
    out = tmp_path / "a"
    argv = [
        sys.executable, "-m", "faultlab.harness.cli", "run", str(BLIP), "--inventory", str(lab.inventory_path),
        "--artifacts", str(out), "--history", f"sqlite:///{tmp_path / 'h.sqlite'}",
    ]  # fmt: skip
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    records = [load_record(d)[0] for d in sorted(out.iterdir()) if d.is_dir()]
    assert len(records) == 2
    windows = sorted((parse_iso(r.anchors["fault.injected"]), parse_iso(r.anchors["fault.healed"])) for r in records)
    assert windows[0][1] <= windows[1][0], windows  # the second fault began after the first was healed
    assert any(any("waited" in n and "lab lease" in n for n in r.notes) for r in records)


def test_a_lease_left_by_a_sigkilled_holder_expires_and_is_broken(lab: Lab) -> None:
    code = (
        "import sys, time\n"
        "from faultlab.lab.inventory import load_inventory\n"
        "from faultlab.lab.lease import LabLease, acquire, lease_node\n"
        "from faultlab.lab.ssh import SshPool\n"
        "inv = load_inventory(sys.argv[1]); node = lease_node(inv)\n"
        "with SshPool(inv) as pool:\n"
        "    acquire(LabLease(pool.get(node), node=node, ttl_s=6), owner='victim:1', run_id='killed-run', wait_s=60)\n"
        "    print('held', flush=True)\n"
        "    time.sleep(600)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(lab.inventory_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    show = faultlab("lab", "lease", "show", str(lab.inventory_path), timeout=60)
    assert show.returncode == 0 and "killed-run of victim:1" in show.stdout, show.stdout + show.stderr
    inv = load_inventory(lab.inventory_path)
    node = lease_node(inv)
    events = LeaseEvents()
    t0 = time.monotonic()
    with SshPool(inv) as pool:
        lease = LabLease(pool.get(node), node=node, ttl_s=6)
        info = acquire(lease, owner="test:2", run_id="after", wait_s=30, poll_s=0.5, events=events)
        waited = time.monotonic() - t0
        assert info.run_id == "after" and 0 < waited < 15
        assert events.notes and "broke the expired lease of run killed-run" in events.notes[0]
        # a live lease is not broken without --force
        res = faultlab("lab", "lease", "break", str(lab.inventory_path), timeout=60)
        assert res.returncode == 1 and "is live" in res.stdout
        assert lease.release()
    free = faultlab("lab", "lease", "show", str(lab.inventory_path), timeout=60)
    assert free.returncode == 1 and "free" in free.stdout


def test_history_lists_runs_of_the_session_as_json(lab: Lab, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'h.sqlite'}"
    outcomes = []
    for _ in range(2):
        res = faultlab(
            "run", str(BLIP), "--inventory", str(lab.inventory_path), "--artifacts", str(tmp_path), "--history", db
        )
        # 0 passed, 1 failed: a verdict either way (on a loaded machine the blip can outgrow the fast profile's
        # guest disk timeout and the guest bugchecks: a true FAIL, and still a run the history must list)
        assert res.returncode in (0, 1), res.stdout[-3000:] + res.stderr
        outcomes.append("passed" if res.returncode == 0 else "failed")
    listed = faultlab("history", "nfs-blip-no-apd", "--history", db, "--json", "-", "--html", str(tmp_path / "h.html"))
    assert listed.returncode == 0, listed.stderr
    runs = [json.loads(x) for x in listed.stdout.splitlines() if '"run"' in x]
    assert len(runs) == 2 and sorted(r["outcome"] for r in runs) == sorted(outcomes), (runs, outcomes)
    assert all(r["measures"].get("recover_datastore_ds-nfs01_accessible_s", -1) >= 0 for r in runs), runs
    page = (tmp_path / "h.html").read_text()
    assert page.count("<a style=") == 2 and "report.html" in page
    cmp = faultlab("compare", runs[0]["run_id"], runs[1]["run_id"], "--history", db, "--min-delta", "5")
    assert cmp.returncode in (0, 1), cmp.stdout + cmp.stderr  # found both run ids (2 would be a usage error)
    if outcomes[0] == outcomes[1]:  # like runs: nothing moved by more than 5 s, so no regression
        assert cmp.returncode == 0, cmp.stdout + cmp.stderr
