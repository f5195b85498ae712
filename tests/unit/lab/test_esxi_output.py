"""parse_output and the typed records on every real esxcli / vim-cmd sample in tests/fixtures/esxcli/ (SOURCES.md)."""

# ruff: noqa: E501  (verbatim output lines)
from __future__ import annotations

from pathlib import Path

import pytest

from faultlab.harness.cursors import measure_skew, parse_date_output
from faultlab.lab.errors import LabError, VimFaultError
from faultlab.lab.esxi import (
    datastore_file,
    parse_advanced,
    parse_devices,
    parse_filesystem_list,
    parse_getallvms,
    parse_nfs_list,
    parse_output,
    parse_paths,
    parse_power_state,
    read_output,
)
from faultlab.lab.ssh import CommandResult

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "esxcli"
FS = "esxcli storage filesystem list"
NFS = "esxcli storage nfs list"
NFS41 = "esxcli storage nfs41 list"
DEVICES = "esxcli storage core device list"
PATHS = "esxcli storage core path list"
GETALLVMS = "vim-cmd vmsvc/getallvms"


def sample(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_every_sample_in_the_reference_folder_is_a_fixture_and_has_a_test() -> None:
    """A sample added to the fixtures without a test here fails this test (names are checked in this file)."""
    this = Path(__file__).read_text()
    names = sorted(p.name for p in FIXTURES.glob("*.txt"))
    assert len(names) >= 47
    assert [n for n in names if f'"{n}"' not in this] == []
    reference = Path("/work/shared/reference/esxcli")
    if reference.is_dir():  # copied verbatim
        for ref in reference.glob("*.txt"):
            assert (FIXTURES / ref.name).read_bytes() == ref.read_bytes(), ref.name


# -- esxcli storage filesystem list -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "rows", "first"),
    [
        ("filesystem-list.2.txt", 4, ("", "66b0c33b-d2f3dff8-8f53-1e00f500013e", "VMFS-6", "96368328704")),
        ("filesystem-list.3.txt", 4, ("", "66b0c33b-d2f3dff8-8f53-1e00f500013e", "VMFS-6", "150055419904")),
        (
            "filesystem-list.4.txt",
            10,
            ("DS132_DS01_SATA_1TB", "600d9cc6-915fbb51-f64b-d8d385d87c24", "VMFS-6", "999922073600"),
        ),
        ("filesystem-list.6.txt", 7, ("wdc_6t", "6314fb31-cbf77190-ea99-XXXXXXXXXXXX", "VMFS-6", "6001143054336")),
        (
            "filesystem-list.7.txt",
            1,
            ("LocalDatastore_001", "54d15e2c-eeeeeeee-9cff-080027b1c126", "VMFS-5", "10468982784"),
        ),
        # names replaced without re-padding: the cells no longer sit under their dash runs
        (
            "filesystem-list.fixture-70u3.txt",
            4,
            ("ds1", "00000000-00000000-0000-000000000001", "VMFS-6", "118380036096"),
        ),
    ],
)
def test_filesystem_lists(name: str, rows: int, first: tuple[str, str, str, str]) -> None:
    parsed = read_output(FS, sample(name))
    assert (parsed.form, len(parsed.rows), parsed.odd) == ("table", rows, [])
    r = parsed.rows[0]
    assert list(r) == ["Mount Point", "Volume Name", "UUID", "Mounted", "Type", "Size", "Free"]
    assert (r["Volume Name"], r["UUID"], r["Type"], r["Size"]) == first
    assert r["Mount Point"] == "/vmfs/volumes/" + r["UUID"] and r["Mounted"] == "true"
    for row in parsed.rows:  # every cell where it belongs, whatever the spacing
        assert row["Mount Point"].endswith(row["UUID"]) and row["Size"].isdigit() and row["Free"].isdigit()


