"""ESX 4 classic host profile: its lines against KB 308590's real lines, the COS memory model on real processes,
the heartbeat timeout, and the whole story read back by the real parsers and the KB 308590 diagnosis."""

from __future__ import annotations

import calendar
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from faultlab.assertions.diagnose.common import DiagVerdict
from faultlab.assertions.triage import triage
from faultlab.sim.esx4 import lines
from faultlab.sim.esx4.cos import BASE_KB, CosMemory, Heartbeat, Proc, real_processes
from faultlab.sim.esx4.node import split_settings

# KB 308590, verbatim (../shared/seeds/004_950a2a38a5f4fd75.txt)
KB_HB_1 = (
    "Nov 13 04:01:45 esxhostname logger: (1258102905) hb: vmk loaded, 11798915.64, 11798902.253, 73, 153875, "
    "153875, 567468032, VMap-586196, vmware-h-83180, webAcces-27292"
)
KB_ALERT = "42:14:02:29.347 cpu0:1024)VMNIX: ALERT: HB: 365: Lost heartbeat (comm=vmnixhbd pid=20 t=29 to=30 clt=1)."
KB_COS_ERROR = "42:14:03:29.508 cpu0:1024)Host: 4781: COS Error: Lost heartbeat"
KB_DUMP = (
    "42:14:03:29.517 cpu7:1047)Dump: 354: Dumping core to "
    "'/volumes/4533e089-1dfcdd21-f1d3-001a140ebdca/cos-core-esxhostname'"
)
KB_UPTIME_S = 42 * 86400 + 14 * 3600 + 2 * 60 + 29.347


def test_vmksummary_line_is_the_kbs_layout() -> None:
    sample = lines.HbSample(
        1258102905,
        11798915.64,
        11798902.253,
        73,
        153875,
        567468032,
        (("VMap", 586196), ("vmware-hostd", 83180), ("webAccess", 27292)),
    )
    assert lines.vmksummary_hb("esxhostname", sample, utc_offset_s=-5 * 3600) == KB_HB_1


def test_psod_lines_are_the_kbs() -> None:
    assert lines.vmk_uptime(KB_UPTIME_S) == "42:14:02:29.347"
    prefix = f"{lines.vmk_uptime(KB_UPTIME_S)} cpu0:1024)"
    assert prefix + lines.lost_heartbeat("vmnixhbd", 20, 29) == KB_ALERT
    cos_error = f"{lines.vmk_uptime(KB_UPTIME_S + 60.161)} cpu0:1024){lines.COS_ERROR}"
    assert cos_error == KB_COS_ERROR
    dump = lines.dump_cos_core("4533e089-1dfcdd21-f1d3-001a140ebdca", "esxhostname")
    assert f"{lines.vmk_uptime(KB_UPTIME_S + 60.17)} cpu7:1047){dump}" == KB_DUMP
    # KB 308590: the host came back on Nov 13 (2009) 07:13 -> vmkernel-zdump-111309.07.13.1
    assert lines.zdump_name(calendar.timegm((2009, 11, 13, 7, 13, 58, 0, 0, 0))) == "vmkernel-zdump-111309.07.13.1"
    assert lines.vmkhalt(1268148374, "localhost", "Starting").endswith(
        "localhost vmkhalt: (1268148374) Starting system..."
    )


def test_syslog_wrap_matches_esx4_vmkernel_sample() -> None:
    # reference/log-samples/vmkernel.log.txt (ESX 4.x, elatov 2012), day padded as sysklogd writes it
    line = lines.vmkernel(
        calendar.timegm((2012, 3, 1, 8, 53, 36, 0, 0, 0)), "host.com", 2 * 86400 + 16 * 3600 + 49 * 60 + 12.573, 3,
        4099, "ScsiDeviceIO: 1672: x",
    )  # fmt: skip
    assert line == "Mar  1 08:53:36 host.com vmkernel: 2:16:49:12.573 cpu3:4099)ScsiDeviceIO: 1672: x"


