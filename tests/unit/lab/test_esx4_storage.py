"""ESX 4's storage listings (no `esxcli storage`): `esxcfg-nas -l`, `esxcfg-scsidevs -m` / `-l` read from real
captures, odd lines kept; the host role uses them on a 4.x host; the simulated ESX 4 host's answers read back."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from faultlab.lab.errors import LabError
from faultlab.lab.esxi import EsxiHost
from faultlab.lab.esxi.legacy import parse_esxcfg_nas, parse_scsidevs_l, parse_scsidevs_m
from faultlab.lab.inventory import Datastore, Host
from faultlab.lab.ssh import CommandResult
from faultlab.sim.esx4 import commands as esx4_commands

# Verbatim (GitHub code-index ids): a blog's ESX host (10894030734); a vSphere 4 vMA listing and the empty answer
# (27243124349); an ESXi 4 host printing no state (10954267383); 5.x "mounted available" (37549674546).
NAS_MOUNTED = "export_1 is /vol/export_1 from 10.204.x.29 mounted\nexport_2 is /vol/export_2 from 10.204.x.29 mounted\n"
NAS_NOT_MOUNTED = "nfs_datastore1 is /mnt/vg_nfs/lv_nfs01/nfs_datastore1 from openfiler.mlab.local not mounted\n"
NAS_NO_STATE = "NAS_1 is /vol/data1 from 10.178.250.10  \n"
NAS_AVAILABLE = "esxivms is /mnt/SSDs/esxivms from store.xd.lan mounted available\n"
NAS_NONE = "No NAS datastore found\n"
# esxcfg-scsidevs -m (11105288503; 11458780414 with an naa device; 21153717444 with aligned columns).
SCSIDEVS_M = (
    "mpx.vmhba1:C0:T0:L0:3 /vmfs/devices/disks/mpx.vmhba1:C0:T0:L0:3 501d93eb-1eb86026-0726-005056b007c1 0 datastore1\n"
    "mpx.vmhba1:C0:T1:L0:1 /vmfs/devices/disks/mpx.vmhba1:C0:T1:L0:1 501d996c-86c66169-eea2-005056b007c1 0 prod\n"
    "naa.600144f0e8cb470000005053b9b50001:1 /vmfs/devices/disks/naa.600144f0e8cb470000005053b9b50001:1 "
    "505427ac-3acc9d52-406d-d027886f3502 0 iscsi_test\n"
    "    mpx.vmhba1:C0:T1:L0:1                                            /vmfs/devices/disks/mpx.vmhba1:C0:T1:L0:1 "
    "555acc28-b82a2519-a19d-000c29b96d8d  0  MyVol\n"
)
# esxcfg-scsidevs -l (6537168669, an ESXi 5.5 host), its first two devices.
SCSIDEVS_L = """\
mpx.vmhba32:C0:T0:L0
   Device Type: Direct-Access
   Size: 15384 MB
   Display Name: Local USB Direct-Access (mpx.vmhba32:C0:T0:L0)
   Multipath Plugin: NMP
   Console Device: /vmfs/devices/disks/mpx.vmhba32:C0:T0:L0
   Devfs Path: /vmfs/devices/disks/mpx.vmhba32:C0:T0:L0
   Vendor: UFD 2.0   Model: Silicon-Power16G  Revis: 1100
   SCSI Level: 2  Is Pseudo: false Status: on
   Is RDM Capable: false Is Removable: true
   Is Local: true  Is SSD: false
   Other Names:
      vml.0000000000766d68626133323a303a30
   VAAI Status: unsupported
naa.6c81f660da37aa001a6b6c7c1a6ada06
   Device Type: Direct-Access
   Size: 1887435 MB
   Display Name: Local DELL Disk (naa.6c81f660da37aa001a6b6c7c1a6ada06)
   Multipath Plugin: NMP
   Console Device: /vmfs/devices/disks/naa.6c81f660da37aa001a6b6c7c1a6ada06
   Devfs Path: /vmfs/devices/disks/naa.6c81f660da37aa001a6b6c7c1a6ada06
   Vendor: DELL      Model: PERC H700         Revis: 2.10
   SCSI Level: 5  Is Pseudo: false Status: on
   Is RDM Capable: false Is Removable: false
   Is Local: true  Is SSD: false
