"""The embedded lab's life cycle: `up` builds namespaces, targets, SSH endpoints and the inventory; `down` undoes it.

    with EmbeddedLab.up(hosts=1, vms=2) as lab:
        lab.inventory_path      # YAML for the harness (schema: faultlab.sim.inventory)
        vcenter_env(lab)        # {"FAULTLAB_VC_PASSWORD": ...} for the inventory's vCenter password

Every lab records what it creates in a manifest before creating it, so `down_lab` and `down_all` remove
a lab completely even when the process that made it was killed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from faultlab.sim import preflight
from faultlab.sim.config import VersionProfile
from faultlab.sim.errors import EmbeddedLabError
from faultlab.sim.esx4 import node as esx4node
from faultlab.sim.esxi.settings import SettingError, Settings, TimingProfile
from faultlab.sim.esxi.vcls import MAX_VCLS
from faultlab.sim.inventory import inventory, write_inventory
from faultlab.sim.kernel import firewall, netns
from faultlab.sim.kernel.node import BindMount, prepare_node_dir, run_in_node, start_daemon
from faultlab.sim.kernel.shell import CommandResult
from faultlab.sim.kernel.waits import tcp_open, wait_until
from faultlab.sim.manifest import Manifest, all_manifests, allocation_lock, process_start_time
from faultlab.sim.nodes import esxinode, esxishell, labvcenter, sshd, targets
from faultlab.sim.nodes.vmfiles import create_vm_files
from faultlab.sim.topology import (
    DEFAULT_VMS,
    LAB_OBJECT_RE,
    NFS_DATASTORE,
    STATE_ROOT,
    Layout,
    NodeSpec,
    Role,
    VmSpec,
    choose_subnet,
    new_lab_id,
)
from faultlab.sim.vcenter import BridgeHandle, VcenterHandle

VMFS_MARKER = STATE_ROOT / ".vmfs-created"  # /vmfs was made by a lab: the last lab down removes it
LUN_BYTES = 4 << 30
READY_TIMEOUT = 30.0


def check_settings(settings: dict[str, int | str], timing: TimingProfile) -> None:
    """Refuse, before anything is built, a setting the hosts would refuse in this timing profile."""
    try:
        Settings(settings, timing)
    except SettingError as exc:
        raise EmbeddedLabError(f"--setting refused by a host with --timing {timing}: {exc}") from None


def vm_names(count: int) -> tuple[str, ...]:
    """win01, win02, ... (the default lab has win01 and win02)."""
    return DEFAULT_VMS[:count] if count <= len(DEFAULT_VMS) else tuple(f"win{i:02d}" for i in range(1, count + 1))


def vmfs_vm_names(count: int) -> tuple[str, ...]:
    """win-vmfs01, win-vmfs02, ...: the VMs whose files are on the iSCSI LUN's VMFS datastore."""
    return tuple(f"win-vmfs{i:02d}" for i in range(1, count + 1))


