"""Faults through a fake SSH boundary that keeps an iptables chain, a service and timers: tags, idempotence,
refusals, ledger-before-apply, dead-man timer life cycle, heal of leftovers; the timer's shell run for real."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Literal, get_args

import pytest

from faultlab.harness.faults import (
    FAULT_KINDS,
    KINDS,
    Fault,
    FaultError,
    FaultRefusedError,
    FaultSection,
    Injector,
    heal_ledger,
    heal_leftovers,
    parse_section,
    plan_fault,
    wait_for,
)
from faultlab.harness.faults.deadman import _match_script, marker_path, timer_script
from faultlab.harness.faults.kinds.base import FaultKind, FaultRef, Params, PlanContext, exits_zero, run_line
from faultlab.harness.faults.kinds.network import NetworkParams
from faultlab.harness.ledger import Ledger
from faultlab.harness.scenario import parse_scenario
from faultlab.lab.errors import ConfigError, FaultNotAllowedError
from faultlab.lab.esxi import Runner
from faultlab.lab.inventory import Datastore, Inventory, parse_inventory
from faultlab.lab.ssh import CommandResult
from faultlab.lab.target import Rule

INVENTORY = """
version: 1
ssh: {user: root, private_key: /nonexistent/key, insecure_accept_any_host_key: true}
hosts:
  - {name: esx01, address: 198.18.1.11, allow_faults: true}
  - {name: esx02, address: 198.18.1.12}
storage_targets:
  - name: nfs01
    kind: nfs
    address: 198.18.1.21
    allow_faults: true
    ports: {nfs: 2049, rpcbind: 111, mountd: 20048}
    service: {start: svc start, stop: svc stop, status: svc status, freeze: svc freeze, thaw: svc thaw}
  - name: iscsi01
    kind: iscsi
    address: 198.18.1.31
    allow_faults: true
    ssh: {user: faultlab}
    ports: {iscsi: 3260}
    service: {start: [tgt, start], stop: [tgt, stop], lun_remove: lun remove, lun_add: lun add}
  - name: nfs02
    kind: nfs
    address: 198.18.1.22
    ports: {nfs: 2049}
    service: {start: svc start, stop: svc stop}
datastores:
  - {name: ds-nfs01, type: nfs, target: nfs01, hosts: [esx01]}
  - {name: ds-iscsi01, type: vmfs, target: iscsi01, hosts: [esx01, esx02], naa_id: naa.6001405abcdef01}
  - {name: ds-nfs02, type: nfs, target: nfs02}
vms:
  - {name: win01, host: esx01, datastore: ds-nfs01}
  - {name: win02, host: esx01, datastore: ds-nfs01}
  - {name: db01, host: esx02, datastore: ds-iscsi01}
"""

PATH_LIST = """iqn.1998-01.com.vmware:esx01-1,iqn.2026-11.lab:lun01,t,1-naa.6001405abcdef01
   UID: iqn.1998-01.com.vmware:esx01-1,iqn.2026-11.lab:lun01,t,1-naa.6001405abcdef01
   Runtime Name: vmhba64:C0:T0:L1
   Device: naa.6001405abcdef01
   State: {state}

iqn.1998-01.com.vmware:esx01-1,iqn.2026-11.lab:lun01,t,2-naa.6001405abcdef01
   UID: iqn.1998-01.com.vmware:esx01-1,iqn.2026-11.lab:lun01,t,2-naa.6001405abcdef01
   Runtime Name: vmhba64:C1:T0:L1
   Device: naa.6001405abcdef01
   State: off

mpx.vmhba0:C0:T0:L0
   UID: mpx.vmhba0:C0:T0:L0
   Runtime Name: vmhba0:C0:T0:L0
   Device: mpx.vmhba0:C0:T0:L0
   State: active
