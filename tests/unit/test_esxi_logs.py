"""Unit tests: the simulated host's log line layouts (7.0 / 8.0) and size rotation."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from faultlab.sim.esxi.logs.clock import Uptime, esx_timestamp
from faultlab.sim.esxi.logs.hostd import hostd_line
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
    assert vmkernel_line("7.0", TS, 0, 65641, body) == f"{TS} cpu0:65641){body}"
    assert vmkernel_line("8.0", TS, 5, 2097949, body) == f"{TS} In(182) vmkernel: cpu5:2097949){body}"
    warn = vmkernel_line("8.0", TS, 68, 2098009, "WARNING: HBX: 2723: x", warning=True)
    assert warn.startswith(f"{TS} Wa(180) vmkwarning: cpu68:2098009)WARNING: ")


def test_vmkernel_warning_copied_to_vmkwarning(tmp_path: Path) -> None:
    log = VmkernelLog("7.0", RotatingLog(tmp_path / "vmkernel.log"), RotatingLog(tmp_path / "vmkwarning.log"))
    log.log("nmp", "NMP: x", warning=True)
    log.log("apd", "StorageApdHandler: 1205: APD start")
    assert len((tmp_path / "vmkernel.log").read_text().splitlines()) == 2
    warning_lines = (tmp_path / "vmkwarning.log").read_text().splitlines()
    assert len(warning_lines) == 1 and ")WARNING: NMP: x" in warning_lines[0]


def test_vobd_layouts(tmp_path: Path) -> None:
    for profile, pattern in (
        ("7.0", r"^\S+Z: \[APDCorrelator\] \d+us: \[vob\.storage\.apd\.start\] Device"),
        ("8.0", r"^\S+Z In\(14\) vobd\[4242\]:  \[APDCorrelator\] \d+us: \[vob\.storage\.apd\.start\] Device"),
    ):
        vobd = VobdLog(profile, RotatingLog(tmp_path / f"vobd{profile}.log"), Uptime(), 4242)
        vobd.emit([("APDCorrelator", "vob.storage.apd.start", "Device or filesystem ..."), (None, "vob.x", "")])
        lines = (tmp_path / f"vobd{profile}.log").read_text().splitlines()
        assert re.match(pattern, lines[0]), lines[0]
        assert lines[1].endswith("No correlator for vob.x")


def test_hostd_layouts() -> None:
    assert hostd_line("7.0", TS, "warning", 2104418, "IoTracker", "In thread 1, x") == (
        f"{TS} warning hostd[2104418] [Originator@6876 sub=IoTracker] In thread 1, x"
    )
    assert hostd_line("8.0", TS, "error", 2098450, "Default", "m", "ab12") == (
        f"{TS} Er(163) Hostd[2098450]: [Originator@6876 sub=Default opID=ab12] m"
    )


def test_vmware_log_layouts_and_winbsod() -> None:
    assert vmware_line("7.0", "info", "vmx", "Tools: x", TS) == f"{TS}| vmx| I005: Tools: x"
    assert vmware_line("8.0", "info", "vmx", "Tools: x", TS) == f"{TS} In(05) vmx - Tools: x"
    lines80 = winbsod_lines("8.0", "vcpu-1", 0x7A, (0xFFFFF6FB40000000, 0xC000009D, 0x1234, 0x0))
    assert len(lines80) == 9
    assert lines80[0].endswith(" Wa(03) vcpu-1 - WinBSOD: Synthetic MSR[0x40000100] 0x7a")
    assert lines80[1].endswith(" Wa(03)+ vcpu-1 -")
    assert lines80[4].endswith("WinBSOD: Synthetic MSR[0x40000102] 0xc000009d")
    lines70 = winbsod_lines("7.0", "vcpu-0", 0xEF, (1, 0, 0, 0))
    assert [line.split("| ", 2)[2] for line in lines70] == [
        f"I005: WinBSOD: Synthetic MSR[0x4000010{i}] {v}" for i, v in enumerate(("0xef", "0x1", "0x0", "0x0", "0x0"))
    ]


def test_vmksummary(tmp_path: Path) -> None:
    for profile, tag in (("7.0", "bootstop:"), ("8.0", "bootstop[77]:")):
        summary = VmksummaryLog(profile, RotatingLog(tmp_path / f"s{profile}.log"), Uptime(lead_us=90_061_000_000), 77)
        summary.bootstop("Host has booted")
        summary.heartbeat([(2101117, 4194304)])
        boot, beat = (tmp_path / f"s{profile}.log").read_text().splitlines()
        assert boot.endswith(f"Z {tag} Host has booted")
        assert re.search(r"Z heartbeat(\[77\])?: up 1d1h1m\ds, 1 VMs; \[\[2101117 vmx 4194304kB\]\] \[\]$", beat)


def test_rotation_by_size_keeps_n_gz_newest_first(tmp_path: Path) -> None:
    log = RotatingLog(tmp_path / "vobd.log", max_bytes=100, keep=3)
    for batch in range(6):
        log.write_lines([f"batch{batch} " + "x" * 100])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vobd.0.gz", "vobd.1.gz", "vobd.2.gz", "vobd.log"]
    assert gzip.decompress(log.rotated(0).read_bytes()).decode().startswith("batch5 ")
    assert gzip.decompress(log.rotated(2).read_bytes()).decode().startswith("batch3 ")
    assert (tmp_path / "vobd.log").stat().st_size == 0
