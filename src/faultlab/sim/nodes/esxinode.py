"""ESXi nodes: /vmfs/volumes view, esxcli/vim-cmd wrappers, the host JSON config, the host process start.

The simulated host itself is `python -m faultlab.sim.esxi.host` (another module): this one only gives it
its node. Inside an ESXi node ``/vmfs/volumes/<uuid>`` is the datastore folder and ``/vmfs/volumes/<name>``
a symlink to it. The NFS datastore's folder is a READ-ONLY view of the NFS node's export directory: the
host must write through real NFS so faults on the NFS node stop its writes.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import sys
from pathlib import Path

from faultlab.sim.config import EsxiHostConfig, VersionProfile, write_host_config
from faultlab.sim.kernel.node import BindMount, node_dirs
from faultlab.sim.nodes.targets import ISCSI_PORT
from faultlab.sim.topology import ISCSI_DATASTORE, NFS_DATASTORE, Layout, NodeSpec

HOST_MODULE = "faultlab.sim.esxi.host"
VMFS_ROOT = Path("/vmfs")
WRAPPERS = {"esxcli": "faultlab.sim.esxi.commands.esxcli", "vim-cmd": "faultlab.sim.esxi.commands.vimcmd"}


def host_module_available() -> bool:
    """True when the simulated ESXi host process is installed (it is developed separately)."""
    try:
        return importlib.util.find_spec(HOST_MODULE) is not None
    except ModuleNotFoundError:
        return False


def ensure_vmfs_root() -> bool:
    """/vmfs must exist in the root filesystem as a mount point; returns True when this call created it."""
    if VMFS_ROOT.is_dir():
        return False
    VMFS_ROOT.mkdir(mode=0o755)
    return True


def control_socket(node: NodeSpec) -> Path:
    return node_dirs(node)["run"] / "esxi-control.sock"


def esxi_mounts(layout: Layout, node: NodeSpec) -> list[BindMount]:
    """Create <node>/vmfs/volumes/{uuid dirs, name symlinks}; the bind mounts that give the /vmfs view."""
    volumes = node.node_dir / "vmfs" / "volumes"
    nfs_uuid, vmfs_uuid = layout.nfs_volume_uuid, layout.vmfs_volume_uuid
    for uuid, name in ((nfs_uuid, NFS_DATASTORE), (vmfs_uuid, ISCSI_DATASTORE)):
        (volumes / uuid).mkdir(parents=True, exist_ok=True)
        link = volumes / name
        if not link.is_symlink():
            link.symlink_to(uuid)
    return [
        BindMount(node.node_dir / "vmfs", VMFS_ROOT),
        BindMount(layout.export_dir, VMFS_ROOT / "volumes" / nfs_uuid, read_only=True),
        BindMount(layout.vmfs_dir, VMFS_ROOT / "volumes" / vmfs_uuid),
    ]


def write_wrappers(node: NodeSpec) -> None:
    """`esxcli` and `vim-cmd` in the node's bin dir: the simulator's entry points, told the control socket."""
    for command, module in WRAPPERS.items():
        path = node_dirs(node)["bin"] / command
        path.write_text(
            "#!/bin/sh\n"
            f"# {command} of simulated ESXi host {node.name}: answered by the host process.\n"
            f'export FAULTLAB_ESXI_CONTROL="${{FAULTLAB_ESXI_CONTROL:-{control_socket(node)}}}"\n'
            f'exec {sys.executable} -m {module} "$@"\n',
            encoding="utf-8",
        )
        path.chmod(0o755)


def host_config(
    layout: Layout,
    node: NodeSpec,
    version: VersionProfile,
    settings: dict[str, int | str],
    timing: str = "fast",
    vcls_vms: int = 0,
) -> EsxiHostConfig:
    nfs, isc = layout.nfs_node, layout.iscsi_node
    return {
        "host_name": node.name,
        "lab_id": layout.lab_id,
        "ip": node.ip,
        "node_dir": str(node.node_dir),
        "log_dir": str(node_dirs(node)["log"]),
        "control_socket": str(control_socket(node)),
        "version_profile": version,
        "nfs_datastores": [
            {
                "name": NFS_DATASTORE,
                "server_ip": nfs.ip,
                "export": layout.nfs_export_path,
                "volume_uuid": layout.nfs_volume_uuid,
                "mount_point": f"/vmfs/volumes/{layout.nfs_volume_uuid}",
            }
        ],
        "iscsi_datastores": [
            {
                "name": ISCSI_DATASTORE,
                "portal": f"{isc.ip}:{ISCSI_PORT}",
                "iqn": layout.iqn,
                "lun": 1,
                "naa_id": layout.naa_id,
                "vmhba_path": "vmhba64:C0:T0:L1",
                "volume_uuid": layout.vmfs_volume_uuid,
                "mount_point": f"/vmfs/volumes/{layout.vmfs_volume_uuid}",
                "files_dir": str(layout.vmfs_dir),
            }
        ],
        "vms": [
            {"name": vm.name, "datastore": vm.datastore, "vmx_file": vm.vmx_file, "disk_file": vm.disk_file}
            for vm in layout.vms
            if vm.host == node.name
        ],
        "settings": settings,
        "timing": timing,
        "vcls_vms": vcls_vms,
        "ssh_key_fingerprint": key_fingerprint(layout.authorized_keys),
    }


def key_fingerprint(authorized_keys: Path) -> str:
    """OpenSSH's SHA256 fingerprint (unpadded base64 of the key blob's SHA-256) of the lab's login key; empty
    when the lab has no key yet."""
    try:
        blob = authorized_keys.read_text(encoding="utf-8").split()[1]
    except (OSError, IndexError):
        return ""
    return base64.b64encode(hashlib.sha256(base64.b64decode(blob)).digest()).decode().rstrip("=")


def write_config(
    layout: Layout,
    node: NodeSpec,
    version: VersionProfile,
    settings: dict[str, int | str],
    timing: str = "fast",
    vcls_vms: int = 0,
) -> Path:
    path = node.node_dir / "host.json"
    write_host_config(host_config(layout, node, version, settings, timing, vcls_vms), path)
    return path


def host_argv(config_path: Path) -> list[str]:
    return [sys.executable, "-m", HOST_MODULE, "--config", str(config_path)]
