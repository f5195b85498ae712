"""esxcli / vim-cmd output layouts (ESXi 7.0/8.0), from the host's state snapshot. Pure functions."""

from __future__ import annotations

from typing import Any


def table(headers: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    """esxcli's column table: headers, a dash rule per column, two spaces between columns;
    booleans and numbers right-aligned."""
    right = right or set()
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def fmt(cells: list[str]) -> str:
        out = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(out).rstrip()

    lines = [fmt(headers), "  ".join("-" * w for w in widths)] + [fmt(r) for r in rows]
    return "\n".join(lines) + "\n"


NOMINAL_NFS_BYTES = 100 * 2**30  # the simulated host does not stat the export: NFS sizes are nominal


def volume_uuid(ds: dict[str, Any]) -> str:
    """The volume's UUID, from its url ds:///vmfs/volumes/<uuid>/."""
    return str(ds["url"]).rstrip("/").rsplit("/", 1)[-1]


def filesystem_list(snapshot: dict[str, Any]) -> str:
    """`esxcli storage filesystem list`: mount point, volume name, UUID, mounted, type, size and free bytes."""
    headers = ["Mount Point", "Volume Name", "UUID", "Mounted", "Type", "Size", "Free"]
    rows = []
    for ds in snapshot["datastores"]:
        uuid = volume_uuid(ds)
        nfs = ds["type"] == "NFS"
        size = NOMINAL_NFS_BYTES if nfs else int(ds.get("capacityMB") or 0) * 2**20
        mounted = bool(ds["accessible"]) or not nfs  # an inaccessible NFS volume lists as not mounted
        fs_type = "NFS" if nfs else "VMFS-6"
        rows.append([f"/vmfs/volumes/{uuid}", ds["name"], uuid, str(mounted).lower(), fs_type, str(size), str(size)])
    return table(headers, rows, right={3, 5, 6})


def nfs_list(snapshot: dict[str, Any]) -> str:
    """`esxcli storage nfs list`."""
    headers = [
        "Volume Name",
        "Host",
        "Share",
        "Vmknic",
        "Accessible",
        "Mounted",
        "Connections",
        "Read-Only",
        "isPE",
        "Hardware Acceleration",
    ]
    rows = [
        [
            ds["name"],
            ds["server"],
            ds["export"],
            "None",
            str(ds["accessible"]).lower(),
            "true",
            "1",
            "false",
            "false",
            "Not Supported",
        ]
        for ds in snapshot["datastores"]
        if ds["type"] == "NFS"
    ]
    return table(headers, rows, right={4, 5, 6, 7, 8})


def device_list(snapshot: dict[str, Any]) -> str:
    """`esxcli storage core device list` (the iSCSI LUNs)."""
    blocks = []
    for ds in snapshot["datastores"]:
        if ds["type"] != "VMFS":
            continue
        naa = ds["device"]
        rows = [
            ("Display Name", f"IET iSCSI Disk ({naa})"),
            ("Has Settable Display Name", "true"),
            ("Size", str(ds.get("capacityMB", 0))),
            ("Device Type", "Direct-Access "),
            ("Multipath Plugin", "NMP"),
            ("Devfs Path", f"/vmfs/devices/disks/{naa}"),
            ("Vendor", "IET     "),
            ("Model", "VIRTUAL-DISK    "),
            ("Revision", "0001"),
            ("SCSI Level", "5"),
            ("Is Pseudo", "false"),
            ("Status", ds["deviceStatus"]),
            ("Is RDM Capable", "true"),
            ("Is Local", "false"),
            ("Is Removable", "false"),
            ("Is SSD", "false"),
            ("Is VVOL PE", "false"),
            ("Is Offline", "false"),
            ("Is Perennially Reserved", "false"),
            ("Queue Full Sample Size", "0"),
            ("Queue Full Threshold", "0"),
            ("Thin Provisioning Status", "unknown"),
            ("Attached Filters", ""),
            ("VAAI Status", "unknown"),
            ("Other UIDs", f"vml.0200010000{naa[4:]}"),
            ("Is Shared Clusterwide", "true"),
            ("Is SAS", "false"),
            ("Is USB", "false"),
            ("Is Boot Device", "false"),
            ("Device Max Queue Depth", "128"),
            ("No of outstanding IOs with competing worlds", "32"),
            ("Drive Type", "unknown"),
            ("RAID Level", "unknown"),
            ("Number of Physical Drives", "unknown"),
            ("Protection Enabled", "false"),
            ("PI Activated", "false"),
            ("PI Type", "0"),
            ("PI Protection Mask", "NO PROTECTION"),
            ("Supported Guard Types", "NO GUARD SUPPORT"),
            ("DIX Enabled", "false"),
            ("DIX Guard Type", "NO GUARD SUPPORT"),
            ("Emulated DIX/DIF Enabled", "false"),
        ]
        blocks.append(naa + "\n" + "\n".join(f"   {k}: {v}" for k, v in rows) + "\n")
    return "\n".join(blocks)


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


def path_list(snapshot: dict[str, Any], initiator: str) -> str:
    """`esxcli storage core path list` (one software-iSCSI path per LUN)."""
    blocks = []
    for ds in snapshot["datastores"]:
        if ds["type"] != "VMFS":
            continue
        runtime = ds["path"]
        adapter, channel, target, lun = [*runtime.split(":"), "C0", "T0", "L0"][:4]
        iqn = ds.get("iqn", "")
        target_id = _target_id(ds)
        state = path_state(ds)
        rows = [
            ("UID", path_uid(ds, initiator)),
            ("Runtime Name", runtime),
            ("Device", ds["device"]),
            ("Device Display Name", f"IET iSCSI Disk ({ds['device']})"),
            ("Adapter", adapter),
            ("Channel", channel[1:]),
            ("Target", target[1:]),
            ("LUN", lun[1:]),
            ("Plugin", "NMP"),
            ("State", state),
            ("Transport", "iscsi"),
            ("Adapter Identifier", initiator),
            ("Target Identifier", target_id),
            ("Adapter Transport Details", initiator),
            ("Target Transport Details", f"IQN={iqn} Alias= Session=00023d000001 PortalTag=1"),
            ("Maximum IO Size", "131072"),
        ]
        blocks.append(f"{initiator}-{target_id}-{ds['device']}\n" + "\n".join(f"   {k}: {v}" for k, v in rows) + "\n")
    return "\n".join(blocks)


def getallvms(snapshot: dict[str, Any]) -> str:
    """`vim-cmd vmsvc/getallvms`."""
    headers = ["Vmid", "Name", "File", "Guest OS", "Version", "Annotation"]
    rows = []
    for vm in snapshot["vms"]:
        rel = vm["vmx"].split("/", 4)[-1]
        rows.append([str(vm["vmid"]), vm["name"], f"[{vm['datastore']}] {rel}", "windows2019srv_64Guest", "vmx-19", ""])
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [headers, *rows]]
    return "\n".join(lines) + "\n"


POWER_TEXT = {"poweredOn": "Powered on", "poweredOff": "Powered off", "suspended": "Suspended"}


def power_getstate(vm: dict[str, Any]) -> str:
    """`vim-cmd vmsvc/power.getstate <vmid>`."""
    return f"Retrieved runtime info\n{POWER_TEXT[vm['powerState']]}\n"
