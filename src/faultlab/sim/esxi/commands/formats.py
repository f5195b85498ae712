"""esxcli / vim-cmd answers (ESXi 7.0/8.0) from the host's state snapshot, as esxcli_out Listings. Pure functions.

Each layout names the real sample it copies (reference/esxcli/, SOURCES.md there says where each is from).
"""

from __future__ import annotations

from typing import Any

from faultlab.sim.esxi.commands.esxcli_out import Field, Kind, Listing, b, i, s, table
from faultlab.sim.esxi.uuids import esxi_uuid

__all__ = ["table"]

NOMINAL_NFS_BYTES = 100 * 2**30  # used when the host cannot stat the volume (a unit test's snapshot)


def volume_uuid(ds: dict[str, Any]) -> str:
    """The volume's UUID, from its url ds:///vmfs/volumes/<uuid>/."""
    return str(ds["url"]).rstrip("/").rsplit("/", 1)[-1]


def host_uuid(host: str, what: str) -> str:
    """The UUID of one of the host's own volumes (OSDATA, BOOTBANK1/2), made at its install: creation time and
    the host's vmnic0 MAC as ESXi builds them (faultlab.sim.esxi.uuids)."""
    return esxi_uuid(host, what)


# The host's own volumes, sizes and free space from a real 8.0 U3 host (reference/esxcli/filesystem-list.2.txt):
# OSDATA is VMFSOS on 8.0 and VFFS on 7.0 (filesystem-list.6.txt, a 7.0 host).
SYSTEM_VOLUMES = (
    ("OSDATA", 8321499136, 5360320512),
    ("BOOTBANK1", 1073577984, 805076992),
    ("BOOTBANK2", 1073577984, 1073545216),
)


def filesystem_list(snapshot: dict[str, Any]) -> Listing:
    """`esxcli storage filesystem list`: the datastores (real size and free space), then OSDATA and the two
    bootbanks, as on a real 7.0/8.0 host (filesystem-list.2.txt / .4.txt)."""
    records = []
    for ds in snapshot["datastores"]:
        uuid = volume_uuid(ds)
        nfs = ds["type"] == "NFS"
        size = int(ds.get("capacityBytes") or (NOMINAL_NFS_BYTES if nfs else int(ds.get("capacityMB") or 0) << 20))
        free = int(ds.get("freeBytes") if ds.get("freeBytes") is not None else size)
        mounted = bool(ds["accessible"]) or not nfs  # an inaccessible NFS volume lists as not mounted
        records.append(_fs_record(uuid, ds["name"], mounted, "NFS" if nfs else "VMFS-6", size, free))
    host = str(snapshot.get("host", "esx"))
    for label, size, free in SYSTEM_VOLUMES:
        uuid = host_uuid(host, label)
        if label == "OSDATA":
            fs_type = "VMFSOS" if snapshot.get("version") == "8.0" else "VFFS"
            records.append(_fs_record(uuid, f"OSDATA-{uuid}", True, fs_type, size, free))
        else:
            records.append(_fs_record(uuid, label, True, "vfat", size, free))
    return Listing("FilesystemVolume", records)


def _fs_record(uuid: str, name: str, mounted: bool, fs_type: str, size: int, free: int) -> list[Field]:
    return [
        s("Mount Point", f"/vmfs/volumes/{uuid}"),
        s("Volume Name", name),
        s("UUID", uuid),
        b("Mounted", mounted),
        s("Type", fs_type),
        i("Size", size),
        i("Free", free),
    ]


def nfs_list(snapshot: dict[str, Any]) -> Listing:
    """`esxcli storage nfs list`. 7.0 (nfs-list.3.txt, a 7.0.3 host): Volume Name, Host, Share, Accessible,
    Mounted, Read-Only, isPE, Hardware Acceleration. 8.0 adds Vmknic and Connections (nfs-list.fixture-80.txt:
    a fixture, no real 8.x transcript with them was found)."""
    v8 = snapshot.get("version") == "8.0"
    records = []
    for ds in snapshot["datastores"]:
        if ds["type"] != "NFS":
            continue
        rec = [s("Volume Name", ds["name"]), s("Host", ds["server"]), s("Share", ds["export"])]
        if v8:
            rec.append(s("Vmknic", "vmk0"))
        rec += [b("Accessible", bool(ds["accessible"])), b("Mounted", True)]
        if v8:
            rec.append(i("Connections", 1))
        rec += [b("Read-Only", False), b("isPE", False), s("Hardware Acceleration", "Not Supported")]
        records.append(rec)
    headers = ["Volume Name", "Host", "Share"] + (["Vmknic"] if v8 else []) + ["Accessible", "Mounted"]
    headers += (["Connections"] if v8 else []) + ["Read-Only", "isPE", "Hardware Acceleration"]
    return Listing("NASVolume", records, headers=headers)