class EmbeddedLab:
    """A running lab; made by `EmbeddedLab.up(...)` (context manager) or `EmbeddedLab.create(...)`."""

    def __init__(
        self,
        manifest: Manifest,
        version: VersionProfile,
        hosts_running: bool,
        vcenter: VcenterHandle | None = None,
        bridge: BridgeHandle | None = None,
    ) -> None:
        self.manifest = manifest
        self.version = version
        self.hosts_running = hosts_running
        self.vcenter = vcenter  # the simulated vCenter (None: made with vcenter=False)
        self.bridge = bridge  # forwards the hosts' state to it (None without vCenter or host processes)

    @property
    def layout(self) -> Layout:
        return self.manifest.layout

    @property
    def lab_id(self) -> str:
        return self.manifest.lab_id

    @property
    def state_dir(self) -> Path:
        return self.layout.state_dir

    @property
    def inventory_path(self) -> Path:
        return self.layout.inventory_path

    def node(self, name: str) -> NodeSpec:
        for node in self.layout.nodes:
            if node.name == name:
                return node
        raise EmbeddedLabError(f"lab {self.lab_id} has no node {name!r}")

    def run_in(self, node_name: str, argv: list[str], *, check: bool = True) -> CommandResult:
        """Run a command inside a node (its namespace and filesystem view), from the root namespace."""
        return run_in_node(self.node(node_name), argv, check=check)

    @classmethod
    @contextlib.contextmanager
    def up(
        cls,
        hosts: int = 1,
        vms: int = 2,
        version: VersionProfile = "8.0",
        *,
        start_hosts: bool = True,
        settings: dict[str, int | str] | None = None,
        vcenter: bool = True,
        vmfs_vms: int = 0,
        timing: TimingProfile = "fast",
        vcls_vms: int = 0,
    ) -> Iterator[EmbeddedLab]:
        """A lab for the duration of a `with` block; always torn down, also on errors and Ctrl-C."""
        lab = cls.create(
            hosts,
            vms,
            version,
            start_hosts=start_hosts,
            settings=settings,
            vcenter=vcenter,
            vmfs_vms=vmfs_vms,
            timing=timing,
            vcls_vms=vcls_vms,
        )
        try:
            yield lab
        finally:
            lab.down()

    @classmethod
    def create(
        cls,
        hosts: int = 1,
        vms: int = 2,
        version: VersionProfile = "8.0",
        *,
        start_hosts: bool = True,
        settings: dict[str, int | str] | None = None,
        detached: bool = False,
        vcenter: bool = True,
        vmfs_vms: int = 0,
        timing: TimingProfile = "fast",
        vcls_vms: int = 0,
    ) -> EmbeddedLab:
        """Build a lab. `detached`: it outlives this process (CLI `lab up`) until `lab down`. `vcenter`: run
        the simulated vCenter (node `vc`) and the bridge feeding it the hosts' state. `vms` VMs live on the NFS
        datastore, `vmfs_vms` more (named after them) on the iSCSI LUN's VMFS datastore. `timing`: the hosts'
        timing profile (settings.py): `real` refuses settings a real host refuses, before anything is made.
        `vcls_vms`: vCLS system VMs each ESXi host lists in `vim-cmd vmsvc/getallvms` (faultlab.sim.esxi.vcls)."""
        check_settings(esx4node.split_settings(settings or {})[0] if version == "4.1" else settings or {}, timing)
        preflight.check()
        if vcenter:
            labvcenter.prepare_binary()  # before any kernel object: a missing Go toolchain leaves nothing behind
        if vms < 0 or vmfs_vms < 0:
            raise EmbeddedLabError(f"a lab needs 0 or more VMs, not --vms {vms} --vmfs-vms {vmfs_vms}")
        if not 0 <= vcls_vms <= MAX_VCLS:
            raise EmbeddedLabError(f"--vcls-vms {vcls_vms}: a cluster runs 0 to {MAX_VCLS} vCLS VMs")
        manifest = _allocate(hosts, vm_names(vms), vcenter, vmfs_vm_names(vmfs_vms), timing)
        try:
            for rule in manifest.root_rules:
                firewall.add_rule(rule)
            built = _build(manifest, version, start_hosts, settings or {}, vcls_vms)
        except BaseException:
            down_lab(manifest)
            raise
        if detached:
            manifest.owner_pid = manifest.owner_start = None
        manifest.state = "up"
        manifest.save()
        return cls(manifest, version, built.hosts_running, built.vcenter, built.bridge)

    def down(self) -> None:
        down_lab(self.manifest)