"""


def ok(out: str = "", status: int = 0, err: str = "") -> CommandResult:
    return CommandResult(argv="", exit_status=status, stdout=out, stderr=err, duration=0.0)


class FakeNode:
    """A storage target or ESXi host as seen over SSH: an INPUT chain, a service, timers, esxcli paths."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.chain: list[tuple[str, ...]] = []
        self.commands: list[str] = []
        self.service = "running"  # running | stopped | frozen
        self.luns = {1}  # the LUNs the target presents
        self.path_state = "active"
        self.timers: dict[int, str] = {}  # pid -> tag
        self.next_pid = 4000
        self.hooks: dict[str, Callable[[], None]] = {}  # command prefix -> called before it runs
        self.break_iptables_insert = False
        self.sudo_used = False
        self.markers: set[str] = set()
        self.extra: dict[str, Callable[[list[str]], CommandResult]] = {}  # first word -> a test's own command

    def run(self, argv: list[str] | str, timeout: float | None = None, check: bool = False) -> CommandResult:
        line = argv if isinstance(argv, str) else shlex.join(argv)
        self.commands.append(line)
        for prefix, hook in self.hooks.items():
            if line.startswith(prefix):
                hook()
        words = shlex.split(line) if isinstance(argv, str) and "nohup" not in line and "/proc" not in line else []
        if not isinstance(argv, str):
            words = list(argv)
        if words[:2] == ["sudo", "-n"]:
            self.sudo_used = True
            words = words[2:]
        if words[:3] == ["iptables", "-w", "5"]:
            return self._iptables(words[3:])
        if "nohup sh -c" in line:
            pid, self.next_pid = self.next_pid, self.next_pid + 1
            self.timers[pid] = re.search(r"faultlab-deadman (\S+);", line)[1]  # type: ignore[index]
            return ok(f"{pid}\n")
        if "/proc/" in line:
            pid = int(re.search(r"/proc/(\d+)/cmdline", line)[1])  # type: ignore[index]
            tag = re.search(r"faultlab-deadman (\S+);", line)[1]  # type: ignore[index]
            if pid not in self.timers:
                return ok(status=3)
            if self.timers[pid] != tag:
                return ok(status=4)
            if "kill" in line:
                del self.timers[pid]
            if "rm -f" in line:  # cancel_timer(clear_marks=True): the markers go after the kill
                self.markers.difference_update(shlex.split(line.split("rm -f", 1)[1].split(";", 1)[0]))
            return ok()
        if line.startswith("[ -e ") and "faultlab-deadman" in line:  # timer_marks: which markers exist
            found = [m.rsplit(".", 1)[1] for m in re.findall(r"\[ -e (\S+) \]", line) if m in self.markers]
            return ok("".join(f"{m}\n" for m in found))
        if words[:2] == ["test", "-e"]:
            return ok(status=0 if words[2] in self.markers else 1)
        if words[:2] == ["rm", "-f"]:
            self.markers.difference_update(words[2:])
            return ok()
        return self._service(words)

    @property
    def lun(self) -> bool:
        return 1 in self.luns

    def fire(self, pid: int, heal_line: str) -> None:
        """The timer's sleep ran out: it runs the heal and leaves its marker when the heal succeeded."""
        tag = self.timers.pop(pid)
        self.markers.add(marker_path(tag, "firing"))
        if self.run(heal_line).succeeded:
            self.markers.add(marker_path(tag))

    def _iptables(self, args: list[str]) -> CommandResult:
        op, chain = args[0], args[1]
        assert chain == "INPUT"
        if op == "-S":
            return ok("-P INPUT ACCEPT\n" + "".join(f"-A INPUT {shlex.join(r)}\n" for r in self.chain))
        if op == "-C":
            return ok(status=0 if tuple(args[2:]) in self.chain else 1)
        if op == "-I":
            if self.break_iptables_insert:
                return ok(status=2, err="iptables: broken")
            self.chain.insert(int(args[2]) - 1, tuple(args[3:]))
            return ok()
        if op == "-D":
            spec = tuple(args[2:])
            if spec in self.chain:
                self.chain.remove(spec)
                return ok()
            return ok(status=1, err="Bad rule")
        raise AssertionError(op)

    def _service(self, words: list[str]) -> CommandResult:
        cmd = " ".join(words)
        if words[0] in self.extra:
            return self.extra[words[0]](words)
        if cmd in ("svc stop", "tgt stop"):
            self.service = "stopped"
        elif cmd in ("svc start", "tgt start"):
            self.service = "running"
        elif cmd == "svc status":
            return ok(f"x: {self.service}\n", 0 if self.service != "stopped" else 3)
        elif cmd == "svc freeze":
            self.service = "frozen"
        elif cmd == "svc thaw":
            self.service = "running"
        elif words[0] == "lun":  # lun remove|add|status [N]: tgtadm's answers for LUN N (default 1)
            n = int(words[2]) if len(words) > 2 else 1
            if words[1] == "status":
                return ok(f"LUN {n} presented\n" if n in self.luns else "", 0 if n in self.luns else 3)
            if words[1] == "remove":
                if n not in self.luns:
                    return ok(status=22, err="can't find the logical unit")
                self.luns.discard(n)
            elif n in self.luns:
                return ok(status=22, err="this logical unit number already exists")
            else:
                self.luns.add(n)
        elif words[:4] == ["esxcli", "storage", "core", "path"]:
            if words[4] == "list":
                return ok(PATH_LIST.format(state=self.path_state))
            self.path_state = words[words.index("--state") + 1]
        else:
            raise AssertionError(f"unexpected command {cmd!r}")
        return ok()


class FakePool:
    def __init__(self) -> None:
        self.nodes: dict[str, FakeNode] = {}

    def get(self, name: str) -> FakeNode:
        return self.nodes.setdefault(name, FakeNode(name))


@pytest.fixture
def inv() -> Inventory:
    return parse_inventory(INVENTORY, check_files=False)


@pytest.fixture
def pool() -> FakePool:
    return FakePool()


def blackhole(inv: Inventory, fault_id: str = "f1", kind: str = "network-blackhole") -> Fault:
    return plan_fault(inv, {"kind": kind, "on": "nfs01"}, run_id="r1", scenario_vms=["win01", "win02"], hold_s=10,
                      grace_s=5, fault_id=fault_id)  # fmt: skip


def rules_of(f: Fault) -> list[Rule]:
    return NetworkParams.model_validate(f.params).rule_list()


# -- planning and refusals ---------------------------------------------------------------------------------


def test_blackhole_rules_are_tagged_per_host_address_and_port(inv: Inventory) -> None:
    f = blackhole(inv)
    assert f.tag == "faultlab:r1:f1" and f.deadline_s == 15
    specs = [" ".join(r.spec) for r in rules_of(f)]
    assert specs == [
        "-s 198.18.1.11 -p tcp -m multiport --dports 111,2049,20048 -m comment --comment faultlab:r1:f1 -j DROP",
        "-s 198.18.1.11 -p udp -m multiport --dports 111,2049,20048 -m comment --comment faultlab:r1:f1 -j DROP",
    ]