"""


def test_esxcfg_nas_real_lines() -> None:
    mounts, odd = parse_esxcfg_nas(NAS_MOUNTED + NAS_NOT_MOUNTED + NAS_NO_STATE + NAS_AVAILABLE + NAS_NONE)
    assert odd == []
    assert [(m.name, m.share, m.server, m.state) for m in mounts] == [
        ("export_1", "/vol/export_1", "10.204.x.29", "mounted"),
        ("export_2", "/vol/export_2", "10.204.x.29", "mounted"),
        ("nfs_datastore1", "/mnt/vg_nfs/lv_nfs01/nfs_datastore1", "openfiler.mlab.local", "not mounted"),
        ("NAS_1", "/vol/data1", "10.178.250.10", ""),
        ("esxivms", "/mnt/SSDs/esxivms", "store.xd.lan", "mounted available"),
    ]
    assert [m.accessible for m in mounts] == [True, True, False, False, True]
    assert [m.mounted for m in mounts] == [True, True, False, False, True]
    unavailable, _ = parse_esxcfg_nas("esxivms is /x from s mounted unavailable\n")
    assert unavailable[0].mounted and not unavailable[0].accessible


def test_esxcfg_nas_odd_lines_are_kept() -> None:
    mounts, odd = parse_esxcfg_nas(NAS_MOUNTED + "Error: connection refused\nds is /x from srv half mounted\n")
    assert len(mounts) == 2 and odd == ["Error: connection refused", "ds is /x from srv half mounted"]


def test_scsidevs_m_real_lines() -> None:
    volumes, odd = parse_scsidevs_m(SCSIDEVS_M + "garbage line\n")
    assert odd == ["garbage line"]
    assert [(v.device, v.uuid, v.extent, v.label) for v in volumes] == [
        ("mpx.vmhba1:C0:T0:L0", "501d93eb-1eb86026-0726-005056b007c1", 0, "datastore1"),
        ("mpx.vmhba1:C0:T1:L0", "501d996c-86c66169-eea2-005056b007c1", 0, "prod"),
        ("naa.600144f0e8cb470000005053b9b50001", "505427ac-3acc9d52-406d-d027886f3502", 0, "iscsi_test"),
        ("mpx.vmhba1:C0:T1:L0", "555acc28-b82a2519-a19d-000c29b96d8d", 0, "MyVol"),
    ]
    assert volumes[2].devfs == "/vmfs/devices/disks/naa.600144f0e8cb470000005053b9b50001:1"


def test_scsidevs_l_real_blocks() -> None:
    devices, odd = parse_scsidevs_l(SCSIDEVS_L)
    assert odd == []
    assert [d.id for d in devices] == ["mpx.vmhba32:C0:T0:L0", "naa.6c81f660da37aa001a6b6c7c1a6ada06"]
    usb, dell = devices
    assert usb.fields["Status"] == "on" and usb.fields["Is Pseudo"] == "false" and usb.fields["SCSI Level"] == "2"
    assert usb.fields["Vendor"] == "UFD 2.0" and usb.fields["Model"] == "Silicon-Power16G"
    assert usb.fields["Revis"] == "1100"
    assert usb.fields["Display Name"] == "Local USB Direct-Access (mpx.vmhba32:C0:T0:L0)"
    assert usb.fields["Other Names"] == "vml.0000000000766d68626133323a303a30"
    assert usb.fields["VAAI Status"] == "unsupported"
    assert (
        dell.fields["Vendor"] == "DELL" and dell.fields["Model"] == "PERC H700" and dell.fields["Size"] == "1887435 MB"
    )
    assert "Other Names" not in dell.fields


def test_scsidevs_l_odd_lines_are_kept() -> None:
    devices, odd = parse_scsidevs_l("   Status: on\nnaa.1\n   something without a key\n   Status: off\n")
    assert odd == ["Status: on", "something without a key"]
    assert devices[0].fields == {"Status": "off"}


# -- the role on a 4.x host --------------------------------------------------------------------------------------


@dataclass
class FakeCos:
    """A COS answering the commands the role runs (the boundary: tests/lab runs the simulated host for real)."""

    answers: dict[str, CommandResult]
    ran: list[str] = field(default_factory=list)

    def run(self, argv: list[str] | str, timeout: float | None = None, check: bool = False) -> CommandResult:
        command = argv if isinstance(argv, str) else " ".join(argv)
        self.ran.append(command)
        missing = CommandResult(command, 127, "", f"-bash: {command.split()[0]}: command not found\n", 0.0)
        return self.answers.get(command, missing)


def ok(text: str) -> CommandResult:
    return CommandResult("", 0, text, "", 0.0)


def esx4(answers: dict[str, CommandResult], version: str | None = "4.1") -> tuple[EsxiHost, FakeCos]:
    cos = FakeCos(answers)
    return EsxiHost(Host(name="esx01", address="198.18.1.11", version=version), cos), cos


def test_role_reads_storage_with_esx4_commands() -> None:
    host, cos = esx4({
        "esxcfg-nas -l": ok(NAS_MOUNTED + NAS_NOT_MOUNTED),
        "esxcfg-scsidevs -m": ok(SCSIDEVS_M),
        "esxcfg-scsidevs -l": ok(SCSIDEVS_L),
    })  # fmt: skip
    assert host.legacy
    nfs = Datastore(name="export_1", type="nfs", target="nas01")
    assert host.datastore_state(nfs).accessible is True
    gone = Datastore(name="nfs_datastore1", type="nfs", target="nas01")
    assert host.datastore_state(gone).accessible is False
    vmfs = Datastore(name="local", type="vmfs", target="san01", naa_id="naa.6c81f660da37aa001a6b6c7c1a6ada06")
    state = host.datastore_state(vmfs)
    assert state.accessible is True and "status on" in state.detail
    fs = host.filesystems()
    assert [(f.volume_name, f.type) for f in fs][:1] == [("datastore1", "VMFS")]
    assert fs[0].identifiers() == ["501d93eb-1eb86026-0726-005056b007c1"]
    assert ("export_1", "NFS", "") in [(f.volume_name, f.type, f.uuid) for f in fs]
    assert not any(c.startswith("esxcli") for c in cos.ran)
    with pytest.raises(LabError, match=r"NFS 4\.1"):
        host.nfs_mounts("4.1")


def test_role_asks_vmware_v_when_the_inventory_names_no_version() -> None:
    """Without an inventory version, esxcli is tried first (ESXi 5+ pays no extra command); once it fails, `vmware
    -v` says 4.1 and the ESX 4 command answers, from then on directly."""
    host, cos = esx4({"vmware -v": ok("VMware ESX 4.1.0 build-260247\n"), "esxcfg-nas -l": ok(NAS_NONE)}, None)
    assert not host.legacy  # not known yet
    assert host.nfs_mounts() == [] and host.legacy
    assert cos.ran == [
        "esxcli --formatter=csv storage nfs list",
        "esxcli storage nfs list",
        "vmware -v",
        "esxcfg-nas -l",
    ]
    assert host.nfs_mounts() == [] and cos.ran[4:] == ["esxcfg-nas -l"]
    esxi, _ = esx4({}, "8.0")
    assert not esxi.legacy
    # An ESXi 8 host whose esxcli fails keeps esxcli's own error.
    modern, cos8 = esx4({"vmware -v": ok("VMware ESXi 8.0.2 build-22380479\n")}, None)
    with pytest.raises(LabError, match="esxcli storage nfs list exited 127"):
        modern.nfs_mounts()
    assert "esxcfg-nas -l" not in cos8.ran


def test_preflight_on_a_host_vmware_v_called_esx4_asks_no_esxcli_storage() -> None:
    """The version check of preflight (`vmware -v`) tells the role it is on ESX 4: the file systems are read with
    esxcfg-* at once, not after an esxcli storage call the COS refuses (two commands less)."""
    host, cos = esx4({
        "vmware -v": ok("VMware ESX 4.1.0 build-260247\n"),
        "esxcfg-nas -l": ok(NAS_MOUNTED),
        "esxcfg-scsidevs -m": ok(SCSIDEVS_M),
    }, None)  # fmt: skip
    assert host.product_version() == "VMware ESX 4.1.0 build-260247" and host.legacy
    values, fs = host.preflight_facts([])
    assert values == {} and not isinstance(fs, LabError)
    assert ("export_1", "NFS") in [(f.volume_name, f.type) for f in fs]
    assert cos.ran == ["vmware -v", "esxcfg-scsidevs -m", "esxcfg-nas -l"]
    modern, _ = esx4({"vmware -v": ok("VMware ESXi 8.0.2 build-22380479\n")}, None)
    assert modern.product_version().startswith("VMware ESXi 8") and not modern.legacy


def test_role_failing_esx4_command_is_a_lab_error_naming_it() -> None:
    host, _ = esx4({})
    with pytest.raises(LabError, match="esxcfg-scsidevs -l exited 127"):
        host.devices()


# -- the simulated ESX 4 host's answers read back ----------------------------------------------------------------


def test_simulated_esx4_listings_read_back_without_odd_lines() -> None:
    vmfs = [{"name": "ds-iscsi01", "naa_id": "naa.60000000000000000e00000000010001",
             "volume_uuid": "6571d2a0-1c2b3d4e-5f60-0242c612010b"}]  # fmt: skip
    volumes, odd = parse_scsidevs_m(esx4_commands.scsidevs_m(vmfs))
    assert odd == [] and [(v.device, v.uuid, v.label) for v in volumes] == [
        ("naa.60000000000000000e00000000010001", "6571d2a0-1c2b3d4e-5f60-0242c612010b", "ds-iscsi01")
    ]
    devices, odd = parse_scsidevs_l(esx4_commands.scsidevs_l(vmfs))
    assert odd == [] and devices[0].id == "naa.60000000000000000e00000000010001"
    assert devices[0].fields["Status"] == "on" and devices[0].fields["Vendor"] == "IET"
    assert devices[0].fields["Model"] == "VIRTUAL-DISK" and devices[0].fields["Size"] == "4096 MB"
