"""ESXi host role (csv first, human layout as fallback, NFS 4.1, degraded devices, path-off prior states) and the
storage-target role parsers."""

# ruff: noqa: E501  (verbatim esxcli output lines)
from __future__ import annotations

from pathlib import Path

import pytest

from faultlab.harness.faults.model import Fault
from faultlab.harness.recovery import datastore_accessible
from faultlab.lab.errors import LabError, VimFaultError
from faultlab.lab.esxi import (
    EsxiHost,
    datastore_file,
    parse_advanced,
    parse_filesystem_list,
    parse_getallvms,
    parse_nfs_list,
    parse_power_state,
)
from faultlab.lab.inventory import Host, Inventory
from faultlab.lab.ssh import CommandResult
from faultlab.lab.target import parse_rules

# `esxcli system settings advanced list -o /Misc/APDTimeout` (ESXi 7.0/8.0 layout, with Host Specific/Impact)
ADVANCED = """   Path: /Misc/APDTimeout
   Type: integer
   Int Value: 140
   Default Int Value: 140
   Min Value: 20
   Max Value: 99999
   String Value:
   Default String Value:
   Valid Characters:
   Description: Timeout value to wait on an APD condition (sec)
   Host Specific: false
   Impact: none
"""

ADVANCED_STRING = """   Path: /Syslog/global/logDir
   Type: string
   Int Value: 0
   Default Int Value: 0
   Min Value: 0
   Max Value: 0
   String Value: [] /scratch/log
   Default String Value: [] /scratch/log
   Valid Characters: **
   Description: Datastore path of directory to output logs
"""

NFS_LIST = """Volume Name  Host           Share       Accessible  Mounted  Read-Only   isPE  Hardware Acceleration
-----------  -------------  ----------  ----------  -------  ---------  -----  ---------------------
ds-nfs01     198.18.1.21    /ds-nfs01         true     true      false  false  Not Supported
nfs backup   10.20.30.40    /vol/bkp         false     true       true  false  Not Supported
"""

# ESXi 8.0 adds the Vmknic and Connections (nConnect) columns
NFS_LIST_80 = """Volume Name  Host         Share      Vmknic  Accessible  Mounted  Connections  Read-Only   isPE  Hardware Acceleration
-----------  -----------  ---------  ------  ----------  -------  -----------  ---------  -----  ---------------------
ds-nfs01     198.18.1.21  /ds-nfs01  None         false     true            4      false  false  Not Supported
"""

DEVICE_LIST = """naa.6001405abcdef0123456789abcdef01
   Display Name: LIO-ORG iSCSI Disk (naa.6001405abcdef0123456789abcdef01)
   Has Settable Display Name: true
   Size: 4096
   Device Type: Direct-Access
   Multipath Plugin: NMP
   Devfs Path: /vmfs/devices/disks/naa.6001405abcdef0123456789abcdef01
   Vendor: LIO-ORG
   Model: lun01
   Revision: 4.0
   SCSI Level: 5
   Is Pseudo: false
   Status: on
   Is RDM Capable: true
   Is Local: false
   Is Removable: false
   Is SSD: false
   Is Offline: false
   Is Perennially Reserved: false
   Thin Provisioning Status: yes
   Attached Filters:
   VAAI Status: supported
   Other UIDs: vml.02000100006001405abcdef0123456789abcdef016c756e303120
   Is Shared Clusterwide: true
   Is Local SAS Device: false
   Is SAS: false
   Is USB: false
   Is Boot USB Device: false
   No of outstanding IOs with competing worlds: 32

mpx.vmhba0:C0:T0:L0
   Display Name: Local VMware Disk (mpx.vmhba0:C0:T0:L0)
   Size: 40960
   Status: on
   Is Local: true
"""