def test_filesystem_list_with_osdata_bootbanks_and_a_nameless_vmfs() -> None:
    fs = parse_filesystem_list(sample("filesystem-list.2.txt"))
    assert [(f.volume_name, f.type) for f in fs] == [
        ("", "VMFS-6"),
        ("OSDATA-66aa25b4-80eeca2a-d6dd-1e00f7000340", "VMFSOS"),
        ("BOOTBANK1", "vfat"),
        ("BOOTBANK2", "vfat"),
    ]
    assert fs[3].identifiers() == ["0fa5a00a-354830aa-dca6-20a7b11416cd"]
    vffs = parse_filesystem_list(sample("filesystem-list.6.txt"))[4]
    assert (vffs.volume_name, vffs.type, vffs.mounted) == ("OSDATA-63972d60-b15becb2-68fc-XXXXXXXXXXXX", "VFFS", True)


def test_filesystem_list_as_csv_with_nameless_vfat_rows() -> None:
    # Real rows (index id 45078922557); the header is the rule's (SOURCES.md): names without spaces, ASCII order.
    rows_only = sample("filesystem-list.csv-rows.txt")
    text = "Free,MountPoint,Mounted,Size,Type,UUID,VolumeName,\n" + rows_only
    parsed = read_output(f"esxcli --formatter=csv {FS[7:]}", text)
    assert (parsed.form, len(parsed.rows), parsed.odd) == ("csv", 5, [])
    assert parsed.rows[0] == {
        "Free": "1340080128",
        "MountPoint": "/vmfs/volumes/551a775c-74196922-cd22-00505698283b",
        "Mounted": "true",
        "Size": "24696061952",
        "Type": "VMFS-5",
        "UUID": "551a775c-74196922-cd22-00505698283b",
        "VolumeName": "datastore1",
    }
    fs = parse_filesystem_list(text)
    assert [(f.volume_name, f.type, f.mounted) for f in fs][:2] == [("datastore1", "VMFS-5", True), ("", "vfat", True)]
    assert fs[4].mount_point == "/vmfs/volumes/52565eb0-a133a2e8-7c44-00505682ecc2"
    # as published (rows only): nothing is guessed, every line is reported
    bare = read_output(FS, rows_only)
    assert bare.rows == [] and len(bare.odd) == 5 and "csv without a header line" in bare.odd[0]


# -- esxcli storage nfs list / nfs41 list ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("nfs-list.1.txt", [("Belstar_KH", "192.168.X.XX", "/volume1/ASUS-Server", True, True, False)]),
        (
            "nfs-list.2.txt",
            [
                ("ssd", "192.168.10.5", "/data/ssd", True, True, False),
                ("hdd", "192.168.10.5", "/data/hdd", True, True, False),
            ],
        ),
        ("nfs-list.3.txt", [("nfsbackup", "192.168.1.22", "/volume1/vmnfsbackup", True, True, False)]),
        (
            "nfs-list.5.txt",
            [
                ("nfsds1", "151.10.10.101", "/mnt/vol1/nfs1/ds1", True, True, False),
                ("nfsds2", "151.10.10.102", "/mnt/vol1/nfs1/ds2", True, True, False),
            ],
        ),
        (
            "nfs-list.fixture-a.txt",
            [
                ("nfs_mount", "10.10.10.10", "/mount_test", True, True, False),
                ("nfs_mount2", "10.10.10.11", "/mount_test2", True, True, False),
            ],
        ),
        ("nfs-list.fixture-80.txt", [("netapp_nfs_ds01", "192.168.1.230", "/esxi_datastore_01", True, True, False)]),
    ],
)
def test_nfs_lists(name: str, expected: list[tuple[str, str, str, bool, bool, bool]]) -> None:
    assert read_output(NFS, sample(name)).odd == []
    mounts = parse_nfs_list(sample(name))
    assert [(m.volume_name, m.host, m.share, m.accessible, m.mounted, m.read_only) for m in mounts] == expected
    assert {m.version for m in mounts} == {"3"}


def test_nfs_list_of_esxi_8_keeps_vmknic_and_connections() -> None:
    (row,) = parse_output(NFS, sample("nfs-list.fixture-80.txt"))
    assert (row["Vmknic"], row["Connections"], row["Hardware Acceleration"]) == ("vmk0", "1", "Not Supported")


