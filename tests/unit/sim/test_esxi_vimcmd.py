"""vim-cmd vmsvc/power.reboot and get.guestheartbeatStatus of the simulated host, and the guest's reboot model."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest

from faultlab.assertions.catalog import events_from_lines
from faultlab.assertions.layouts import parse_line
from faultlab.assertions.model import LogKind
from faultlab.sim.config import VmConfig
from faultlab.sim.esxi.commands import esxcli, vimcmd
from faultlab.sim.esxi.commands.control import ControlServer
from faultlab.sim.esxi.guest.vm import SECTOR, Vmx, record
from faultlab.sim.esxi.logs.hostlogs import HostLogs
from faultlab.sim.esxi.storage.dsio import FileClient, VmVolume
from faultlab.sim.esxi.vcls import vcls_entries

T = TypeVar("T")
TOOLS_UNAVAILABLE = (
    "(vim.fault.ToolsUnavailable) {\n"
    "   faultCause = (vmodl.MethodFault) null, \n"
    "   faultMessage = <unset>\n"
    '   msg = "Cannot complete operation because VMware Tools is not running in this virtual machine."\n'
    "}\n"
)


def vm_entry(vmid: int, name: str, power: str = "poweredOn", heartbeat: str = "green") -> dict[str, Any]:
    return {
        "vmid": vmid, "name": name, "datastore": "ds-nfs01", "powerState": power, "guestHeartbeatStatus": heartbeat,
        "vmx": f"/vmfs/volumes/5c1f0a2b-7e3d4f61/{name}/{name}.vmx",
    }  # fmt: skip


class FakeHost:
    """The control socket's side of a host: VMs whose guests accept a reboot when running with Tools."""

    def __init__(self) -> None:
        self.vms = [vm_entry(1, "win01"), vm_entry(2, "win02", heartbeat="red"), vm_entry(3, "win03", "poweredOff")]
        self.requests: list[dict[str, Any]] = []
        self.vcls = vcls_entries(1, "esx01", "lab1")

    def handle(self, req: dict[str, Any]) -> Any:
        self.requests.append(req)
        if req["cmd"] == "snapshot":
            return {"host": "esx01", "datastores": [], "vms": [dict(v) for v in self.vms], "vcls": self.vcls}
        if req["cmd"] == "guest.reboot":
            vm = next(v for v in self.vms if v["name"] == req["vm"])
            if vm["powerState"] != "poweredOn" or vm["guestHeartbeatStatus"] != "green":
                return {"rebooted": False, "powerState": vm["powerState"]}
            vm["guestHeartbeatStatus"] = "gray"
            return {"rebooted": True, "lastVerify": None}
        raise KeyError(req["cmd"])


@pytest.fixture
def host(tmp_path: Path) -> Iterator[tuple[str, FakeHost]]:
    fake = FakeHost()
    stop = threading.Event()
    server = ControlServer(tmp_path / "ctl.sock", fake.handle, stop)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield str(tmp_path / "ctl.sock"), fake
    stop.set()
    thread.join(2)


def test_heartbeat_status_one_word_per_vm(host: tuple[str, FakeHost]) -> None:
    path, _ = host
    assert vimcmd.run(["vmsvc/get.guestheartbeatStatus", "1"], path) == (0, "green\n")
    assert vimcmd.run(["vmsvc/get.guestheartbeatStatus", "2"], path) == (0, "red\n")


def test_reboot_prints_nothing_and_asks_without_waiting_then_heartbeat_leaves_green(
    host: tuple[str, FakeHost],
) -> None:
    path, fake = host
    assert vimcmd.run(["vmsvc/power.reboot", "1"], path) == (0, "")
    assert [r for r in fake.requests if r["cmd"] == "guest.reboot"] == [
        {"cmd": "guest.reboot", "vm": "win01", "wait": False}
    ]
    assert vimcmd.run(["vmsvc/get.guestheartbeatStatus", "1"], path) == (0, "gray\n")


def test_reboot_without_tools_is_a_tools_unavailable_fault(host: tuple[str, FakeHost]) -> None:
    path, _ = host
    assert vimcmd.run(["vmsvc/power.reboot", "2"], path) == (1, TOOLS_UNAVAILABLE)


