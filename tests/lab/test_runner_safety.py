"""The runner never leaves a fault behind: SIGKILL mid-fault (the dead-man timer heals, the killed run's record is
marked dead, the next run waits for a steady lab), Ctrl-C and SIGTERM (heal in `finally`, a message saying what
was interrupted and healed), an artifacts folder that turns read-only or full during the hold (the heal still runs
on time), a fault removed from outside during the hold (noticed, noted, the run fails saying so). Runs
`faultlab run` as a real process on the embedded lab; the FIGURES lines are the heal times reported in issue 11."""

from __future__ import annotations

import errno
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from faultlab.harness.pytest_plugin import Lab
from faultlab.harness.record import load_record, parse_iso
from faultlab.lab.ssh import SshPool
from faultlab.lab.target import IPTABLES
from tests.lab.conftest import wait_for

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

ROOT = Path(__file__).resolve().parents[2]
FAULTLAB = [sys.executable, "-c", "from faultlab.harness.cli import main; main()"]


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
    try:
        found = list((tmp_path / "artifacts").glob("*/record.json"))
    except FileNotFoundError:  # the run's write check makes the folder and removes it again (cli/run.py)
        return None
    return json.loads(found[0].read_text()) if found else None


def in_hold(tmp_path: Path) -> bool:
    rec = record_in(tmp_path)
    return rec is not None and any(p["name"] == "hold" for p in rec["phases"])


def gone_after(pool: SshPool, t0: float, timeout_s: float) -> float:
    """Seconds from t0 until the tagged rules are gone (polled every 0.1 s)."""
    wait_for("the fault to be healed", lambda: tagged_rules(pool) == [], timeout_s, interval_s=0.1)
    return time.monotonic() - t0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupt_heals_at_once(lab: Lab, pool: SshPool, tmp_path: Path, sig: signal.Signals) -> None:
    assert tagged_rules(pool) == []
    proc = start_run(lab, tmp_path, "nfs-apd-bsod")
    try:
        wait_for("the hold phase", lambda: in_hold(tmp_path), 60)
        assert tagged_rules(pool), "the fault is in place during the hold"
        t0 = time.monotonic()
        proc.send_signal(sig)
        healed_s = gone_after(pool, t0, 30)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    print(f"\nFIGURES {sig.name}: fault healed {healed_s:.2f}s after the signal")
    text = out.decode()
    assert tagged_rules(pool) == [], text  # healed by the run itself, not by the timer
    rec = record_in(tmp_path)
    assert rec is not None
    name = "SIGTERM" if sig == signal.SIGTERM else "Ctrl-C (SIGINT)"
    said = f"interrupted by {name} during phase hold; the fault network-blackhole on nfs01 was healed (healed, the run)"
    assert rec["outcome"] == "error" and rec["message"] == said, rec["message"]
    assert f"faultlab run: {said}" in text and "Traceback" not in text, text
    assert proc.returncode == (143 if sig == signal.SIGTERM else 130)
    assert [p["status"] for p in rec["phases"] if p["name"] in ("hold", "heal")] == ["interrupted", "ok"]
    assert rec["heal"]["status"] == "healed"
    assert list((tmp_path / "ledger").glob("*.json")) == []  # a clean heal closes the ledger
    assert proc.returncode != 0


@pytest.mark.long
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
    dead, _ = load_record(next((tmp_path / "artifacts").glob("*/record.json")))  # the next reader marks it dead
    assert dead.outcome == "error" and dead.message.startswith(f"dead run: its process (pid {proc.pid}) is gone")
    assert "during phase hold" in dead.message and "its fault was not healed by the run" in dead.message
    assert (record_in(tmp_path) or {}).get("outcome") == "error"  # and the mark is written back
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
    # The doomed guest bugchecks as storage returns: the next run waited for a steady lab before its baseline.
    steady = rec2.phase("steady")
    assert steady is not None and steady.status == "ok" and steady.detail.startswith("steady for 5s"), steady
    assert list((tmp_path / "ledger").glob("*.json")) == []
    assert tagged_rules(pool) == []