PATH_LIST = """iqn.1998-01.com.vmware:esx01-4f5e6d7c-00023d000001,iqn.2026-11.example.lab:lun01,t,1-naa.6001405abcdef0123456789abcdef01
   UID: iqn.1998-01.com.vmware:esx01-4f5e6d7c-00023d000001,iqn.2026-11.example.lab:lun01,t,1-naa.6001405abcdef0123456789abcdef01
   Runtime Name: vmhba64:C0:T0:L1
   Device: naa.6001405abcdef0123456789abcdef01
   Device Display Name: LIO-ORG iSCSI Disk (naa.6001405abcdef0123456789abcdef01)
   Adapter: vmhba64
   Channel: 0
   Target: 0
   LUN: 1
   Plugin: NMP
   State: dead
   Transport: iscsi
   Adapter Identifier: iqn.1998-01.com.vmware:esx01-4f5e6d7c
   Target Identifier: 00023d000001,iqn.2026-11.example.lab:lun01,t,1
   Adapter Transport Details: iqn.1998-01.com.vmware:esx01-4f5e6d7c
   Target Transport Details: IQN=iqn.2026-11.example.lab:lun01 Alias= Session=00023d000001 PortalTag=1
   Maximum IO Size: 131072
"""

GETALLVMS = """Vmid      Name                   File                   Guest OS        Version   Annotation
1      win01          [ds-nfs01] win01/win01.vmx         windows9_64Guest   vmx-19
12     sql server 1   [ds-iscsi01] sql server 1/sql server 1.vmx   windows2019srv_64Guest   vmx-20    owner: dba team
"""


class Canned:
    def __init__(self, outputs: dict[str, CommandResult]) -> None:
        self.outputs, self.commands = outputs, list[str]()

    def run(self, argv: list[str] | str, timeout: float | None = None, check: bool = False) -> CommandResult:
        line = argv if isinstance(argv, str) else " ".join(argv)
        self.commands.append(line)
        return self.outputs.get(line, CommandResult(line, 1, "", "Error: Invalid option --formatter", 0.0))


def res(out: str, status: int = 0, err: str = "") -> CommandResult:
    return CommandResult("", status, out, err, 0.0)


def test_advanced_int_and_string_values() -> None:
    assert parse_advanced(ADVANCED) == 140
    assert parse_advanced(ADVANCED_STRING) == "[] /scratch/log"
    with pytest.raises(ValueError, match="not an advanced option"):
        parse_advanced("Error: Unable to find option APDTimeoutX")


def test_nfs_list_columns_with_spaces_and_right_aligned_cells() -> None:
    mounts = parse_nfs_list(NFS_LIST)
    assert [(m.volume_name, m.host, m.share, m.accessible, m.mounted, m.read_only) for m in mounts] == [
        ("ds-nfs01", "198.18.1.21", "/ds-nfs01", True, True, False),
        ("nfs backup", "10.20.30.40", "/vol/bkp", False, True, True),
    ]


def test_nfs_list_of_esxi_80_with_vmknic_and_connections() -> None:
    (m,) = parse_nfs_list(NFS_LIST_80)
    assert (m.volume_name, m.host, m.share, m.accessible, m.mounted, m.read_only) == (
        "ds-nfs01",
        "198.18.1.21",
        "/ds-nfs01",
        False,
        True,
        False,
    )


def test_getallvms_and_power_state() -> None:
    vms = parse_getallvms(GETALLVMS)
    assert [(v.vmid, v.name, v.file, v.guest_os, v.version, v.annotation) for v in vms] == [
        (1, "win01", "[ds-nfs01] win01/win01.vmx", "windows9_64Guest", "vmx-19", ""),
        (12, "sql server 1", "[ds-iscsi01] sql server 1/sql server 1.vmx", "windows2019srv_64Guest", "vmx-20",
         "owner: dba team"),
    ]  # fmt: skip
    assert parse_power_state("Retrieved runtime info\nPowered on\n") == "poweredOn"
    assert parse_power_state("Retrieved runtime info\nPowered off\n") == "poweredOff"
    with pytest.raises(ValueError):
        parse_power_state("Unable to find a VM corresponding to 99\n")


def test_datastore_file() -> None:
    assert datastore_file("[ds-nfs01] win01/win01.vmx", "vmware.log") == "/vmfs/volumes/ds-nfs01/win01/vmware.log"
    assert datastore_file("[ds] a.vmx") == "/vmfs/volumes/ds/a.vmx"
    with pytest.raises(ValueError):
        datastore_file("win01/win01.vmx")


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "esxcli"
CSV = "esxcli --formatter=csv"