def test_reject_uses_tcp_reset_and_iscsi_has_no_udp(inv: Inventory) -> None:
    f = plan_fault(inv, {"kind": "network-reject", "on": "iscsi01"}, run_id="r1", scenario_vms=["db01"], hold_s=1)
    assert [" ".join(r.spec) for r in rules_of(f)] == [
        f"-s {ip} -p tcp -m multiport --dports 3260 -m comment --comment faultlab:r1:f1 "
        "-j REJECT --reject-with tcp-reset"
        for ip in ("198.18.1.11", "198.18.1.12")
    ]
    assert NetworkParams.model_validate(f.params).argv == [
        "sudo",
        "-n",
        "iptables",
        "-w",
        "5",
    ]  # the target's SSH user is not root
    assert f.heal_shell().count("sudo -n iptables -w 5 -D INPUT -s 198.18.1.1") == 2
    f2 = plan_fault(inv, {"kind": "network-reject", "on": "nfs01", "ports": ["nfs"]}, run_id="r1",
                    scenario_vms=["win01", "win02"], hold_s=1)  # fmt: skip
    assert rules_of(f2)[1].spec[-3:] == ("REJECT", "--reject-with", "icmp-port-unreachable")
    assert NetworkParams.model_validate(f2.params).argv == ["iptables", "-w", "5"] and "sudo" not in f2.heal_shell()
    assert "2049" in rules_of(f2)[0].spec and "111" not in " ".join(rules_of(f2)[0].spec)


def test_target_without_allow_faults_is_refused(inv: Inventory) -> None:
    with pytest.raises(FaultNotAllowedError, match=r"storage_targets\[2\]\.allow_faults.*'nfs02'.*allow_faults: true"):
        plan_fault(inv, {"kind": "service-stop", "on": "nfs02"}, run_id="r1", scenario_vms=[], hold_s=1)


def test_datastore_with_unnamed_vms_is_refused_listing_them(inv: Inventory) -> None:
    with pytest.raises(FaultRefusedError, match=r"ds-nfs01: win02") as info:
        plan_fault(inv, {"kind": "network-blackhole", "on": "nfs01"}, run_id="r1", scenario_vms=["win01"], hold_s=1)
    assert info.value.vms == ("win02",)
    with pytest.raises(FaultRefusedError, match="db01"):
        plan_fault(inv, {"kind": "esxi-path-off", "on": "esx01", "path": "p"}, run_id="r1", scenario_vms=[], hold_s=1)


def test_unknown_port_name_and_missing_commands_are_refused(inv: Inventory) -> None:
    with pytest.raises(FaultRefusedError, match=r"target nfs01 has no port 'iscsi' \(nfs, rpcbind, mountd\)"):
        plan_fault(inv, {"kind": "network-blackhole", "on": "nfs01", "ports": ["iscsi"]}, run_id="r",
                   scenario_vms=["win01", "win02"], hold_s=1)  # fmt: skip
    with pytest.raises(FaultRefusedError, match="lun-remove needs an iscsi target; nfs01 is nfs"):
        plan_fault(inv, {"kind": "lun-remove", "on": "nfs01"}, run_id="r", scenario_vms=["win01", "win02"], hold_s=1)
    with pytest.raises(FaultRefusedError, match=r"process-freeze on iscsi01: the inventory gives no service.freeze"):
        plan_fault(inv, {"kind": "process-freeze", "on": "iscsi01"}, run_id="r", scenario_vms=["db01"], hold_s=1)


def test_refusal_happens_before_anything_changes(inv: Inventory, pool: FakePool, tmp_path: Path) -> None:
    ledger = Ledger.create("r1", tmp_path)
    with pytest.raises(FaultRefusedError):
        Injector(pool, ledger).inject(
            plan_fault(inv, {"kind": "network-blackhole", "on": "nfs01"}, run_id="r1", scenario_vms=[], hold_s=1)
        )
    assert pool.nodes == {} and ledger.entries == []


# -- network faults ------------------------------------------------------------------------------------------


def test_inject_twice_is_one_set_of_rules_and_heal_twice_is_a_noop(inv: Inventory, pool: FakePool) -> None:
    f = blackhole(inv)
    f.inject(pool)
    f.inject(pool)
    node = pool.get("nfs01")
    assert len(node.chain) == 2 and f.verify_active(pool) is True
    assert f.heal(pool) is True
    assert node.chain == [] and f.verify_healed(pool) is True
    before = len(node.commands)
    assert f.heal(pool) is False
    assert not any(" -D " in c for c in node.commands[before:])


def test_non_root_target_goes_through_sudo(inv: Inventory, pool: FakePool) -> None:
    f = plan_fault(inv, {"kind": "network-blackhole", "on": "iscsi01"}, run_id="r1", scenario_vms=["db01"], hold_s=1)
    f.inject(pool)
    node = pool.get("iscsi01")
    assert node.sudo_used and len(node.chain) == 2
    assert all(c.startswith("sudo -n iptables -w 5 ") for c in node.commands)
    assert f.heal(pool) and node.chain == []


def test_heal_removes_only_our_tag(inv: Inventory, pool: FakePool) -> None:
    node = pool.get("nfs01")
    foreign = ("-s", "10.0.0.1/32", "-p", "tcp", "-m", "comment", "--comment", "admin rule", "-j", "ACCEPT")
    node.chain.append(foreign)
    f1, f10 = blackhole(inv, "f1"), blackhole(inv, "f10")  # f1 must not match f10's tag as a prefix
    f1.inject(pool)
    f10.inject(pool)
    assert len(node.chain) == 5
    f1.heal(pool)
    assert foreign in node.chain and len(node.chain) == 3
    assert all("faultlab:r1:f10" in r for r in node.chain if r != foreign)


# -- the injector: ledger first, dead-man timer, verify, rollback -----------------------------------------------