def test_outside_heal_during_the_hold_is_noticed_and_fails_the_run(lab: Lab, pool: SshPool, tmp_path: Path) -> None:
    proc = start_run(lab, tmp_path, "nfs-apd-bsod")
    try:
        wait_for("the hold phase", lambda: in_hold(tmp_path), 60)
        rules = tagged_rules(pool)
        assert rules
        for rule in rules:  # someone else removes the fault, in the target's own namespace
            pool.get("nfs01").run([*IPTABLES, *shlex.split(rule.replace("-A ", "-D ", 1))], check=True)
        removed = time.monotonic()
        wait_for(
            "the run to notice",
            lambda: any(p["name"] == "heal" for p in (record_in(tmp_path) or {"phases": []})["phases"]),
            15,
        )
        noticed_s = time.monotonic() - removed
        proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    print(f"\nFIGURES outside heal noticed {noticed_s:.2f}s after the rules were removed")
    rec, _ = load_record(next((tmp_path / "artifacts").glob("*/record.json")))
    heal = rec.heal or {}
    assert heal.get("ended_by") == "someone else" and heal.get("status") == "already healed", heal
    assert rec.outcome == "failed" and rec.message.startswith("the fault ended "), rec.message
    assert "s early (someone else removed it at" in rec.message
    assert any(n.startswith("hold ended") and "no longer in place (someone else removed it)" in n for n in rec.notes)
    assert rec.anchors["fault.healed"] == heal["ended_at"]  # recovery timed from the real end
    assert noticed_s < 5
    assert list((tmp_path / "ledger").glob("*.json")) == [] and tagged_rules(pool) == []


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs for the artifacts (filled during the hold: ENOSPC), unmounted after the test."""
    where = tmp_path / "artifacts"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "faultlab-test", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(folder: Path) -> None:
    with (folder / "filler").open("wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


@pytest.mark.parametrize("how", ["chattr-i", "enospc"])
def test_a_failing_record_write_never_delays_the_heal(
    lab: Lab, pool: SshPool, tmp_path: Path, how: str, request: pytest.FixtureRequest
) -> None:
    if how == "enospc":
        request.getfixturevalue("tiny_tmpfs")
    proc = start_run(lab, tmp_path, "nfs-apd-bsod")
    run_dir: Path | None = None
    try:
        wait_for("the hold phase", lambda: in_hold(tmp_path), 60)
        run_dir = next((tmp_path / "artifacts").glob("*/record.json")).parent
        ledger = json.loads(next((tmp_path / "ledger").glob("*.json")).read_text())
        deadline_s = float(ledger["entries"][0]["fault"]["deadline_s"])
        if how == "chattr-i":
            subprocess.run(["chattr", "+i", str(run_dir)], check=True)
        else:
            fill(tmp_path / "artifacts")
        broken = time.monotonic()
        injected = parse_iso(json.loads((run_dir / "record.json").read_text())["anchors"]["fault.injected"])
        timer_due = injected + timedelta(seconds=deadline_s)
        healed_s = gone_after(pool, broken, deadline_s + 10)
        healed_at = datetime.now(UTC)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        if run_dir is not None and how == "chattr-i":
            subprocess.run(["chattr", "-i", str(run_dir)], check=False)
    text = out.decode()
    margin = (timer_due - healed_at).total_seconds()
    print(f"\nFIGURES record write failing ({how}): healed by the run at the hold's end, {healed_s:.2f}s after the")
    print(f"FIGURES   folder broke, {margin:.1f}s before the dead-man timer was due")
    why = "Operation not permitted" if how == "chattr-i" else "No space left on device"
    said = f"faultlab run: cannot write the run record in {run_dir}: {why}; the run stopped, the fault was healed first"
    assert f"{said} (healed) and its ledger closed" in text, text
    assert "Traceback" not in text and proc.returncode == 3, text
    assert list((tmp_path / "ledger").glob("*.json")) == [] and tagged_rules(pool) == []
    # The run healed it at the hold's end, not the dead-man timer at hold + grace.
    assert healed_at < timer_due - timedelta(seconds=2), (healed_at, timer_due)
