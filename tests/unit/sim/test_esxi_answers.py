"""Unit tests: the simulated host's command answers against real ESXi output (reference/esxcli/), its timing
profiles, and the ESXi shell's files (busybox applets, passwd, login script)."""

from __future__ import annotations

import os
import random
import re
import socket
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from faultlab.sim.esxi.commands import formats, hostcmds
from faultlab.sim.esxi.commands.esxcli_out import Listing, render, s
from faultlab.sim.esxi.guest.vm import GuestSettings
from faultlab.sim.esxi.settings import SettingError, Settings
from faultlab.sim.esxi.timing import GUEST_TIMING, SimKnobs
from faultlab.sim.esxi.vcls import vcls_entries
from faultlab.sim.nodes.esxishell import ESXI_APPLETS, passwd_text, session_script
from faultlab.sim.topology import Layout

REF = Path("/work/shared/reference/esxcli")
needs_ref = pytest.mark.skipif(not REF.is_dir(), reason="reference/esxcli samples not on this machine")

NFS = {
    "name": "nfsbackup",
    "type": "NFS",
    "server": "192.168.1.22",
    "export": "/volume1/vmnfsbackup",
    "url": "ds:///vmfs/volumes/5c1f0a2b-7e3d4f61/",
    "capacityBytes": 999922073600,
    "freeBytes": 591568830464,
}


def snap(version: str, **extra: Any) -> dict[str, Any]:
    return {"host": "esx01", "version": version, "datastores": [{**NFS, "accessible": True}], "vms": [], **extra}


@needs_ref
def test_nfs_list_70_is_byte_for_byte_a_real_70_hosts() -> None:
    # nfs-list.3.txt: a real 7.0.3 host, same volume, host and share
    assert render(formats.nfs_list(snap("7.0")), None) == (REF / "nfs-list.3.txt").read_text()


def test_nfs_list_80_has_vmknic_and_connections() -> None:
    head = render(formats.nfs_list(snap("8.0")), None).splitlines()[0].split()
    assert head[:5] == ["Volume", "Name", "Host", "Share", "Vmknic"] and "Connections" in head


@needs_ref
def test_nfs41_list_is_the_real_header() -> None:
    real = (REF / "nfs41-list.3.txt").read_text().splitlines()[0].split()
    assert render(formats.nfs41_list(snap("8.0")), None).splitlines()[0].split() == real


@needs_ref
def test_getallvms_layout_is_byte_for_byte_real() -> None:
    # getallvms.4.txt: header centred, cells padded, trailing spaces after the empty annotation
    vm = {
        "vmid": 40,
        "name": "packer-vmware-iso",
        "file": "[wtgc-vmbd-01:datastore1] packer-vmware-iso/packer-vmware-iso.vmx",
        "guestId": "ubuntu64Guest",
        "hwVersion": "vmx-08",
    }
    assert formats.getallvms({"vms": [vm]}) == (REF / "getallvms.4.txt").read_text()


def test_getallvms_orders_vmids_as_text_and_keeps_multiline_annotations() -> None:
    vms = [
        {"vmid": n, "name": f"vm{n}", "datastore": "ds1", "vmx": f"/vmfs/volumes/u/vm{n}/vm{n}.vmx"}
        for n in (2, 10, 13)
    ]
    vms[1]["annotation"] = "First line\n\n   indented second"
    lines = formats.getallvms({"vms": vms, "version": "8.0"}).split("\n")
    assert [line.split()[0] for line in lines[1:] if line[:1].isdigit()] == ["10", "13", "2"]
    assert "   indented second" in lines and lines[0].startswith("Vmid   ")


FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "esxcli"


