"""The runner never leaves a fault behind: SIGKILL mid-fault (the dead-man timer heals, the next run finds it
clean), Ctrl-C and SIGTERM (heal in `finally`). Runs `faultlab run` as a real process on the embedded lab."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from faultlab.harness.pytest_plugin import Lab
from faultlab.harness.record import load_record
from faultlab.lab.ssh import SshPool
from faultlab.lab.target import IPTABLES

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

ROOT = Path(__file__).resolve().parents[2]
FAULTLAB = [sys.executable, "-c", "from faultlab.harness.cli import main; main()"]


def wait_for(what: str, cond: Callable[[], Any], timeout_s: float, interval_s: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(interval_s)


@pytest.fixture
def pool(lab: Lab) -> Iterator[SshPool]:
    with SshPool(lab.inventory) as p:
        yield p


def tagged_rules(pool: SshPool, node: str = "nfs01") -> list[str]:
    out = pool.get(node).run([*IPTABLES, "-S", "INPUT"], check=True).stdout
    return [line for line in out.splitlines() if "faultlab:" in line]


def start_run(lab: Lab, tmp_path: Path, scenario: str) -> subprocess.Popen[bytes]:
    argv = [*FAULTLAB, "run", str(ROOT / "scenarios" / f"{scenario}.yaml"), "--inventory", str(lab.inventory_path)]
    argv += ["--artifacts", str(tmp_path / "artifacts"), "--state-dir", str(tmp_path / "ledger")]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def record_in(tmp_path: Path) -> dict[str, Any] | None:
    found = list((tmp_path / "artifacts").glob("*/record.json"))
    return json.loads(found[0].read_text()) if found else None


def in_hold(tmp_path: Path) -> bool:
    rec = record_in(tmp_path)
    return rec is not None and any(p["name"] == "hold" for p in rec["phases"])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupt_heals_at_once(lab: Lab, pool: SshPool, tmp_path: Path, sig: signal.Signals) -> None:
    assert tagged_rules(pool) == []
    proc = start_run(lab, tmp_path, "nfs-apd-bsod")
    try:
        wait_for("the hold phase", lambda: in_hold(tmp_path), 60)
        assert tagged_rules(pool), "the fault is in place during the hold"
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert tagged_rules(pool) == [], out.decode()  # healed by the run itself, not by the timer
    rec = record_in(tmp_path)
    assert rec is not None
    assert rec["outcome"] == "error" and "interrupted" in rec["message"]
    assert [p["status"] for p in rec["phases"] if p["name"] in ("hold", "heal")] == ["interrupted", "ok"]
    assert rec["heal"]["status"] == "healed"
    assert list((tmp_path / "ledger").glob("*.json")) == []  # a clean heal closes the ledger
    assert proc.returncode != 0


def test_sigkill_mid_fault_is_healed_by_the_dead_man_timer(lab: Lab, pool: SshPool, tmp_path: Path) -> None:
    proc = start_run(lab, tmp_path, "nfs-apd-bsod")
    try:
        wait_for("the hold phase", lambda: in_hold(tmp_path), 60)
        assert tagged_rules(pool)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed = record_in(tmp_path)
    assert killed is not None and killed["outcome"] == "running"
    ledgers = list((tmp_path / "ledger").glob("*.json"))
    assert len(ledgers) == 1, "the ledger outlives the killed run"
    assert tagged_rules(pool), "nothing healed the fault yet: the harness is dead"
    hold_s, t0 = float(killed["hold_s"]), time.monotonic()
    # The timer fires at hold + grace (max(5 s, hold / 2)) after inject.
    wait_for("the dead-man timer to heal", lambda: tagged_rules(pool) == [], hold_s * 1.5 + 15)
    print(f"\nFIGURES dead-man heal {time.monotonic() - t0:.1f}s after SIGKILL (hold {hold_s:.0f}s)")

    # The next run finds the lab clean: the leftover ledger is closed as already healed, and it passes.
    nxt = tmp_path / "next"
    nxt.mkdir()
    (nxt / "ledger").symlink_to(tmp_path / "ledger")
    proc2 = start_run(lab, nxt, "nfs-blip-no-apd")
    out, _ = proc2.communicate(timeout=120)
    rec2, _ = load_record(next((nxt / "artifacts").glob("*/record.json")))
    assert rec2.outcome == "passed", out.decode()
    assert any("leftover of run" in n and "healed by timer" in n for n in rec2.notes), rec2.notes
    assert list((tmp_path / "ledger").glob("*.json")) == []
    assert tagged_rules(pool) == []
