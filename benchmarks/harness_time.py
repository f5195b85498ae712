"""The harness's own time per catalog scenario: every scenario run once on one embedded lab (`faultlab run` with no
lab), then each record's wall time split into the inherent time (hold + recovery), the waits on the lab (lease,
settling, the guest's second reboot) and the harness's own time; prints them against the 2 s target.

    .venv/bin/python benchmarks/harness_time.py [scenarios/*.yaml]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 2.0
PHASES = ("lease", "preflight", "heal-leftovers", "steady", "baseline", "mark", "plan", "inject", "heal",
          "recover+judge", "second-reboot", "vcenter-events")  # fmt: skip


def main() -> None:
    scenarios = sys.argv[1:] or sorted(str(p) for p in (ROOT / "scenarios").glob("*.yaml"))
    with tempfile.TemporaryDirectory(prefix="faultlab-harness-time-") as tmp:
        out = Path(tmp)
        argv = [sys.executable, "-m", "faultlab.harness.cli", "run", *scenarios, "--artifacts", str(out / "a"),
                "--history", f"sqlite:///{out / 'h.sqlite'}"]  # fmt: skip
        res = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
        records = [json.loads(p.read_text()) for p in sorted((out / "a").glob("*/record.json"))]
    if not records:
        sys.exit(f"no run recorded (exit {res.returncode}):\n{res.stderr[-3000:]}")
    print(f"{'scenario':24} {'outcome':8} {'wall':>7} {'hold':>6} {'recov':>6} {'wait':>6} {'harness':>8}  phases (s)")
    for rec in records:
        f = rec.get("figures", {})
        phases = {p["name"]: p for p in rec.get("phases", [])}
        shown = " ".join(
            f"{n}={f.get('phase_' + n.replace('+', '_').replace('-', '_') + '_s', 0):.1f}"
            for n in PHASES
            if n in phases
        )
        harness = f.get("harness_s", f.get("overhead_s", 0.0))
        flag = "" if harness <= TARGET_S else "  (over the 2 s target)"
        print(
            f"{rec['scenario_name']:24} {rec['outcome']:8} {f.get('wall_s', 0):7.1f} {f.get('hold_s', 0):6.1f} "
            f"{f.get('recovery_s', 0):6.1f} {f.get('waiting_s', 0):6.1f} {harness:8.1f}{flag}  {shown}"
        )


if __name__ == "__main__":
    main()
