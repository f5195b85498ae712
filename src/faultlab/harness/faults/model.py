"""A fault as data (kind, node, run id, tag, resolved params); its verbs are its kind's (see registry.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from faultlab.harness.faults.kinds.base import FaultError, FaultKind, FaultRef, NodePool, dump
from faultlab.harness.faults.registry import FAULT_KINDS, kind_of

__all__ = ["FAULT_KINDS", "Fault", "FaultError", "NodePool"]


@dataclass
class Fault:
    """One fault of one run. `params` holds everything heal needs (rules, commands), so a ledger entry
    alone heals it, also from another process. `node` is a storage target, or a host for host-side kinds."""

    kind: str
    node: str
    run_id: str
    fault_id: str
    deadline_s: float  # hold + grace: when the dead-man timer heals it by itself
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        kind_of(self.kind)  # ValueError naming the known kinds

    @property
    def tag(self) -> str:
        """The iptables comment and dead-man marker: faultlab:<run-id>:<fault-id>."""
        return f"faultlab:{self.run_id}:{self.fault_id}"

    @property
    def spec(self) -> FaultKind[Any, Any]:
        return kind_of(self.kind)

    @property
    def ref(self) -> FaultRef:
        return FaultRef(self.kind, self.node, self.tag)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        return cls(**data)

    def describe(self) -> str:
        return f"{self.kind} on {self.node} ({self.tag})"

    def _typed(self) -> Any:
        return self.spec.load(self.params)

    # -- the verbs ---------------------------------------------------------------------------------------
    def preflight(self, pool: NodePool) -> bool:
        """Read the node before anything changes: refuse, or fill in what only it can tell. True if params changed."""
        resolved = dump(self.spec.preflight(self.ref, self._typed(), pool.get(self.node)))
        changed, self.params = resolved != self.params, resolved
        return changed

    def inject(self, pool: NodePool) -> None:
        """Apply the fault; applying it again changes nothing."""
        self.spec.inject(self.ref, self._typed(), pool.get(self.node))

    def heal(self, pool: NodePool) -> bool:
        """Undo the fault; False (nothing done) when it is already healed."""
        if self.verify_healed(pool) is True:
            return False
        self.spec.heal(self.ref, self._typed(), pool.get(self.node))
        return True

    def verify_active(self, pool: NodePool) -> bool | None:
        """True when the fault is in place; None when the inventory gives no way to check."""
        typed = self._typed()
        result: bool | None = self.spec.verify_active(self.ref, typed, pool.get(self.node))
        self.params = dump(typed)  # a kind may note what it saw (esxi-path-off: the host's spelling of "off")
        return result

    def verify_healed(self, pool: NodePool) -> bool | None:
        """True when no trace of the fault is left; None when the inventory gives no way to check."""
        result: bool | None = self.spec.verify_healed(self.ref, self._typed(), pool.get(self.node))
        return result

    def heal_shell(self) -> str:
        """The heal as one POSIX shell line, for the dead-man timer on the node."""
        return str(self.spec.heal_line(self.ref, self._typed()))
