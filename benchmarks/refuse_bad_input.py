"""Benchmark: time and peak memory of `faultlab run` refusing hostile scenario files (issue 11 item 7).

Each hostile file of tests/unit/hostile_yaml.py (alias and merge-key bombs, 50 MB of unknown keys, recursive
aliases, 20,000-deep nesting, NUL bytes) is given to a fresh `faultlab run FILE --inventory INV` process; its wall
time and peak RSS (wait4) are set against the baseline measured in the same run: the same command refusing a
three-line scenario with one unknown key. So `x_baseline` says what the hostile file adds whatever the machine;
`refusal_only_*` time load_scenario alone (tracemalloc peak), without the interpreter's start and imports.
Every run must exit 2 with a file:line message and no traceback. No lab is touched (the inventory's addresses are
never contacted: the scenario is refused first).

    .venv/bin/python benchmarks/refuse_bad_input.py [-n 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.unit.hostile_yaml import HOSTILE  # noqa: E402

FAULTLAB = Path(sys.executable).parent / "faultlab"


def inventory(folder: Path) -> Path:
    for name in ("key", "known_hosts"):
        (folder / name).write_text("")
    inv = folder / "inventory.yaml"
    inv.write_text(
        f"version: 1\nssh: {{user: root, private_key: {folder / 'key'}, known_hosts: {folder / 'known_hosts'}}}\n"
        "hosts: [{name: esx01, address: 198.18.0.10}]\n"
    )
    return inv


def refuse(scenario: Path, inv: Path, repeat: int) -> tuple[float, float, int, str]:
    """Median wall seconds, highest peak RSS in MB, exit code and stderr of `repeat` runs of `faultlab run`."""
    runs = [_refuse_once(scenario, inv) for _ in range(repeat)]
    walls = sorted(r[0] for r in runs)
    return walls[len(walls) // 2], max(r[1] for r in runs), runs[-1][2], runs[-1][3]


def _refuse_once(scenario: Path, inv: Path) -> tuple[float, float, int, str]:
    err = scenario.with_suffix(".stderr")
    with err.open("wb") as fh:
        started = time.monotonic()
        proc = subprocess.Popen(
            [str(FAULTLAB), "run", str(scenario), "--inventory", str(inv), "--artifacts", str(scenario.parent / "a")],
            stdout=subprocess.DEVNULL,
            stderr=fh,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, proc.returncode, err.read_text(errors="replace")


_PARSE = """
import json, sys, time, tracemalloc
from faultlab.harness.scenario import load_scenario
from faultlab.lab.errors import ConfigError
def refuse():
    try:
        load_scenario(sys.argv[1])
    except ConfigError:
        pass
t0 = time.perf_counter()
refuse()  # timed without tracemalloc, which slows allocation-heavy code several times
seconds = time.perf_counter() - t0
tracemalloc.start()
refuse()
print(json.dumps([seconds, tracemalloc.get_traced_memory()[1] / 2**20]))
"""


def parse_cost(scenario: Path) -> tuple[float, float]:
    """Seconds and peak traced MB of the refusal alone (load_scenario in a fresh interpreter, imports excluded)."""
    out = subprocess.run([sys.executable, "-c", _PARSE, str(scenario)], check=True, capture_output=True, text=True)
    seconds, peak = json.loads(out.stdout)
    return float(seconds), float(peak)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=3, help="runs per file (median wall time)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        inv = inventory(folder)
        base = folder / "baseline.yaml"
        base.write_text("name: x\nstory: s\nbogus: 1\n")
        base_wall, base_rss, base_rc, _ = refuse(base, inv, args.n)
        out: dict[str, object] = {"baseline": {"wall_s": round(base_wall, 3), "peak_rss_mb": round(base_rss, 1)}}
        ok = base_rc == 2
        # Written by another process: a child forked from this one would inherit its peak RSS (the 50 MB text).
        code = "import sys; from pathlib import Path; from tests.unit.hostile_yaml import write_hostile; "
        subprocess.run([sys.executable, "-c", code + f"write_hostile(Path({tmp!r}))"], cwd=ROOT, check=True)
        for name in HOSTILE:
            path = folder / f"{name}.yaml"
            wall, rss, rc, text = refuse(path, inv, args.n)
            parse_s, parse_mb = parse_cost(path)
            good = rc == 2 and "Traceback" not in text and f"{path}, line " in text
            ok &= good
            out[name] = {
                "bytes": path.stat().st_size,
                "exit": rc,
                "wall_s": round(wall, 3),
                "peak_rss_mb": round(rss, 1),
                "wall_x_baseline": round(wall / base_wall, 2),
                "rss_x_baseline": round(rss / base_rss, 2),
                "added_s": round(wall - base_wall, 3),
                "added_mb": round(rss - base_rss, 1),
                "refusal_only_s": round(parse_s, 4),
                "refusal_only_peak_mb": round(parse_mb, 2),
                "message": text.strip().splitlines()[0][:160] if text.strip() else "",
                "ok": good,
            }
        print(json.dumps(out, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