def test_meminfo_has_the_kbs_totals() -> None:
    text = lines.meminfo(799732, 100000, 554168, 0)
    got = {k: int(v.split()[0]) for k, v in (ln.split(":") for ln in text.splitlines())}
    assert got["MemTotal"] == 799732 and got["LowTotal"] == 799732 and got["HighTotal"] == 0
    assert got["SwapTotal"] == 554168 and got["SwapFree"] == 0 and got["MemFree"] == 100000


@pytest.fixture
def hog() -> Iterator[subprocess.Popen[bytes]]:
    """A real process holding 24 MB, touched so it is resident."""
    code = "import sys,time; b=bytearray(24<<20); b[::4096]=b'x'*len(b[::4096]); print('ok',flush=True); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ok\n"
    yield proc
    proc.kill()
    proc.wait()


def test_memory_model_reads_real_processes(hog: subprocess.Popen[bytes]) -> None:
    [p] = real_processes([hog.pid])
    assert p.rss_kb > 24 * 1024 and p.vsz_kb >= p.rss_kb
    model = CosMemory(mem_total_kb=400_000, swap_total_kb=100_000, scan=lambda: real_processes([hog.pid]))
    s = model.sample()
    agents = sum(a.rss_kb for a in model.agents)
    assert s.demand_kb == BASE_KB + agents + p.rss_kb or abs(s.demand_kb - (BASE_KB + agents + p.rss_kb)) < 2048
    assert s.swap_used_kb == 0 and not s.exhausted


def test_growth_scale_and_exhaustion() -> None:
    size = {"kb": 10_000}
    model = CosMemory(
        mem_total_kb=300_000,
        swap_total_kb=200_000,
        growth_scale=64,
        scan=lambda: [Proc(9173, "VMap", size["kb"], size["kb"])],
        clock=lambda: clock["t"],
    )
    clock = {"t": 0.0}
    size["kb"] = 9_000
    model.sample()
    size["kb"] = 10_000  # growing while it starts (1 s): counted as is, the baseline follows
    clock["t"] = 1.0
    assert [p.vsz_kb for p in model.sample().procs if p.comm == "VMap"] == [10_000]
    clock["t"] = 3.0
    first = model.sample()
    assert [p.comm for p in first.procs].count("VMap") == 1  # the real VMap replaces the standing agent
    size["kb"] = 16_000  # grew 6 MB for real: counts 384 MB in the COS
    s = model.sample()
    assert s.top(1)[0] == Proc(9173, "VMap", 10_000 + 6_000 * 64, 10_000 + 6_000 * 64)
    assert s.exhausted and s.swap_used_kb == 200_000 and s.mem_free_kb == 4096


def test_heartbeat_alerts_at_29_and_30_minutes() -> None:
    hb = Heartbeat(minute_s=1.0)
    assert hb.observe(0.0, True) == []
    assert hb.observe(28.9, False) == []
    assert hb.observe(29.0, False) == [29]
    assert hb.observe(29.5, False) == [] and not hb.lost
    assert hb.observe(30.0, False) == [30] and hb.lost
    assert hb.observe(31.0, True) == [] and not hb.lost  # a heartbeat resets it


def test_cos_settings_split() -> None:
    rest, cos = split_settings({"Misc.APDTimeout": 20, "cos.mem_total_kb": "120000"})
    assert rest == {"Misc.APDTimeout": 20} and cos["mem_total_kb"] == 120000.0 and cos["minute_s"] == 0.2


