"""The inventory file `lab up` writes (<state dir>/inventory.yaml): how the harness reaches the embedded lab.

Schema (version 1); every path is absolute, addresses are in 198.18.0.0/15::

    version: 1
    kind: embedded                    # embedded lab made by `faultlab lab up`
    lab_id: fl3a9c
    timing: fast                      # the hosts' timing profile: fast = lab-scaled (NOT a real host's numbers),
                                      # real = ESXi's defaults and limits (`lab up --timing real`)
    network: {cidr: 198.18.1.0/24, gateway: 198.18.1.1, bridge: fl3a9c-br}
    ssh:                              # credentials as key paths; root login with the lab key only
      user: root
      port: 22
      private_key: /run/faultlab/fl3a9c/ssh/id_ed25519
      known_hosts: /run/faultlab/fl3a9c/ssh/known_hosts   # check host keys strictly against it
    hosts:                            # simulated ESXi hosts (SSH: esxcli, vim-cmd, /var/run/log, /vmfs/volumes)
      - {name: esx01, address: 198.18.1.11, version: "8.0", log_dir: /var/run/log,
         netns: fl3a9c-esx01, running: true,           # running: the host process was started
         allow_faults: true}                           # the harness may act on it (esxi-path-off)
    datastores:
      - {name: ds-nfs01, type: nfs, target: nfs01, remote_host: 198.18.1.21, remote_path: /ds-nfs01,
         volume_uuid: 5c1f0a2b-7e3d4f61, hosts: [esx01]}
      - {name: ds-iscsi01, type: vmfs, target: iscsi01, portal: "198.18.1.31:3260", iqn: ..., lun: 1,
         naa_id: naa.6..., volume_uuid: ..., hosts: [esx01]}
    vms:
      - {name: win01, host: esx01, datastore: ds-nfs01, vmx_path: "[ds-nfs01] win01/win01.vmx",
         guest_os: windows}
    storage_targets:                  # real Linux storage servers, reachable over SSH like the hosts
      - name: nfs01
        kind: nfs                     # nfs (nfs-ganesha, VFS FSAL) | iscsi (tgtd)
        address: 198.18.1.21
        netns: fl3a9c-nfs01
        allow_faults: true            # the harness may inject faults here
        ports: {rpcbind: 111, nfs: 2049, mountd: 20048, nlm: 32803, rquota: 875}
        service:                      # commands to run over SSH on the target
          start: faultlab-target start
          stop: faultlab-target stop
          status: faultlab-target status        # exit 0 process present (running/frozen), 3 dead
          freeze: faultlab-target freeze        # SIGSTOP
          thaw: faultlab-target thaw            # SIGCONT
          # iscsi targets also: lun_remove (-> PDL sense 0x5/0x25/0x0), lun_add, lun_status, each with
          # "{lun}" for the LUN number (faultlab-target lun-remove {lun})
        export_dir: /run/faultlab/fl3a9c/nfs01/export/ds-nfs01   # nfs only
    vcenter:                          # the simulated vCenter (null with `lab up --no-vcenter`)
      address: 198.18.1.5
      port: 443
      user: administrator@vsphere.local
      password: ${FAULTLAB_VC_PASSWORD}   # the value is in <state dir>/vcenter/password (0600);
                                          # faultlab.sim.lab.vcenter_env(lab) gives the variable
      tls: {verify: true, ca_file: /run/faultlab/fl3a9c/vcenter/cert.pem, thumbprint: null}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from faultlab.sim.nodes.sshd import SSH_PORT
from faultlab.sim.nodes.targets import ISCSI_PORT, NFS_PORTS, TARGET_COMMAND
from faultlab.sim.topology import ISCSI_DATASTORE, NFS_DATASTORE, Layout

INVENTORY_VERSION = 1


def _service(*extra: str) -> dict[str, str]:
    """The target's service commands; the LUN verbs name their LUN as {lun} (the harness fills it in)."""
    verbs = ["start", "stop", "status", "restart", "freeze", "thaw", *extra]
    return {v.replace("-", "_"): f"{TARGET_COMMAND} {v}" + (" {lun}" if v.startswith("lun-") else "") for v in verbs}


