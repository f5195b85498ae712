"""Unit tests: the simulated host's log line layouts (7.0 / 8.0) and size rotation."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from faultlab.sim.esxi.logs import kinds
from faultlab.sim.esxi.logs.clock import Uptime, esx_timestamp
from faultlab.sim.esxi.logs.hostd import HostdLog, hostd_line
from faultlab.sim.esxi.logs.rotate import RotatingLog
from faultlab.sim.esxi.logs.vmkernel import VmkernelLog, vmkernel_line
from faultlab.sim.esxi.logs.vmksummary import VmksummaryLog
from faultlab.sim.esxi.logs.vmwarelog import vmware_line, winbsod_lines
from faultlab.sim.esxi.logs.vobd import VobdLog

TS = "2026-11-22T04:30:01.123Z"


def test_timestamp_is_millisecond_utc() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", esx_timestamp())


def test_vmkernel_layouts_match_real_lines() -> None:
    body = "HBX: 6214: APD EventType: APD_START (3) for vol 'iSCSI'"
    assert vmkernel_line("7.0", TS, 0, 65641, kinds.HBX_APD_START, label="iSCSI") == f"{TS} cpu0:65641){body}"
    assert vmkernel_line("8.0", TS, 5, 2097949, kinds.HBX_APD_START, label="iSCSI") == (
        f"{TS} In(182) vmkernel: cpu5:2097949){body}"
    )
    warn = vmkernel_line("8.0", TS, 68, 2098009, kinds.NMP_FAST_PROBE, naa="naa.1")
    assert warn.startswith(f"{TS} Wa(180) vmkwarning: cpu68:2098009)WARNING: NMP: ")
    with pytest.raises(TypeError):
        vmkernel_line("8.0", TS, 0, 1, kinds.HOSTD_EVENT, key=1, message="x")


def test_vmkernel_warning_copied_to_vmkwarning_and_world_keeps_its_cpu(tmp_path: Path) -> None:
    log = VmkernelLog("7.0", RotatingLog(tmp_path / "vmkernel.log"), RotatingLog(tmp_path / "vmkwarning.log"))
    log.log("nmp", kinds.NMP_FAST_PROBE, naa="naa.1")
    log.log("apd", kinds.APD_START, handle=0x4302FF581AD0, ident="naa.1")
    log.log("apd", kinds.SCSI_APD_START, naa="naa.1")
    kernel = (tmp_path / "vmkernel.log").read_text().splitlines()
    assert len(kernel) == 3
    warning_lines = (tmp_path / "vmkwarning.log").read_text().splitlines()
    assert len(warning_lines) == 1 and ")WARNING: NMP: nmp_DeviceRequestFastDeviceProbe" in warning_lines[0]


def test_vobd_layouts_twins_and_forwarded_line(tmp_path: Path) -> None:
    for profile, pattern in (
        ("7.0", r"^\S+Z: \[APDCorrelator\] \d+us: \[vob\.storage\.apd\.start\] Device"),
        ("8.0", r"^\S+Z In\(14\) vobd\[4242\]:  \[APDCorrelator\] \d+us: \[vob\.storage\.apd\.start\] Device"),
    ):
        vobd = VobdLog(profile, RotatingLog(tmp_path / f"vobd{profile}.log"), Uptime(), 4242)
        vobd.emit([(kinds.VOB_APD_START, {"ident": "a-b"}), (kinds.ESX_APD_START, {"ident": "a-b"})])
        lines = (tmp_path / f"vobd{profile}.log").read_text().splitlines()
        assert re.match(pattern, lines[0]), lines[0]
        us = [int(m.group(1)) for line in lines[:2] if (m := re.search(r" (\d+)us: ", line))]
        # the esx twin's uptime is from another clock: a quarter second to three seconds away (KB 323075, VPLEX)
        assert 200_000 <= abs(us[1] - us[0]) <= 3_100_000
        assert lines[0].split(" ")[0] != lines[1].split(" ")[0]  # not the same millisecond either
        if profile == "8.0":
            assert lines[2].endswith(
                "[esx.problem.storage.apd.start] Device or filesystem with identifier [a-b] has entered the All "
                "Paths Down state.) was sent immediately to hostd;"
            )
        else:
            assert len(lines) == 2


def test_hostd_layouts_and_varied_threads(tmp_path: Path) -> None:
    assert hostd_line("7.0", TS, 2104418, kinds.HOSTD_IOTRACKER, thread=1, op="fopen", path="/p", seconds=76) == (
        f'{TS} warning hostd[2104418] [Originator@6876 sub=IoTracker] In thread 1, fopen("/p") took over 76 sec.'
    )
    assert hostd_line("8.0", TS, 2098450, kinds.HOSTD_EVENT, key=3, message="m") == (
        f"{TS} In(166) Hostd[2098450]: [Originator@6876 sub=Vimsvc.ha-eventmgr] Event 3 : m"
    )
    assert hostd_line("8.0", TS, 1, kinds.HOSTD_SECTION, pid=5, version="8.0.2", build=22380479) == (
        f"{TS} Section for VMware ESX, pid=5, version=8.0.2, build=22380479, option=Release"
    )
    hostd = HostdLog("8.0", RotatingLog(tmp_path / "hostd.log"))
    for key in range(40):
        hostd.event(f"e{key}")
    tids = {re.search(r"Hostd\[(\d+)\]", line).group(1) for line in (tmp_path / "hostd.log").read_text().splitlines()}  # type: ignore[union-attr]
    assert len(tids) > 2


def test_vmware_log_layouts_and_winbsod() -> None:
    tools = kinds.VMX_TOOLS_RPC
    assert (
        vmware_line("7.0", tools, "vmx", TS, old=1, new=0)
        == f"{TS}| vmx| I005: Tools: Running status rpc handler: 1 => 0."
    )
    assert (
        vmware_line("8.0", tools, "vmx", TS, old=0, new=1)
        == f"{TS} In(05) vmx - Tools: Running status rpc handler: 0 => 1."
    )
    lines80 = winbsod_lines("8.0", "vcpu-1", 0x7A, (0xFFFFF6FB40000000, 0xC000009D, 0x1234, 0x0))
    assert len(lines80) == 9
    assert lines80[0].endswith(" Wa(03) vcpu-1 - WinBSOD: Synthetic MSR[0x40000100] 0x7a")
    assert lines80[1].endswith(" Wa(03)+ vcpu-1 -")
    assert lines80[4].endswith("WinBSOD: Synthetic MSR[0x40000102] 0xc000009d")
    lines70 = winbsod_lines("7.0", "vcpu-0", 0xEF, (1, 0, 0, 0))
    assert [line.split("| ", 2)[2] for line in lines70] == [
        f"W003: WinBSOD: Synthetic MSR[0x4000010{i}] {v}" for i, v in enumerate(("0xef", "0x1", "0x0", "0x0", "0x0"))
    ]


def test_vmksummary(tmp_path: Path) -> None:
    for profile, tag, ts in (("7.0", "bootstop:", r"\d\dZ"), ("8.0", "bootstop[77]:", r"\.\d{3}Z")):
        summary = VmksummaryLog(profile, RotatingLog(tmp_path / f"s{profile}.log"), Uptime(lead_us=90_061_000_000), 77)
        summary.bootstop("has booted")
        summary.heartbeat([(2101117, "vmx", 4194304), (2099871, "hostd", 181244)], 1)
        boot, beat = (tmp_path / f"s{profile}.log").read_text().splitlines()
        assert re.search(ts + " " + re.escape(tag) + " Host has booted$", boot), boot
        assert re.search(
            r"Z heartbeat(\[77\])?: up 1d1h1m\ds, 1 VMs; "
            r"\[\[2101117 vmx 4194304kB\] \[2099871 hostd 181244kB\]\] \[\]$",
            beat,
        )


def test_rotation_by_size_keeps_n_gz_newest_first(tmp_path: Path) -> None:
    log = RotatingLog(tmp_path / "vobd.log", max_bytes=100, keep=3)
    for batch in range(6):
        log.write_lines([f"batch{batch} " + "x" * 100])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vobd.0.gz", "vobd.1.gz", "vobd.2.gz", "vobd.log"]
    assert gzip.decompress(log.rotated(0).read_bytes()).decode().startswith("batch5 ")
    assert gzip.decompress(log.rotated(2).read_bytes()).decode().startswith("batch3 ")
    assert (tmp_path / "vobd.log").stat().st_size == 0


def test_vobd_time_never_goes_back_across_observations(tmp_path: Path) -> None:
    vobd = VobdLog("7.0", RotatingLog(tmp_path / "vobd.log"), Uptime(), 1)
    for _ in range(20):  # twins are written a millisecond or two after their vob: the next vob must not precede
        vobd.emit([(kinds.VOB_APD_EXIT, {"ident": "a-b"}), (kinds.ESX_APD_EXIT, {"ident": "a-b"})])
    stamps = [line.split(": ", 1)[0] for line in (tmp_path / "vobd.log").read_text().splitlines()]
    assert stamps == sorted(stamps) and len(stamps) == 40
