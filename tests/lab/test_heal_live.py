"""Issue 11 items 2 and 4, for real: while a `faultlab run` process holds its fault on the embedded lab,
`faultlab heal` leaves it alone (the iptables rule stays) and `faultlab lab down` refuses; `lab down --force` heals
first, and the ledger of a lab that is gone is closed by the next `faultlab heal` instead of failing for ever."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from faultlab.harness.pytest_plugin import Lab
from faultlab.lab.inventory import load_inventory
from faultlab.lab.ssh import SshPool
from tests.lab.test_runner_safety import in_hold, tagged_rules, wait_for

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

FAULTLAB = [sys.executable, "-c", "from faultlab.harness.cli import main; main()"]
LONG_HOLD = """\
name: long-hold
story: a fault held long enough to act on the run from outside
target: {host: esx01, datastore: ds-nfs01, vm: win01}
fault: {kind: network-blackhole, on: nfs01}
hold: 45s
expect:
  never: [pdl]
"""


def faultlab(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FAULTLAB, *args], check=False, capture_output=True, text=True, timeout=timeout)


def start_run(inventory: Path, tmp_path: Path) -> subprocess.Popen[bytes]:
    (tmp_path / "long-hold.yaml").write_text(LONG_HOLD)
    argv = [*FAULTLAB, "run", str(tmp_path / "long-hold.yaml"), "--inventory", str(inventory)]
    argv += ["--artifacts", str(tmp_path / "artifacts"), "--state-dir", str(tmp_path / "ledger")]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes]) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # the run heals on Ctrl-C
    try:
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    return out.decode(errors="replace")


def test_heal_and_lab_down_leave_a_live_run_alone(lab: Lab, tmp_path: Path) -> None:
    if lab.embedded_id is None:
        pytest.skip("needs the embedded lab (lab down acts on it)")
    with SshPool(lab.inventory) as pool:
        assert tagged_rules(pool) == []
        proc = start_run(lab.inventory_path, tmp_path)
        try:
            wait_for("the hold phase", lambda: in_hold(tmp_path), 90)
            wait_for("the fault", lambda: tagged_rules(pool), 10)
            rules = tagged_rules(pool)
            healed = faultlab("heal", "--state-dir", str(tmp_path / "ledger"))
            assert healed.returncode == 0, healed.stdout + healed.stderr
            assert re.match(rf"left alone +\S+: run long-hold-\S+ is live \(pid {proc.pid}\)", healed.stdout)
            assert tagged_rules(pool) == rules  # the live run's fault is untouched
            down = faultlab("lab", "down", lab.embedded_id, "--state-dir", str(tmp_path / "ledger"))
            assert down.returncode == 2, down.stdout + down.stderr
            assert f"refusing to take down lab {lab.embedded_id}: run long-hold-" in down.stderr
            assert f"(pid {proc.pid}) is faulting it" in down.stderr and "Nothing was changed." in down.stderr
            assert tagged_rules(pool) == rules and pool.get("esx01").run("true").succeeded  # the lab is still up
            assert proc.poll() is None  # and the run still holds
        finally:
            out = stop(proc)
        assert tagged_rules(pool) == [], out


@pytest.fixture
def own_lab(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A lab of this test only (lab down --force takes it away): 1 host, 1 NFS VM, no vCenter."""
    up = faultlab("lab", "up", "--hosts", "1", "--vms", "1", "--vmfs-vms", "0", "--no-vcenter", timeout=300)
    assert up.returncode == 0, up.stdout + up.stderr
    lab_id = re.search(r"^lab (\S+) up", up.stdout, re.M)
    inventory = re.search(r"^inventory: (\S+)", up.stdout, re.M)
    assert lab_id and inventory, up.stdout
    try:
        yield lab_id.group(1), Path(inventory.group(1))
    finally:
        faultlab("lab", "down", lab_id.group(1), "--force", "--state-dir", str(tmp_path / "none"))


def test_lab_down_force_heals_first(own_lab: tuple[str, Path], tmp_path: Path) -> None:
    lab_id, inventory = own_lab
    state = str(tmp_path / "ledger")
    with SshPool(load_inventory(inventory)) as pool:
        proc = start_run(inventory, tmp_path)
        try:
            wait_for("the hold phase", lambda: in_hold(tmp_path), 90)
            wait_for("the fault", lambda: tagged_rules(pool), 10)
            down = faultlab("lab", "down", lab_id, "--force", "--state-dir", state)
            assert down.returncode == 0, down.stdout + down.stderr
            lines = down.stdout.splitlines()
            assert lines[0].startswith(f"lab {lab_id}: healing the faults of run long-hold-")
            assert lines[1].startswith("healed ") and "network-blackhole on nfs01" in lines[1], lines
            assert lines[-1] == f"lab {lab_id} down"
        finally:
            out = stop(proc)
    assert not inventory.exists()
    healed = faultlab("heal", "--state-dir", state)  # whatever the run wrote after its lab went: never exit 1
    assert healed.returncode == 0, healed.stdout + healed.stderr + out
    assert list((tmp_path / "ledger").glob("*.json")) == []


def test_the_ledger_of_a_lab_taken_down_is_closed(own_lab: tuple[str, Path], tmp_path: Path) -> None:
    """A run killed in its hold leaves its ledger; the lab is taken down (no live run: allowed); `faultlab heal`
    then closes the ledger with a note instead of failing on the missing lab for ever."""
    lab_id, inventory = own_lab
    state = str(tmp_path / "ledger")
    proc = start_run(inventory, tmp_path)
    try:
        wait_for("the hold phase", lambda: in_hold(tmp_path), 90)
        proc.kill()  # SIGKILL: no heal, the ledger stays
        proc.wait(timeout=10)
    finally:
        stop(proc)
    ledgers = list((tmp_path / "ledger").glob("*.json"))
    assert len(ledgers) == 1
    down = faultlab("lab", "down", lab_id, "--state-dir", state)
    assert down.returncode == 0 and down.stdout.strip() == f"lab {lab_id} down", down.stdout + down.stderr
    healed = faultlab("heal", "--state-dir", state)
    assert healed.returncode == 0, healed.stdout + healed.stderr
    assert healed.stdout.startswith(f"closed         {ledgers[0]}: run long-hold-")
    assert f"lab {lab_id} no longer exists; nothing left to heal" in healed.stdout
    assert not ledgers[0].exists()


def test_a_duration_the_host_makes_negative_is_one_clear_error(lab: Lab, tmp_path: Path) -> None:
    """Issue 11 item 8: "{Misc.APDTimeout}s - 15s" fits every real host (20 s and up) but not the embedded lab's
    APD timeout of a few seconds: the run stops in preflight, exit 3, naming the file, line, key and the value."""
    (tmp_path / "sc.yaml").write_text(LONG_HOLD.replace("hold: 45s", 'hold: "{Misc.APDTimeout}s - 15s"'))
    res = faultlab(
        "run", str(tmp_path / "sc.yaml"), "--inventory", str(lab.inventory_path),
        "--artifacts", str(tmp_path / "artifacts"), "--state-dir", str(tmp_path / "ledger"),
    )  # fmt: skip
    text = res.stdout + res.stderr
    assert res.returncode == 3, text
    assert "Traceback" not in text
    rec = json.loads(next((tmp_path / "artifacts").glob("*/record.json")).read_text())
    message = rec["message"]
    assert message.startswith("lab problem in phase preflight: ") and "sc.yaml, line 5, key hold: " in message
    assert "is negative" in message and "with the host's settings: Misc.APDTimeout = " in message
    assert list((tmp_path / "ledger").glob("*.json")) == []  # nothing was injected
