"""Faults, dead-man timer, `faultlab heal` and log cursors against a real sshd + iptables in a network namespace.

The fixture builds one namespace on a free /24 of 198.18.210-219.0/24: the storage target at .2 runs OpenSSH and
a TCP listener on 2049; the root namespace at .1 plays the ESXi host's storage address. Everything is reached over
SSH as in a real lab; the checks look at the namespace's iptables directly and at real TCP connects. The embedded
lab tests at the end run the same code against simulated ESXi hosts and real ganesha/tgtd targets.
"""

from __future__ import annotations

import fcntl
import gzip
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from faultlab.harness.cli.heal import heal_app
from faultlab.harness.cursors import LogCursors, esxi_log_paths, measure_skew, watch
from faultlab.harness.faults import (
    Fault,
    FaultRefusedError,
    Injector,
    heal_ledger,
    plan_fault,
    timer_running,
    wait_for,
)
from faultlab.harness.ledger import Ledger
from faultlab.lab.esxi import EsxiHost
from faultlab.lab.inventory import Inventory, load_inventory
from faultlab.lab.ssh import SshPool
from faultlab.lab.target import StorageTargetRole
from tests.lab.conftest import lun_devices, lun_paths

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

SUBNETS = [f"198.18.{n}" for n in range(210, 220)]  # one /24 per concurrent run of this module
LOCK = Path("/run/lock/faultlab-test-faults.lock")
NFS_PORT = 2049
TOOLS = ("ip", "iptables", "ssh-keygen", "/usr/sbin/sshd")


@dataclass
class Lab:
    ns: str
    inventory_path: Path
    inventory: Inventory
    tmp: Path
    host_ip: str  # plays the ESXi host's storage address (root namespace)
    target_ip: str  # the storage target (its own namespace)

    def connect_error(self, timeout_s: float = 1.0) -> str:
        """How a TCP connect from the 'ESXi' address to the target's NFS port ends."""
        try:
            with socket.create_connection(
                (self.target_ip, NFS_PORT), timeout=timeout_s, source_address=(self.host_ip, 0)
            ):
                return "connected"
        except TimeoutError:
            return "timeout"
        except ConnectionRefusedError:
            return "refused"
        except OSError as exc:
            return type(exc).__name__

    def connects(self, timeout_s: float = 1.0) -> bool:
        return self.connect_error(timeout_s) == "connected"

    def iptables(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _run("ip", "netns", "exec", self.ns, "iptables", "-w", "5", *args, check=False)

    def input_rules(self) -> list[str]:
        return [line for line in self.iptables("-S", "INPUT").stdout.splitlines() if line.startswith("-A")]

    def tagged(self, tag: str) -> list[str]:
        return [r for r in self.input_rules() if f'--comment "{tag}"' in r or f"--comment {tag} " in r]


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), check=check, capture_output=True, text=True, timeout=30)


