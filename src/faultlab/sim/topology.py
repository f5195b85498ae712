"""Names, addresses and paths of one lab (pure): lab id, subnet, nodes, interfaces, datastores, VMs."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from faultlab.sim.esxi.uuids import esxi_uuid

STATE_ROOT = Path("/run/faultlab")
LAB_ID_RE = re.compile(r"^fl[0-9a-f]{4}$")
# Anything a lab names in the kernel (namespaces, links) starts with its id and a dash.
LAB_OBJECT_RE = re.compile(r"^(fl[0-9a-f]{4})-")
IFNAMSIZ = 15
MAX_HOSTS = 9
NFS_DATASTORE = "ds-nfs01"
ISCSI_DATASTORE = "ds-iscsi01"
DEFAULT_VMS = ("win01", "win02")
IQN_PREFIX = "iqn.2026-11.lab.faultlab"


class Role(StrEnum):
    """What a node is: a simulated ESXi host, a real storage target or the simulated vCenter."""

    ESXI = "esxi"
    NFS = "nfs"
    ISCSI = "iscsi"
    VCENTER = "vcenter"


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """One node: its name (esx01, nfs01, iscsi01), role, address and kernel object names."""

    name: str
    role: Role
    ip: str
    netns: str  # also the name of the root-namespace end of its veth pair
    peer_tmp: str  # the veth end that moves into the namespace (renamed eth0 there)
    node_dir: Path


@dataclass(frozen=True, slots=True)
class VmSpec:
    """A VM whose files the lab creates on its datastore: <vm>/<vm>.vmx and <vm>/<vm>-flat.vmdk."""

    name: str
    host: str
    datastore: str

    @property
    def vmx_file(self) -> str:
        return f"{self.name}/{self.name}.vmx"

    @property
    def disk_file(self) -> str:
        return f"{self.name}/{self.name}-flat.vmdk"


def new_lab_id() -> str:
    """A fresh lab id: "fl" and 4 random hex digits."""
    return "fl" + secrets.token_hex(2)


def choose_subnet(used: set[int]) -> int:
    """The lowest k in 1..254 with 198.18.k.0/24 not in `used`; EmbeddedLabError-free: ValueError when all taken."""
    for k in range(1, 255):
        if k not in used:
            return k
    raise ValueError("all 254 lab subnets 198.18.1-254.0/24 are in use")


def stable_hex(*parts: str, length: int) -> str:
    """Deterministic hex digits derived from `parts` (UUIDs and NAA ids that stay the same per lab)."""
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


@dataclass(frozen=True, slots=True)
class Layout:
    """Everything named in one lab, derived from the lab id, its subnet number and its size."""

    lab_id: str
    subnet: int
    hosts: int
    vm_names: tuple[str, ...]
    vcenter: bool = False  # the lab has a `vc` node running the simulated vCenter
    vmfs_vm_names: tuple[str, ...] = ()  # VMs on the iSCSI (VMFS) datastore, after those on NFS

    def __post_init__(self) -> None:
        if not LAB_ID_RE.match(self.lab_id):
            raise ValueError(f"lab id {self.lab_id!r} is not 'fl' + 4 hex digits")
        if not 1 <= self.subnet <= 254:
            raise ValueError(f"subnet number {self.subnet} is outside 1..254")
        if not 1 <= self.hosts <= MAX_HOSTS:
            raise ValueError(f"--hosts {self.hosts}: the embedded lab runs 1 to {MAX_HOSTS} ESXi hosts")

    @property
    def state_dir(self) -> Path:
        return STATE_ROOT / self.lab_id

    @property
    def bridge(self) -> str:
        return f"{self.lab_id}-br"

    @property
    def gateway_ip(self) -> str:
        """The root namespace's address on the lab bridge (the harness reaches nodes from here)."""
        return self.ip(1)

    @property
    def cidr(self) -> str:
        return f"198.18.{self.subnet}.0/24"

    def ip(self, octet: int) -> str:
        return f"198.18.{self.subnet}.{octet}"

    def _node(self, index: int, name: str, role: Role, octet: int) -> NodeSpec:
        netns = f"{self.lab_id}-{name}"
        peer = f"{self.lab_id}p{index}"
        assert len(netns) <= IFNAMSIZ and len(peer) <= IFNAMSIZ, (netns, peer)
        return NodeSpec(name, role, self.ip(octet), netns, peer, self.state_dir / name)

    @property
    def esxi_nodes(self) -> list[NodeSpec]:
        return [self._node(i, f"esx{i:02d}", Role.ESXI, 10 + i) for i in range(1, self.hosts + 1)]

    @property
    def nfs_node(self) -> NodeSpec:
        return self._node(20, "nfs01", Role.NFS, 21)

    @property
    def iscsi_node(self) -> NodeSpec:
        return self._node(30, "iscsi01", Role.ISCSI, 31)

    @property
    def vc_node(self) -> NodeSpec:
        """The simulated vCenter's node (exists only when `vcenter`; its name is usable anyway)."""
        return self._node(40, "vc", Role.VCENTER, 5)

    @property
    def nodes(self) -> list[NodeSpec]:
        return [self.nfs_node, self.iscsi_node, *self.esxi_nodes, *([self.vc_node] if self.vcenter else [])]

    @property
    def vcenter_dir(self) -> Path:
        """The simulated vCenter's files: spec, password (0600), certificate, control socket, logs."""
        return self.state_dir / "vcenter"

    @property
    def vms(self) -> list[VmSpec]:
        """VMs on the NFS datastore, then those on the VMFS datastore, spread round-robin over the hosts."""
        hosts = self.esxi_nodes
        placed = [(n, NFS_DATASTORE) for n in self.vm_names] + [(n, ISCSI_DATASTORE) for n in self.vmfs_vm_names]
        return [VmSpec(n, hosts[i % len(hosts)].name, ds) for i, (n, ds) in enumerate(placed)]

    # Storage naming -----------------------------------------------------------------------------
    @property
    def export_dir(self) -> Path:
        """The folder ganesha exports as /ds-nfs01 (v3 path and v4 pseudo path): the VMs' files."""
        return self.nfs_node.node_dir / "export" / NFS_DATASTORE

    @property
    def nfs_export_path(self) -> str:
        return f"/{NFS_DATASTORE}"

    @property
    def iqn(self) -> str:
        return f"{IQN_PREFIX}:{self.lab_id}.lun01"

    @property
    def lun_file(self) -> Path:
        return self.iscsi_node.node_dir / "lun01.img"

    @property
    def naa_id(self) -> str:
        return "naa.6" + stable_hex(self.lab_id, "naa", length=31)

    @property
    def nfs_volume_uuid(self) -> str:
        """NFS datastores on ESXi have a short uuid: two groups of 8 hex digits."""
        h = stable_hex(self.lab_id, NFS_DATASTORE, length=16)
        return f"{h[:8]}-{h[8:]}"

    @property
    def vmfs_volume_uuid(self) -> str:
        """The VMFS datastore's uuid as the first host made it: creation time, TSC and random words, that host's
        vmnic0 MAC (faultlab.sim.esxi.uuids; real: 693975f2-9139b258-8620-005056b3b989)."""
        return esxi_uuid(self.esxi_nodes[0].name, self.lab_id, ISCSI_DATASTORE)

    @property
    def vmfs_dir(self) -> Path:
        """Stand-in for the VMFS file system on the iSCSI LUN, shared by the lab's hosts."""
        return self.state_dir / "vmfs" / ISCSI_DATASTORE

    # SSH ----------------------------------------------------------------------------------------
    @property
    def ssh_dir(self) -> Path:
        return self.state_dir / "ssh"

    @property
    def user_key(self) -> Path:
        return self.ssh_dir / "id_ed25519"

    @property
    def authorized_keys(self) -> Path:
        return self.ssh_dir / "authorized_keys"

    @property
    def known_hosts(self) -> Path:
        return self.ssh_dir / "known_hosts"

    @property
    def inventory_path(self) -> Path:
        return self.state_dir / "inventory.yaml"

    @property
    def manifest_path(self) -> Path:
        return self.state_dir / "manifest.json"