def test_vcls_row_is_byte_for_byte_the_real_one_and_sorts_by_text() -> None:
    # getallvms.14-vcls.txt (a real 9.0.0 host): `[]` datastore, /var/run/crx/infra, crxSys1Guest, vmx-21
    real = (FIXTURES / "getallvms.14-vcls.txt").read_text()
    name = "vCLS-6b723342-8292-1962-f970-0422f48bc6ea"
    entry = {**vcls_entries(1, "esx01", "lab1")[0], "vmid": 1698, "name": name}
    entry["file"] = f"[] /var/run/crx/infra/{name}/{name}.vmx"
    assert formats.getallvms({"vms": [], "vcls": [entry]}) == real
    made = vcls_entries(3, "esx01", "lab1")
    assert made == vcls_entries(3, "esx01", "lab1") != vcls_entries(3, "esx02", "lab1")  # stable per lab and host
    for vm in made:
        assert re.fullmatch(r"vCLS-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", vm["name"])
        assert vm["file"] == f"[] /var/run/crx/infra/{vm['name']}/{vm['name']}.vmx"
    win = {"vmid": 2, "name": "win01", "datastore": "ds-nfs01", "vmx": "/vmfs/volumes/u/win01/win01.vmx"}
    rows = formats.getallvms({"vms": [win], "vcls": made, "version": "8.0"}).splitlines()[1:]
    assert [r.split()[0] for r in rows] == sorted([str(v["vmid"]) for v in made] + ["2"])  # "1xxx" before "2"


@needs_ref
def test_empty_getallvms_is_the_real_header() -> None:
    assert formats.getallvms({"vms": []}) == (REF / "getallvms.3.txt").read_text()


def test_csv_is_sorted_keys_without_spaces_and_trailing_commas() -> None:
    # Real: `AttachedFilters,DevfsPath,Device,...,Vendor,` then rows ending with `,`; lists as `"vml...,"`.
    out = render(formats.device_list(snap("8.0")), "csv").splitlines()
    keys = out[0].rstrip(",").split(",")
    assert keys == sorted(keys) and keys[0] == "AttachedFilters" and keys.index("DevfsPath") + 1 == keys.index("Device")
    assert "NoofoutstandingIOswithcompetingworlds" in keys and all(line.endswith(",") for line in out)
    assert '"vml.0000000000766d686261303a303a30,"' in out[2]  # the boot disk's real vml id


def test_keyvalue_and_xml() -> None:
    kv = render(formats.device_list(snap("8.0")), "keyvalue").splitlines()
    assert "ScsiDevice.Size.integer=40960" in kv and "ScsiDevice.DeviceType.string=Direct-Access " in kv
    root = ET.fromstring(render(formats.filesystem_list(snap("8.0")), "xml"))
    ns = {"e": "http://www.vmware.com/Products/ESX/5.0/esxcli/"}
    structs = root.findall("e:root/e:list/e:structure", ns)
    assert len(structs) == 4 and structs[0].find("e:field[@name='VolumeName']/e:string", ns).text == "nfsbackup"  # type: ignore[union-attr]


def test_filesystem_list_has_osdata_and_bootbanks_with_real_sizes() -> None:
    out = render(formats.filesystem_list(snap("8.0")), None).splitlines()
    assert out[2].split()[-3:] == ["NFS", "999922073600", "591568830464"]  # the export's real size and free
    assert out[3].split()[-4:] == ["true", "VMFSOS", "8321499136", "5360320512"]
    assert out[4].split()[1] == "BOOTBANK1" and out[4].split()[-3:] == ["vfat", "1073577984", "805076992"]
    assert " VFFS " in render(formats.filesystem_list(snap("7.0")), None)


def test_empty_listing_renders_header_only() -> None:
    assert render(Listing("X", [], headers=["Volume Name"]), None) == "Volume Name\n-----------\n"
    assert render(Listing("X", [[s("A b", "1")]]), "csv") == "Ab,\n1,\n"


def test_real_timing_profile_has_esxi_defaults_and_refuses_what_esxi_refuses() -> None:
    real = Settings(timing="real")
    assert real.integer("Misc.APDTimeout") == 140 and real.integer("NFS.HeartbeatFrequency") == 12
    assert real.integer("NFS.HeartbeatTimeout") == 5 and real.integer("NFS.HeartbeatMaxFailures") == 10
    assert real.integer("NFS.HeartbeatDelta") == 5
    with pytest.raises(SettingError, match=r"\[20, 999999\]"):
        real.set("Misc.APDTimeout", 6)
    real.set("Misc.APDTimeout", 20)
    fast = Settings()
    assert fast.integer("Misc.APDTimeout") == 6 and dict(fast.fields("Misc.APDTimeout"))["Min Value"] == "1"
    assert dict(real.fields("Misc.APDTimeout"))["Default Int Value"] == "140"