def test_role_asks_for_csv_and_reads_it() -> None:
    devices_csv = (FIXTURES / "device-list.csv-fixture.txt").read_text()
    fs_csv = (
        "Free,MountPoint,Mounted,Size,Type,UUID,VolumeName,\n" + (FIXTURES / "filesystem-list.csv-rows.txt").read_text()
    )
    client = Canned(
        {f"{CSV} storage core device list": res(devices_csv), f"{CSV} storage filesystem list": res(fs_csv)}
    )
    host = EsxiHost(Host(name="esx01", address="198.18.1.11"), client)
    assert [d.id for d in host.devices()][2] == "mpx.vmhba33:C0:T0:L0"
    assert [f.volume_name for f in host.filesystems()] == ["datastore1", "", "", "", ""]
    assert client.commands == [f"{CSV} storage core device list", f"{CSV} storage filesystem list"]
    assert host.notes == []


def test_role_falls_back_to_the_human_layout() -> None:
    """A host that refuses --formatter (the simulated one, today) is asked without it; a host that answers a
    csv request with a table is read as a table."""
    client = Canned(
        {
            "esxcli system settings advanced list -o /Misc/APDTimeout": res(ADVANCED),
            f"{CSV} storage nfs list": res(NFS_LIST),  # a table although csv was asked
            "esxcli storage nfs list": res(NFS_LIST),
            "esxcli storage core device list": res(DEVICE_LIST),
            "esxcli storage core path list": res(PATH_LIST),
            "vim-cmd vmsvc/getallvms": res(GETALLVMS),
            "vim-cmd vmsvc/power.getstate 12": res("Retrieved runtime info\nSuspended\n"),
            "esxcli system settings advanced list -o /Misc/Nope": res("", 1, "Error: Unable to find option Nope"),
            "esxcli system settings advanced set -o /Misc/APDTimeout -i 9": res(""),
            "esxcli system settings advanced set -o /UserVars/X -s a b": res("", 1, "Error: Unable to find option X"),
        }
    )
    host = EsxiHost(Host(name="esx01", address="198.18.1.11"), client)
    assert host.nfs_mounts()[0].accessible is True
    assert client.commands == [f"{CSV} storage nfs list"]
    assert host.advanced_setting("Misc.APDTimeout") == 140
    assert client.commands[1:] == [
        f"{CSV} system settings advanced list -o /Misc/APDTimeout",
        "esxcli system settings advanced list -o /Misc/APDTimeout",
    ]
    devices = host.devices()  # the host refused csv once: no second try
    assert client.commands[-1] == "esxcli storage core device list"
    assert [d.id for d in devices] == ["naa.6001405abcdef0123456789abcdef01", "mpx.vmhba0:C0:T0:L0"]
    assert devices[0].status == "on" and devices[0].fields["Attached Filters"] == ""
    (path,) = host.paths()
    assert (path.runtime_name, path.device, path.state) == (
        "vmhba64:C0:T0:L1",
        "naa.6001405abcdef0123456789abcdef01",
        "dead",
    )
    assert path.fields["Target Transport Details"].startswith("IQN=iqn.2026-11.example.lab:lun01 Alias=")
    assert [v.name for v in host.vms()] == ["win01", "sql server 1"]
    assert host.power_state(12) == "suspended"
    host.set_advanced_setting("Misc.APDTimeout", 9)
    with pytest.raises(LabError, match=r"esx01: esxcli system settings advanced set .* exited 1: Error: Unable"):
        host.set_advanced_setting("UserVars.X", "a b")
    with pytest.raises(LabError, match=r"esx01: esxcli .*/Misc/Nope exited 1: Error: Unable to find option Nope"):
        host.advanced_setting("/Misc/Nope")


def test_power_state_of_an_unknown_vm_is_a_typed_fault_naming_the_host() -> None:
    fault = (FIXTURES / "vimcmd-fault.fixture-notfound.txt").read_text()
    client = Canned({"vim-cmd vmsvc/power.getstate 2": res("", 1, fault)})
    host = EsxiHost(Host(name="esx01", address="198.18.1.11"), client)
    with pytest.raises(VimFaultError, match=r"esx01: vim-cmd vmsvc/power.getstate 2: vim.fault.NotFound: Unable") as e:
        host.power_state(2)
    assert (e.value.fault, e.value.host) == ("vim.fault.NotFound", "esx01")


