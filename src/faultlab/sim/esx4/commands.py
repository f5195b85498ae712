"""The ESX 4 Service Console's commands the harness needs: `vmware -v`, `esxcfg-nas -l`, `esxcfg-scsidevs -m/-l`,
`vim-cmd vmsvc/...`,
`vmware-cmd -l`; answered from the host process's control socket. `python -m faultlab.sim.esx4.commands NAME ARGS`."""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path
from typing import Any

from faultlab.sim.esx4 import lines
from faultlab.sim.esxi.commands.control import ENV_VAR, ControlError, call

# vim-cmd's answers follow the ESXi 7/8 samples in reference/esxcli/ (vim-cmd's layout did not change from 4.x;
# no ESX 4.x capture was found). The Guest OS and hardware version are ESX 4.1's for a Windows 2008 R2 VM
# (windows7Server64Guest, vmx-07): no real getallvms line from a 4.1 host was found.
_POWER_TEXT = {"poweredOn": "Powered on", "poweredOff": "Powered off"}


def _getallvms(snap: dict[str, Any]) -> str:
    headers = ["Vmid", "Name", "File", "Guest OS", "Version", "Annotation"]
    rows = [
        [str(vm["vmid"]), vm["name"], f"[{vm['datastore']}] {vm['vmx'].split('/', 4)[-1]}", "windows7Server64Guest",
         "vmx-07", ""]
        for vm in snap["vms"]
    ]  # fmt: skip
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    out = ["   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [headers, *rows]]
    return "\n".join(out) + "\n"


LUN_MB = 4096  # the lab's iSCSI LUN (sim/lab.py LUN_BYTES = 4 GiB)


def scsidevs_m(vmfs: list[dict[str, Any]]) -> str:
    """`esxcfg-scsidevs -m`: `<device>:<partition> <devfs path> <VMFS UUID> <extent> <label>` per mounted VMFS
    extent (columns of real ESXi 5.x captures, GitHub code-index ids 11458780414 and 11105288503; no ESX 4.x capture
    was found, the command dates from ESX 4.0). The lab's LUN holds one VMFS partition, 1."""
    return "".join(
        f"{d['naa_id']}:1 /vmfs/devices/disks/{d['naa_id']}:1 {d['volume_uuid']}  0  {d['name']}\n" for d in vmfs
    )


def scsidevs_l(vmfs: list[dict[str, Any]]) -> str:
    """`esxcfg-scsidevs -l`: the layout of a real ESXi 5.5 capture (GitHub code-index id 6537168669: several pairs
    on a line, `Other Names:` then the vml name). On ESX 4 `Console Device` named the COS's /dev/sdX; no 4.x
    capture was found, so it is printed as in that sample (the devfs path). Vendor, model, revision and vml name
    are those the ESXi profiles' `esxcli storage core device list` prints for the lab's LUN (sim/esxi formats.py);
    vendor and model padded to 8 and 16 characters as in the sample."""
    out = []
    for d in vmfs:
        naa = d["naa_id"]
        out += [
            naa,
            "   Device Type: Direct-Access",
            f"   Size: {LUN_MB} MB",
            f"   Display Name: IET iSCSI Disk ({naa})",
            "   Multipath Plugin: NMP",
            f"   Console Device: /vmfs/devices/disks/{naa}",
            f"   Devfs Path: /vmfs/devices/disks/{naa}",
            f"   Vendor: {'IET':<8}  Model: {'VIRTUAL-DISK':<16}  Revis: 0001",
            "   SCSI Level: 5  Is Pseudo: false Status: on",
            "   Is RDM Capable: true Is Removable: false",
            "   Is Local: false  Is SSD: false",
            "   Other Names:",
            f"      vml.0200010000{naa[4:]}",
            "   VAAI Status: unknown",
        ]
    return "".join(f"{line}\n" for line in out)


def _vm(snap: dict[str, Any], vmid: str) -> dict[str, Any] | None:
    return next((vm for vm in snap["vms"] if str(vm["vmid"]) == vmid), None)


def vm_support(
    host: str, out_dir: Path, log_dir: Path = Path("/var/log"), meminfo: Path = Path("/proc/meminfo")
) -> Path:
    """`vm-support`: a .tgz named esx-<host>-<YYYY-MM-DD>--<HH.MM>-<pid> (the name form triage knows from ESX
    bundles) holding var/log/{vmkernel*,vmkwarning*,vmksummary*,messages*,vmware/hostd*} and proc/meminfo (KB
    308590: meminfo "is included in the vm-support log bundle"). Its console text and exact member layout have no
    real ESX 4 sample here: the real script prints progress lines first; this one prints only the file name."""
    stamp = time.strftime("%Y-%m-%d--%H.%M", time.gmtime())
    base = f"esx-{host}-{stamp}-{os.getpid()}"  # the form of ESXi bundles (sources.py); ESX 4 unsampled
    path = out_dir / f"{base}.tgz"
    import tarfile  # here: only vm-support writes a bundle, and every command is a new process

    with tarfile.open(path, "w:gz") as tar:
        for pattern in ("vmkernel*", "vmkwarning*", "vmksummary*", "messages*", "vmware/hostd*"):
            for f in sorted(log_dir.glob(pattern)):
                tar.add(f, arcname=f"{base}/var/log/{f.relative_to(log_dir)}")
        data = meminfo.read_bytes()
        info = tarfile.TarInfo(f"{base}/proc/meminfo")
        info.size, info.mtime = len(data), int(time.time())
        tar.addfile(info, io.BytesIO(data))
    return path


def run(name: str, args: list[str], control: str) -> tuple[int, str]:
    snap: dict[str, Any] = call(control, "snapshot")
    if name == "vm-support":
        return 0, f"File: {vm_support(str(snap['host']), Path.cwd())}\n"
    if name == "vmware":
        if args[:1] in (["-v"], ["--version"]):
            return 0, lines.vmware_v(str(snap["version"]))
        return 1, "usage: vmware -v\n"
    if name == "esxcfg-nas":
        if args[:1] in (["-l"], ["--list"]):
            return 0, lines.esxcfg_nas_list([(d["name"], d["share"], d["server"], True) for d in snap["nfs"]])
        return 1, "usage: esxcfg-nas -l\n"
    if name == "esxcfg-scsidevs":
        if args[:1] in (["-m"], ["--vmfs"]):
            return 0, scsidevs_m(snap.get("vmfs") or [])
        if args[:1] in (["-l"], ["--list"]):
            return 0, scsidevs_l(snap.get("vmfs") or [])
        return 1, "usage: esxcfg-scsidevs -l | -m\n"
    if name == "vmware-cmd" and args[:1] == ["-l"]:
        # vmware-cmd -l prints one registered .vmx path per line (ESX 3/4 Scripting API guide; no console capture).
        return 0, "".join(f"{vm['vmx']}\n" for vm in snap["vms"])
    if name == "vim-cmd" and args:
        verb = args[0]
        if verb == "vmsvc/getallvms":
            return 0, _getallvms(snap)
        if verb.startswith("vmsvc/power.") and len(args) > 1:
            vm = _vm(snap, args[1])
            if vm is None:
                # reference/esxcli/vimcmd-fault.fixture-notfound.txt (an ESXi host's answer; none from 4.x was found).
                return 1, (
                    "(vim.fault.NotFound) {\n   faultCause = (vmodl.MethodFault) null,\n   faultMessage = <unset>\n"
                    f'   msg = "Unable to find a VM corresponding to "{args[1]}""\n}}\n'
                )
            if verb == "vmsvc/power.getstate":
                return 0, f"Retrieved runtime info\n{_POWER_TEXT[vm['powerState']]}\n"
            if verb in ("vmsvc/power.on", "vmsvc/power.off"):
                call(control, "vm.power", vmid=args[1], state=verb.rsplit(".", 1)[-1])
                return 0, f"Powering {verb.rsplit('.', 1)[-1]} VM:\n"
    return 1, f"{name}: unsupported on this simulated ESX 4 host: {' '.join(args)}\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print("usage: python -m faultlab.sim.esx4.commands NAME [ARGS]", file=sys.stderr)
        return 2
    try:
        status, out = run(argv[0], argv[1:], os.environ[ENV_VAR])
    except (ControlError, KeyError) as exc:
        print(f"{argv[0]}: cannot reach the host agent: {exc}", file=sys.stderr)
        return 1
    (sys.stdout if status == 0 else sys.stderr).write(out)
    return status


if __name__ == "__main__":
    sys.exit(main())