def test_whole_story_reads_as_kb308590(tmp_path: Path) -> None:
    """vmksummary samples of a growing VMap, the purple screen, the boot: the real parsers and the KB 308590
    diagnosis read it back as a Lost Heartbeat caused by VMap, swap at 100 % of SwapTotal."""
    host, t0 = "esx01", 1_765_000_000
    summary, vmk = [], []
    for hour in range(4):
        vmap = 20_000 + hour * 190_000
        swap = 554168 * 1024 * hour // 3  # the last sample: swap full
        top = (("VMap", vmap), ("vmware-hostd", 82812), ("webAccess", 27332))
        up = 1000.0 + hour * 3600
        s = lines.HbSample(t0 + hour * 3600, up, up - 12.28, 2, 153875, swap, top)
        summary.append(lines.vmksummary_hb(host, s))
    crash = t0 + 3 * 3600 + 1800
    up = 1000.0 + 3 * 3600 + 1800
    for i, msg in enumerate(
        [lines.lost_heartbeat("vmnixhbd", 20, 29), lines.lost_heartbeat("VMap", 9173, 30), lines.COS_ERROR,
         lines.BLUESCREEN]
    ):  # fmt: skip
        vmk.append(lines.vmkernel(crash + i, host, up + i, 0, lines.COS_WORLD, msg))
    summary.append(lines.vmkhalt(crash + 600, host, "Starting"))
    summary.append(lines.loaded_vmkernel(crash + 634, host))
    (tmp_path / "vmksummary").write_text("\n".join(summary) + "\n")
    (tmp_path / "vmkernel").write_text("\n".join(vmk) + "\n")
    (tmp_path / "meminfo").write_text(lines.meminfo(799732, 400000, 554168, 554168))
    report = triage([tmp_path])
    names = [e.name for e in report.all_events]
    assert names.count("host.memory.sample") == 4
    assert "host.psod" in names and "host.boot" in names and "host.heartbeat.lost" in names
    [d] = [d for d in report.diagnoses if d.kb == "KB 308590"]
    assert d.verdict is DiagVerdict.TRUE, d.summary
    assert d.figures["culprit"] == "VMap"
    assert d.figures["swap_used_pct"] == 100.0