def nfs41_list(snapshot: dict[str, Any]) -> Listing:
    """`esxcli storage nfs41 list` (nfs41-list.3.txt): the lab mounts no NFS 4.1 volume, so only the header and
    its dash rule are printed."""
    headers = [
        "Volume Name", "Host(s)", "Share", "Accessible", "Mounted", "Read-Only", "Security", "isPE",
        "Hardware Acceleration",
    ]  # fmt: skip
    return Listing("NAS41Volume", [], headers=headers)


def _device(
    dev: str,
    display: str,
    size: int,
    dtype: str,
    mpp: str,
    devfs: str,
    hw: tuple[str, str, str, str],
    status: str,
    flags: dict[str, bool],
    tail: tuple[str, str, str, str, int, int],
) -> list[Field]:
    """One `esxcli storage core device list` record, keys in the order of a real 8.0 U3 host (the post in
    reference/esxcli/SOURCES.md's filesystem-list.2.txt row, GitHub index id 7793706511; device-list.1.txt)."""
    vendor, model, revision, level = hw
    tp, filters, vaai, vml, max_q, outstanding = tail
    return [
        s("Device", dev),
        s("Display Name", display),
        b("Has Settable Display Name", flags["settable"]),
        i("Size", size),
        s("Device Type", dtype),
        s("Multipath Plugin", mpp),
        s("Devfs Path", devfs),
        s("Vendor", vendor),
        s("Model", model),
        s("Revision", revision),
        i("SCSI Level", int(level)),
        b("Is Pseudo", False),
        s("Status", status),
        b("Is RDM Capable", flags["rdm"]),
        b("Is Local", flags["local"]),
        b("Is Removable", flags["removable"]),
        b("Is SSD", False),
        b("Is VVOL PE", False),
        b("Is Offline", False),
        b("Is Perennially Reserved", False),
        i("Queue Full Sample Size", 0),
        i("Queue Full Threshold", 0),
        s("Thin Provisioning Status", tp),
        s("Attached Filters", filters),
        s("VAAI Status", vaai),
        Field("Other UIDs", vml, Kind.STRINGS),
        b("Is Shared Clusterwide", not flags["local"]),
        b("Is SAS", False),
        b("Is USB", False),
        b("Is Boot Device", flags["boot"]),
        i("Device Max Queue Depth", max_q),
        i("No of outstanding IOs with competing worlds", outstanding),
        s("Drive Type", "unknown"),
        s("RAID Level", "unknown"),
        s("Number of Physical Drives", "unknown"),
        b("Protection Enabled", False),
        b("PI Activated", False),
        i("PI Type", 0),
        s("PI Protection Mask", "NO PROTECTION"),
        s("Supported Guard Types", "NO GUARD SUPPORT"),
        b("DIX Enabled", False),
        s("DIX Guard Type", "NO GUARD SUPPORT"),
        b("Emulated DIX/DIF Enabled", False),
    ]


CDROM = "mpx.vmhba4:C0:T0:L0"  # the real 8.0 U3 nested host's IDE CD-ROM (index id 7793706511)
BOOT_DISK = "mpx.vmhba0:C0:T0:L0"  # its boot disk, also device-list.1.txt's (9.0 nested)
BOOT_DISK_MB = 40960  # device-list.1.txt


def _vml_mpx(dev: str, prefix: str) -> str:
    """vml id of an mpx device: prefix + the hex of 'vmhbaN:C:T' (real: vml.0000000000766d686261303a303a30 for
    mpx.vmhba0:C0:T0:L0, vml.0005000000766d686261343a303a30 for the CD-ROM mpx.vmhba4)."""
    adapter, c, t, _ = dev.removeprefix("mpx.").split(":")
    return f"vml.{prefix}" + f"{adapter}:{c[1:]}:{t[1:]}".encode().hex()


