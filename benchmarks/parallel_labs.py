"""Parallel labs (issue 15): four independent catalog scenarios run serially (`pytest` on one embedded lab) and on two
xdist workers (`pytest -n 2`, each worker its own embedded lab); prints both wall times, their ratio against the
0.65x target and the machine's load, which the ratio depends on (2 cores, shared with other work).

    flock /tmp/faultlab-lab.lock .venv/bin/python benchmarks/parallel_labs.py [SCENARIO x4]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 0.65
DEFAULT = ("nfs-blip-no-apd", "iscsi-path-off", "iscsi-pdl", "nfs-service-stop")


# As `make test` does (Makefile): with bytecode caching off, every pytest process (the controller and each worker)
# compiles and assertion-rewrites ~200 modules again, about 1.5 s each, which weighs on the run with more processes.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(argv: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.monotonic()
    res = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False, env=ENV)
    return time.monotonic() - t0, res


def main() -> None:
    scenarios = sys.argv[1:] or [str(ROOT / "scenarios" / f"{name}.yaml") for name in DEFAULT]
    base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *scenarios]
    print(f"cores: {os.cpu_count()}; load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="faultlab-parallel-") as tmp:
        # One history for both, as a nightly job shares one: the parallel run's scheduler balances the two workers
        # by the wall times the serial run recorded (without history it hands scenarios out in file order).
        history = ["--history", f"sqlite:///{tmp}/history.sqlite"]
        serial_s, serial = timed([*base, *history, "--artifacts", f"{tmp}/serial"])
        load_mid = os.getloadavg()
        parallel_s, parallel = timed([*base, *history, "-n", "2", "--artifacts", f"{tmp}/parallel"])
    for name, res in (("serial", serial), ("pytest -n 2", parallel)):
        last = (res.stdout.strip().splitlines() or ["(no output)"])[-1]
        print(f"{name:12} exit {res.returncode}: {last}")
        if res.returncode != 0:
            print(res.stdout[-2000:], res.stderr[-2000:], sep="\n")
    ratio = parallel_s / serial_s
    verdict = "met" if ratio <= TARGET else "NOT met"
    if serial.returncode != 0 or parallel.returncode != 0:
        verdict = "no figure: a run did not pass"
    print(f"serial {serial_s:.1f}s, two workers {parallel_s:.1f}s: {ratio:.2f}x (target <= {TARGET}x: {verdict})")
    print(f"load average between the runs: {load_mid[0]:.2f}; after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