def test_host_process_crashes_writes_dumps_and_boots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The host's state machine with the node's boundaries faked (no iptables, no kill): a VMap that grows fills the
    COS, the heartbeat is lost, the purple screen is logged, the dumps are written and moved, the host boots."""
    from faultlab.sim.esx4 import host as esx4host

    vmfs = tmp_path / "vmfs"
    vmfs.mkdir()
    cfg = {
        "host_name": "esx01",
        "node_dir": str(tmp_path),
        "log_dir": str(tmp_path / "varlog"),
        "control_socket": str(tmp_path / "ctl.sock"),
        "version_profile": "4.1",
        "vms": [{"name": "win01", "datastore": "ds-nfs01", "vmx_file": "win01/win01.vmx"}],
        "iscsi_datastores": [
            {
                "name": "ds-iscsi01",
                "naa_id": "naa.60000000000000000e00000000010001",
                "volume_uuid": "4533e089-1dfcdd21-f1d3-001a140ebdca",
                "mount_point": str(vmfs),
            }
        ],
        "nfs_datastores": [
            {"name": "ds-nfs01", "volume_uuid": "116bf7c8-d061117a", "export": "/ds-nfs01", "server_ip": "198.18.1.20"}
        ],
        "cos": {"minute_s": 0.01, "vmksummary_s": 0.05, "reboot_s": 0.1, "poll_s": 0.01, "growth_scale": 1},
    }
    walls: list[bool] = []
    monkeypatch.setattr(esx4host.Esx4Host, "_ssh", lambda self, allow: walls.append(allow))
    monkeypatch.setattr(esx4host.Esx4Host, "_kill_cos", lambda self: size.update(kb=10_000))
    size = {"kb": 10_000}

    def scan() -> list[Proc]:
        size["kb"] += 40_000
        return [Proc(9173, "VMap", size["kb"], size["kb"])]

    h = esx4host.Esx4Host(cfg)
    h.memory.scan = scan
    h.boot(first=True)
    deadline = time.monotonic() + 10
    while not h.crashes and time.monotonic() < deadline:  # the host's own loop, at its poll period
        h.tick()
        h.summary()
        h.stop.wait(h.knobs.poll_s)
    assert h.crashes == 1 and h.up and walls == [True, False, True]
    summary = (tmp_path / "varlog" / "vmksummary").read_text()
    vmk = (tmp_path / "varlog" / "vmkernel").read_text()
    assert summary.count("Starting system...") == 2 and "loaded VMkernel" in summary
    assert "(comm=vmnixhbd pid=20 t=29 to=30 clt=1)." in vmk and "(comm=VMap pid=9173 t=30 to=30 clt=1)." in vmk
    assert "cpu7:1047)Dump: 354: Dumping core to '/volumes/4533e089-1dfcdd21-f1d3-001a140ebdca/cos-core-esx01'" in vmk
    assert (vmfs / "cos-core-esx01").exists()
    old = sorted(p.name for p in (tmp_path / "cos" / "core").iterdir())
    assert old[0] == "cos-core-esx01.9173.core.gz" and old[1].startswith("vmkernel-zdump-")
    assert "@BlueScreen: Lost heartbeat" in (tmp_path / "cos" / "core" / old[1]).read_text()
    meminfo = (tmp_path / "cos" / "meminfo").read_text()
    assert "SwapTotal:        554168 kB" in meminfo
    before_crash = summary[: summary.rindex("Starting system...")]
    vmap = [int(x) for x in re.findall(r"VMap-(\d+)", before_crash)]
    assert vmap == sorted(vmap) and len(vmap) >= 2
    snap = h.snapshot()
    assert snap["vms"][0]["powerState"] == "poweredOn" and snap["crashes"] == 1
    # hostd: the VM powered on at each boot (autostart), under its datastore's UUID path; nothing at the crash.
    hostd = (tmp_path / "varlog" / "vmware" / "hostd.log").read_text().splitlines()
    on = "'vm:/vmfs/volumes/116bf7c8-d061117a/win01/win01.vmx'] State Transition (VM_STATE_OFF -> VM_STATE_POWERING_ON)"
    assert len(hostd) == 4 and sum(line.endswith(on) for line in hostd) == 2, hostd


def test_hostd_line_is_the_esx4_layout() -> None:
    """The ESX 4.0 sample's layout (GitHub code-index id 1046395526), read by the triage's ESX 4 hostd rule."""
    from faultlab.assertions.layouts import parse_line
    from faultlab.assertions.model import LogKind

    real = (
        "[2009-10-15 01:04:15.484 17FA5B90 verbose 'vm:/vmfs/volumes/4acaa2a2-a85a3928-97b1-003048c93e5f/Centos 386 "
        "Build01/Centos 386 Build01.vmx'] Updating current heartbeatStatus: green"
    )
    ours = lines.hostd(
        calendar.timegm((2009, 10, 15, 1, 4, 15)) + 0.484,
        "17FA5B90",
        "verbose",
        "vm:/vmfs/volumes/4acaa2a2-a85a3928-97b1-003048c93e5f/Centos 386 Build01/Centos 386 Build01.vmx",
        "Updating current heartbeatStatus: green",
    )
    assert ours == real
    parsed = parse_line(
        lines.hostd(0, "F6131B70", "info", "vm:/x.vmx", lines.vm_state_transition("A", "B")), LogKind.HOSTD
    )
    assert parsed.ok and parsed.body.endswith("State Transition (A -> B)") and parsed.time is not None


def test_vm_support_bundle_is_read_by_triage(tmp_path: Path) -> None:
    from faultlab.sim.esx4.commands import vm_support

    logs = tmp_path / "varlog"
    (logs / "vmware").mkdir(parents=True)
    (logs / "vmksummary").write_text(lines.vmkhalt(1268148374, "esx01", "Starting") + "\n")
    (logs / "vmware" / "hostd.log").write_text("")
    mi = tmp_path / "meminfo"
    mi.write_text(lines.meminfo(799732, 500000, 554168, 554168))
    out = tmp_path / "out"
    out.mkdir()
    bundle = vm_support("esx01", out, logs, mi)
    assert re.fullmatch(r"esx-esx01-\d{4}-\d\d-\d\d--\d\d\.\d\d-\d+\.tgz", bundle.name)
    report = triage([bundle])
    assert [e.name for e in report.all_events] == ["host.boot"] and report.all_events[0].host == "esx01"