def device_list(snapshot: dict[str, Any]) -> Listing:
    """`esxcli storage core device list`: the CD-ROM and boot disk every nested host has, then the iSCSI LUNs."""
    local = {"settable": False, "rdm": False, "local": True, "removable": False, "boot": False}
    records = [
        _device(
            CDROM, f"Local NECVMWar CD-ROM ({CDROM})", 0, "CD-ROM ", "NMP", f"/vmfs/devices/cdrom/{CDROM}",
            ("NECVMWar", "VMware IDE CDR00", "1.00", "5"), "on", {**local, "removable": True},
            ("unknown", "", "unsupported", _vml_mpx(CDROM, "0005000000"), 1, 1),
        ),
        _device(
            BOOT_DISK, f"Local VMware Disk ({BOOT_DISK})", BOOT_DISK_MB, "Direct-Access ", "HPP",
            f"/vmfs/devices/disks/{BOOT_DISK}", ("VMware  ", "Virtual disk    ", "2.0 ", "6"), "on",
            {**local, "boot": True}, ("unknown", "", "unsupported", _vml_mpx(BOOT_DISK, "0000000000"), 1024, 32),
        ),
    ]  # fmt: skip
    for ds in snapshot["datastores"]:
        if ds["type"] != "VMFS":
            continue
        naa = ds["device"]
        flags = {"settable": True, "rdm": True, "local": False, "removable": False, "boot": False}
        records.append(
            _device(
                naa, f"IET iSCSI Disk ({naa})", int(ds.get("capacityMB", 0)), "Direct-Access ", "NMP",
                f"/vmfs/devices/disks/{naa}", ("IET     ", "VIRTUAL-DISK    ", "0001", "5"), ds["deviceStatus"],
                flags, ("unknown", "", "unknown", f"vml.0200010000{naa[4:]}", 128, 32),
            )
        )  # fmt: skip
    return Listing("ScsiDevice", records, layout="blocks")


def _target_id(ds: dict[str, Any]) -> str:
    return f"00023d000001,{ds.get('iqn', '')},t,1"


def path_uid(ds: dict[str, Any], initiator: str) -> str:
    """A software-iSCSI path's UID: <initiator IQN>-<target identifier>-<device>."""
    return f"{initiator}-{_target_id(ds)}-{ds['device']}"


def path_state(ds: dict[str, Any]) -> str:
    """The path list's State: active, dead, or off (administratively; `path set --state off`)."""
    if ds.get("pathState") == "off":
        return "off"
    return {"on": "active", "dead": "dead", "not connected": "dead"}[ds["deviceStatus"]]


def find_path(snapshot: dict[str, Any], initiator: str, name: str) -> dict[str, Any] | None:
    """The VMFS datastore whose path has `name` as its Runtime Name or UID."""
    for ds in snapshot["datastores"]:
        if ds["type"] == "VMFS" and name in (ds["path"], path_uid(ds, initiator)):
            found: dict[str, Any] = ds
            return found
    return None


# The real wording of these two errors was not found (esxi-facts.md is silent; [U]): esxcli's usual
# "Error: ..." one-liners. Success prints nothing, as on ESXi.
PATH_STATES = ("active", "off")


def path_not_found(name: str) -> str:
    """`path set -p <name>` naming no path of this host."""
    return f"Error: Unable to find path {name}"


def bad_path_state(value: str) -> str:
    """`path set --state <value>` with neither active nor off."""
    return f"Error: Invalid data constraint for parameter 'state'. Expected one of: [{', '.join(PATH_STATES)}]"


def _path(
    uid: str,
    runtime: str,
    device: str,
    display: str,
    plugin: str,
    state: str,
    transport: str,
    ids: tuple[str, str, str, str],
    max_io: int,
) -> list[Field]:
    adapter, channel, target, lun = [*runtime.split(":"), "C0", "T0", "L0"][:4]
    adapter_id, target_id, adapter_details, target_details = ids
    return [
        s("UID", uid),  # the block's id line
        s("UID", uid),
        s("Runtime Name", runtime),
        s("Device", device),
        s("Device Display Name", display),
        s("Adapter", adapter),
        i("Channel", int(channel[1:])),
        i("Target", int(target[1:])),
        i("LUN", int(lun[1:])),
        s("Plugin", plugin),
        s("State", state),
        s("Transport", transport),
        s("Adapter Identifier", adapter_id),
        s("Target Identifier", target_id),
        s("Adapter Transport Details", adapter_details),
        s("Target Transport Details", target_details),
        i("Maximum IO Size", max_io),
    ]