def _allocate(
    hosts: int, names: tuple[str, ...], vcenter: bool, vmfs_names: tuple[str, ...] = (), timing: str = "fast"
) -> Manifest:
    """Pick a lab id and a free subnet and write the manifest listing every kernel object to be made."""
    with allocation_lock():
        labs = all_manifests()
        used = netns.used_subnets() | {m.subnet for m in labs}
        taken = {m.lab_id for m in labs} | {p.name for p in STATE_ROOT.iterdir()}
        lab_id = new_lab_id()
        while lab_id in taken:
            lab_id = new_lab_id()
        layout = Layout(lab_id, choose_subnet(used), hosts, names, vcenter, vmfs_names)
        layout.state_dir.mkdir(parents=True)
        pid = os.getpid()
        manifest = Manifest(
            lab_id=lab_id,
            subnet=layout.subnet,
            hosts=hosts,
            vm_names=list(names),
            owner_pid=pid,
            owner_start=process_start_time(pid),
            namespaces=[n.netns for n in layout.nodes],
            links=[layout.bridge, *(n.netns for n in layout.nodes)],
            vcenter=vcenter,
            vmfs_vm_names=list(vmfs_names),
            timing=timing,
        )
        if firewall.needs_forward_rule():
            manifest.root_rules.append(firewall.forward_rule(lab_id, layout.bridge))
        if esxinode.ensure_vmfs_root():
            VMFS_MARKER.touch()
            manifest.created_vmfs_root = True
        manifest.save()
        return manifest


@dataclass(frozen=True, slots=True)
class _Built:
    hosts_running: bool
    vcenter: VcenterHandle | None
    bridge: BridgeHandle | None


def _build(
    manifest: Manifest, version: VersionProfile, start_hosts: bool, settings: dict[str, int | str], vcls_vms: int = 0
) -> _Built:
    """Create and start everything (recording pids in `manifest`); says what runs."""
    layout = manifest.layout
    netns.create_bridge(layout.bridge, f"{layout.gateway_ip}/24")
    sshd.write_user_key(layout)
    nfs, isc = layout.nfs_node, layout.iscsi_node

    recovery = targets.nfs_recovery_dir(nfs)
    for sub in ("ganesha/v4recov", "ganesha/v4old"):
        (recovery / sub).mkdir(parents=True, exist_ok=True)
    prepare_node_dir(nfs, [BindMount(recovery, Path("/var/lib/nfs"))])
    layout.export_dir.mkdir(parents=True)
    layout.vmfs_dir.mkdir(parents=True)
    for vm in layout.vms:
        create_vm_files(layout.export_dir if vm.datastore == NFS_DATASTORE else layout.vmfs_dir, vm, layout.lab_id)
    (nfs.node_dir / "ganesha.conf").write_text(targets.ganesha_conf(layout), encoding="utf-8")
    targets.write_script(nfs.node_dir / "bin" / targets.TARGET_COMMAND, targets.nfs_target_script(layout))

    prepare_node_dir(isc, [])
    with layout.lun_file.open("wb") as fh:
        os.truncate(fh.fileno(), LUN_BYTES)
    targets.write_script(isc.node_dir / "bin" / targets.TARGET_COMMAND, targets.iscsi_target_script(layout))

    classic = version == "4.1"  # ESX 4.x: a Service Console (faultlab.sim.esx4)
    for node in layout.esxi_nodes:
        if classic:  # the COS's login shell is bash: no ESXi shell
            prepare_node_dir(node, esx4node.esx4_mounts(layout, node))
            esx4node.write_wrappers(node)
            continue
        # root's login shell (busybox sh, ESXi's commands, no /proc): the node's own /etc/passwd names it
        passwd = esxishell.write_shell(node, esxinode.control_socket(node), version)
        prepare_node_dir(node, esxinode.esxi_mounts(layout, node) + passwd)
        esxinode.write_wrappers(node)
    if layout.vcenter:
        prepare_node_dir(layout.vc_node, [])

    known: list[str] = []
    for node in layout.nodes:
        netns.create_node_netns(node, layout.bridge)
        env = {"FAULTLAB_LAB": layout.lab_id, "FAULTLAB_NODE": node.name}
        if node.role is Role.ESXI:
            env["FAULTLAB_ESXI_CONTROL"] = str(esxinode.control_socket(node))
        conf, line = sshd.write_sshd(layout, node, env)
        known.append(line)
        start_daemon(node, "sshd", ["/usr/sbin/sshd", "-D", "-e", "-f", str(conf)])
    layout.known_hosts.write_text("\n".join(known) + "\n", encoding="utf-8")

    hosts_running = start_hosts and esxinode.host_module_available()
    # The two targets and the vCenter start in parallel: ganesha takes about a second to serve.
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(_start_target, n) for n in (nfs, isc)]
        vc_future = (
            pool.submit(
                labvcenter.start_vcenter, manifest, inventory(layout, version, hosts_running, timing=manifest.timing)
            )
            if layout.vcenter
            else None
        )
        for f in futures:
            f.result()
        vcenter = vc_future.result() if vc_future else None

    for node in layout.esxi_nodes:
        if classic:
            config = esx4node.write_config(layout, node, *esx4node.split_settings(settings, manifest.timing))
            argv = esx4node.host_argv(config)
        else:
            config = esxinode.write_config(layout, node, version, settings, manifest.timing, vcls_vms)
            argv = esxinode.host_argv(config)
        if hosts_running:
            _start_host(node, argv)
    bridge = labvcenter.start_host_bridge(manifest, vcenter) if vcenter and hosts_running else None
    for node in layout.nodes:
        _wait_ssh(node)
    write_inventory(
        layout, version, hosts_running, vcenter.inventory_entry() if vcenter else None, timing=manifest.timing
    )
    return _Built(hosts_running, vcenter, bridge)