def test_a_vcls_vm_is_listed_running_without_tools_and_never_rebooted(host: tuple[str, FakeHost]) -> None:
    path, fake = host
    vcls = fake.vcls[0]
    code, table = vimcmd.run(["vmsvc/getallvms"], path)
    assert code == 0 and f"[] /var/run/crx/infra/{vcls['name']}/{vcls['name']}.vmx" in table
    assert vimcmd.run(["vmsvc/power.getstate", str(vcls["vmid"])], path) == (0, "Retrieved runtime info\nPowered on\n")
    assert vimcmd.run(["vmsvc/power.reboot", str(vcls["vmid"])], path) == (1, TOOLS_UNAVAILABLE)
    assert not [r for r in fake.requests if r["cmd"] == "guest.reboot"]


def test_reboot_of_a_powered_off_vm_is_an_invalid_power_state_fault(host: tuple[str, FakeHost]) -> None:
    path, _ = host
    code, out = vimcmd.run(["vmsvc/power.reboot", "3"], path)
    assert code == 1 and out.startswith("(vim.fault.InvalidPowerState) {\n")
    assert "current state (Powered off)." in out


@pytest.mark.parametrize("cmd", ["vmsvc/power.reboot", "vmsvc/get.guestheartbeatStatus", "vmsvc/power.getstate"])
def test_unknown_vmid_and_missing_vmid(host: tuple[str, FakeHost], cmd: str) -> None:
    path, fake = host
    assert vimcmd.run([cmd, "7"], path) == (
        1,
        "(vim.fault.NotFound) {\n   faultCause = (vmodl.MethodFault) null, \n   faultMessage = <unset>\n"
        '   msg = "Unable to find a VM corresponding to "7""\n}\n',
    )
    short = cmd.removeprefix("vmsvc/")
    assert vimcmd.run([cmd], path) == (1, f"Insufficient arguments.\nUsage: {short} vmid\n")
    assert not [r for r in fake.requests if r["cmd"] == "guest.reboot"]


def test_unknown_command_and_unreachable_host(tmp_path: Path, host: tuple[str, FakeHost]) -> None:
    assert vimcmd.run(["vmsvc/power.rebootx", "1"], host[0]) == (1, "Unknown command: 'vmsvc/power.rebootx'\n")
    code, out = vimcmd.run(["vmsvc/power.reboot", "1"], str(tmp_path / "none.sock"))
    assert code == 1 and "cannot reach the host agent" in out


