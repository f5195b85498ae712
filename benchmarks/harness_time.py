"""The harness's own time per catalog scenario: every scenario run once on one embedded lab (`faultlab run` with no
lab), then each record's wall time split into the inherent time (the hold + the recovery loop's wait for the lab),
the waits on the lab (another run's lease, settling after leftovers, the guest's second reboot) and the harness's
own time, with the own time of each phase; prints them against the 2 s target.

    .venv/bin/python benchmarks/harness_time.py [--json FILE] [scenarios/*.yaml]

Run it under the shared lab lock on a shared machine (flock /tmp/faultlab-lab.lock ...); `uptime` is printed
with the figures, since the simulator's commands are CPU-bound and a loaded machine stretches them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 2.0
PHASES = ("lease", "preflight", "heal-leftovers", "steady", "baseline", "mark", "plan", "inject", "hold", "heal",
          "recover+judge", "second-reboot", "vcenter-events")  # fmt: skip
# The part of a phase that is not the harness's own: what the record's figures say it waited on.
NOT_OWN = {
    "lease": ("lease_waited_s",),
    "baseline": ("baseline_waited_s",),
    "recover+judge": ("recovery_wait_s",),
    "second-reboot": ("reboot_waited_s",),
}
WHOLLY_NOT_OWN = ("hold", "steady")


def own_per_phase(rec: dict[str, Any]) -> dict[str, float]:
    """The harness's own seconds in each phase, and "other" for its time between and around the phases."""
    f = rec.get("figures", {})
    out: dict[str, float] = {}
    for name in PHASES:
        key = "phase_" + name.replace("+", "_").replace("-", "_") + "_s"
        if key not in f:
            continue
        spent = 0.0 if name in WHOLLY_NOT_OWN else f[key] - sum(f.get(k, 0.0) for k in NOT_OWN.get(name, ()))
        out[name] = max(0.0, spent)
    out["other"] = max(0.0, f.get("harness_s", 0.0) - sum(out.values()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="*")
    ap.add_argument("--json", type=Path, help="also write the figures there")
    args = ap.parse_args()
    scenarios = args.scenarios or sorted(str(p) for p in (ROOT / "scenarios").glob("*.yaml"))
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="faultlab-harness-time-") as tmp:
        out = Path(tmp)
        argv = [sys.executable, "-m", "faultlab.harness.cli", "run", *scenarios, "--artifacts", str(out / "a"),
                "--history", f"sqlite:///{out / 'h.sqlite'}"]  # fmt: skip
        res = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
        records = [json.loads(p.read_text()) for p in sorted((out / "a").glob("*/record.json"))]
    if not records:
        sys.exit(f"no run recorded (exit {res.returncode}):\n{res.stderr[-3000:]}")
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; after: {os.getloadavg()[0]:.2f}")
    print(f"{'scenario':18} {'outcome':7} {'wall':>5} {'hold':>5} {'r.wait':>6} {'inher':>5} {'wait':>5} "
          f"{'own':>5}  own time per phase (s)")  # fmt: skip
    rows = []
    for rec in records:
        f = rec.get("figures", {})
        own = own_per_phase(rec)
        shown = " ".join(f"{n}={v:.2f}" for n, v in own.items() if v >= 0.005)
        harness = f.get("harness_s", 0.0)
        flag = "" if harness <= TARGET_S else " OVER"
        print(
            f"{rec['scenario_name']:18} {rec['outcome']:7} {f.get('wall_s', 0):5.1f} {f.get('hold_s', 0):5.1f} "
            f"{f.get('recovery_wait_s', 0):6.1f} {f.get('inherent_s', 0):5.1f} {f.get('waiting_s', 0):5.1f} "
            f"{harness:5.2f}{flag}  {shown}"
        )
        rows.append({"scenario": rec["scenario_name"], "outcome": rec["outcome"], "figures": f, "own": own})
    if args.json:
        args.json.write_text(json.dumps({"load": load, "runs": rows}, indent=1))


if __name__ == "__main__":
    main()