def _wait_ssh(node: NodeSpec) -> None:
    wait_until(lambda: tcp_open(node.ip, sshd.SSH_PORT), READY_TIMEOUT, f"sshd of {node.name}")


def _start_target(node: NodeSpec) -> None:
    run_in_node(node, [str(node.node_dir / "bin" / targets.TARGET_COMMAND), "start"], timeout=READY_TIMEOUT + 10)


def _start_host(node: NodeSpec, argv: list[str]) -> None:
    pidfile = start_daemon(node, "esxi-host", argv)
    sock = esxinode.control_socket(node)

    def ready() -> bool:
        if sock.is_socket():
            return True
        pid = int(pidfile.read_text()) if pidfile.exists() else 0
        if pid and process_start_time(pid) is None:
            out = node.node_dir / "out" / "esxi-host.out"
            tail = out.read_text(errors="replace").strip().splitlines()[-5:] if out.exists() else []
            raise EmbeddedLabError(f"ESXi host process of {node.name} exited: {' | '.join(tail)}")
        return False

    wait_until(ready, READY_TIMEOUT, f"ESXi host {node.name} control socket {sock}")


def down_lab(manifest: Manifest) -> None:
    """Remove every namespace, process, link and file of the lab (idempotent; ignores what is gone)."""
    layout = manifest.layout
    if layout.state_dir.is_dir():
        manifest.state = "removing"
        with contextlib.suppress(OSError):
            manifest.save()
    labvcenter.stop_recorded(manifest)  # the bridge runs outside the lab's namespaces
    netns.kill_netns_processes(manifest.namespaces)
    for name in manifest.namespaces:
        netns.delete_netns(name)
    for link in manifest.links:
        netns.delete_link(link)
    for rule in manifest.root_rules:
        firewall.delete_rule(rule)
    shutil.rmtree(layout.state_dir, ignore_errors=True)
    _remove_vmfs_root_if_unused()


def _remove_vmfs_root_if_unused() -> None:
    with allocation_lock():
        if VMFS_MARKER.exists() and not all_manifests():
            with contextlib.suppress(OSError):
                esxinode.VMFS_ROOT.rmdir()
            VMFS_MARKER.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class Removed:
    """What `down_all` removed: whole labs by manifest, and kernel objects/dirs found without one."""

    labs: list[str]
    orphans: list[str]