def test_nfs_list_whose_spacing_a_blog_collapsed_is_read_by_word_order_and_reported() -> None:
    parsed = read_output(NFS, sample("nfs-list.6-mangled.txt"))
    assert parsed.rows == [
        {"Volume Name": "NFS", "Host": "192.168.1.107", "Share": "/data/nfs_share", "Accessible": "true",
         "Mounted": "true", "Hardware Acceleration": "Not Supported"}
    ]  # fmt: skip
    assert len(parsed.odd) == 1 and "line 3:" in parsed.odd[0] and "spacing collapsed" in parsed.odd[0]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("nfs41-list.1.txt", ("freenas01-backups", "freenas01", "/mnt/pool01/backups", False, False, "AUTH_SYS")),
        ("nfs41-list.3.txt", ("isos", "10.1.0.7", "/backups/isos", False, False, "AUTH_SYS")),
    ],
)
def test_nfs41_lists_with_hosts_and_security(name: str, expected: tuple[str, str, str, bool, bool, str]) -> None:
    (row,) = parse_output(NFS41, sample(name))
    assert list(row)[:2] == ["Volume Name", "Host(s)"] and row["Security"] == "AUTH_SYS"
    (m,) = parse_nfs_list(sample(name), version="4.1")
    assert (m.volume_name, m.host, m.share, m.accessible, m.mounted, m.security) == expected
    assert m.version == "4.1"


# -- esxcli storage core device list / path list ---------------------------------------------------------------


def test_device_list_of_esxi_9_with_trailing_spaces() -> None:
    (row,) = parse_output(DEVICES, sample("device-list.1.txt"))
    assert row["id"] == "mpx.vmhba0:C0:T0:L0" and len(row) == 43
    assert (row["Device Type"], row["Vendor"], row["Model"], row["Revision"]) == (
        "Direct-Access",
        "VMware",
        "Virtual disk",
        "2.0",
    )
    assert row["Attached Filters"] == "" and row["Emulated DIX/DIF Enabled"] == "false"
    (dev,) = parse_devices(sample("device-list.1.txt"))
    assert (dev.status, dev.accessible, dev.display_name) == ("on", True, "Local VMware Disk (mpx.vmhba0:C0:T0:L0)")


def test_device_list_of_two_devices_and_an_old_one() -> None:
    devs = parse_devices(sample("device-list.3.txt"))
    assert [d.id for d in devs] == [
        "t10.NVMe____Lexar_SSD_NM790_2TB_____________________05000020035BF2CA",
        "t10.ATA_____SK_hynix_SC311_SATA_256GB_______________MJ7CN7053106B120O___",
    ]
    assert (
        devs[1].fields["Model"] == "SK hynix SC311 S"
        and devs[1].fields["No of outstanding IOs with competing worlds"] == "31"
    )
    (old,) = parse_devices(sample("device-list.5.txt"))
    assert (
        old.fields["Multipath Plugin"] == "NMP"
        and old.fields["Is Boot USB Device"] == "false"
        and len(old.fields) == 27
    )


def test_degraded_device_with_a_colon_after_its_id_and_no_indentation_is_accessible() -> None:
    parsed = read_output(DEVICES, sample("device-list.7-mangled.txt"))
    assert parsed.odd == [] and len(parsed.rows) == 1
    (dev,) = parse_devices(sample("device-list.7-mangled.txt"))
    assert dev.id == "naa.600508e000000000e51b24d0a7fad20e" and len(dev.fields) == 22
    assert (dev.status, dev.accessible) == ("degraded", True)


def test_device_list_as_csv() -> None:
    # esxcli --formatter=csv (index id 5659234109, SOURCES.md): the header is the field names without spaces in
    # ASCII order (NoofoutstandingIOswithcompetingworlds), every line ends in a comma, the first cell is empty
    # (AttachedFilters), booleans are true/false, padded cells keep their spaces ("ATA     ", "Direct-Access "),
    # a list (OtherUIDs) is quoted with a comma after each item.
    parsed = read_output(f"esxcli --formatter=csv {DEVICES[7:]}", sample("device-list.csv-fixture.txt"))
    assert (parsed.form, len(parsed.rows), parsed.odd) == ("csv", 6, [])
    usb = parsed.rows[2]
    assert (usb["Device"], usb["Model"], usb["Vendor"], usb["DeviceType"]) == (
        "mpx.vmhba33:C0:T0:L0",
        "Cruzer Blade",
        "SanDisk",
        "Direct-Access",
    )
    assert usb["OtherUIDs"] == "vml.0000000000766d68626133333a303a30" and usb["AttachedFilters"] == ""
    devs = parse_devices(sample("device-list.csv-fixture.txt"))
    assert (
        devs[2].id == "mpx.vmhba33:C0:T0:L0" and devs[2].status == "on" and devs[2].display_name.startswith("Local USB")
    )