def _free_subnet() -> str:
    """A /24 of SUBNETS that no interface of the root namespace uses (call with LOCK held)."""
    used = _run("ip", "-br", "addr").stdout
    for net in SUBNETS:
        if f" {net}." not in used:
            return net
    raise RuntimeError(f"all of {SUBNETS[0]}..{SUBNETS[-1]}.0/24 are in use")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if os.geteuid() != 0 or not all(shutil.which(t) for t in TOOLS):
        pytest.skip("needs root, iproute2, iptables and openssh-server (sudo .venv/bin/pytest -m lab ...)")
    tmp = tmp_path_factory.mktemp("faults")
    tag = f"{os.getpid() % 100000}"
    ns, veth = f"flf{tag}", f"vflf{tag}"
    procs: list[subprocess.Popen[bytes]] = []
    _run("ip", "netns", "add", ns)
    try:
        _run("ip", "link", "add", veth, "type", "veth", "peer", "name", f"{veth}p")
        _run("ip", "link", "set", f"{veth}p", "netns", ns)
        with LOCK.open("w") as lock:  # concurrent runs of this module each take their own /24
            fcntl.flock(lock, fcntl.LOCK_EX)
            net = _free_subnet()
            host_ip, target_ip = f"{net}.1", f"{net}.2"
            _run("ip", "addr", "add", f"{host_ip}/24", "dev", veth)
        _run("ip", "link", "set", veth, "up")
        for cmd in (("addr", "add", f"{target_ip}/24", "dev", f"{veth}p"), ("link", "set", f"{veth}p", "up"),
                    ("link", "set", "lo", "up")):  # fmt: skip
            _run("ip", "netns", "exec", ns, "ip", *cmd)
        for name in ("host_key", "id_ed25519"):
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / name))
        (tmp / "authorized_keys").write_text((tmp / "id_ed25519.pub").read_text())
        kind, blob = (tmp / "host_key.pub").read_text().split()[:2]
        (tmp / "known_hosts").write_text(f"{target_ip} {kind} {blob}\n")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        (tmp / "sshd_config").write_text(
            f"ListenAddress {target_ip}:22\nHostKey {tmp / 'host_key'}\nPidFile {tmp / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {tmp / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
            "Subsystem sftp internal-sftp\n"
        )
        exec_ns = ["ip", "netns", "exec", ns]
        procs.append(subprocess.Popen([*exec_ns, "/usr/sbin/sshd", "-D", "-e", "-f", str(tmp / "sshd_config")],
                                      stderr=subprocess.DEVNULL))  # fmt: skip
        listener = "import socket,time\ns=socket.create_server(('0.0.0.0',2049))\nwhile 1:\n c,_=s.accept(); c.close()"
        procs.append(subprocess.Popen([*exec_ns, sys.executable, "-c", listener]))
        inventory = tmp / "inventory.yaml"
        inventory.write_text(
            textwrap.dedent(f"""\
            version: 1
            ssh: {{user: root, private_key: {tmp / "id_ed25519"}, known_hosts: {tmp / "known_hosts"}, timeout: 5s}}
            hosts:
              - {{name: esx01, address: {host_ip}}}
            storage_targets:
              - name: tgt01
                kind: nfs
                address: {target_ip}
                allow_faults: true
                ports: {{nfs: {NFS_PORT}, rpcbind: 111, mountd: 20048}}
                service: {{start: "true", stop: "true"}}
            datastores:
              - {{name: ds01, type: nfs, target: tgt01, hosts: [esx01]}}
            vms:
              - {{name: win01, host: esx01, datastore: ds01}}
            """)
        )
        lab = Lab(ns, inventory, load_inventory(inventory), tmp, host_ip, target_ip)
        assert wait_for(lambda: lab.connects(0.5) and _ssh_answers(lab), 15, 0.1), "sshd/listener did not come up"
        yield lab
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=10)
        _run("ip", "link", "del", veth, check=False)
        _run("ip", "netns", "del", ns, check=False)


def _ssh_answers(lab: Lab) -> bool:
    try:
        with socket.create_connection((lab.target_ip, 22), timeout=0.5) as s:
            return s.recv(8).startswith(b"SSH-")
    except OSError:
        return False


@pytest.fixture
def pool(lab: Lab) -> Iterator[SshPool]:
    with SshPool(lab.inventory, command_timeout=20) as p:
        yield p


def _blackhole(lab: Lab, run_id: str, hold_s: float = 60, grace_s: float = 0, kind: str = "network-blackhole") -> Fault:
    return plan_fault(lab.inventory, {"kind": kind, "on": "tgt01"}, run_id=run_id, scenario_vms=["win01"],
                      hold_s=hold_s, grace_s=grace_s)  # fmt: skip