def inventory(
    layout: Layout, version: str, hosts_running: bool, vcenter: dict[str, Any] | None = None, timing: str = "fast"
) -> dict[str, Any]:
    """The inventory of `layout` as plain data (see the module docstring for the schema); `vcenter` is the
    running simulated vCenter's section (faultlab.sim.vcenter.VcenterHandle.inventory_entry)."""
    esx = layout.esxi_nodes
    host_names = [n.name for n in esx]
    nfs, isc = layout.nfs_node, layout.iscsi_node
    return {
        "version": INVENTORY_VERSION,
        "kind": "embedded",
        "lab_id": layout.lab_id,
        "timing": timing,
        "network": {"cidr": layout.cidr, "gateway": layout.gateway_ip, "bridge": layout.bridge},
        "ssh": {
            "user": "root",
            "port": SSH_PORT,
            "private_key": str(layout.user_key),
            "known_hosts": str(layout.known_hosts),
        },
        "hosts": [
            {
                "name": n.name,
                "address": n.ip,
                "version": version,
                "log_dir": "/var/log" if version == "4.1" else "/var/run/log",  # ESX 4: the COS's syslog
                "netns": n.netns,
                "running": hosts_running,
                "allow_faults": True,  # a lab host: the harness may switch its paths off (esxi-path-off)
            }
            for n in esx
        ],
        "datastores": [
            {
                "name": NFS_DATASTORE,
                "type": "nfs",
                "target": nfs.name,
                "remote_host": nfs.ip,
                "remote_path": layout.nfs_export_path,
                "volume_uuid": layout.nfs_volume_uuid,
                "hosts": list(host_names),
            },
            {
                "name": ISCSI_DATASTORE,
                "type": "vmfs",
                "target": isc.name,
                "portal": f"{isc.ip}:{ISCSI_PORT}",
                "iqn": layout.iqn,
                "lun": 1,
                "naa_id": layout.naa_id,
                "volume_uuid": layout.vmfs_volume_uuid,
                "hosts": list(host_names),
            },
        ],
        "vms": [
            {
                "name": vm.name,
                "host": vm.host,
                "datastore": vm.datastore,
                "vmx_path": f"[{vm.datastore}] {vm.vmx_file}",
                "guest_os": "windows",
            }
            for vm in layout.vms
        ],
        "storage_targets": [
            {
                "name": nfs.name,
                "kind": "nfs",
                "address": nfs.ip,
                "netns": nfs.netns,
                "allow_faults": True,
                "ports": dict(NFS_PORTS),
                "service": _service(),
                "export_dir": str(layout.export_dir),
            },
            {
                "name": isc.name,
                "kind": "iscsi",
                "address": isc.ip,
                "netns": isc.netns,
                "allow_faults": True,
                "ports": {"iscsi": ISCSI_PORT},
                "service": _service("lun-remove", "lun-add", "lun-status"),
                "iqn": layout.iqn,
            },
        ],
        "vcenter": vcenter,
    }


def write_inventory(
    layout: Layout, version: str, hosts_running: bool, vcenter: dict[str, Any] | None = None, timing: str = "fast"
) -> Path:
    path = layout.inventory_path
    text = yaml.safe_dump(inventory(layout, version, hosts_running, vcenter, timing), sort_keys=False)
    header = f"# faultlab embedded lab {layout.lab_id}: schema in faultlab.sim.inventory\n"
    if timing == "fast":
        header += "# timing: fast = lab-scaled ESXi timings (APD timeout 6 s...): not a real host's numbers\n"
    if vcenter is not None:
        # A hint, not the secret: the inventory refuses literal passwords.
        header += f"# vCenter password: {vcenter['password']} from {layout.vcenter_dir / 'password'}\n"
    path.write_text(header + text)
    return path