def test_main_writes_fault_to_stderr_and_status(host: tuple[str, FakeHost], capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = host
    assert vimcmd.main(["--control", path, "vmsvc/power.reboot", "2"]) == 1
    out, err = capsys.readouterr()
    assert (out, err) == ("", TOOLS_UNAVAILABLE)
    assert vimcmd.main(["--control", path, "vmsvc/get.guestheartbeatStatus", "1"]) == 0
    assert capsys.readouterr().out == "green\n"


def test_main_without_a_control_socket_says_how_to_give_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FAULTLAB_ESXI_CONTROL", raising=False)
    assert vimcmd.main(["vmsvc/getallvms"]) == 1
    assert capsys.readouterr().err == "vim-cmd: set FAULTLAB_ESXI_CONTROL or pass --control <socket>\n"
    monkeypatch.setenv("FAULTLAB_ESXI_CONTROL", "/nonexistent/esxi-control.sock")
    assert esxcli.main(["storage", "nfs", "list"]) == 1
    assert "cannot reach the host agent at /nonexistent/esxi-control.sock" in capsys.readouterr().err


# -- the guest model's reboot, on an in-memory datastore ------------------------------------------------------


class MemClient:
    """An NFS client over a dict of files (the datastore)."""

    def __init__(self, files: dict[str, bytearray]) -> None:
        self.files = files

    def write(self, path: str, offset: int, data: bytes) -> None:
        f = self.files.setdefault(path, bytearray())
        f[len(f) :] = bytes(max(0, offset + len(data) - len(f)))
        f[offset : offset + len(data)] = data

    def read(self, path: str, offset: int, count: int) -> bytes:
        return bytes(self.files.get(path, b"")[offset : offset + count])

    def stat(self, path: str) -> int:
        return len(self.files.get(path, b""))

    def mkdir(self, path: str) -> None:
        pass

    def close(self) -> None:
        pass


class MemVolume:
    """What Vmx needs of its datastore (dsio.VmVolume): clients, run_io, stop, name, volume uuid."""

    def __init__(self) -> None:
        self.files: dict[str, bytearray] = {}
        self.stop = threading.Event()
        self.name = "ds-nfs01"
        self.volume_uuid = "5c1f0a2b-7e3d4f61"

    def client(self, timeout_ms: int | None = None) -> MemClient:
        return MemClient(self.files)

    def run_io(self, kind: str, client: FileClient, op: Callable[[FileClient], T]) -> T:
        return op(client)


def wait_for(what: str, cond: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


@pytest.fixture(params=["8.0", "7.0"])
def guest(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Vmx, MemVolume]]:
    volume = MemVolume()
    cfg = {
        "name": "win01", "datastore": "ds-nfs01", "vmx_file": "/win01/win01.vmx", "disk_file": "/win01/win01.vmdk",
        "guest": {"boot_s": 0.3},
    }  # fmt: skip
    logs = HostLogs(tmp_path / "log", request.param, "esx01", 1.0)
    vm = Vmx(1, cast(VmConfig, cfg), cast(VmVolume, volume), logs, request.param)
    # as after power-on with a few acknowledged guest writes on the disk (no guest I/O thread: deterministic)
    s = vm.state
    s.power, s.guest, s.heartbeat, s.tools = "poweredOn", "running", "green", "guestToolsRunning"
    for seq in range(8):
        MemClient(volume.files).write("/win01/win01.vmdk", seq * SECTOR, record(seq))
        vm.state.acked[seq] = seq
    vm.log.start()
    yield vm, volume
    volume.stop.set()


def vmware_log(volume: MemVolume) -> list[str]:
    return volume.files.get("/win01/vmware.log", bytearray()).decode().splitlines()


def test_reboot_without_waiting_logs_a_soft_reset_and_boots_clean(guest: tuple[Vmx, MemVolume]) -> None:
    vm, volume = guest
    t0 = time.monotonic()
    answer = vm.reboot(wait=False)
    took = time.monotonic() - t0
    assert answer == {"rebooted": True, "lastVerify": None} and took < vm.guest.boot_s
    snap = vm.snapshot()
    assert (snap["guestState"], snap["guestHeartbeatStatus"], snap["toolsRunningStatus"]) == (
        "booting", "gray", "guestToolsNotRunning",
    )  # fmt: skip
    assert vm.reboot(wait=False)["rebooted"] is False  # a second request while it boots: no Tools to take it
    wait_for("the guest back with Tools", lambda: vm.snapshot()["guestHeartbeatStatus"] == "green")
    wait_for("vmware.log flushed", lambda: vm.log.pending == 0 and len(vmware_log(volume)) == 8)
    snap = vm.snapshot()
    assert (snap["guestState"], snap["boots"], snap["crashes"]) == ("running", 1, 0)
    assert snap["lastVerify"] == {"checked": 8, "lost": 0, "lostSeqs": []}
    lines = vmware_log(volume)
    assert not [ln for ln in lines if "WinBSOD" in ln]
    # the catalog reads the simulator's lines: a soft reset on vcpu-0 of win01, between Tools stopping and returning
    file = "ds-nfs01/win01/vmware.log"
    parsed = [parse_line(raw, LogKind.VMWARE, file=file, line_no=i) for i, raw in enumerate(lines, 1)]
    # a Tools reboot (community 2580831, open-vm-tools#327), the guest's reset request (VMware's GOS suite greps
    # the Chipset and GuestRpc lines), Tools' rpc handler 1 => 0 / 0 => 1 (VMX 2026 case notes)
    assert [(ln.program, ln.body) for ln in parsed if not ln.program.startswith("vcpu-") or "CPU" in ln.body] == [
        ("vmx", "Tools: sending 'OS_Reboot' (state = 2) state change request"),
        ("vmx", "TOOLS state change 2 returned status 1"),
        ("vmx", "Tools: Running status rpc handler: 1 => 0."), ("vcpu-0", "CPU reset: soft"),
        ("vmx", "GuestRpc: Reinitializing Channel 0(toolbox)"),
        ("vmx", "Tools: Running status rpc handler: 0 => 1."), ("vmx", "Tools: Changing running status: 0 => 1."),
    ]  # fmt: skip
    chipset = [ln for ln in parsed if ln.body.startswith("Chipset:")]
    assert [ln.line_no for ln in chipset] == [3] and chipset[0].program in ("vcpu-0", "vcpu-1")
    (reset,) = events_from_lines(parsed)
    assert (reset.name, reset.subject, reset.fields, reset.line_no) == (
        "guest.reset", "win01", {"kind": "soft", "vcpu": "vcpu-0"}, 5,
    )  # fmt: skip


def test_reboot_waiting_returns_the_verification(guest: tuple[Vmx, MemVolume]) -> None:
    vm, volume = guest
    MemClient(volume.files).write("/win01/win01.vmdk", 3 * SECTOR, b"x" * SECTOR)  # an acknowledged write lost
    t0 = time.monotonic()
    answer = vm.reboot()
    assert time.monotonic() - t0 >= vm.guest.boot_s
    assert answer == {"rebooted": True, "lastVerify": {"checked": 8, "lost": 1, "lostSeqs": [3]}}
    assert vm.snapshot()["guestHeartbeatStatus"] == "green"


@pytest.mark.parametrize(
    ("power", "state", "tools"),
    [("poweredOff", "off", "guestToolsNotRunning"), ("poweredOn", "crashed", "guestToolsRunning"),
     ("poweredOn", "booting", "guestToolsNotRunning"), ("poweredOn", "doomed", "guestToolsRunning")],
)  # fmt: skip
def test_reboot_refused_unless_running_with_tools(
    guest: tuple[Vmx, MemVolume], power: str, state: str, tools: str
) -> None:
    vm, volume = guest
    vm.state.power, vm.state.guest, vm.state.tools = power, state, tools
    answer = vm.reboot(wait=False)
    assert answer == {"rebooted": False, "powerState": power, "guestState": state, "toolsRunningStatus": tools}
    assert vm.log.pending == 0 and vmware_log(volume) == []


def test_a_crash_times_out_the_toolbox_rpc_before_the_heartbeat_as_a_real_vmx(guest: tuple[Vmx, MemVolume]) -> None:
    """Audit A4 (the VMX 2026 case notes): GuestRpcSendTimedOut and the TOOLS appName line first, the heartbeat
    timeout a good share of the Tools window later, then the rpc handler 1 => 0 a few ms and the last-heartbeat
    line about 1 ms after it; nothing in the same millisecond as its cause."""
    vm, volume = guest
    g = vm.guest
    g.crash_delay_s, g.tools_timeout_s, g.restart_after_s, g.boot_s = 0.05, 0.6, 0.9, 0.2
    vm._crash_and_restart()
    wait_for("vmware.log flushed", lambda: vm.log.pending == 0 and any("0 => 1" in ln for ln in vmware_log(volume)))
    lines = vmware_log(volume)

    def at(text: str) -> datetime:
        (line,) = [ln for ln in lines if text in ln]
        return datetime.strptime(re.split(r"[| ]", line, maxsplit=1)[0], "%Y-%m-%dT%H:%M:%S.%fZ")

    rpc, app, hb = at("GuestRpcSendTimedOut"), at("TOOLS: appName=toolbox"), at("Tools heartbeat timeout")
    handler, last = at("rpc handler: 1 => 0"), at("Last heartbeat value")
    assert rpc <= app < hb and 0.15 <= (hb - rpc).total_seconds() <= 0.6
    assert 0.003 <= (handler - hb).total_seconds() <= 0.012 and 0 <= (last - handler).total_seconds() <= 0.003
    assert at("Chipset: The guest has requested") > last
    assert at("WinBSOD: Synthetic MSR[0x40000100]") < rpc