SERVICE = {"start": "systemctl start x", "stop": "systemctl stop x"}


def _inventory(ds_type: str) -> Inventory:
    return Inventory.model_validate(
        {
            "version": 1,
            "hosts": [{"name": "esx01", "address": "198.18.1.11"}],
            "storage_targets": [
                {"name": "nas", "address": "198.18.1.21", "kind": "nfs", "ports": {"nfs": 2049}, "service": SERVICE},
                {
                    "name": "san",
                    "address": "198.18.1.22",
                    "kind": "iscsi",
                    "ports": {"iscsi": 3260},
                    "service": SERVICE,
                },
            ],
            "datastores": [
                {
                    "name": "isos",
                    "type": ds_type,
                    "target": "nas",
                    "remote_host": "10.1.0.7",
                    "remote_path": "/backups/isos",
                },
                {"name": "lun", "type": "vmfs", "target": "san", "naa_id": "naa.600508e000000000e51b24d0a7fad20e"},
            ],
        }
    )


def test_nfs41_and_degraded_datastores_through_the_recovery_probe() -> None:
    nfs41 = (FIXTURES / "nfs41-list.3.txt").read_text()
    degraded = (FIXTURES / "device-list.7-mangled.txt").read_text()
    client = Canned({f"{CSV} storage nfs41 list": res(nfs41), f"{CSV} storage core device list": res(degraded)})
    inv = _inventory("nfs41")
    esx = EsxiHost.of(inv, "esx01", client)
    probe = datastore_accessible(esx, inv, "isos")
    assert probe.probe() is False and probe.detail == "accessible=false"  # listed by nfs41 list, unmounted there
    assert client.commands == [f"{CSV} storage nfs41 list"]
    lun = datastore_accessible(esx, inv, "lun")
    assert lun.probe() is True and lun.detail == "device naa.600508e000000000e51b24d0a7fad20e status degraded"
    accessible = nfs41.replace("false    false", " true     true")
    client.outputs[f"{CSV} storage nfs41 list"] = res(accessible)
    assert probe.probe() is True


def test_nfs41_volume_ids() -> None:
    text = FILESYSTEM_LIST.replace("nfs ds 01 ", "isos      ").replace("NFS   ", "NFS41 ")
    fs = parse_filesystem_list(text)
    assert (fs[1].volume_name, fs[1].type, fs[1].identifiers()) == ("isos", "NFS41", ["a9d17c4e-0b9a2e5f"])


class PathHost:
    """esxcli storage core path list / set of one host with two paths of one device, one off by an admin."""

    def __init__(self, spelling: str) -> None:
        self.spelling = spelling
        self.state = {"vmhba64:C0:T0:L1": "active", "vmhba64:C1:T0:L1": spelling}
        self.commands: list[str] = []

    def get(self, name: str) -> PathHost:
        return self

    def run(self, argv: list[str] | str, timeout: float | None = None, check: bool = False) -> CommandResult:
        args = argv if isinstance(argv, list) else argv.split()
        self.commands.append(" ".join(args))
        if args[:5] == ["esxcli", "storage", "core", "path", "set"]:
            state = args[args.index("--state") + 1]
            self.state[args[args.index("-p") + 1]] = self.spelling if state == "off" else state
            return res("")
        blocks = [
            PATH_LIST.replace("vmhba64:C0:T0:L1", rt).replace("State: dead", f"State: {st}")
            for rt, st in self.state.items()
        ]
        return res("\n".join(blocks))


