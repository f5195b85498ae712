"""From a scenario's fault to a Fault with everything resolved, after the refusals (nothing changes before them)."""

from __future__ import annotations

import shlex
from collections.abc import Collection, Sequence

from faultlab.harness.faults.model import FAULT_KINDS, NETWORK_KINDS, Fault
from faultlab.lab.errors import FaultlabError
from faultlab.lab.inventory import Datastore, Inventory, StorageTarget
from faultlab.lab.target import IPTABLES, command_text, iptables_argv

DEFAULT_GRACE_S = 30.0
_ISCSI_PORTS = {3260}


class FaultRefusedError(FaultlabError):
    """A fault would touch VMs the scenario does not name (or cannot be planned); nothing was changed."""

    def __init__(self, message: str, vms: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.vms = tuple(vms)


def affected_datastores(inventory: Inventory, kind: str, on: str) -> list[Datastore]:
    """The datastores a fault on `on` cuts off: those behind a target, or the VMFS ones a host mounts."""
    if kind == "esxi-path-off":
        return [d for d in inventory.datastores if d.type == "vmfs" and (not d.hosts or on in d.hosts)]
    return [d for d in inventory.datastores if d.target == on]


def refuse_bystanders(inventory: Inventory, datastores: Sequence[Datastore], scenario_vms: Collection[str]) -> None:
    """FaultRefusedError listing every VM on those datastores that the scenario does not name."""
    names = {d.name for d in datastores}
    strangers = sorted(v.name for v in inventory.vms if v.datastore in names and v.name not in scenario_vms)
    if strangers:
        by_ds = "; ".join(
            f"{d}: {', '.join(v.name for v in inventory.vms if v.datastore == d and v.name in strangers)}"
            for d in sorted(names)
            if any(v.datastore == d and v.name in strangers for v in inventory.vms)
        )
        raise FaultRefusedError(
            f"refusing the fault: it would cut off VMs the scenario does not name ({by_ds}); "
            "name them in the scenario or move them off",
            strangers,
        )


def _ports(target: StorageTarget, wanted: Sequence[int | str] | None) -> list[int]:
    if not wanted:
        return sorted(set(target.ports.values()))
    out: list[int] = []
    for p in wanted:
        if isinstance(p, int):
            out.append(p)
        elif p in target.ports:
            out.append(target.ports[p])
        else:
            raise FaultRefusedError(
                f"storage target {target.name} has no port named {p!r} (has: {sorted(target.ports)})"
            )
    return sorted(set(out))


def network_rules(tag: str, sources: Sequence[str], ports: Sequence[int], reject: bool) -> list[list[str]]:
    """INPUT rule specs: per ESXi storage address, TCP to every port and UDP to the non-iSCSI ones, tagged."""
    rules: list[list[str]] = []
    udp_ports = [p for p in ports if p not in _ISCSI_PORTS]
    for src in sources:
        for proto, plist in (("tcp", list(ports)), ("udp", udp_ports)):
            if not plist:
                continue
            if reject:
                action = ["REJECT", "--reject-with", "tcp-reset" if proto == "tcp" else "icmp-port-unreachable"]
            else:
                action = ["DROP"]
            rules.append(
                ["-s", src, "-p", proto, "-m", "multiport", "--dports", ",".join(map(str, plist)),
                 "-m", "comment", "--comment", tag, "-j", *action]
            )  # fmt: skip
    return rules


def _frozen_check(target: StorageTarget) -> str:
    """Exit 0 when the service process is stopped (state T): by process name, else the status line."""
    if target.service.process:
        name = shlex.quote(target.service.process)
        return f"pgrep -x {name} | xargs -r ps -o stat= -p | grep -q '^[Tt]'"
    if target.service.status is None:
        raise FaultRefusedError(f"process-freeze on {target.name} needs service.process or service.status")
    return f"{command_text(target.service.status)} | grep -qi frozen"


def plan_fault(
    inventory: Inventory,
    *,
    kind: str,
    on: str,
    run_id: str,
    scenario_vms: Collection[str],
    hold_s: float,
    grace_s: float = DEFAULT_GRACE_S,
    fault_id: str = "f1",
    ports: Sequence[int | str] | None = None,
    paths: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    datastore: str | None = None,
) -> Fault:
    """Check that the fault is allowed (FaultNotAllowedError / FaultRefusedError, before any change) and resolve
    it. `sources` default to the addresses of the hosts mounting the affected datastores. esxi-path-off without
    `paths` takes every path of the devices behind `datastore` (default: every VMFS datastore the host mounts),
    resolved on the host just before the fault is applied (Fault.resolve)."""
    if kind not in FAULT_KINDS:
        raise FaultRefusedError(f"unknown fault kind {kind!r} (known: {', '.join(FAULT_KINDS)})")
    inventory.require_fault_allowed(on)
    datastores = affected_datastores(inventory, kind, on)
    if datastore is not None and kind == "esxi-path-off" and not paths:
        datastores = [d for d in datastores if d.name == datastore] or [inventory.datastore(datastore)]
    refuse_bystanders(inventory, datastores, scenario_vms)
    deadline = hold_s + grace_s
    if kind == "esxi-path-off":
        if paths:
            return Fault(kind, on, run_id, fault_id, deadline, {"paths": list(paths)})
        devices = sorted({d.naa_id for d in datastores if d.naa_id})
        if not devices:
            raise FaultRefusedError(f"esxi-path-off on {on}: name the path(s); no VMFS datastore gives its naa_id")
        return Fault(kind, on, run_id, fault_id, deadline, {"devices": devices})
    target = inventory.target(on)
    svc = target.service
    params: dict[str, object] = {}
    if kind in NETWORK_KINDS:
        if sources is None:
            names = {h for d in datastores for h in d.hosts} or {h.name for h in inventory.hosts}
            sources = sorted(inventory.host(n).address for n in names)
        if not sources:
            raise FaultRefusedError(f"{kind} on {on}: no ESXi storage address to block")
        tag = f"faultlab:{run_id}:{fault_id}"
        params["rules"] = network_rules(tag, sources, _ports(target, ports), kind == "network-reject")
        argv = iptables_argv(inventory.ssh_for(on).user)
        if argv != list(IPTABLES):
            params["iptables"] = argv
    elif kind == "service-stop":
        params.update(stop=command_text(svc.stop), start=command_text(svc.start))
        if svc.status is not None:
            params["status"] = command_text(svc.status)
    elif kind == "process-freeze":
        if svc.freeze is None or svc.thaw is None:
            raise FaultRefusedError(f"process-freeze on {on}: the inventory gives no service.freeze/thaw")
        params.update(freeze=command_text(svc.freeze), thaw=command_text(svc.thaw), frozen_check=_frozen_check(target))
    else:
        if svc.lun_remove is None or svc.lun_add is None:
            raise FaultRefusedError(f"lun-remove on {on}: the inventory gives no service.lun_remove/lun_add")
        params.update(lun_remove=command_text(svc.lun_remove), lun_add=command_text(svc.lun_add))
        if svc.lun_status is not None:
            params["lun_check"] = command_text(svc.lun_status)
    return Fault(kind, on, run_id, fault_id, deadline, params)
