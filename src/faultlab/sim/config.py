"""The JSON contract between `lab up` and the simulated ESXi host (`python -m faultlab.sim.esxi.host`).

`lab up` writes one JSON file per ESXi node (``<node dir>/host.json``) and starts the host process inside
the node's network namespace and private mount namespace with ``--config <that file>``. Inside that mount
namespace:

- ``/var/run/log`` is the node's own log directory (``log_dir`` below, same path seen from the root ns);
- ``/vmfs/volumes/<volume_uuid>`` is the datastore folder and ``/vmfs/volumes/<name>`` a symlink to it,
  as on ESXi. For an NFS datastore that folder is a *read view* of the NFS node's export directory (a bind
  mount): the simulated host must do its writes through real NFS to ``server_ip:export`` so that faults on
  the NFS node really stop them. For an iSCSI datastore it is a per-host directory standing in for the VMFS
  file system on the LUN; the host's I/O to the LUN itself goes over real iSCSI to ``portal``/``iqn``/``lun``.
- ``esxcli`` and ``vim-cmd`` on the SSH PATH run ``python -m faultlab.sim.esxi.commands.esxcli|vimcmd`` with
  ``FAULTLAB_ESXI_CONTROL=<control_socket>`` in their environment: the host process listens there.

Example (one host, the default lab)::

    {"host_name": "esx01", "lab_id": "fl3a9c", "ip": "198.18.1.10",
     "node_dir": "/run/faultlab/fl3a9c/esx01", "log_dir": "/run/faultlab/fl3a9c/esx01/run/log",
     "control_socket": "/run/faultlab/fl3a9c/esx01/run/esxi-control.sock", "version_profile": "8.0",
     "nfs_datastores": [{"name": "ds-nfs01", "server_ip": "198.18.1.20", "export": "/ds-nfs01",
                         "volume_uuid": "5c1f0a2b-7e3d4f61",
                         "mount_point": "/vmfs/volumes/5c1f0a2b-7e3d4f61"}],
     "iscsi_datastores": [{"name": "ds-iscsi01", "portal": "198.18.1.30:3260",
                           "iqn": "iqn.2026-11.lab.faultlab:fl3a9c.lun01", "lun": 1,
                           "naa_id": "naa.60000000000000000e00000000010001",
                           "vmhba_path": "vmhba64:C0:T0:L1", "volume_uuid": "...",
                           "mount_point": "/vmfs/volumes/..."}],
     "vms": [{"name": "win01", "datastore": "ds-nfs01", "vmx_file": "win01/win01.vmx",
              "disk_file": "win01/win01-flat.vmdk"}],
     "settings": {"Misc.APDTimeout": 10}}

``settings`` holds advanced option overrides by their real ESXi names; the host process owns the defaults.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, NotRequired, TypedDict, cast

VersionProfile = Literal["7.0", "8.0", "4.1"]  # 4.1: ESX classic (faultlab.sim.esx4)


class NfsDatastoreConfig(TypedDict):
    """An NFS datastore mounted by the host: server address and export path (NFSv3 path = v4 pseudo path)."""

    name: str
    server_ip: str
    export: str
    volume_uuid: str
    mount_point: str


class IscsiDatastoreConfig(TypedDict):
    """A VMFS datastore on an iSCSI LUN: portal "ip:port", target IQN, LUN number, device and path names."""

    name: str
    portal: str
    iqn: str
    lun: int
    naa_id: str
    vmhba_path: str
    volume_uuid: str
    mount_point: str
    files_dir: NotRequired[str]  # the folder standing in for the VMFS file system (VMs on this datastore)


class VmConfig(TypedDict):
    """A VM registered on the host; file paths are relative to the datastore root."""

    name: str
    datastore: str
    vmx_file: str
    disk_file: str


class EsxiHostConfig(TypedDict):
    """Everything the simulated host process is told; written as JSON by `lab up`."""

    host_name: str
    lab_id: str
    ip: str
    node_dir: str
    log_dir: str
    control_socket: str
    version_profile: VersionProfile
    nfs_datastores: list[NfsDatastoreConfig]
    iscsi_datastores: list[IscsiDatastoreConfig]
    vms: list[VmConfig]
    settings: dict[str, int | str]
    timing: NotRequired[str]  # "fast" (lab-scaled, the default) | "real" (ESXi's defaults and limits)
    vcls_vms: NotRequired[int]  # vCLS system VMs listed by `vim-cmd vmsvc/getallvms` (0, the default: none)
    ssh_key_fingerprint: NotRequired[str]  # SHA256 of the lab's login key, as sshd logs an accepted key


REQUIRED_KEYS: frozenset[str] = EsxiHostConfig.__required_keys__ - {
    "timing",
    "vcls_vms",
    "ssh_key_fingerprint",
}  # NotRequired (PEP 563)


def write_host_config(config: EsxiHostConfig, path: Path) -> None:
    """Write `config` as indented JSON (the host process reads it with `load_host_config`)."""
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def load_host_config(path: Path) -> EsxiHostConfig:
    """Read a host config written by `lab up`; raises ValueError naming the file and the missing keys."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: host config must be a JSON object")
    missing = sorted(REQUIRED_KEYS - data.keys())
    if missing:
        raise ValueError(f"{path}: host config lacks keys {', '.join(missing)}")
    if data["version_profile"] not in ("7.0", "8.0", "4.1"):
        raise ValueError(f"{path}: version_profile must be '7.0', '8.0' or '4.1', not {data['version_profile']!r}")
    if data.get("timing", "fast") not in ("fast", "real"):
        raise ValueError(f"{path}: timing must be 'fast' or 'real', not {data['timing']!r}")
    vcls = data.get("vcls_vms", 0)
    if not isinstance(vcls, int) or isinstance(vcls, bool) or not 0 <= vcls <= 3:
        raise ValueError(f"{path}: vcls_vms must be a whole number from 0 to 3, not {vcls!r}")
    return cast(EsxiHostConfig, data)