def test_path_list_with_blank_lines_between_fields_and_a_colon_after_the_id() -> None:
    (path,) = parse_paths(sample("path-list.1-mangled.txt"))
    uid = "iqn.1998-01.com.vmware:ESXI-1-113d8999-00023d000001,iqn.2002-03.com.compellent:5000d3100077102b,t,0-naa.6000d31000771000000000000000000d"
    assert path.name == uid and path.fields["UID"] == uid and len(path.fields) == 16
    assert (path.runtime_name, path.device, path.state, path.is_off) == (
        "vmhba38:C0:T1:L1",
        "naa.6000d31000771000000000000000000d",
        "active",
        False,
    )
    assert path.fields["Target Transport Details"].endswith("Alias= Session=00023d000001 PortalTag=0")


def test_path_list_whose_id_line_carries_the_fields_indentation() -> None:
    (path,) = parse_paths(sample("path-list.2-mangled.txt"))
    assert path.name == "sas.5000000000000000-sas.500000e01947e132-naa.500000e01947e130"
    assert (path.runtime_name, path.fields["Transport"], path.fields["Maximum IO Size"]) == (
        "vmhba2:C0:T0:L0",
        "sas",
        "4194304",
    )


@pytest.mark.parametrize("spelling", ["off", "disabled"])
def test_an_administratively_disabled_path_in_either_spelling(spelling: str) -> None:
    text = sample("path-list.2-mangled.txt").replace("State: active", f"State: {spelling}")
    (path,) = parse_paths(text)
    assert (path.state, path.is_off) == (spelling, True)


def test_path_set_prints_nothing() -> None:
    assert (
        read_output("esxcli storage core path set --state off -p vmhba2:C0:T0:L0", sample("path-set-off.1.txt")).form
        == "empty"
    )


# -- esxcli system settings advanced list -o ------------------------------------------------------------------


def test_advanced_options() -> None:
    assert parse_advanced(sample("advanced.1.txt")) == 0
    assert parse_output("esxcli system settings advanced list -o /Net/TcpipDefLROEnabled", sample("advanced.1.txt")) == [
        {"Path": "/Net/TcpipDefLROEnabled", "Type": "integer", "Int Value": "0", "Default Int Value": "1",
         "Min Value": "0", "Max Value": "1", "String Value": "", "Default String Value": "", "Valid Characters": "",
         "Description": "LRO enabled for TCP/IP"}
    ]  # fmt: skip
    assert parse_advanced(sample("advanced.4.txt")) == 0
    cut = read_output("esxcli system settings advanced list", sample("advanced.3-truncated.txt"))
    assert [r["Path"] for r in cut.rows] == ["/UserVars/ESXiShellTimeOut"] and cut.rows[0]["Max Value"] == "86400"
    assert [o.split(":")[0] for o in cut.odd] == ["line 1", "line 12"]  # the author's "..." lines, reported


def test_a_full_advanced_list_without_id_lines_is_one_block_per_option() -> None:
    text = sample("advanced.1.txt") + "\n" + sample("advanced.4.txt")
    rows = parse_output("esxcli system settings advanced list", text)
    assert [r["Path"] for r in rows] == ["/Net/TcpipDefLROEnabled", "/Net/FollowHardwareMac"]


