"""The fault-kind interface: scenario section, checks, plan, inject/heal/verify and the dead-man heal line."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Generic, Literal, NamedTuple, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from faultlab.lab.errors import FaultlabError, LabError
from faultlab.lab.esxi import Runner
from faultlab.lab.inventory import NAME_RE, Datastore, Inventory

Name = Annotated[str, Field(pattern=NAME_RE)]


@runtime_checkable
class NodePool(Protocol):
    """Where faults get their SSH clients (lab.ssh.SshPool satisfies it)."""

    def get(self, name: str) -> Runner: ...


class FaultError(LabError):
    """A fault could not be applied, healed, or verified."""


class FaultRefusedError(FaultlabError):
    """A fault would touch VMs the scenario does not name (or cannot be planned); nothing was changed."""

    def __init__(self, message: str, vms: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.vms = tuple(vms)


class FaultSection(BaseModel):
    """The `fault:` section of a scenario; each kind subclasses it with `kind: Literal[<its name>]` and its keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    on: Name = Field(description="the inventory name of what the fault acts on: a storage target, or a host")


class Params(BaseModel):
    """What inject/heal need, resolved at plan time and kept in the ledger (so another process can heal it).
    Unknown keys are ignored: a ledger written by an older faultlab still loads."""

    model_config = ConfigDict(extra="ignore")


class Problem(NamedTuple):
    """A static mistake of a fault section against the inventory; `loc` is the key path under `fault`."""

    loc: tuple[str | int, ...]
    message: str


@dataclass(frozen=True, slots=True)
class FaultRef:
    """Which fault a verb acts for: its kind, its node and its tag (iptables comment, dead-man marker)."""

    kind: str
    node: str
    tag: str

    def error(self, message: str) -> FaultError:
        return FaultError(f"{self.kind}: {message}", host=self.node)


@dataclass(frozen=True, slots=True)
class PlanContext:
    """Everything planning may read: the inventory, the section, the run's ids and the scenario's names."""

    inventory: Inventory
    run_id: str
    fault_id: str
    scenario_vms: Collection[str]
    datastore: str | None = None  # the scenario's target datastore

    @property
    def tag(self) -> str:
        return f"faultlab:{self.run_id}:{self.fault_id}"


S = TypeVar("S", bound=FaultSection)
P = TypeVar("P", bound=Params)


class FaultKind(ABC, Generic[S, P]):
    """One kind of fault. A kind acts on one node (`acts_on`: a storage target or an ESXi host) through that
    node's SSH client; everything heal needs is in its Params, so a ledger entry alone heals it."""

    name: str
    section: type[S]
    params: type[P]
    acts_on: ClassVar[Literal["target", "host"]] = "target"
    # True for a fault whose own effect may end it before the heal (memory-leak: the purple screen it causes
    # reboots the host and kills it). Such an early end is the expected course, noted in the record, not a failure.
    ends_itself: ClassVar[bool] = False

    # -- scenario time (inventory only, nothing is reached) -------------------------------------------------
    def check(self, section: S, inventory: Inventory) -> list[Problem]:
        """Static mistakes against the inventory (names, target kind, missing commands), reported with the
        scenario's file, line and key; plan_fault refuses on them too. Subclasses extend it (super() first)."""
        if self.acts_on == "host":
            if section.on not in {h.name for h in inventory.hosts}:
                return [Problem(("on",), f"{self.name} acts on a host; no host {section.on!r} in the inventory")]
        elif section.on not in {t.name for t in inventory.storage_targets}:
            return [
                Problem(("on",), f"{self.name} acts on a storage target; no target {section.on!r} in the inventory")
            ]
        return []

    def affected_datastores(self, ctx: PlanContext, section: S) -> list[Datastore]:
        """The datastores the fault cuts off (their VMs must be named by the scenario). Default: those behind
        the target; a host-side kind overrides it."""
        return [d for d in ctx.inventory.datastores if d.target == section.on]

    @abstractmethod
    def plan(self, ctx: PlanContext, section: S) -> P:
        """Resolve the fault from the inventory; FaultRefusedError when it cannot be planned."""

    # -- run time, on the node ---------------------------------------------------------------------------
    def preflight(self, ref: FaultRef, params: P, client: Runner) -> P:
        """Before anything changes (not even the ledger): read the node, refuse (FaultRefusedError) or fill in
        what only the node can tell. Read-only."""
        return params

    @abstractmethod
    def inject(self, ref: FaultRef, params: P, client: Runner) -> None:
        """Apply the fault; applying it again changes nothing."""

    @abstractmethod
    def heal(self, ref: FaultRef, params: P, client: Runner) -> None:
        """Undo the fault (called only when verify_healed is not True)."""

    @abstractmethod
    def verify_active(self, ref: FaultRef, params: P, client: Runner) -> bool | None:
        """True when the fault is in place; None when the inventory gives no way to check."""

    @abstractmethod
    def verify_healed(self, ref: FaultRef, params: P, client: Runner) -> bool | None:
        """True when no trace of the fault is left; None when the inventory gives no way to check."""

    @abstractmethod
    def heal_line(self, ref: FaultRef, params: P) -> str:
        """The heal as one POSIX shell line, run by the dead-man timer on the node (busybox sh on ESXi)."""

    # -- plumbing ----------------------------------------------------------------------------------------
    def load(self, data: dict[str, Any]) -> P:
        return self.params.model_validate(data)


def dump(params: Params) -> dict[str, Any]:
    """Params as the ledger keeps them (unset keys left out)."""
    return params.model_dump(mode="json", exclude_none=True)


def run_line(ref: FaultRef, client: Runner, line: str) -> None:
    """Run a shell line on the node; FaultError with its exit status and output tail when it fails."""
    res = client.run(line)
    if not res.succeeded:
        raise ref.error(f"{line!r} exited {res.exit_status}: {(res.stderr.strip() or res.stdout.strip())[-300:]}")


def exits_zero(client: Runner, line: str) -> bool:
    return client.run(line).exit_status == 0


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