def test_ledger_and_timer_come_before_the_rule(inv: Inventory, pool: FakePool, tmp_path: Path) -> None:
    ledger = Ledger.create("r1", tmp_path, inventory="/x/inv.yaml")
    f = blackhole(inv)
    node = pool.get("nfs01")
    seen: list[dict[str, object]] = []
    node.hooks["iptables -w 5 -I"] = lambda: seen.append(Ledger.load(ledger.path).entries[0].__dict__.copy())
    Injector(pool, ledger).inject(f)
    assert seen and seen[0]["state"] == "pending" and seen[0]["timer_pid"] == 4000
    timer_at = next(i for i, c in enumerate(node.commands) if "nohup" in c)
    first_rule = next(i for i, c in enumerate(node.commands) if " -I " in c)
    assert timer_at < first_rule
    assert "sleep 15 &" in node.commands[timer_at] and node.timers == {4000: "faultlab:r1:f1"}
    entry = Ledger.load(ledger.path).entries[0]
    assert (entry.state, entry.timer_node, entry.fault["kind"]) == ("active", "nfs01", "network-blackhole")


def test_heal_cancels_the_timer_and_clears_the_ledger(inv: Inventory, pool: FakePool, tmp_path: Path) -> None:
    ledger = Ledger.create("r1", tmp_path)
    injector = Injector(pool, ledger)
    f = blackhole(inv)
    injector.inject(f)
    injector.inject(f)  # idempotent: the ledger says active, nothing more happens
    node = pool.get("nfs01")
    assert len(node.chain) == 2 and len(node.timers) == 1
    outcome = injector.heal(f)
    assert outcome.status == "healed" and outcome.ok
    assert node.chain == [] and node.timers == {}
    assert injector.heal(f).status == "already healed"
    injector.inject(f)  # injected again after its heal: applied again, with a fresh timer
    assert len(node.chain) == 2 and list(node.timers) == [4001]
    assert injector.heal(f).status == "healed" and node.timers == {}
    assert ledger.close() and not ledger.path.exists()


def test_cancel_does_not_kill_a_reused_pid(inv: Inventory, pool: FakePool, tmp_path: Path) -> None:
    ledger = Ledger.create("r1", tmp_path)
    injector = Injector(pool, ledger)
    f = blackhole(inv)
    injector.inject(f)
    node = pool.get("nfs01")
    node.timers[4000] = "faultlab:other:f9"  # the pid now belongs to someone else's timer
    injector.heal(f)
    assert node.timers == {4000: "faultlab:other:f9"}
    assert any("/proc/4000/cmdline" in c and "kill 4000" in c for c in node.commands)


def test_failed_inject_is_rolled_back(inv: Inventory, pool: FakePool, tmp_path: Path) -> None:
    ledger = Ledger.create("r1", tmp_path)
    node = pool.get("nfs01")
    node.break_iptables_insert = True
    with pytest.raises(FaultError, match="iptables -I INPUT"):
        Injector(pool, ledger).inject(blackhole(inv))
    assert node.timers == {} and node.chain == []
    assert Ledger.load(ledger.path).entries[0].state == "healed"


def test_service_stop_and_freeze(inv: Inventory, pool: FakePool, tmp_path: Path) -> None:
    ledger = Ledger.create("r1", tmp_path)
    injector = Injector(pool, ledger, verify_timeout_s=1)
    node = pool.get("nfs01")
    stop = plan_fault(
        inv, {"kind": "service-stop", "on": "nfs01"}, run_id="r1", scenario_vms=["win01", "win02"], hold_s=1
    )
    injector.inject(stop)
    assert node.service == "stopped" and stop.verify_active(pool) is True
    assert injector.heal(stop).status == "healed" and node.service == "running"
    freeze = plan_fault(inv, {"kind": "process-freeze", "on": "nfs01"}, run_id="r1", fault_id="f2",
                        scenario_vms=["win01", "win02"], hold_s=1)  # fmt: skip
    assert freeze.params["frozen_check"] == "svc status | grep -qi frozen"
    assert freeze.heal_shell() == "svc thaw"


def test_lun_remove_is_idempotent_through_the_ledger(inv: Inventory, pool: FakePool, tmp_path: Path) -> None:
    ledger = Ledger.create("r1", tmp_path)
    injector = Injector(pool, ledger, verify_timeout_s=1)
    f = plan_fault(inv, {"kind": "lun-remove", "on": "iscsi01"}, run_id="r1", scenario_vms=["db01"], hold_s=1)
    injector.inject(f)
    injector.inject(f)
    node = pool.get("iscsi01")
    assert node.lun is False and sum(c == "lun remove" for c in node.commands) == 1
    assert injector.heal(f).status == "unverified"
    assert injector.heal(f).status == "already healed"
    assert node.lun is True and sum(c == "lun add" for c in node.commands) == 1
    # again, and this time the dead-man timer heals first: heal must not add the LUN a second time
    g = plan_fault(
        inv, {"kind": "lun-remove", "on": "iscsi01"}, run_id="r1", fault_id="f2", scenario_vms=["db01"], hold_s=1
    )
    injector.inject(g)
    (pid,) = node.timers
    node.fire(pid, g.heal_shell())
    assert node.lun is True and node.markers == {marker_path(g.tag), marker_path(g.tag, "firing")}
    outcome = injector.heal(g)
    assert (outcome.status, outcome.ok) == ("healed by timer", True)
    assert sum(c == "lun add" for c in node.commands) == 2 and node.markers == set()
    entry = Ledger.load(ledger.path).entry("f2")
    assert entry is not None and entry.note == "healed by the dead-man timer"


def test_esxi_path_off(inv: Inventory, pool: FakePool, tmp_path: Path) -> None:
    ledger = Ledger.create("r1", tmp_path)
    f = plan_fault(inv, {"kind": "esxi-path-off", "on": "esx01", "path": "vmhba64:C0:T0:L1"}, run_id="r1",
                   scenario_vms=["db01"], hold_s=1)  # fmt: skip
    injector = Injector(pool, ledger, verify_timeout_s=1)
    injector.inject(f)
    assert pool.get("esx01").path_state == "off" and f.verify_active(pool) is True
    assert "esxcli storage core path set --state active -p vmhba64:C0:T0:L1" in f.heal_shell()
    assert injector.heal(f).status == "healed" and pool.get("esx01").path_state == "active"


