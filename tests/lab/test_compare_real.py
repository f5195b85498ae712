"""Two real runs of one scenario compared, before and after a host change (Misc.APDTimeout raised by 3 s).

What a storage vendor does around a firmware or configuration change: the same scenario twice, then
`faultlab compare`. The change must show where it acts (the setting, the APD timeout step, APD start to
timeout) and nowhere it does not (recovery stays within the noise); a slower recovery must be a regression.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from faultlab.harness.compare import LATER, SLOWER, Tolerance, compare
from faultlab.harness.pytest_plugin import Lab, artifacts_dir
from faultlab.harness.record import RunRecord, load_record, save_record
from faultlab.lab.esxi import EsxiHost
from faultlab.lab.inventory import load_inventory
from faultlab.lab.ssh import SshPool

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "iscsi-path-off.yaml"
RunScenario = Callable[..., RunRecord]
RAISE_S = 3


def faultlab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "faultlab.harness.cli", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_a_raised_apd_timeout_moves_the_timeout_step_and_nothing_else(
    lab: Lab, run_scenario: RunScenario, pytestconfig: pytest.Config, tmp_path: Path
) -> None:
    inventory = load_inventory(lab.inventory_path)
    with SshPool(inventory, command_timeout=30) as pool:
        host = EsxiHost.of(inventory, "esx01", pool.get("esx01"))
        before = host.advanced_setting("Misc.APDTimeout")
        assert isinstance(before, int)
        baseline = run_scenario(SCENARIO)
        host.set_advanced_setting("Misc.APDTimeout", before + RAISE_S)
        try:
            assert host.advanced_setting("Misc.APDTimeout") == before + RAISE_S
            changed = run_scenario(SCENARIO)
        finally:
            host.set_advanced_setting("Misc.APDTimeout", before)
    folders = [artifacts_dir(pytestconfig) / r.run_id for r in (baseline, changed)]

    cmp = compare(baseline, changed, Tolerance(min_s=2.0), *folders)
    rows = {r.label: r for r in cmp.rows}
    assert (rows["Misc.APDTimeout"].baseline, rows["Misc.APDTimeout"].candidate) == (before, before + RAISE_S)
    timeout_step = rows["2 apd.timeout"]
    assert timeout_step.change == LATER and timeout_step.delta_s == pytest.approx(RAISE_S, abs=1.0), timeout_step
    assert rows["apd_start_to_timeout_s"].delta_s == pytest.approx(RAISE_S, abs=0.5)
    assert rows["1 apd.start"].change == "same" and rows["outcome"].change == "same"
    assert cmp.regressions == [], [r.why for r in cmp.regressions]

    # The command line says the same; a copy of the changed run with a slower datastore recovery regresses.
    out = faultlab("compare", str(folders[0]), str(folders[1]), "--min-delta", "2")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "setting Misc.APDTimeout" in out.stdout and "no regression against" in out.stdout
    slow_dir = tmp_path / "slow"
    shutil.copytree(folders[1], slow_dir)
    slow, _ = load_record(slow_dir)
    ds = next(r for r in slow.recovery if r.condition == "datastore ds-iscsi01 accessible")
    assert ds.seconds is not None
    ds.seconds += 20.0
    save_record(slow, slow_dir)
    out = faultlab("compare", str(folders[0]), str(slow_dir), "--min-delta", "2")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "1 regression(s)" in out.stdout and "datastore ds-iscsi01 accessible:" in out.stdout
    row = next(r for r in compare(baseline, slow, Tolerance(min_s=2.0), folders[0], slow_dir).rows if r.regression)
    assert row.change == SLOWER and row.label == "datastore ds-iscsi01 accessible"