def test_blackhole_drops_traffic_and_heal_removes_only_ours(
    lab: Lab, pool: SshPool, record_property: Callable[[str, object], None]
) -> None:
    foreign = ["-s", "198.18.99.9/32", "-m", "comment", "--comment", "admin rule", "-j", "ACCEPT"]
    lab.iptables("-A", "INPUT", *foreign)
    try:
        assert lab.connects()
        ledger = Ledger.create("real1", lab.tmp / "state")
        injector = Injector(pool, ledger)
        fault = _blackhole(lab, "real1")
        started = time.monotonic()
        injector.inject(fault)
        record_property("inject_s", round(time.monotonic() - started, 3))  # ledger, timer, rules, verify
        injector.inject(fault)
        tagged = lab.tagged(fault.tag)
        assert len(tagged) == 2 and len(lab.input_rules()) == 3
        assert any(f"-s {lab.host_ip}/32 -p tcp" in r and "--dports 111,2049,20048" in r for r in tagged)
        assert lab.connect_error(1.0) == "timeout"
        entry = ledger.entries[0]
        assert entry.timer_pid is not None and timer_running(pool.get("tgt01"), entry.timer_pid, fault.tag)
        started = time.monotonic()
        assert injector.heal(fault).status == "healed"
        record_property("heal_s", round(time.monotonic() - started, 3))  # rules, verify, timer cancel, ledger
        assert lab.tagged(fault.tag) == [] and lab.input_rules() == ['-A INPUT -s 198.18.99.9/32 -m comment '
                                                                      '--comment "admin rule" -j ACCEPT']  # fmt: skip
        assert lab.connects()
        assert not timer_running(pool.get("tgt01"), entry.timer_pid, fault.tag)  # heal cancelled the timer
        assert ledger.close() and not ledger.path.exists()
    finally:
        lab.iptables("-D", "INPUT", *foreign)


def test_reject_resets_tcp_connections(lab: Lab, pool: SshPool) -> None:
    ledger = Ledger.create("real2", lab.tmp / "state")
    injector = Injector(pool, ledger)
    fault = _blackhole(lab, "real2", kind="network-reject")
    injector.inject(fault)
    try:
        assert lab.connect_error(2.0) == "refused"  # RST, at once
    finally:
        assert injector.heal(fault).ok
    assert lab.connects() and lab.tagged(fault.tag) == []


def test_dead_man_timer_heals_when_heal_is_never_called(lab: Lab, pool: SshPool) -> None:
    ledger = Ledger.create("real3", lab.tmp / "state")
    fault = _blackhole(lab, "real3", hold_s=3, grace_s=0)
    started = time.monotonic()
    Injector(pool, ledger).inject(fault)
    assert len(lab.tagged(fault.tag)) == 2 and not lab.connects(0.5)
    assert wait_for(lambda: lab.tagged(fault.tag) == [], 15, 0.1), "the dead-man timer did not heal"
    assert time.monotonic() - started >= 3.0  # not before hold + grace
    assert lab.connects()
    outcome = heal_ledger(pool, ledger)  # afterwards the harness finds it healed and closes the entry
    assert [o.status for o in outcome] == ["healed by timer"] and not ledger.path.exists()