def test_esxi_path_off_by_datastore_resolves_paths_before_applying(
    inv: Inventory, pool: FakePool, tmp_path: Path
) -> None:
    ledger = Ledger.create("r1", tmp_path)
    f = plan_fault(inv, {"kind": "esxi-path-off", "on": "esx01"}, run_id="r1", scenario_vms=["db01"], hold_s=1,
                   datastore="ds-iscsi01")  # fmt: skip
    assert f.params == {"devices": ["naa.6001405abcdef01"]}
    node = pool.get("esx01")
    seen: list[object] = []
    node.hooks["esxcli storage core path set"] = lambda: seen.append(Ledger.load(ledger.path).entries[0].fault)
    Injector(pool, ledger, verify_timeout_s=1).inject(f)
    # the path already off (an admin's) is not ours: it is neither switched off nor re-enabled by heal
    assert f.params["paths"] == ["vmhba64:C0:T0:L1"]
    assert seen and seen[0]["params"]["paths"] == ["vmhba64:C0:T0:L1"]  # type: ignore[index]
    assert "vmhba64:C1:T0:L1" not in f.heal_shell() and "vmhba0" not in f.heal_shell()


def test_heal_leftovers_of_a_dead_run_skips_live_runs(inv: Inventory, pool: FakePool, tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    crashed = Ledger.create("crashed", tmp_path)
    crashed.owner_pid = dead.pid
    crashed.save()
    f = plan_fault(inv, {"kind": "network-blackhole", "on": "nfs01"}, run_id="crashed", scenario_vms=["win01", "win02"],
                   hold_s=1)  # fmt: skip
    Injector(pool, crashed).inject(f)
    live = Ledger.create("live", tmp_path)  # owned by this (alive) process
    g = plan_fault(
        inv, {"kind": "service-stop", "on": "nfs01"}, run_id="live", scenario_vms=["win01", "win02"], hold_s=1
    )
    Injector(pool, live).inject(g)
    outcomes = heal_leftovers(pool, tmp_path, verify_timeout_s=1)
    assert [(o.run_id, o.status) for o in outcomes] == [("crashed", "healed")]
    assert not crashed.path.exists() and live.path.exists()
    node = pool.get("nfs01")
    assert node.chain == [] and node.service == "stopped"
    assert "healed" in outcomes[0].line() and "network-blackhole on nfs01" in outcomes[0].line()


# -- the dead-man shell, run for real against a stand-in iptables ------------------------------------------------


def _fake_iptables(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "iptables"
    # Holds one rule per line in rules.txt; -D deletes one matching line or exits 1.
    script.write_text(
        f"""#!/bin/sh
shift 2; op=$1; shift 2; rule="$*"; db={tmp_path}/rules.txt
[ "$op" = -D ] || exit 2
grep -qxF -- "$rule" "$db" || exit 1
awk -v r="$rule" 'd || $0 != r {{ print; next }} {{ d = 1 }}' "$db" > "$db.new" && mv "$db.new" "$db"
"""
    )
    script.chmod(0o755)
    return bin_dir


def _gone(pid: int) -> bool:
    """The process has exited (a zombie counts: it is not our child, init reaps it when it gets to it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def test_dead_man_shell_heals_by_itself_and_can_be_cancelled(inv: Inventory, tmp_path: Path) -> None:
    f = plan_fault(inv, {"kind": "network-blackhole", "on": "nfs01"}, run_id=f"u{os.getpid()}",
                   scenario_vms=["win01", "win02"], hold_s=1)  # fmt: skip
    bin_dir = _fake_iptables(tmp_path)
    rules = tmp_path / "rules.txt"
    ours = [" ".join(r.spec) for r in rules_of(f)]
    rules.write_text("\n".join([*ours, ours[0], "-s 10.0.0.1 -j ACCEPT"]) + "\n")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    res = subprocess.run(["sh", "-c", timer_script(f.tag, 0.2, f.heal_shell())], env=env, capture_output=True,
                         text=True, timeout=10, check=True)  # fmt: skip
    pid = int(res.stdout)
    assert wait_for(lambda: _gone(pid), 10, 0.05)
    assert rules.read_text() == "-s 10.0.0.1 -j ACCEPT\n"
    marker = Path(marker_path(f.tag))
    assert marker.exists()  # the heal succeeded: the timer says so
    marker.unlink()
    Path(marker_path(f.tag, "firing")).unlink()  # written before its heal began
    # cancelled: the rules stay, the timer is gone (the timer's pid is not our child: /proc is polled)
    rules.write_text("\n".join(ours) + "\n")
    res = subprocess.run(["sh", "-c", timer_script(f.tag, 30, f.heal_shell())], env=env, capture_output=True,
                         text=True, timeout=10, check=True)  # fmt: skip
    pid = int(res.stdout)
    assert subprocess.run(["sh", "-c", _match_script(pid, "faultlab:r1:f2", "exit 0")], check=False).returncode == 4
    sleeper = wait_for(lambda: bool(_children(pid)), 5, 0.02) and _children(pid)[0]
    assert sleeper and Path(f"/proc/{sleeper}/cmdline").read_bytes().startswith(b"sleep\x0030")
    assert subprocess.run(["sh", "-c", _match_script(pid, f.tag, f"kill {pid}")], check=False).returncode == 0
    assert wait_for(lambda: _gone(pid) and _gone(sleeper), 10, 0.05)  # the trap took the sleep along
    assert rules.read_text() == "\n".join(ours) + "\n"
    assert not Path(marker_path(f.tag)).exists()  # a cancelled timer healed nothing
    assert not Path(marker_path(f.tag, "firing")).exists()  # nor began to


def test_lun_remove_with_a_lun_status_command_is_verified_both_ways(pool: FakePool, tmp_path: Path) -> None:
    text = INVENTORY.replace(
        "lun_remove: lun remove, lun_add: lun add}", "lun_remove: lun remove, lun_add: lun add, lun_status: lun status}"
    )
    assert text != INVENTORY
    inv = parse_inventory(text, check_files=False)
    injector = Injector(pool, Ledger.create("r1", tmp_path), verify_timeout_s=1)
    f = plan_fault(inv, {"kind": "lun-remove", "on": "iscsi01"}, run_id="r1", scenario_vms=["db01"], hold_s=1)
    assert f.verify_active(pool) is False  # the LUN is there: the fault is not in place yet
    injector.inject(f)
    node = pool.get("iscsi01")
    assert node.lun is False and f.verify_active(pool) is True
    assert injector.heal(f).status == "healed" and node.lun is True and f.verify_healed(pool) is True


# -- the kinds, one by one, through the registry ---------------------------------------------------------------

LUN_INVENTORY = INVENTORY.replace(
    "lun_remove: lun remove, lun_add: lun add}",
    "lun_remove: 'lun remove {lun}', lun_add: 'lun add {lun}', lun_status: 'lun status {lun}'}",
).replace("naa_id: naa.6001405abcdef01}", "naa_id: naa.6001405abcdef01, lun: 1}")


@pytest.fixture
def lun_inv() -> Inventory:
    assert LUN_INVENTORY.count("{lun}") == 3 and "lun: 1}" in LUN_INVENTORY
    return parse_inventory(LUN_INVENTORY, check_files=False)


def test_every_kind_is_one_registry_line_with_its_own_section() -> None:
    assert FAULT_KINDS == (
        "network-blackhole", "network-reject", "service-stop", "process-freeze", "lun-remove", "esxi-path-off",
        "memory-leak",
    )  # fmt: skip
    for name, kind in KINDS.items():
        assert kind.name == name and get_args(kind.section.model_fields["kind"].annotation) == (name,)
        assert parse_section({"kind": name, "on": "x"}).kind == name
    with pytest.raises(ValueError, match="unknown fault kind 'network-drop'"):
        Fault("network-drop", "nfs01", "r1", "f1", 1.0)


def test_service_stop_plan_and_heal_line(inv: Inventory, pool: FakePool) -> None:
    f = plan_fault(inv, {"kind": "service-stop", "on": "nfs01"}, run_id="r1", scenario_vms=["win01", "win02"], hold_s=3,
                   grace_s=2)  # fmt: skip
    assert (f.node, f.deadline_s, f.params) == ("nfs01", 5, {"stop": "svc stop", "start": "svc start",
                                                             "status": "svc status"})  # fmt: skip
    assert f.heal_shell() == "svc start"
    g = plan_fault(inv, {"kind": "service-stop", "on": "iscsi01"}, run_id="r1", scenario_vms=["db01"], hold_s=1)
    assert g.params == {"stop": "tgt stop", "start": "tgt start"}  # argv lists quoted into shell lines
    assert g.verify_active(pool) is None and g.verify_healed(pool) is None  # no status command: unverifiable


def test_lun_remove_fills_in_the_datastores_lun_or_the_scenarios(lun_inv: Inventory) -> None:
    f = plan_fault(lun_inv, {"kind": "lun-remove", "on": "iscsi01"}, run_id="r1", scenario_vms=["db01"], hold_s=1,
                   datastore="ds-iscsi01")  # fmt: skip
    assert f.params == {"lun_remove": "lun remove 1", "lun_add": "lun add 1", "lun_check": "lun status 1", "lun": 1}
    assert f.heal_shell() == "lun add 1"
    g = plan_fault(lun_inv, {"kind": "lun-remove", "on": "iscsi01", "lun": 2}, run_id="r1", scenario_vms=[], hold_s=1)
    assert (g.params["lun_remove"], g.params["lun"], g.heal_shell()) == ("lun remove 2", 2, "lun add 2")
    # LUN 2 holds no datastore of the inventory: db01 (on LUN 1) is no bystander; LUN 1's removal would cut it off
    with pytest.raises(FaultRefusedError, match="ds-iscsi01: db01"):
        plan_fault(lun_inv, {"kind": "lun-remove", "on": "iscsi01", "lun": 1}, run_id="r1", scenario_vms=[], hold_s=1)


def test_lun_named_with_fixed_commands_or_without_status_is_refused(inv: Inventory) -> None:
    with pytest.raises(FaultRefusedError, match=r"names LUN 2, but service.lun_remove/lun_add of iscsi01 act on one"):
        plan_fault(inv, {"kind": "lun-remove", "on": "iscsi01", "lun": 2}, run_id="r1", scenario_vms=["db01"], hold_s=1)
    no_status = parse_inventory(
        INVENTORY.replace("lun_remove: lun remove, lun_add: lun add}", "lun_remove: 'lun remove {lun}', "
                          "lun_add: 'lun add {lun}'}"), check_files=False)  # fmt: skip
    with pytest.raises(FaultRefusedError, match=r"naming LUN 2 needs service.lun_status \(with \{lun\}\) on iscsi01"):
        plan_fault(no_status, {"kind": "lun-remove", "on": "iscsi01", "lun": 2}, run_id="r1", scenario_vms=["db01"],
                   hold_s=1)  # fmt: skip
    mixed = parse_inventory(INVENTORY.replace("lun_remove: lun remove,", "lun_remove: 'lun remove {lun}',"),
                            check_files=False)  # fmt: skip
    with pytest.raises(FaultRefusedError, match=r"must all take \{lun\}"):
        plan_fault(mixed, {"kind": "lun-remove", "on": "iscsi01"}, run_id="r1", scenario_vms=["db01"], hold_s=1)


def test_a_lun_the_target_does_not_present_is_refused_before_anything_changes(
    lun_inv: Inventory, pool: FakePool, tmp_path: Path
) -> None:
    ledger = Ledger.create("r1", tmp_path)
    injector = Injector(pool, ledger, verify_timeout_s=1)
    f = plan_fault(lun_inv, {"kind": "lun-remove", "on": "iscsi01", "lun": 7}, run_id="r1", scenario_vms=[], hold_s=1)
    with pytest.raises(FaultRefusedError, match=r"does not present LUN 7 \('lun status 7' exited 3\); nothing was"):
        injector.inject(f)
    node = pool.get("iscsi01")
    assert node.commands == ["lun status 7"] and node.luns == {1} and node.timers == {}
    assert ledger.entries == [] and Ledger.load(ledger.path).entries == []
    # the runner heals in `finally`: a fault never written down was never applied, so heal adds no LUN 7
    assert injector.heal(f).status == "not injected" and node.commands == ["lun status 7"] and node.luns == {1}


def test_the_named_lun_is_the_one_removed_and_added_back(lun_inv: Inventory, pool: FakePool, tmp_path: Path) -> None:
    node = pool.get("iscsi01")
    node.luns = {1, 2}
    injector = Injector(pool, Ledger.create("r1", tmp_path), verify_timeout_s=1)
    f = plan_fault(lun_inv, {"kind": "lun-remove", "on": "iscsi01", "lun": 2}, run_id="r1", scenario_vms=[], hold_s=1)
    injector.inject(f)
    assert node.luns == {1} and f.verify_active(pool) is True
    assert injector.heal(f).status == "healed" and node.luns == {1, 2}
    assert [c for c in node.commands if c.startswith("lun ") and "status" not in c] == ["lun remove 2", "lun add 2"]


def test_scenario_lun_key_reaches_the_plan(lun_inv: Inventory) -> None:
    sc = parse_scenario(
        "name: pdl\nstory: s\ntarget: {host: esx02, datastore: ds-iscsi01, vm: db01}\n"
        "fault: {kind: lun-remove, on: iscsi01, lun: 2}\nhold: 5s\nexpect: {in_order: [pdl]}\n",
        "pdl.yaml",
    )
    sc.check_against(lun_inv)
    f = plan_fault(lun_inv, sc.fault, run_id="r1", scenario_vms=["db01"], hold_s=5, datastore="ds-iscsi01")
    assert f.params["lun"] == 2 and f.params["lun_remove"] == "lun remove 2"
    fixed = parse_inventory(INVENTORY, check_files=False)
    with pytest.raises(ConfigError, match=r"pdl.yaml, line 4, key fault.lun: the scenario names LUN 2"):
        sc.check_against(fixed)


def test_an_old_ledger_entry_still_heals(pool: FakePool, tmp_path: Path) -> None:
    """A ledger written before the kinds were plug-ins (same params keys, no `lun`) loads and heals."""
    ledger = Ledger.create("old", tmp_path)
    params = {"lun_remove": "lun remove", "lun_add": "lun add", "lun_check": "lun status"}
    ledger.record({"kind": "lun-remove", "node": "iscsi01", "run_id": "old", "fault_id": "f1", "deadline_s": 9.0,
                   "params": params})  # fmt: skip
    pool.get("iscsi01").luns = set()
    (outcome,) = heal_ledger(pool, ledger, verify_timeout_s=1)
    assert outcome.status == "healed" and pool.get("iscsi01").luns == {1}


# -- a host-side kind (the shape of issue 14's memory-leak) is one module and one registry line -----------------


class HogFault(FaultSection):
    """A process started on the host that holds memory until healed (test stand-in)."""

    kind: Literal["test-hog"]
    process: str = "VMap"


class HogParams(Params):
    process: str


class HogKind(FaultKind[HogFault, HogParams]):
    name = "test-hog"
    section = HogFault
    params = HogParams
    acts_on: ClassVar[Literal["target", "host"]] = "host"

    def affected_datastores(self, ctx: PlanContext, section: HogFault) -> list[Datastore]:
        return []  # the host itself, no datastore

    def plan(self, ctx: PlanContext, section: HogFault) -> HogParams:
        return HogParams(process=section.process)

    def inject(self, ref: FaultRef, params: HogParams, client: Runner) -> None:
        run_line(ref, client, f"hog start {params.process}")

    def heal(self, ref: FaultRef, params: HogParams, client: Runner) -> None:
        run_line(ref, client, self.heal_line(ref, params))

    def verify_active(self, ref: FaultRef, params: HogParams, client: Runner) -> bool | None:
        return exits_zero(client, f"hog running {params.process}")

    def verify_healed(self, ref: FaultRef, params: HogParams, client: Runner) -> bool | None:
        return not exits_zero(client, f"hog running {params.process}")

    def heal_line(self, ref: FaultRef, params: HogParams) -> str:
        return f"hog kill {params.process}"


def test_a_host_side_kind_plugs_in_through_the_registry(
    inv: Inventory, pool: FakePool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(KINDS, "test-hog", HogKind())
    hogs: set[str] = set()
    node = pool.get("esx01")

    def hog(words: list[str]) -> CommandResult:
        verb, name = words[1], words[2]
        if verb == "running":
            return ok(status=0 if name in hogs else 1)
        (hogs.add if verb == "start" else hogs.discard)(name)
        return ok()

    node.extra["hog"] = hog
    with pytest.raises(FaultRefusedError, match="test-hog acts on a host; no host 'nfs01'"):
        plan_fault(inv, HogFault(kind="test-hog", on="nfs01"), run_id="r1", scenario_vms=[], hold_s=1)
    with pytest.raises(FaultNotAllowedError, match="esx02"):
        plan_fault(inv, HogFault(kind="test-hog", on="esx02"), run_id="r1", scenario_vms=[], hold_s=1)
    f = plan_fault(inv, HogFault(kind="test-hog", on="esx01"), run_id="r1", scenario_vms=[], hold_s=1)
    ledger = Ledger.create("r1", tmp_path)
    injector = Injector(pool, ledger, verify_timeout_s=1)
    injector.inject(f)
    assert hogs == {"VMap"} and Ledger.load(ledger.path).entries[0].fault["params"] == {"process": "VMap"}
    (pid,) = node.timers
    node.fire(pid, f.heal_shell())  # the dead-man timer runs the kind's heal line
    assert hogs == set() and injector.heal(f).status == "healed by timer"


def test_heal_waits_for_a_timer_that_is_healing_now(inv: Inventory, pool: FakePool, tmp_path: Path) -> None:
    """The fault is already gone but the timer's heal has not returned: heal waits for it, does not act again,
    and says the timer healed it (found by CI: it said "already healed" and left the marker behind)."""
    ledger = Ledger.create("r1", tmp_path)
    injector = Injector(pool, ledger, verify_timeout_s=5)
    f = plan_fault(inv, {"kind": "lun-remove", "on": "iscsi01"}, run_id="r1", scenario_vms=["db01"], hold_s=1)
    injector.inject(f)
    node = pool.get("iscsi01")
    (pid,) = node.timers
    node.markers.add(marker_path(f.tag, "firing"))  # the sleep ran out; the heal runs now...
    node.run(f.heal_shell())  # ...and has already put the LUN back, but has not returned yet
    adds = sum(c == "lun add" for c in node.commands)
    polls = 0
    real_run = node.run

    def run(argv: list[str] | str, timeout: float | None = None, check: bool = False) -> CommandResult:
        nonlocal polls
        polls += 1
        if polls == 4:  # a few polls later the timer's heal returns: marker written, timer gone
            node.timers.pop(pid)
            node.markers.add(marker_path(f.tag))
        return real_run(argv, timeout, check)

    node.run = run  # type: ignore[method-assign]
    outcome = injector.heal(f)
    assert (outcome.status, polls >= 4) == ("healed by timer", True)
    assert sum(c == "lun add" for c in node.commands) == adds and node.markers == set()


def test_path_set_is_one_line_that_stops_at_the_first_failure_and_names_the_path(tmp_path: Path) -> None:
    from faultlab.harness.faults.kinds.esxi_path_off import _set_line

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.txt"
    # a stand-in esxcli (not an imitation: its message is its own) that records its -p and refuses *L2
    (bin_dir / "esxcli").write_text(
        f'#!/bin/sh\nfor a; do p=$a; done; echo "$p" >> {log}\n'
        'case "$p" in *L2) echo "stand-in esxcli refuses $p" >&2; exit 1 ;; esac\n'
    )
    (bin_dir / "esxcli").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    line = _set_line(["vmhba64:C0:T0:L1", "vmhba64:C0:T0:L2", "vmhba64:C0:T0:L3"], "off")
    res = subprocess.run(["sh", "-c", line], env=env, capture_output=True, text=True, timeout=10, check=False)
    assert res.returncode == 1
    assert log.read_text().split() == ["vmhba64:C0:T0:L1", "vmhba64:C0:T0:L2"]  # stopped at the failure
    assert "refuses vmhba64:C0:T0:L2" in res.stderr and "[path vmhba64:C0:T0:L2]" in res.stderr
    log.unlink()
    ok_line = _set_line(["vmhba64:C0:T0:L1", "vmhba64:C0:T0:L3"], "active")
    assert subprocess.run(["sh", "-c", ok_line], env=env, timeout=10, check=False).returncode == 0
    assert log.read_text().split() == ["vmhba64:C0:T0:L1", "vmhba64:C0:T0:L3"]


class _LocalShell:
    """The Runner boundary on this machine's sh: the dead-man scripts run for real."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def run(self, argv: list[str] | str, timeout: float | None = None, check: bool = False) -> CommandResult:
        line = argv if isinstance(argv, str) else shlex.join(argv)
        p = subprocess.run(["sh", "-c", line], env=self.env, capture_output=True, text=True, timeout=10, check=False)
        return ok(p.stdout, p.returncode, p.stderr)


def test_timer_marks_and_cancel_with_clear_on_a_real_shell(inv: Inventory, tmp_path: Path) -> None:
    from faultlab.harness.faults.deadman import cancel_timer, start_timer, timer_marks

    f = plan_fault(inv, {"kind": "network-blackhole", "on": "nfs01"}, run_id=f"m{os.getpid()}",
                   scenario_vms=["win01", "win02"], hold_s=1)  # fmt: skip
    shell = _LocalShell({**os.environ, "PATH": f"{_fake_iptables(tmp_path)}:{os.environ['PATH']}"})
    (tmp_path / "rules.txt").write_text("")
    assert timer_marks(shell, f.tag) == frozenset()
    Path(marker_path(f.tag, "firing")).write_text("")  # an earlier timer's heal began and failed
    assert timer_marks(shell, f.tag) == {"firing"}
    pid = start_timer(shell, f.tag, 30, f.heal_shell())
    assert cancel_timer(shell, pid, f.tag, clear_marks=True)
    assert wait_for(lambda: _gone(pid), 10, 0.05)
    assert timer_marks(shell, f.tag) == frozenset() and not Path(marker_path(f.tag, "firing")).exists()
    assert not cancel_timer(shell, pid, f.tag, clear_marks=True)  # gone: not ours to kill, exit status says so