# -- vim-cmd vmsvc/getallvms -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("getallvms.3.txt", []),
        ("getallvms.4.txt", [(40, "packer-vmware-iso", "[wtgc-vmbd-01:datastore1] packer-vmware-iso/packer-vmware-iso.vmx", "ubuntu64Guest", "vmx-08", "")]),
        ("getallvms.5.txt", [(11, "itachi_lab", "[datastore1] itachi_lab/itachi_lab.vmx", "ubuntu64Guest", "vmx-13", ""),
                             (12, "itachi_backupTest", "[datastore1] itachi_backupTest/itachi_backupTest.vmx", "ubuntu64Guest", "vmx-13", "")]),
        ("getallvms.6.txt", [(1424, "sap-router", "[datastore1 (4)] sap-router/win2k8x64.vmx", "winLonghorn64Guest", "vmx-07", ""),
                             (1440, "RAS-3.250", "[datastore1 (4)] RAS/win2k8x64.vmx", "winLonghorn64Guest", "vmx-07", "")]),
        ("getallvms.7.txt", [(1, "ate-tester1", "[datastore1] ate-tester1/ate-tester1.vmx", "windows7Guest", "vmx-11", "")]),
        ("getallvms.10.txt", [(1, "testVM", "[LocalDatastore_001] testVM/testVM.vmx", "otherGuest", "vmx-10", "")]),
        ("getallvms.14-vcls.txt", [(1698, "vCLS-6b723342-8292-1962-f970-0422f48bc6ea",
                                    "[] /var/run/crx/infra/vCLS-6b723342-8292-1962-f970-0422f48bc6ea/vCLS-6b723342-8292-1962-f970-0422f48bc6ea.vmx",
                                    "crxSys1Guest", "vmx-21", "")]),
    ],
)  # fmt: skip
def test_getallvms(name: str, expected: list[tuple[int, str, str, str, str, str]]) -> None:
    assert read_output(GETALLVMS, sample(name)).odd == []
    vms = parse_getallvms(sample(name))
    assert [(v.vmid, v.name, v.file, v.guest_os, v.version, v.annotation) for v in vms] == expected


def test_getallvms_keys_are_the_headers() -> None:
    (row,) = parse_output(GETALLVMS, sample("getallvms.10.txt"))
    assert list(row) == ["Vmid", "Name", "File", "Guest OS", "Version", "Annotation"]


def test_getallvms_in_text_order_of_vmid_is_sorted_by_number() -> None:
    rows = parse_output(GETALLVMS, sample("getallvms.13.txt"))
    assert [r["Vmid"] for r in rows] == ["112", "128", "144", "80", "96"]  # as printed
    vms = parse_getallvms(sample("getallvms.13.txt"))
    assert [v.vmid for v in vms] == [80, 96, 112, 128, 144]
    assert vms[0].file == "[datastore2_maxtor_120GB] mono-asp-net-vnext-centos-6_5/mono-asp-net-vnext-centos-6_5.vmx"


def test_getallvms_multi_line_annotation() -> None:
    vms = parse_getallvms(sample("getallvms.fixture-70u3.txt"))
    assert [v.vmid for v in vms] == [2, 6, 10, 12, 13]
    vm2 = next(v for v in vms if v.name == "vm2")
    assert vm2.annotation == (
        "First line of a note that an appliance image ships with.\n\n   A second paragraph of that note, indented.\n\n"
        "another line"
    )
    assert next(v for v in vms if v.name == "vm7").annotation == "vm7 Appliance"
    assert next(v for v in vms if v.name == "vm3").annotation == ""


def test_getallvms_name_with_spaces_and_without_annotation_column() -> None:
    vms = parse_getallvms(sample("getallvms.9-mangled.txt"))
    assert [(v.vmid, v.name, v.guest_os) for v in vms][1] == (2, "VMware vCenter Server 8", "other3xLinux64Guest")
    assert vms[1].file == "[DS132_DS04_SATA_2TB] VMware vCenter Server 8/....vmx"
    assert "Annotation" not in parse_output(GETALLVMS, sample("getallvms.9-mangled.txt"))[0]


def test_getallvms_cut_short_and_skipped_vms() -> None:
    vms = parse_getallvms(sample("getallvms.8-truncated.txt"))
    assert len(vms) == 9 and (vms[-1].vmid, vms[-1].name, vms[-1].guest_os) == (139, "Snapshot", "rhel9_64Guest")
    assert vms[6].file == "[samsung_4t] virtualMachine/fnOS/fnOS.vmx"
    skipped = read_output(GETALLVMS, sample("getallvms.12.txt"))
    assert skipped.rows == [] and skipped.odd[0] == "line 1: Skipping invalid VM '16' (not a getallvms row)"
    assert len(skipped.odd) == 4