def test_guest_timings_follow_the_profile_and_vary_run_to_run() -> None:
    real = [GuestSettings.for_timing("real", random.Random(seed)) for seed in range(5)]
    assert {g.disk_timeout_s for g in real} == {60.0}  # TimeOutValue as VMware Tools sets it
    assert len({g.boot_s for g in real}) == 5 and all(25 <= g.boot_s < 45 for g in real)
    for g in real + [GuestSettings.for_timing("fast", random.Random(seed)) for seed in range(5)]:
        assert g.restart_after_s > g.tools_timeout_s > 0 and g.crash_delay_s > 0  # dump after heartbeat loss
        assert g.boot_s != round(g.boot_s)  # no whole-second steps
    assert GUEST_TIMING["fast"].disk_timeout_s < GUEST_TIMING["real"].disk_timeout_s
    assert SimKnobs.for_timing("real").vmksummary_heartbeat_s == 3600.0
    assert SimKnobs.for_timing("fast", {"vmx_poll_s": 0.5}).vmx_poll_s == 0.5


def test_uname_and_vmware_answer_with_the_profiles_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAULTLAB_ESXI_VERSION", "7.0")
    assert hostcmds.uname([]) == (0, "VMkernel\n")
    host = socket.gethostname()
    assert hostcmds.uname(["-a"])[1] == (
        f"VMkernel {host} 7.0.3 #1 SMP Release build-22348816 Aug 30 2023 04:36:58 x86_64 x86_64 x86_64 ESXi\n"
    )
    assert hostcmds.vmware(["-vl"]) == (0, "VMware ESXi 7.0.3 build-22348816\nVMware ESXi 7.0 Update 3\n")
    assert hostcmds.vmware(["-x"])[0] == 1


def test_ps_lists_this_process_as_a_world_with_its_pid_as_cid() -> None:
    code, out = hostcmds.ps(["-c"])
    assert code == 0 and out.splitlines()[0].split() == ["WID", "CID", "World", "Name", "Command"]
    mine = [line for line in out.splitlines() if line.split()[:2] == [str(os.getpid())] * 2]
    assert len(mine) == 1 and "python" in mine[0]  # this test process (pytest, or an xdist worker)


def test_shell_files(tmp_path: Path) -> None:
    node = Layout("fl0000", 7, 1, ("win01",), False, ()).esxi_nodes[0]
    text = passwd_text("root:x:0:0:root:/root:/bin/bash\nsshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n", node)
    assert text.splitlines() == [
        "root:x:0:0:Administrator:/:/usr/local/sbin/esxi-shell",
        "sshd:x:100:65534::/run/sshd:/usr/sbin/nologin",
    ]
    script = session_script(node, tmp_path / "ctl.sock")
    assert "unshare --mount" in script and "mount -t tmpfs" in script and "export PATH=/bin:/sbin" in script
    assert script.index("/usr/sbin") < script.rindex("/usr/bin")  # /usr/bin (mount's home) is covered last
    assert "bash" not in ESXI_APPLETS and "sh" in ESXI_APPLETS and "reboot" not in ESXI_APPLETS


@needs_ref
def test_vimcmd_fault_block_is_byte_for_byte_a_real_hosts() -> None:
    from faultlab.sim.esxi.commands.vimcmd import invalid_power_state

    real = (REF / "vimcmd-fault.1.txt").read_text().split("Reset failed: ", 1)[1]
    assert invalid_power_state("Powered off", "poweredOff") == real


def test_run_record_takes_the_labs_timing_from_its_inventory_for_the_report(tmp_path: Path) -> None:
    from faultlab.harness.record import RunRecord
    from faultlab.harness.report.html import _timing

    inv = tmp_path / "inventory.yaml"
    inv.write_text("version: 1\nkind: embedded\ntiming: fast\n")
    record = RunRecord("r1", "nfs-apd-bsod", None, "", str(inv), "2026-12-06T00:00:00Z")
    assert record.lab_timing == "fast" and "lab-scaled" in _timing(record.lab_timing)
    inv.write_text("version: 1\nkind: real\n")
    assert RunRecord("r2", "x", None, "", str(inv), "t").lab_timing is None and _timing(None) == ""


def test_date_with_nanoseconds() -> None:
    import re as _re
    import time as _time

    code, out = hostcmds.date(["-u", "+%s.%N"])
    secs, nanos = out.strip().split(".")
    assert code == 0 and len(nanos) == 9 and abs(int(secs) - _time.time()) < 5
    assert _re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}\n", hostcmds.date(["-u", "+%Y-%m-%dT%H:%M:%S.%N"])[1])
