"""KB 392634's second reboot on the embedded lab, over SSH as the harness does it: vim-cmd vmsvc/power.reboot and
vmsvc/get.guestheartbeatStatus on a simulated ESXi host, the guest's reset read back from its vmware.log."""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from faultlab.assertions.model import LogKind
from faultlab.assertions.scan import scan_stream
from faultlab.lab.esxi import parse_getallvms
from faultlab.lab.inventory import load_inventory
from faultlab.lab.ssh import SshClient, SshPool
from faultlab.sim.lab import EmbeddedLab

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the embedded lab needs root (sudo .venv/bin/pytest -m lab ...)"),
]

HOST, VM = "esx01", "win01"
POLL_S = 0.1
TOOLS_UNAVAILABLE = "(vim.fault.ToolsUnavailable) {"


@dataclass
class Reboot:
    esx: SshClient
    vmid: int
    vm_log: str


def wait_for(what: str, cond: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, f"timed out after {timeout_s:g} s waiting for {what}"
        time.sleep(POLL_S)


LAB_SHAPE = {"hosts": 1, "vms": 1, "vcenter": False}


@pytest.fixture(scope="module")
def lab(embedded_lab: EmbeddedLab) -> Iterator[Reboot]:
    embedded = embedded_lab
    assert embedded.hosts_running, "the simulated ESXi host process is not installed"
    inv = load_inventory(embedded.inventory_path)
    with SshPool(inv, command_timeout=30) as pool:
        esx = pool.get(HOST)
        (entry,) = parse_getallvms(esx.run(["vim-cmd", "vmsvc/getallvms"], check=True).stdout)
        ds, rel = re.fullmatch(r"\[(.+)\] (.+)", entry.file).groups()  # type: ignore[union-attr]
        vm_log = f"/vmfs/volumes/{ds}/{os.path.dirname(rel)}/vmware.log"
        yield Reboot(esx, entry.vmid, vm_log)


def heartbeat(lab: Reboot) -> str:
    res = lab.esx.run(["vim-cmd", "vmsvc/get.guestheartbeatStatus", str(lab.vmid)], check=True)
    return res.stdout.strip().splitlines()[-1]


def test_power_reboot_restarts_the_guest_once_without_a_bugcheck(lab: Reboot) -> None:
    wait_for("the guest up with Tools (heartbeat green)", lambda: heartbeat(lab) == "green", 20)
    assert lab.esx.run(["vim-cmd", "vmsvc/get.guestheartbeatStatus", str(lab.vmid)]).stdout == "green\n"
    start = lab.esx.stat(lab.vm_log)
    mark = start.size if start else 0
    asked = datetime.now(UTC)
    # one shell line: the status and a second request are read while the guest is still rebooting
    vmid = lab.vmid
    res = lab.esx.run(
        f"vim-cmd vmsvc/power.reboot {vmid}; echo rc=$?; vim-cmd vmsvc/get.guestheartbeatStatus {vmid};"
        f" vim-cmd vmsvc/power.reboot {vmid} 2>&1; echo rc=$?"
    )
    out = res.stdout.splitlines()
    assert out[:2] == ["rc=0", "gray"], res.stdout  # power.reboot prints nothing; the heartbeat has left green
    assert out[2] == TOOLS_UNAVAILABLE and out[-1] == "rc=1", res.stdout  # no Tools while Windows boots
    t0 = time.monotonic()
    wait_for("heartbeat green again after the reboot", lambda: heartbeat(lab) == "green", 15)
    back_s = time.monotonic() - t0
    wait_for(
        "Tools running again in vmware.log",
        lambda: b"Tools: Changing running status: 0 => 1." in lab.esx.read_file(lab.vm_log, mark),
        10,
    )
    data = lab.esx.read_file(lab.vm_log, mark)
    text = data.decode()
    assert "WinBSOD" not in text
    # Tools asked to reboot, the guest's hard-reset request, Tools' rpc handler 1 => 0 ... 0 => 1 (kinds_guest.py)
    steps = ("'OS_Reboot'", "Chipset: The guest has requested", "rpc handler: 1 => 0.", "CPU reset: soft")
    order = [text.index(s) for s in (*steps, "Reinitializing Channel 0(toolbox)", "running status: 0 => 1.")]
    assert order == sorted(order), text
    events, _ = scan_stream(io.BytesIO(data), kind=LogKind.VMWARE, name=lab.vm_log, host=HOST)
    resets = [e for e in events if e.name == "guest.reset"]
    assert [(e.subject, e.fields) for e in resets] == [(VM, {"kind": "soft", "vcpu": "vcpu-0"})]
    when = resets[0].time
    assert when is not None and asked - timedelta(seconds=1) <= when <= asked + timedelta(seconds=10)
    assert not [e for e in events if e.name == "guest.bsod"]
    print(f"heartbeat green again {back_s:.2f} s after power.reboot returned")