@pytest.mark.parametrize("spelling", ["off", "disabled"])
def test_path_off_never_turns_on_a_path_that_was_off_before(spelling: str) -> None:
    node = PathHost(spelling)
    fault = Fault("esxi-path-off", "esx01", "r1", "f1", 60.0, {"paths": ["vmhba64:C0:T0:L1", "vmhba64:C1:T0:L1"]})
    assert fault.preflight(node) is True and fault.params["prior_off"] == {"vmhba64:C1:T0:L1": spelling}
    fault.inject(node)
    assert fault.verify_active(node) is True and fault.params["off_state"] == [spelling]
    assert "vmhba64:C1:T0:L1" not in fault.heal_shell()
    assert fault.heal(node) is True
    assert node.state == {"vmhba64:C0:T0:L1": "active", "vmhba64:C1:T0:L1": spelling}
    assert fault.verify_healed(node) is True
    assert not any("active -p vmhba64:C1" in c for c in node.commands)


def test_iptables_rules_parse_quoted_comments() -> None:
    text = (
        "-P INPUT ACCEPT\n"
        "-A INPUT -s 198.18.1.11/32 -p tcp -m multiport --dports 111,2049 -m comment --comment faultlab:r:f1 -j DROP\n"
        '-A INPUT -s 10.0.0.1/32 -m comment --comment "an admin rule" -j ACCEPT\n'
        "-A OUTPUT -j ACCEPT\n"
    )
    rules = parse_rules(text)
    assert [r.comment for r in rules] == ["faultlab:r:f1", "an admin rule"]
    assert rules[0].spec[:2] == ("-s", "198.18.1.11/32")


# `esxcli storage filesystem list` as ESXi prints it: right-aligned Mounted/Size/Free overhang their dash runs.
FILESYSTEM_LIST = """\
Mount Point                                        Volume Name  UUID                                 Mounted  Type            Size          Free
-------------------------------------------------  -----------  -----------------------------------  -------  ------  ------------  ------------
/vmfs/volumes/5d1a2b3c-4e5f6a7b-8c9d-000c29a1b2c3  datastore1   5d1a2b3c-4e5f6a7b-8c9d-000c29a1b2c3     true  VMFS-6  107105746944   98123456512
/vmfs/volumes/a9d17c4e-0b9a2e5f                    nfs ds 01    a9d17c4e-0b9a2e5f                      false  NFS     536870912000  412316860416
/vmfs/volumes/5d1a2b3d-11223344-5566-000c29a1b2c3                5d1a2b3d-11223344-5566-000c29a1b2c3     true  vfat       299712512      98304000
"""


def test_filesystem_list_gives_each_volumes_ids() -> None:
    fs = parse_filesystem_list(FILESYSTEM_LIST)
    assert [(f.volume_name, f.type, f.mounted) for f in fs] == [
        ("datastore1", "VMFS-6", True),
        ("nfs ds 01", "NFS", False),
        ("", "vfat", True),
    ]
    assert fs[0].identifiers() == ["5d1a2b3c-4e5f6a7b-8c9d-000c29a1b2c3"]
    assert fs[1].identifiers() == ["a9d17c4e-0b9a2e5f"]  # an NFS UUID is already its APD identifier
    assert fs[1].mount_point == "/vmfs/volumes/a9d17c4e-0b9a2e5f"


def test_the_simulated_hosts_filesystem_list_reads_back() -> None:
    from faultlab.sim.esxi.esxcli_out import render
    from faultlab.sim.esxi.formats import filesystem_list

    snapshot = {
        "datastores": [
            {"name": "ds-nfs01", "type": "NFS", "url": "ds:///vmfs/volumes/28d4e1a0-9c3b7f52/", "accessible": True},
            {
                "name": "ds-iscsi01",
                "type": "VMFS",
                "capacityMB": 1024,
                "accessible": False,
                "url": "ds:///vmfs/volumes/68eeda1c-2b3c4d5e-6f70-0242c6120111/",
            },
        ]
    }
    fs = parse_filesystem_list(render(filesystem_list(snapshot), None))
    assert [(f.volume_name, f.uuid, f.type, f.mounted) for f in fs][:2] == [
        ("ds-nfs01", "28d4e1a0-9c3b7f52", "NFS", True),
        ("ds-iscsi01", "68eeda1c-2b3c4d5e-6f70-0242c6120111", "VMFS-6", True),
    ]
    assert [f.volume_name.split("-")[0] for f in fs][2:] == ["OSDATA", "BOOTBANK1", "BOOTBANK2"]