def path_list(snapshot: dict[str, Any], initiator: str) -> Listing:
    """`esxcli storage core path list`: the CD-ROM's and the boot disk's local paths, then one software-iSCSI
    path per LUN. Key order from path-list.1-mangled.txt (5.5/6.0: no real 7.x/8.x transcript was found); the
    local paths' identifiers (ide./pscsi.) are not from a real sample [I]."""
    unclaimed = "Unavailable or path is unclaimed"
    records = [
        _path(
            f"ide.vmhba4-ide.0:0-{CDROM}", "vmhba4:C0:T0:L0", CDROM, f"Local NECVMWar CD-ROM ({CDROM})", "NMP",
            "active", "ide", ("ide.vmhba4", "ide.0:0", unclaimed, unclaimed), 131072,
        ),
        _path(
            f"pscsi.vmhba0-pscsi.0:0-{BOOT_DISK}", "vmhba0:C0:T0:L0", BOOT_DISK, f"Local VMware Disk ({BOOT_DISK})",
            "HPP", "active", "parallel", ("pscsi.vmhba0", "pscsi.0:0", unclaimed, unclaimed), 33553920,
        ),
    ]  # fmt: skip
    for ds in snapshot["datastores"]:
        if ds["type"] != "VMFS":
            continue
        iqn = ds.get("iqn", "")
        records.append(
            _path(
                path_uid(ds, initiator), ds["path"], ds["device"], f"IET iSCSI Disk ({ds['device']})", "NMP",
                path_state(ds), "iscsi",
                (initiator, _target_id(ds), initiator, f"IQN={iqn} Alias= Session=00023d000001 PortalTag=1"),
                131072,
            )
        )  # fmt: skip
    return Listing("Path", records, layout="blocks")


GETALLVMS_HEADERS = ("Vmid", "Name", "File", "Guest OS", "Version", "Annotation")


def getallvms(snapshot: dict[str, Any]) -> str:
    """`vim-cmd vmsvc/getallvms`, laid out as real hosts print it (reference/esxcli/getallvms.4.txt, .5.txt,
    .13.txt, fixture-70u3): each column as wide as its longest cell or header, three spaces between columns;
    the header labels centered in their columns (so not above their values), the cells left-aligned and padded,
    the annotation column too (trailing spaces, getallvms.4.txt); an annotation's newlines printed as they are;
    rows in the text order of their Vmid (10, 12, 2: getallvms.13.txt and the 7.0U3 fixture). vCLS VMs (a lab
    option, faultlab.sim.esxi.vcls) carry their own `[] /var/run/crx/...` file, guest id and version."""
    rows = []
    for vm in sorted([*snapshot["vms"], *snapshot.get("vcls", [])], key=lambda v: str(v["vmid"])):
        file = str(vm.get("file") or f"[{vm['datastore']}] {vm['vmx'].split('/', 4)[-1]}")
        version = "vmx-20" if snapshot.get("version") == "8.0" else "vmx-19"
        guest = str(vm.get("guestId") or "windows2019srv_64Guest")
        rows.append([str(vm["vmid"]), vm["name"], file, guest, str(vm.get("hwVersion") or version),
                     str(vm.get("annotation") or "")])  # fmt: skip
    widths = [max(len(h), *(len(r[n]) for r in rows)) if rows else len(h) for n, h in enumerate(GETALLVMS_HEADERS)]
    header = "   ".join(
        (" " * ((w - len(h)) // 2) + h).ljust(w) for h, w in zip(GETALLVMS_HEADERS, widths, strict=True)
    ).rstrip()
    lines = [header] + ["   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines) + "\n"


POWER_TEXT = {"poweredOn": "Powered on", "poweredOff": "Powered off", "suspended": "Suspended"}


def power_getstate(vm: dict[str, Any]) -> str:
    """`vim-cmd vmsvc/power.getstate <vmid>`."""
    return f"Retrieved runtime info\n{POWER_TEXT[vm['powerState']]}\n"