def test_getallvms_name_containing_brackets() -> None:
    # The real layout of getallvms.5.txt with a VM renamed "web [prod] 01": only the File column starts a datastore path.
    text = sample("getallvms.5.txt").replace("itachi_lab          [", "web [prod] 01       [")
    (vm, _) = parse_getallvms(text)
    assert (vm.name, vm.file) == ("web [prod] 01", "[datastore1] itachi_lab/itachi_lab.vmx")


def test_datastore_file_of_a_vcls_vm_and_of_a_datastore_with_a_colon() -> None:
    (vcls,) = parse_getallvms(sample("getallvms.14-vcls.txt"))
    assert (
        datastore_file(vcls.file, "vmware.log")
        == "/var/run/crx/infra/vCLS-6b723342-8292-1962-f970-0422f48bc6ea/vmware.log"
    )
    assert datastore_file("[wtgc-vmbd-01:datastore1] p/p.vmx") == "/vmfs/volumes/wtgc-vmbd-01:datastore1/p/p.vmx"
    with pytest.raises(ValueError, match="no datastore"):
        datastore_file("[] relative/x.vmx")


# -- vim-cmd power.getstate and faults -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "state", "api"),
    [
        ("power-getstate.1.txt", "Powered off", "poweredOff"),
        ("power-getstate.2.txt", "Powered off", "poweredOff"),
        ("power-getstate.4.txt", "Powered on", "poweredOn"),
        ("power-getstate.5.txt", "Powered on", "poweredOn"),
    ],
)
def test_power_getstate(name: str, state: str, api: str) -> None:
    assert parse_output("vim-cmd vmsvc/power.getstate 1698", sample(name)) == [{"state": state}]
    assert parse_power_state(sample(name)) == api


@pytest.mark.parametrize(
    ("name", "fault", "msg", "context"),
    [
        ("vimcmd-fault.1.txt", "vim.fault.InvalidPowerState", "The attempted operation cannot be performed in the current state (Powered off).", "Reset failed"),
        ("vimcmd-fault.3.txt", "vim.fault.NotFound", 'Unable to find a VM corresponding to "16"', ""),
        ("vimcmd-fault.4.txt", "vim.fault.GenericVmConfigFault", "This host does not support AMD-V.", "Power on failed"),
        ("vimcmd-fault.fixture-notfound.txt", "vim.fault.NotFound", 'Unable to find a VM corresponding to "2"', ""),
    ],
)  # fmt: skip
def test_vim_cmd_fault_blocks_raise_a_typed_error(name: str, fault: str, msg: str, context: str) -> None:
    with pytest.raises(VimFaultError) as caught:
        parse_output("vim-cmd vmsvc/power.getstate 2", sample(name))
    assert (caught.value.fault, caught.value.msg, caught.value.context) == (fault, msg, context)
    assert isinstance(caught.value, LabError) and fault in str(caught.value)


def test_a_data_object_block_is_not_a_fault() -> None:
    """No VimFaultError; the `key = value` lines are no esxcli block, so they are reported, not made rows."""
    parsed = read_output("vim-cmd vmsvc/get.summary 1", "(vim.vm.Summary) {\n   vm = 'vim.VirtualMachine:1',\n}\n")
    assert parsed.rows == [] and len(parsed.odd) == 3


# -- date -u +%s.%N (clock skew) -------------------------------------------------------------------------------


def test_date_without_an_epoch_is_refused() -> None:
    with pytest.raises(ValueError, match="not an epoch time"):
        parse_date_output(sample("date.1.txt"))  # plain `date` of ESXi 5.x


class Clock:
    """A host whose `date -u +%s.%N` prints the %N literally (busybox without nanoseconds)."""

    def run(self, argv: list[str] | str, timeout: float | None = None, check: bool = False) -> CommandResult:
        return CommandResult(str(argv), 0, "1763784000.%N\n", "", 0.0)


def test_clock_skew_falls_back_to_whole_seconds_with_the_round_trip_bound() -> None:
    skew = measure_skew(Clock(), "esx01", samples=2, clock=lambda: 1763784000.0)
    # the reading lies in [1763784000, 1763784001): its middle, +/- half a second plus half the round trip
    assert 0.49 < skew.offset_s <= 0.5 and 0.5 <= skew.uncertainty_s < 0.6


