"""Lab test (slow, ~5 minutes): scenarios/nfs-apd-bsod.yaml, unchanged, on a lab at `--timing real`: ESXi's
own defaults (Misc.APDTimeout 140 s, NFS heartbeat 12 s / 5 s / 10 failures / delta 5 s, the guest's disk
TimeOutValue 60 s as VMware Tools sets it) still give KB 392634's documented sequence, and the logs print the
real numbers ("All Paths Down state for 140 seconds")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from faultlab.harness.record import load_record
from faultlab.harness.runner import RunOptions, run_file
from faultlab.lab.inventory import load_inventory
from faultlab.sim.lab import EmbeddedLab

# About 5 minutes of scenario (APD after 2-3 missed 12 s heartbeats, 140 s to the APD timeout, a guest that
# dumps and boots in tens of seconds, then a clean reboot) plus the lab: past the suite's 300 s default.
pytestmark = [pytest.mark.lab, pytest.mark.destructive, pytest.mark.slow, pytest.mark.long, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[2]


def test_nfs_apd_bsod_passes_unchanged_at_real_timing(tmp_path: Path) -> None:
    with EmbeddedLab.up(hosts=1, vms=1, vmfs_vms=0, vcenter=False, timing="real") as lab:
        assert load_inventory(lab.inventory_path).timing == "real"
        record = run_file(ROOT / "scenarios" / "nfs-apd-bsod.yaml", lab.inventory_path, RunOptions(artifacts=tmp_path))
    f = record.figures
    print(f"\nFIGURES nfs-apd-bsod --timing real: wall {f['wall_s']:.1f}s, hold {f['hold_s']:.1f}s, "
          f"recovery {f['recovery_s']:.1f}s; measures {record.measures}")  # fmt: skip
    assert record.outcome == "passed", record.message
    assert record.settings["Misc.APDTimeout"] == 140.0 and record.settings["NFS.HeartbeatFrequency"] == 12.0
    assert record.lab_timing == "real"
    rec, folder = load_record(tmp_path / record.run_id)
    assert rec.lab_timing == "real"
    vobd = next(folder.rglob("vobd.log")).read_text()
    assert re.search(r"has entered the All Paths Down Timeout state after being in the All Paths Down state "
                     r"for 140 seconds\.", vobd)  # fmt: skip
    assert "for 6 seconds" not in vobd
