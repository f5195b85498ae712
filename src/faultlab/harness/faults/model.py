"""A fault as data (kind, node, run id, tag, resolved commands) with idempotent inject/heal and their checks."""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, get_args, runtime_checkable

from faultlab.lab.errors import LabError
from faultlab.lab.esxi import PATH_OFF_STATES, Runner, parse_paths, path_states
from faultlab.lab.target import IPTABLES, Rule, parse_rules

FaultKind = Literal[
    "network-blackhole", "network-reject", "service-stop", "process-freeze", "lun-remove", "esxi-path-off"
]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
NETWORK_KINDS = ("network-blackhole", "network-reject")
CHAIN = "INPUT"


@runtime_checkable
class NodePool(Protocol):
    """Where faults get their SSH clients (lab.ssh.SshPool satisfies it)."""

    def get(self, name: str) -> Runner: ...


class FaultError(LabError):
    """A fault could not be applied, healed, or verified."""


@dataclass
class Fault:
    """One fault of one run. `params` holds everything heal needs (rules, commands), so a ledger entry
    alone heals it, also from another process. `node` is a storage target, or the host for esxi-path-off."""

    kind: str
    node: str
    run_id: str
    fault_id: str
    deadline_s: float  # hold + grace: when the dead-man timer heals it by itself
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r} (known: {', '.join(FAULT_KINDS)})")

    @property
    def tag(self) -> str:
        """The iptables comment and dead-man marker: faultlab:<run-id>:<fault-id>."""
        return f"faultlab:{self.run_id}:{self.fault_id}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        return cls(**data)

    def describe(self) -> str:
        return f"{self.kind} on {self.node} ({self.tag})"

    # -- network faults ----------------------------------------------------------------------------------
    @property
    def iptables(self) -> list[str]:
        """The iptables argv (with `sudo -n` in front when the target's SSH user is not root)."""
        return list(self.params.get("iptables", IPTABLES))

    def rules(self) -> list[Rule]:
        return [Rule(CHAIN, tuple(spec)) for spec in self.params.get("rules", [])]

    def _tagged(self, client: Runner) -> list[Rule]:
        res = client.run([*self.iptables, "-S", CHAIN])
        if not res.succeeded:
            raise FaultError(f"iptables -S {CHAIN} exited {res.exit_status}: {res.stderr.strip()}", host=self.node)
        return [r for r in parse_rules(res.stdout, CHAIN) if r.comment == self.tag]

    def _rule_present(self, client: Runner, rule: Rule) -> bool:
        return client.run([*self.iptables, "-C", CHAIN, *rule.spec]).exit_status == 0

    # -- commands ----------------------------------------------------------------------------------------
    def _sh(self, client: Runner, key: str) -> None:
        line = self.params[key]
        res = client.run(line)
        if not res.succeeded:
            raise FaultError(
                f"{self.kind}: {line!r} exited {res.exit_status}: {(res.stderr.strip() or res.stdout.strip())[-300:]}",
                host=self.node,
            )

    def _ok(self, client: Runner, key: str) -> bool:
        return client.run(self.params[key]).exit_status == 0

    def _path_states(self, client: Runner) -> dict[str, str]:
        res = client.run(["esxcli", "storage", "core", "path", "list"])
        if not res.succeeded:
            raise FaultError(f"esxcli storage core path list exited {res.exit_status}", host=self.node)
        return path_states(parse_paths(res.stdout))

    def resolve(self, pool: NodePool) -> bool:
        """Fill in what only the node can tell, before anything is applied: for esxi-path-off by device, the
        paths of those devices that are not already off (so heal re-enables only ours). True if params changed."""
        if self.kind != "esxi-path-off" or "prior_off" in self.params:
            return False
        res = pool.get(self.node).run(["esxcli", "storage", "core", "path", "list"])
        if not res.succeeded:
            raise FaultError(f"esxcli storage core path list exited {res.exit_status}", host=self.node)
        states = path_states(parse_paths(res.stdout))
        if "paths" not in self.params:
            devices = set(self.params.get("devices", []))
            found = [p for p in parse_paths(res.stdout) if p.device in devices and not p.is_off]
            if not found:
                raise FaultError(f"no path to switch off for {', '.join(sorted(devices))}", host=self.node)
            self.params["paths"] = [p.runtime_name or p.name for p in found]
        # A path already off before the fault stays off at heal (the host's own spelling kept for the record).
        self.params["prior_off"] = {p: states[p] for p in self.params["paths"] if states.get(p) in PATH_OFF_STATES}
        return True

    def _set_paths(self, client: Runner, state: str) -> None:
        for path in self._ours() if state == "active" else self.params.get("paths", []):
            res = client.run(["esxcli", "storage", "core", "path", "set", "--state", state, "-p", path])
            if not res.succeeded:
                raise FaultError(f"esxcli path set --state {state} -p {path}: {res.stderr.strip()}", host=self.node)

    def _ours(self) -> list[str]:
        """The paths this fault switched off, without those already off before it (never turned on at heal)."""
        return [p for p in self.params.get("paths", []) if p not in self.params.get("prior_off", {})]

    # -- the four verbs ----------------------------------------------------------------------------------
    def inject(self, pool: NodePool) -> None:
        """Apply the fault; applying it again changes nothing (rules are checked with -C before -I)."""
        client = pool.get(self.node)
        if self.kind in NETWORK_KINDS:
            for rule in self.rules():
                if not self._rule_present(client, rule):
                    res = client.run([*self.iptables, "-I", CHAIN, "1", *rule.spec])
                    if not res.succeeded:
                        raise FaultError(f"iptables -I {CHAIN}: {res.stderr.strip()}", host=self.node)
        elif self.kind == "service-stop":
            self._sh(client, "stop")
        elif self.kind == "process-freeze":
            self._sh(client, "freeze")
        elif self.kind == "lun-remove":
            self._sh(client, "lun_remove")
        else:
            self._set_paths(client, "off")

    def heal(self, pool: NodePool) -> bool:
        """Undo the fault; False (nothing done) when it is already healed. Network: deletes exactly the rules
        carrying this fault's tag, whatever else the chain holds."""
        client = pool.get(self.node)
        if self.verify_healed(pool) is True:
            return False
        if self.kind in NETWORK_KINDS:
            for rule in self._tagged(client):
                res = client.run([*self.iptables, "-D", CHAIN, *rule.spec])
                if not res.succeeded and rule in self._tagged(client):
                    raise FaultError(f"iptables -D {CHAIN}: {res.stderr.strip()}", host=self.node)
        elif self.kind == "service-stop":
            self._sh(client, "start")
        elif self.kind == "process-freeze":
            self._sh(client, "thaw")
        elif self.kind == "lun-remove":
            self._sh(client, "lun_add")
        else:
            self._set_paths(client, "active")
        return True

    def verify_active(self, pool: NodePool) -> bool | None:
        """True when the fault is in place; None when the inventory gives no way to check (no status command)."""
        client = pool.get(self.node)
        if self.kind in NETWORK_KINDS:
            return all(self._rule_present(client, r) for r in self.rules())
        if self.kind == "process-freeze":
            return self._ok(client, "frozen_check")
        if self.kind == "esxi-path-off":
            states = self._path_states(client)
            self.params["off_state"] = sorted(  # as the host spells it: off or disabled
                {states.get(p, "") for p in self.params.get("paths", [])}
            )
            return all(states.get(p) in PATH_OFF_STATES for p in self.params.get("paths", []))
        key = "status" if self.kind == "service-stop" else "lun_check"
        return None if key not in self.params else not self._ok(client, key)

    def verify_healed(self, pool: NodePool) -> bool | None:
        """True when no trace of the fault is left; None when the inventory gives no way to check."""
        client = pool.get(self.node)
        if self.kind in NETWORK_KINDS:
            return not self._tagged(client)
        if self.kind == "process-freeze":
            return not self._ok(client, "frozen_check")
        if self.kind == "esxi-path-off":
            states = self._path_states(client)
            return all(states.get(p) not in (*PATH_OFF_STATES, None) for p in self._ours())
        key = "status" if self.kind == "service-stop" else "lun_check"
        return None if key not in self.params else self._ok(client, key)

    def heal_shell(self) -> str:
        """The heal as one POSIX shell line, for the dead-man timer on the node."""
        if self.kind in NETWORK_KINDS:
            ipt = shlex.join(self.iptables)
            loops = [
                f"i=0; while [ $i -lt 64 ] && {ipt} -D {CHAIN} {shlex.join(r.spec)} 2>/dev/null; do i=$((i+1)); done"
                for r in self.rules()
            ]
            return "; ".join(loops) or ":"
        if self.kind == "esxi-path-off":
            return (
                "; ".join(
                    shlex.join(["esxcli", "storage", "core", "path", "set", "--state", "active", "-p", p])
                    for p in self._ours()
                )
                or ":"
            )
        key = {"service-stop": "start", "process-freeze": "thaw", "lun-remove": "lun_add"}[self.kind]
        return str(self.params[key])