COMMANDS = (
    FS,
    NFS,
    NFS41,
    DEVICES,
    PATHS,
    GETALLVMS,
    "vim-cmd vmsvc/power.getstate 1",
    "esxcli system settings advanced list",
)


@pytest.mark.parametrize("command", COMMANDS)
def test_any_sample_cut_anywhere_under_any_command_never_crashes(command: str) -> None:
    """Output cut short (a dropped SSH channel) or answered by another command: rows or odd lines, no crash."""
    for path in sorted(FIXTURES.glob("*.txt")):
        text = path.read_text()
        for cut in sorted({len(text), len(text) // 3, len(text) // 2, 2 * len(text) // 3, 7}):
            try:
                parsed = read_output(command, text[:cut])
            except VimFaultError:
                assert path.name.startswith("vimcmd-fault"), path.name
                continue
            assert all(isinstance(v, str) for row in parsed.rows for v in row.values()), path.name
    assert read_output(command, "a\x00b,\n1,2,\n").form in ("csv", "blocks", "getallvms", "power")


def test_getallvms_of_2013_with_annotations_over_lines_and_a_mangled_header() -> None:
    rows = parse_output(GETALLVMS, sample("getallvms.15-mangled.txt"))
    assert list(rows[0]) == ["Vmid", "Name", "ile", "Guest OS", "Version", "nnotation"]  # as published
    vms = parse_getallvms(sample("getallvms.15-mangled.txt"))
    assert [v.vmid for v in vms] == [101, 102, 103, 110, 111, 112]
    assert vms[1].annotation == (
        "Creator：Leo\nemanders/Team：ivel ang\nHost IP：192.168.0.148\nVM pp：MySql5.0\nProject：Test2.0\n"
        "Summary：Test2.0项目测试环境；使用时间2012年9月17日至2012年12月31日"
    )  # the blank line before the next row is not part of it
    assert vms[2].annotation.endswith("Summary：Test2.0项Wiki安装；使用时间2012年9月17日至2012年12月31日")
    assert (vms[4].file, vms[5].guest_os, vms[5].annotation) == (
        "[datastore1] myXInglite_192.168.0.27/myXInglite_192.168.0.27.vmx",
        "winXPProGuest",
        "",
    )


def test_xml_formatter_one_row_per_structure() -> None:
    parsed = read_output("esxcli --formatter=xml vm process list", sample("vm-process-list.xml-mangled.txt"))
    assert (parsed.form, len(parsed.rows), parsed.odd) == ("xml", 2, [])
    assert parsed.rows[1] == {
        "Configile": "/vmfs/volumes/4ee1d386-5b79612c-d9b1-1cc1de17e90e/TEST_192.0168.0.15/TEST_192.0168.0.15.vmx",
        "isplayName": "TEST_192.0168.0.13",
        "ProcessI": "0",
        "UUI": "56 4d 0a 52 6e d2 61 7a-a5 84 1b e5 35 da d1 62",
        "VMXCartelI": "1651805",
        "WorldI": "1651806",
    }
    cut = read_output("esxcli --formatter=xml vm process list", sample("vm-process-list.xml-mangled.txt")[:300])
    assert cut.rows == [] and "not well-formed xml" in cut.odd[0]


def test_skipped_vm_messages_after_the_rows_are_not_an_annotation() -> None:
    text = sample("getallvms.5.txt") + sample("getallvms.12.txt")  # stderr after stdout
    parsed = read_output(GETALLVMS, text)
    assert [r["Annotation"] for r in parsed.rows] == ["", ""] and len(parsed.odd) == 4


def test_vim_cmd_layouts_are_known_by_their_content_too() -> None:
    """A check that runs vim-cmd through a path or a wrapper still reads it right."""
    assert read_output("/bin/vim-cmd vmsvc/getallvms", sample("getallvms.5.txt")).form == "getallvms"
    assert read_output("ssh esx01 vim-cmd vmsvc/getallvms", sample("getallvms.10.txt")).rows[0]["Name"] == "testVM"
    assert parse_output("", sample("power-getstate.4.txt")) == [{"state": "Powered on"}]
