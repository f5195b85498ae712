"""memory-leak: refused without a Service Console; inject, verify and heal run for real as shell lines here."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from faultlab.harness.faults.kinds.base import FaultRef, FaultRefusedError, PlanContext
from faultlab.harness.faults.kinds.memory_leak import KIND, LEAK_DIR, MemoryLeakFault
from faultlab.harness.faults.registry import kind_of
from faultlab.lab.inventory import Inventory, parse_inventory
from faultlab.lab.ssh import CommandResult

INVENTORY = """
version: 1
ssh: {user: root, private_key: /nonexistent/key, insecure_accept_any_host_key: true}
hosts:
  - {name: esx01, address: 198.18.1.11, version: "4.1", allow_faults: true}
  - {name: esx02, address: 198.18.1.12, version: "8.0", allow_faults: true}
  - {name: esx03, address: 198.18.1.13, allow_faults: true}
"""


class LocalShell:
    """The boundary faked: the kind's shell lines run by /bin/sh on this machine instead of over SSH."""

    def run(self, argv: list[str] | str, timeout: float | None = None, check: bool = False) -> CommandResult:
        line = argv if isinstance(argv, str) else " ".join(argv)
        t0 = time.monotonic()
        p = subprocess.run(["sh", "-c", line], capture_output=True, text=True, timeout=30, check=False)
        return CommandResult(line, p.returncode, p.stdout, p.stderr, time.monotonic() - t0)


@pytest.fixture
def inv() -> Inventory:
    return parse_inventory(INVENTORY, check_files=False)


def test_registered_and_refused_on_esxi(inv: Inventory) -> None:
    assert kind_of("memory-leak") is KIND
    assert KIND.check(MemoryLeakFault(kind="memory-leak", on="esx01"), inv) == []
    [p] = KIND.check(MemoryLeakFault(kind="memory-leak", on="esx02"), inv)
    assert "Service Console" in p.message and "version 8.0" in p.message and "ESXi 5 and later" in p.message
    [p] = KIND.check(MemoryLeakFault(kind="memory-leak", on="esx03"), inv)
    assert "version unknown" in p.message
    with pytest.raises(FaultRefusedError, match="needs a Service Console"):
        KIND.plan(PlanContext(inv, "r1", "f1", ()), MemoryLeakFault(kind="memory-leak", on="esx02"))


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_inject_grows_a_process_named_vmap_and_heal_kills_it(inv: Inventory) -> None:
    shell = LocalShell()
    ref = FaultRef("memory-leak", "esx01", "faultlab:unit-memleak:f1")
    params = KIND.plan(
        PlanContext(inv, "unit-memleak", "f1", ()),
        MemoryLeakFault(kind="memory-leak", on="esx01", process="VMapTest", rate_kb_per_s=4096),
    )
    KIND.inject(ref, params, shell)
    try:
        KIND.inject(ref, params, shell)  # again: still one process
        pid_file = f"{LEAK_DIR}/faultlab_unit-memleak_f1.pid"
        pid = int(Path(pid_file).read_text())
        assert Path(f"/proc/{pid}/comm").read_text().strip() == "VMapTest"
        assert KIND.verify_active(ref, params, shell) is True and KIND.verify_healed(ref, params, shell) is False
        first = _rss_kb(pid)
        deadline = time.monotonic() + 10
        while _rss_kb(pid) < first + 6000 and time.monotonic() < deadline:
            time.sleep(0.2)  # polling the real process's growth
        assert _rss_kb(pid) >= first + 6000
    finally:
        KIND.heal(ref, params, shell)
    assert KIND.verify_healed(ref, params, shell) is True
    assert KIND.verify_active(ref, params, shell) is None  # gone: healed, or died with the COS it exhausted
    assert subprocess.run(["sh", "-c", KIND.heal_line(ref, params)], check=False).returncode == 0  # healing twice
