"""network-blackhole and network-reject: iptables DROP / REJECT on the storage target, tagged per fault."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import Field

from faultlab.harness.faults.kinds.base import (
    FaultKind,
    FaultRef,
    FaultRefusedError,
    FaultSection,
    Params,
    PlanContext,
    Problem,
)
from faultlab.lab.esxi import Runner
from faultlab.lab.inventory import Inventory, StorageTarget
from faultlab.lab.target import IPTABLES, Rule, iptables_argv, parse_rules

CHAIN = "INPUT"
_ISCSI_PORTS = {3260}
_PORTS_HELP = "port numbers or names from the target's `ports`; default: all of them"


class NetworkFault(FaultSection):
    """iptables on the target, tagged so heal removes only faultlab's rules."""

    ports: list[Annotated[int, Field(ge=1, le=65535)] | str] | None = Field(default=None, description=_PORTS_HELP)


class NetworkBlackholeFault(NetworkFault):
    """iptables DROP on the target: the host's storage traffic goes unanswered (timeouts, then APD)."""

    kind: Literal["network-blackhole"]


class NetworkRejectFault(NetworkFault):
    """iptables REJECT on the target: TCP reset / ICMP port unreachable, the host sees the refusal at once."""

    kind: Literal["network-reject"]


class NetworkParams(Params):
    rules: list[list[str]]
    iptables: list[str] | None = None  # the argv when it is not the default (sudo -n for a non-root SSH user)

    @property
    def argv(self) -> list[str]:
        return list(self.iptables or IPTABLES)

    def rule_list(self) -> list[Rule]:
        return [Rule(CHAIN, tuple(spec)) for spec in self.rules]


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


def _ports(target: StorageTarget, wanted: Sequence[int | str] | None) -> list[int]:
    if not wanted:
        return sorted(set(target.ports.values()))
    return sorted({p if isinstance(p, int) else target.ports[p] for p in wanted})


class NetworkKind(FaultKind[NetworkFault, NetworkParams]):
    """Both network kinds: one class, the action (DROP or REJECT) set per registry entry."""

    params = NetworkParams

    def __init__(self, name: str, section: type[NetworkFault], *, reject: bool) -> None:
        self.name, self.section, self.reject = name, section, reject

    def check(self, section: NetworkFault, inventory: Inventory) -> list[Problem]:
        problems = super().check(section, inventory)
        if problems:
            return problems
        target = inventory.target(section.on)
        known = ", ".join(target.ports)
        return [
            Problem(("ports", i), f"target {section.on} has no port {p!r} ({known})")
            for i, p in enumerate(section.ports or [])
            if isinstance(p, str) and p not in target.ports
        ]

    def plan(self, ctx: PlanContext, section: NetworkFault) -> NetworkParams:
        """Sources: the storage addresses of the hosts mounting the target's datastores (all hosts if none)."""
        inv = ctx.inventory
        names = {h for d in self.affected_datastores(ctx, section) for h in d.hosts} or {h.name for h in inv.hosts}
        sources = sorted(inv.host(n).address for n in names)
        if not sources:
            raise FaultRefusedError(f"{self.name} on {section.on}: no ESXi storage address to block")
        rules = network_rules(ctx.tag, sources, _ports(inv.target(section.on), section.ports), self.reject)
        argv = iptables_argv(inv.ssh_for(section.on).user)
        return NetworkParams(rules=rules, iptables=argv if argv != list(IPTABLES) else None)

    def _tagged(self, ref: FaultRef, params: NetworkParams, client: Runner) -> list[Rule]:
        res = client.run([*params.argv, "-S", CHAIN])
        if not res.succeeded:
            raise ref.error(f"iptables -S {CHAIN} exited {res.exit_status}: {res.stderr.strip()}")
        return [r for r in parse_rules(res.stdout, CHAIN) if r.comment == ref.tag]

    @staticmethod
    def _present(params: NetworkParams, client: Runner, rule: Rule) -> bool:
        return client.run([*params.argv, "-C", CHAIN, *rule.spec]).exit_status == 0

    def inject(self, ref: FaultRef, params: NetworkParams, client: Runner) -> None:
        """Each rule is checked with -C before -I: injecting twice is one set of rules."""
        for rule in params.rule_list():
            if not self._present(params, client, rule):
                res = client.run([*params.argv, "-I", CHAIN, "1", *rule.spec])
                if not res.succeeded:
                    raise ref.error(f"iptables -I {CHAIN}: {res.stderr.strip()}")

    def heal(self, ref: FaultRef, params: NetworkParams, client: Runner) -> None:
        """Deletes exactly the rules carrying this fault's tag, whatever else the chain holds."""
        for rule in self._tagged(ref, params, client):
            res = client.run([*params.argv, "-D", CHAIN, *rule.spec])
            if not res.succeeded and rule in self._tagged(ref, params, client):
                raise ref.error(f"iptables -D {CHAIN}: {res.stderr.strip()}")

    def verify_active(self, ref: FaultRef, params: NetworkParams, client: Runner) -> bool | None:
        return all(self._present(params, client, r) for r in params.rule_list())

    def verify_healed(self, ref: FaultRef, params: NetworkParams, client: Runner) -> bool | None:
        return not self._tagged(ref, params, client)

    def heal_line(self, ref: FaultRef, params: NetworkParams) -> str:
        ipt = shlex.join(params.argv)
        loops = [
            f"i=0; while [ $i -lt 64 ] && {ipt} -D {CHAIN} {shlex.join(r.spec)} 2>/dev/null; do i=$((i+1)); done"
            for r in params.rule_list()
        ]
        return "; ".join(loops) or ":"


BLACKHOLE = NetworkKind("network-blackhole", NetworkBlackholeFault, reject=False)
REJECT = NetworkKind("network-reject", NetworkRejectFault, reject=True)