def down_all(force: bool = False, include_detached: bool = True, keep_labs: Collection[str] = ()) -> Removed:
    """Remove crashed labs (their owner process is gone), detached CLI labs unless `include_detached` is
    False, every lab when `force`, and kernel objects or state dirs of labs without a manifest. Labs in `keep_labs`
    (a live run is faulting them) stay, like labs held by a live process."""
    removed: list[str] = []
    live: set[str] = set()
    for manifest in all_manifests():
        detached = manifest.owner_pid is None
        keep = manifest.owner_alive() or (detached and not include_detached) or manifest.lab_id in keep_labs
        if keep and not force:
            live.add(manifest.lab_id)
            continue
        down_lab(manifest)
        removed.append(manifest.lab_id)
    # The sweep holds the allocation lock and keeps every lab that has a manifest now: a lab another process
    # allocated after the list above has its manifest (written under this lock) before any kernel object, and
    # must not be swept as an orphan mid-build (found by two xdist workers: one lost its namespaces and dir).
    with allocation_lock():
        orphans = _sweep_orphans(live | {m.lab_id for m in all_manifests()})
    _remove_vmfs_root_if_unused()
    return Removed(removed, orphans)


def _sweep_orphans(live: set[str]) -> list[str]:
    """Remove lab namespaces, links, root rules and state dirs whose lab id is not in `live`."""
    orphans: list[str] = []
    for name in netns.list_netns():
        m = LAB_OBJECT_RE.match(name)
        if m and m.group(1) not in live:
            netns.kill_netns_processes([name])
            netns.delete_netns(name)
            orphans.append(f"netns {name}")
    for name in netns.list_links():
        m = LAB_OBJECT_RE.match(name)
        if m and m.group(1) not in live:
            netns.delete_link(name)
            orphans.append(f"link {name}")
    for lab_id, rule in firewall.lab_rules_in_root_ns():
        if lab_id not in live:
            firewall.delete_rule(rule)
            orphans.append(f"iptables rule {' '.join(rule)}")
    if STATE_ROOT.is_dir():
        for path in STATE_ROOT.iterdir():
            if path.is_dir() and LAB_OBJECT_RE.match(path.name + "-") and path.name not in live:
                shutil.rmtree(path, ignore_errors=True)
                orphans.append(f"dir {path}")
    return orphans


@dataclass(frozen=True, slots=True)
class NodeStatus:
    name: str
    ip: str
    netns_present: bool
    processes: int
    ssh_open: bool


@dataclass(frozen=True, slots=True)
class LabStatus:
    lab_id: str
    state: str
    cidr: str
    owner: str
    inventory: Path
    nodes: list[NodeStatus]
    vms: list[VmSpec] = field(default_factory=list)  # where the lab put each VM (host, datastore)
    timing: str = "fast"


def lab_status() -> list[LabStatus]:
    """Every lab on this machine with, per node, whether its namespace exists, its process count, SSH."""
    present = set(netns.list_netns())
    result = []
    for m in all_manifests():
        layout = m.layout
        owner = "detached" if m.owner_pid is None else f"pid {m.owner_pid}" + ("" if m.owner_alive() else " (gone)")
        nodes = [
            NodeStatus(
                n.name,
                n.ip,
                n.netns in present,
                len(netns.netns_pids(n.netns)) if n.netns in present else 0,
                n.netns in present and tcp_open(n.ip, sshd.SSH_PORT, timeout=0.3),
            )
            for n in layout.nodes
        ]
        result.append(
            LabStatus(m.lab_id, m.state, layout.cidr, owner, layout.inventory_path, nodes, layout.vms, m.timing)
        )
    return result


def vcenter_env(lab: EmbeddedLab | Manifest) -> dict[str, str]:
    """{"FAULTLAB_VC_PASSWORD": password} for the inventory's `password: ${FAULTLAB_VC_PASSWORD}`: merge it
    into the environment of whatever opens the vSphere session (the value is a secret: never print it)."""
    return labvcenter.vcenter_env_of(lab.layout)


def find_lab(lab_id: str) -> Manifest:
    for m in all_manifests():
        if m.lab_id == lab_id:
            return m
    raise EmbeddedLabError(f"no lab {lab_id!r} on this machine (see `faultlab lab status`)")
