"""The VMs' files in the NFS export: <vm>/<vm>.vmx, the <vm>.vmdk descriptor and a sparse <vm>-flat.vmdk."""

from __future__ import annotations

import os
from pathlib import Path

from faultlab.sim.topology import VmSpec, stable_hex

DISK_BYTES = 1 << 30  # sparse: costs no space until written


def vmx_text(vm: VmSpec, lab_id: str) -> str:
    h = stable_hex(lab_id, vm.name, length=32)
    uuid = " ".join(h[i : i + 2] for i in range(0, 16, 2)) + "-" + " ".join(h[i : i + 2] for i in range(16, 32, 2))
    return "\n".join(
        [
            '.encoding = "UTF-8"',
            'config.version = "8"',
            'virtualHW.version = "19"',
            f'displayName = "{vm.name}"',
            'guestOS = "windows2019srv-64"',
            'memSize = "4096"',
            'numvcpus = "2"',
            'scsi0.present = "TRUE"',
            'scsi0.virtualDev = "lsisas1068"',
            'scsi0:0.present = "TRUE"',
            f'scsi0:0.fileName = "{vm.name}.vmdk"',
            'tools.syncTime = "FALSE"',
            f'uuid.bios = "{uuid}"',
            "",
        ]
    )


def vmdk_descriptor(vm: VmSpec) -> str:
    sectors = DISK_BYTES // 512
    return (
        '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="vmfs"\n\n'
        f'RW {sectors} VMFS "{vm.name}-flat.vmdk"\n\n'
        'ddb.adapterType = "lsilogic"\nddb.virtualHWVersion = "19"\n'
    )


def create_vm_files(export_dir: Path, vm: VmSpec, lab_id: str) -> None:
    folder = export_dir / vm.name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{vm.name}.vmx").write_text(vmx_text(vm, lab_id), encoding="utf-8")
    (folder / f"{vm.name}.vmdk").write_text(vmdk_descriptor(vm), encoding="utf-8")
    with (folder / f"{vm.name}-flat.vmdk").open("wb") as fh:
        os.truncate(fh.fileno(), DISK_BYTES)
