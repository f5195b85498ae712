"""The embedded lab's plumbing, for real: namespaces, sshd per node, ganesha and tgt targets, faults, teardown."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from faultlab.harness.cli.lab import lab_app
from faultlab.sim import lab as sim_lab
from faultlab.sim.kernel import firewall, netns
from faultlab.sim.lab import EmbeddedLab, down_all
from faultlab.sim.manifest import Manifest, all_manifests
from faultlab.sim.nodes import esxinode
from faultlab.sim.topology import NFS_DATASTORE, STATE_ROOT

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the embedded lab needs root (network namespaces)"),
]


LAB_SHAPE = {"hosts": 1, "vms": 2, "start_hosts": False}


@pytest.fixture(scope="module")
def lab(embedded_lab: EmbeddedLab) -> Iterator[EmbeddedLab]:
    # The host processes are another module's work; this file checks the infrastructure around them.
    the_lab = embedded_lab
    yield the_lab


def ssh(lab: EmbeddedLab, node: str, command: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run `command` on a node over SSH with the lab key, host keys checked strictly against known_hosts."""
    layout = lab.layout
    argv = [
        "ssh", "-i", str(layout.user_key), "-o", f"UserKnownHostsFile={layout.known_hosts}",
        "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
        f"root@{lab.node(node).ip}", command,
    ]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def nfs_url(lab: EmbeddedLab, path: str = "") -> str:
    return f"nfs://{lab.layout.nfs_node.ip}/{NFS_DATASTORE}{path}"


def iscsi_url(lab: EmbeddedLab) -> str:
    return f"iscsi://{lab.layout.iscsi_node.ip}/{lab.layout.iqn}/1"