def test_faultlab_heal_clears_the_ledger_of_a_killed_run(lab: Lab, pool: SshPool) -> None:
    state = lab.tmp / "state-killed"
    script = textwrap.dedent(f"""
        import threading
        from pathlib import Path
        from faultlab.harness.faults import Injector, plan_fault
        from faultlab.harness.ledger import Ledger
        from faultlab.lab.inventory import load_inventory
        from faultlab.lab.ssh import SshPool
        inv = load_inventory({str(lab.inventory_path)!r})
        ledger = Ledger.create("killed", Path({str(state)!r}), inventory={str(lab.inventory_path)!r})
        fault = plan_fault(inv, {{"kind": "network-blackhole", "on": "tgt01"}}, run_id="killed",
                           scenario_vms=["win01"], hold_s=600)
        Injector(SshPool(inv), ledger).inject(fault)
        print("injected", flush=True)
        threading.Event().wait()
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "injected"
    finally:
        proc.kill()  # SIGKILL: no finally, no heal in that process
        proc.wait(timeout=10)
    tag = "faultlab:killed:f1"
    assert len(lab.tagged(tag)) == 2 and not lab.connects(0.5)
    pid = Ledger.load(state / "killed.json").entries[0].timer_pid
    assert pid is not None and timer_running(pool.get("tgt01"), pid, tag)
    result = CliRunner().invoke(heal_app, ["--state-dir", str(state)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("healed ") and "network-blackhole on tgt01 (faultlab:killed:f1)" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert lab.tagged(tag) == [] and lab.connects()
    assert not (state / "killed.json").exists() and not timer_running(pool.get("tgt01"), pid, tag)
    again = CliRunner().invoke(heal_app, ["--state-dir", str(state)])
    assert again.exit_code == 0 and again.output.startswith("nothing to heal")


def test_cursors_collect_exactly_the_appended_bytes_across_rotation(lab: Lab, pool: SshPool) -> None:
    logdir = lab.tmp / "varlog"
    logdir.mkdir()
    vmk, vobd = logdir / "vmkernel.log", logdir / "vobd.log"
    vmk.write_bytes(b"2026-11-22T04:00:00.000Z cpu0:1)before the mark\n" * 50)
    vobd.write_bytes(b"")
    cur = LogCursors(pool.get("tgt01"), [str(vmk), str(vobd), str(logdir / "hostd.log")], "tgt01")
    cur.mark()
    a, b, c = b"appended before rotation\n" * 3, b"in the new file\n", b"vob line\n"
    with vmk.open("ab") as fh:
        fh.write(a)
    assert cur.tail() == {str(vmk): a}
    (logdir / "vmkernel.0.gz").write_bytes(gzip.compress(vmk.read_bytes()))  # rotate as ESXi does: gzip, new file
    vmk.unlink()
    vmk.write_bytes(b)
    vobd.write_bytes(c)
    assert cur.tail() == {str(vmk): b, str(vobd): c}
    got = cur.collect()
    assert got[str(vmk)].data == a + b and got[str(vmk)].rotated == (str(logdir / "vmkernel.0.gz"),)
    assert got[str(vobd)].data == c and got[str(logdir / "hostd.log")].data == b""


def test_clock_skew_to_a_host_on_our_own_clock_is_zero(pool: SshPool) -> None:
    skew = measure_skew(pool.get("tgt01"), "tgt01", samples=5)
    assert abs(skew.offset_s) <= skew.uncertainty_s + 0.01
    assert skew.uncertainty_s < 0.5


# -- against the embedded lab (simulated ESXi host, real ganesha/tgtd targets) -------------------------------------


@pytest.fixture(scope="module")
def embedded() -> Iterator[Inventory]:
    if os.geteuid() != 0:
        pytest.skip("needs root (sudo .venv/bin/pytest -m lab ...)")
    from faultlab.sim.lab import EmbeddedLab  # only the tests start the simulator

    with EmbeddedLab.up(hosts=1, vms=2) as lab:
        yield load_inventory(lab.inventory_path)


@pytest.fixture
def epool(embedded: Inventory) -> Iterator[SshPool]:
    with SshPool(embedded, command_timeout=30) as p:
        yield p


def test_esxi_role_parses_the_embedded_hosts_output(embedded: Inventory, epool: SshPool) -> None:
    host = EsxiHost.of(embedded, "esx01", epool.get("esx01"))
    apd = host.advanced_setting("Misc.APDTimeout")
    assert isinstance(apd, int) and apd > 0
    (mount,) = host.nfs_mounts()
    assert (mount.volume_name, mount.accessible, mount.mounted) == ("ds-nfs01", True, True)
    assert mount.host == embedded.target("nfs01").address
    (path,) = lun_paths(host)
    assert path.runtime_name.startswith("vmhba") and path.state == "active"
    assert [d.id for d in lun_devices(host)] == [path.device] == [embedded.datastore("ds-iscsi01").naa_id]
    vms = host.vms()
    assert [(v.name, v.file) for v in vms] == [(v.name, v.vmx_path) for v in embedded.vms]
    assert host.power_state(vms[0].vmid) == "poweredOn"


def test_blackhole_on_the_embedded_nfs_target_is_seen_live_and_healed(
    embedded: Inventory, epool: SshPool, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    host = EsxiHost.of(embedded, "esx01", epool.get("esx01"))
    vm = embedded.vm("win01")
    assert vm.vmx_path is not None
    cursors = LogCursors(epool.get("esx01"), esxi_log_paths(host.host.log_dir, [vm.vmx_path]), "esx01")
    cursors.mark()
    skew = measure_skew(epool.get("esx01"), "esx01")
    assert abs(skew.offset_s) <= skew.uncertainty_s + 0.05  # same kernel clock
    ledger = Ledger.create("emb1", tmp_path)
    injector = Injector(epool, ledger)
    fault = plan_fault(embedded, {"kind": "network-blackhole", "on": "nfs01"}, run_id="emb1",
                       scenario_vms=[v.name for v in embedded.vms], hold_s=120)  # fmt: skip
    injector.inject(fault)
    try:
        started = time.monotonic()
        seen = watch({"esx01": cursors}, lambda h, p, d: b"Lost connection to" in d, timeout_s=90, interval_s=0.5)
        assert seen, "the host did not log the lost NFS server within 90 s of the blackhole"
        record_property("nfs_lost_seen_after_s", round(time.monotonic() - started, 2))
    finally:
        assert injector.heal(fault).status == "healed"
    healed = time.monotonic()
    assert wait_for(lambda: host.nfs_mounts()[0].accessible, 90, 0.5), "datastore did not come back after heal"
    record_property("nfs_accessible_after_heal_s", round(time.monotonic() - healed, 2))
    collected = b"".join(c.data for c in cursors.collect().values())
    assert b"Lost connection to" in collected and b"esx.problem.vmfs.nfs.server.disconnect" in collected
    assert ledger.close()


def test_service_stop_and_freeze_on_the_embedded_nfs_target(
    embedded: Inventory, epool: SshPool, tmp_path: Path
) -> None:
    ledger = Ledger.create("emb2", tmp_path)
    injector = Injector(epool, ledger)
    names = [v.name for v in embedded.vms]
    target = StorageTargetRole.of(embedded, "nfs01", epool.get("nfs01"))
    for i, kind in enumerate(("service-stop", "process-freeze")):
        fault = plan_fault(embedded, {"kind": kind, "on": "nfs01"}, run_id="emb2", fault_id=f"f{i}", scenario_vms=names,
                           hold_s=60)  # fmt: skip
        injector.inject(fault)
        state = target.run_service("status", check=False).stdout
        assert ("inactive" in state) if kind == "service-stop" else ("frozen" in state)
        assert fault.verify_active(epool) is True
        assert injector.heal(fault).status == "healed"
        assert "active (running)" in target.run_service("status").stdout
    assert ledger.close()


def test_lun_remove_on_the_embedded_iscsi_target_is_pdl_and_heal_adds_it_back(
    embedded: Inventory, epool: SshPool, tmp_path: Path
) -> None:
    host = EsxiHost.of(embedded, "esx01", epool.get("esx01"))
    cursors = LogCursors(epool.get("esx01"), esxi_log_paths(host.host.log_dir), "esx01")
    cursors.mark()
    ledger = Ledger.create("emb3", tmp_path)
    injector = Injector(epool, ledger)
    fault = plan_fault(embedded, {"kind": "lun-remove", "on": "iscsi01"}, run_id="emb3",
                       scenario_vms=[v.name for v in embedded.vms], hold_s=60)  # fmt: skip
    luns = "tgtadm --lld iscsi --op show --mode target | grep -c 'LUN: 1$' || true"
    assert epool.get("iscsi01").run(luns).stdout.strip() == "1"
    injector.inject(fault)
    injector.inject(fault)  # the ledger says active: not removed twice
    try:
        assert epool.get("iscsi01").run(luns).stdout.strip() == "0"
        assert fault.verify_active(epool) is True  # the inventory's lun_status (faultlab-target lun-status)
        seen = watch({"esx01": cursors}, lambda h, p, d: b"permanentloss" in d, timeout_s=60, interval_s=0.5)
        assert seen, "the host did not log PDL (permanentloss) within 60 s of the LUN removal"
        assert wait_for(lambda: lun_devices(host)[0].status == "not connected", 30, 0.5)
    finally:
        assert injector.heal(fault).status == "healed"  # checked with the inventory's lun_status
    assert epool.get("iscsi01").run(luns).stdout.strip() == "1"
    assert injector.heal(fault).status == "already healed" and ledger.close()
    # the host finds the LUN again on its own time (the iSCSI session's recovery), after the heal's commands
    assert wait_for(lambda: lun_devices(host)[0].status != "not connected", 30, 0.5)


def test_lun_remove_with_an_explicit_lun_removes_that_lun_and_refuses_one_not_presented(
    embedded: Inventory, epool: SshPool, tmp_path: Path
) -> None:
    """`lun: 2` on a target presenting LUNs 1 and 2 removes LUN 2 only (the datastore's LUN 1 and its host are not
    touched) and heal presents the same disk again; `lun: 7`, not presented, is refused before anything changes."""
    target = epool.get("iscsi01")
    host = EsxiHost.of(embedded, "esx01", epool.get("esx01"))
    show = "tgtadm --lld iscsi --op show --mode target"

    def luns() -> list[str]:
        return [ln.split()[1] for ln in target.run(show).stdout.splitlines() if ln.strip().startswith("LUN: ")]

    def lun2_block() -> str:
        return target.run(f"{show} | awk '$1 == \"LUN:\" {{ on = ($2 == 2) }} on'").stdout

    ledger = Ledger.create("emb4", tmp_path / "state")
    injector = Injector(epool, ledger)
    assert luns() == ["0", "1"]  # LUN 0: tgt's controller; LUN 1: the VMFS datastore's disk
    not_there = plan_fault(embedded, {"kind": "lun-remove", "on": "iscsi01", "lun": 7}, run_id="emb4", fault_id="f7",
                           scenario_vms=[], hold_s=60)  # fmt: skip
    with pytest.raises(FaultRefusedError, match=r"does not present LUN 7 .*LUN 7 not presented.*nothing was changed"):
        injector.inject(not_there)
    assert luns() == ["0", "1"] and ledger.entries == [] and Ledger.load(ledger.path).entries == []
    assert injector.heal(not_there).status == "not injected" and luns() == ["0", "1"]  # heal adds no LUN 7 either
    assert target.run(f"pgrep -f '[f]aultlab-deadman {not_there.tag};'").exit_status == 1  # no timer was started

    disk = tmp_path / "lun2.img"
    with disk.open("wb") as fh:
        fh.truncate(16 << 20)
    add = f"tgtadm --lld iscsi --op new --mode logicalunit --tid 1 --lun 2 --backing-store {disk}"
    assert target.run(add).exit_status == 0
    try:
        before = lun2_block()
        assert f"Backing store path: {disk}" in before and luns() == ["0", "1", "2"]
        # no datastore of the inventory is on LUN 2: no VM to name
        fault = plan_fault(
            embedded, {"kind": "lun-remove", "on": "iscsi01", "lun": 2}, run_id="emb4", scenario_vms=[], hold_s=60
        )
        assert fault.params["lun_remove"] == "faultlab-target lun-remove 2" and fault.heal_shell().endswith("add 2")
        injector.inject(fault)
        try:
            assert luns() == ["0", "1"] and fault.verify_active(epool) is True
            assert target.run("faultlab-target lun-status 1").exit_status == 0
            assert lun_devices(host)[0].status != "not connected"  # the host's datastore LUN is not the one removed
        finally:
            assert injector.heal(fault).status == "healed"
        assert luns() == ["0", "1", "2"] and lun2_block() == before  # same backing store, same serial
        assert ledger.close()
    finally:
        target.run("tgtadm --lld iscsi --op delete --mode logicalunit --tid 1 --lun 2")
    assert luns() == ["0", "1"]