def tool(*argv: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    """A client tool from the root namespace; a hang past `timeout` counts as failure (rc 124)."""
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(list(argv), 124, "", "timeout")


def test_every_node_answers_ssh_with_lab_key_and_checked_host_key(lab: EmbeddedLab) -> None:
    for node in lab.layout.nodes:
        res = ssh(lab, node.name, "hostname")  # every login shell has it (an ESXi node's busybox sh too)
        assert res.returncode == 0, res.stderr
        assert res.stdout.splitlines()[0] == node.name
        # the address from outside: an ESXi node's shell, like ESXi's, has no `ip`
        assert f"{node.ip}/24" in lab.run_in(node.name, ["ip", "-4", "-o", "addr", "show", "dev", "eth0"]).stdout


def test_unknown_host_key_is_refused(lab: EmbeddedLab, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    argv = [
        "ssh", "-i", str(lab.layout.user_key), "-o", f"UserKnownHostsFile={empty}",
        "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", f"root@{lab.layout.nfs_node.ip}", "true",
    ]  # fmt: skip
    res = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    assert res.returncode == 255
    assert "Host key verification failed" in res.stderr


def test_nfs_export_lists_vms_and_is_writable_from_root_namespace(lab: EmbeddedLab, tmp_path: Path) -> None:
    listing = tool("nfs-ls", nfs_url(lab))
    assert listing.returncode == 0, listing.stderr
    assert "win01" in listing.stdout and "win02" in listing.stdout
    src = tmp_path / "probe.txt"
    src.write_text("written over NFS\n")
    copied = tool("nfs-cp", str(src), nfs_url(lab, "/probe.txt"))
    assert copied.returncode == 0, copied.stderr
    assert (lab.layout.export_dir / "probe.txt").read_text() == "written over NFS\n"
    v4 = tool("nfs-ls", nfs_url(lab, "?version=4"))
    assert v4.returncode == 0 and "probe.txt" in v4.stdout, v4.stderr


def test_iscsi_lun_answers_inquiry(lab: EmbeddedLab) -> None:
    res = tool("iscsi-inq", iscsi_url(lab))
    assert res.returncode == 0, res.stderr
    assert "DIRECT_ACCESS" in res.stdout


def test_iptables_drop_in_nfs_node_blocks_and_its_removal_restores(lab: EmbeddedLab) -> None:
    rule = "INPUT -p tcp --dport 2049 -m comment --comment faultlab-test -j DROP"
    root_rules_before = subprocess.run(["iptables", "-S"], capture_output=True, text=True, check=True).stdout
    assert ssh(lab, "nfs01", f"iptables -A {rule}").returncode == 0
    try:
        assert tool("nfs-ls", nfs_url(lab), timeout=3).returncode != 0
        assert (
            subprocess.run(["iptables", "-S"], capture_output=True, text=True, check=True).stdout == root_rules_before
        )
    finally:
        assert ssh(lab, "nfs01", f"iptables -D {rule}").returncode == 0
    assert tool("nfs-ls", nfs_url(lab)).returncode == 0


def test_nfs_service_stop_start_freeze_thaw_over_ssh(lab: EmbeddedLab) -> None:
    stopped = ssh(lab, "nfs01", "faultlab-target stop && faultlab-target status")
    assert stopped.returncode == 3 and "inactive (dead)" in stopped.stdout, stopped
    assert tool("nfs-ls", nfs_url(lab), timeout=3).returncode != 0
    started = ssh(lab, "nfs01", "faultlab-target start && faultlab-target status")
    assert started.returncode == 0 and "active (running)" in started.stdout, started
    assert tool("nfs-ls", nfs_url(lab)).returncode == 0

    frozen = ssh(lab, "nfs01", "faultlab-target freeze && faultlab-target status")
    try:
        assert "active (frozen)" in frozen.stdout, frozen
        assert tool("nfs-ls", nfs_url(lab), timeout=3).returncode == 124
    finally:
        assert ssh(lab, "nfs01", "faultlab-target thaw").returncode == 0
    assert tool("nfs-ls", nfs_url(lab)).returncode == 0


def test_iscsi_service_stop_start_and_lun_remove_gives_pdl_sense(lab: EmbeddedLab) -> None:
    assert ssh(lab, "iscsi01", "faultlab-target stop").returncode == 0
    assert tool("iscsi-inq", iscsi_url(lab), timeout=5).returncode != 0
    assert ssh(lab, "iscsi01", "faultlab-target start").returncode == 0
    assert tool("iscsi-inq", iscsi_url(lab)).returncode == 0

    assert ssh(lab, "iscsi01", "faultlab-target lun-remove").returncode == 0
    try:
        gone = tool("iscsi-inq", iscsi_url(lab))
        assert gone.returncode != 0
        # ILLEGAL_REQUEST (0x5) / LOGICAL UNIT NOT SUPPORTED (0x25/0x00): what ESXi takes for PDL.
        assert "ILLEGAL_REQUEST(5)" in gone.stdout + gone.stderr
        assert "0x2500" in gone.stdout + gone.stderr
    finally:
        assert ssh(lab, "iscsi01", "faultlab-target lun-add").returncode == 0
    assert tool("iscsi-inq", iscsi_url(lab)).returncode == 0


def test_esxi_node_sees_datastores_logs_and_commands(lab: EmbeddedLab) -> None:
    res = ssh(
        lab,
        "esx01",
        "cat /vmfs/volumes/ds-nfs01/win01/win01.vmx; readlink /vmfs/volumes/ds-nfs01;"
        " test -d /var/run/log && command -v esxcli vim-cmd; echo CONTROL=$FAULTLAB_ESXI_CONTROL;"
        " touch /vmfs/volumes/ds-nfs01/x 2>&1; touch /vmfs/volumes/ds-iscsi01/y && echo iscsi-rw",
    )
    assert 'displayName = "win01"' in res.stdout, res
    assert lab.layout.nfs_volume_uuid in res.stdout
    assert re.search(r"^/\S*bin/esxcli$", res.stdout, re.M), res.stdout  # on the ESXi shell's PATH
    assert "CONTROL=" + str(lab.node("esx01").node_dir / "run" / "esxi-control.sock") in res.stdout
    assert "Read-only file system" in res.stdout  # the NFS datastore is a read view: hosts write over NFS
    assert "iscsi-rw" in res.stdout
    # The host's /var/run/log is its own directory, seen from the root namespace under the node dir.
    assert ssh(lab, "esx01", "echo probe > /var/run/log/probe.log").returncode == 0
    assert (lab.node("esx01").node_dir / "run" / "log" / "probe.log").read_text() == "probe\n"
    assert not Path("/var/run/log/probe.log").exists()


def test_inventory_describes_the_lab(lab: EmbeddedLab) -> None:
    inv = yaml.safe_load(lab.inventory_path.read_text())
    assert inv["lab_id"] == lab.lab_id
    assert [h["address"] for h in inv["hosts"]] == [lab.node("esx01").ip]
    assert {t["name"]: t["allow_faults"] for t in inv["storage_targets"]} == {"nfs01": True, "iscsi01": True}
    assert Path(inv["ssh"]["private_key"]).is_file() and Path(inv["ssh"]["known_hosts"]).is_file()
    assert [vm["name"] for vm in inv["vms"]] == ["win01", "win02"]
    iscsi = next(t for t in inv["storage_targets"] if t["kind"] == "iscsi")
    assert iscsi["service"]["lun_remove"] == "faultlab-target lun-remove {lun}"  # the harness fills in the LUN


def _leftovers(lab_id: str) -> list[str]:
    left = [f"netns {n}" for n in netns.list_netns() if n.startswith(lab_id)]
    left += [f"link {n}" for n in netns.list_links() if n.startswith(lab_id)]
    if (STATE_ROOT / lab_id).exists():
        left.append(f"dir {lab_id}")
    procs = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    left += [f"process {line}" for line in procs.splitlines() if f"/{lab_id}/" in line]
    return left


def test_two_labs_side_by_side_then_down_leaves_nothing(lab: EmbeddedLab) -> None:
    with EmbeddedLab.up(hosts=2, vms=1, start_hosts=False) as second:
        assert second.lab_id != lab.lab_id and second.layout.subnet != lab.layout.subnet
        for node in second.layout.nodes:
            assert ssh(second, node.name, "true").returncode == 0
        assert tool("nfs-ls", nfs_url(second)).returncode == 0
        assert tool("nfs-ls", nfs_url(lab)).returncode == 0
        assert tool("iscsi-inq", iscsi_url(second)).returncode == 0
        second_id = second.lab_id
    assert _leftovers(second_id) == []
    assert tool("nfs-ls", nfs_url(lab)).returncode == 0  # the other lab is untouched


def test_down_all_cleans_a_lab_whose_manager_was_killed(lab: EmbeddedLab) -> None:
    code = (
        "from faultlab.sim.lab import EmbeddedLab\n"
        "with EmbeddedLab.up(start_hosts=False) as l:\n"
        "    print(l.lab_id, flush=True)\n"
        "    import time; time.sleep(600)\n"
    )
    manager = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert manager.stdout is not None
    crashed_id = manager.stdout.readline().strip()
    try:
        assert crashed_id in {m.lab_id for m in all_manifests()}
    finally:
        manager.send_signal(signal.SIGKILL)
        manager.wait()
    assert _leftovers(crashed_id) != []  # SIGKILL ran no finally: the lab is still there
    # Detached labs of other people on this machine are left alone; `lab down --all` removes them too.
    removed = down_all(include_detached=False)
    assert crashed_id in removed.labs
    assert lab.lab_id not in removed.labs  # held by this live process
    assert _leftovers(crashed_id) == []
    assert ssh(lab, "nfs01", "true").returncode == 0


def test_down_all_keeps_a_lab_allocated_while_it_ran(lab: EmbeddedLab, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process allocates a lab after `down_all` listed the manifests: its namespaces and folder are not
    orphans (found when two xdist workers ran lab tests: one lab lost its state folder and its subnet)."""
    with EmbeddedLab.up(start_hosts=False) as late:
        before = _leftovers(late.lab_id)
        real = sim_lab.all_manifests
        calls: list[int] = []

        def first_read_misses_it() -> list[Manifest]:
            calls.append(1)  # the first read happens before the other process's allocation
            return [m for m in real() if len(calls) > 1 or m.lab_id != late.lab_id]

        monkeypatch.setattr(sim_lab, "all_manifests", first_read_misses_it)
        removed = down_all(include_detached=False)
        assert len(calls) >= 2  # the sweep read the manifests again
        assert late.lab_id not in removed.labs
        assert [o for o in removed.orphans if late.lab_id in o] == []
        assert _leftovers(late.lab_id) == before and before != []
        assert ssh(late, "nfs01", "true").returncode == 0


def test_lab_up_and_down_are_fast(lab: EmbeddedLab) -> None:
    t0 = time.monotonic()
    with EmbeddedLab.up(start_hosts=False):
        t1 = time.monotonic()
    t2 = time.monotonic()
    assert t1 - t0 < 15 and t2 - t1 < 15, (t1 - t0, t2 - t1)


@pytest.mark.skipif(not esxinode.host_module_available(), reason="faultlab.sim.esxi.host is not installed")
def test_lab_starts_the_simulated_esxi_host_reachable_over_ssh() -> None:
    with EmbeddedLab.up(hosts=1, vms=2) as full:
        assert full.hosts_running
        assert (full.node("esx01").node_dir / "run" / "esxi-control.sock").is_socket()
        res = ssh(full, "esx01", "esxcli storage nfs list; vim-cmd vmsvc/getallvms")
        assert res.returncode == 0, res.stderr
        assert "ds-nfs01" in res.stdout and full.layout.nfs_node.ip in res.stdout
        assert "win01" in res.stdout and "win02" in res.stdout


def test_cli_status_and_down_by_id(lab: EmbeddedLab) -> None:
    runner = CliRunner()
    status = runner.invoke(lab_app, ["status"])
    assert status.exit_code == 0
    assert f"lab {lab.lab_id} up" in status.output and "ssh ok" in status.output
    up = runner.invoke(lab_app, ["up", "--hosts", "1", "--vms", "1", "--no-esxi-host"])
    assert up.exit_code == 0, up.output
    new_id = up.output.split()[1]
    inventory = yaml.safe_load((STATE_ROOT / new_id / "inventory.yaml").read_text())
    assert inventory["lab_id"] == new_id
    # By default one more VM lives on the iSCSI LUN's VMFS datastore: in the inventory, on disk, in `status`.
    vmx = {vm["name"]: vm["vmx_path"] for vm in inventory["vms"]}
    assert vmx == {"win01": "[ds-nfs01] win01/win01.vmx", "win-vmfs01": "[ds-iscsi01] win-vmfs01/win-vmfs01.vmx"}
    assert (STATE_ROOT / new_id / "vmfs" / "ds-iscsi01" / "win-vmfs01" / "win-vmfs01.vmx").is_file()
    listed = runner.invoke(lab_app, ["status"]).output
    assert "vm win01 on esx01, datastore ds-nfs01" in listed
    assert "vm win-vmfs01 on esx01, datastore ds-iscsi01" in listed
    down = runner.invoke(lab_app, ["down", new_id])
    assert down.exit_code == 0 and f"lab {new_id} down" in down.output
    assert _leftovers(new_id) == []


def test_nodes_reach_each_other_over_the_bridge(lab: EmbeddedLab) -> None:
    # from inside esx01's namespace (its ESXi shell has no libnfs/libiscsi tools, as ESXi has none)
    res = lab.run_in("esx01", ["sh", "-c", f"nfs-ls {nfs_url(lab)} && iscsi-inq {iscsi_url(lab)}"], check=False)
    assert res.returncode == 0, res.stderr
    assert "win01" in res.stdout and "DIRECT_ACCESS" in res.stdout


def test_root_forward_rule_is_recorded_and_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    # Forced here; `lab up` adds it only on hosts whose FORWARD chain would drop bridged traffic.
    monkeypatch.setattr(firewall, "needs_forward_rule", lambda: True)
    with EmbeddedLab.up(start_hosts=False) as tagged:
        assert tagged.manifest.root_rules == [firewall.forward_rule(tagged.lab_id, tagged.layout.bridge)]
        assert tagged.lab_id in {lab_id for lab_id, _ in firewall.lab_rules_in_root_ns()}
        assert tagged.run_in("esx01", ["nfs-ls", nfs_url(tagged)], check=False).returncode == 0
        lab_id = tagged.lab_id
    assert lab_id not in {lab_id for lab_id, _ in firewall.lab_rules_in_root_ns()}


def test_concurrent_ups_get_distinct_ids_and_subnets() -> None:
    """Two workers (pytest-xdist) starting labs at the same moment: the allocation lock keeps them apart."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        labs = list(pool.map(lambda _: EmbeddedLab.create(hosts=1, vms=1, start_hosts=False), range(2)))
    try:
        assert labs[0].lab_id != labs[1].lab_id
        assert labs[0].layout.subnet != labs[1].layout.subnet
        for each in labs:
            assert tool("nfs-ls", nfs_url(each)).returncode == 0
            restarted = ssh(each, "nfs01", "faultlab-target restart && faultlab-target status")
            assert restarted.returncode == 0 and "active (running)" in restarted.stdout, restarted
    finally:
        for each in labs:
            each.down()
    assert all(_leftovers(each.lab_id) == [] for each in labs)
