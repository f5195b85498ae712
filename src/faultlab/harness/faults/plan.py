"""From a scenario's fault section to a Fault with everything resolved, after the refusals (nothing changes before
them): the kind's static checks, `allow_faults`, VMs the scenario does not name, then the kind's own plan."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from faultlab.harness.faults.kinds.base import (
    FaultRefusedError,
    FaultSection,
    PlanContext,
    dump,
    refuse_bystanders,
)
from faultlab.harness.faults.model import Fault
from faultlab.harness.faults.registry import kind_of, parse_section
from faultlab.lab.inventory import Datastore, Inventory

DEFAULT_GRACE_S = 30.0

__all__ = ["DEFAULT_GRACE_S", "FaultRefusedError", "affected_datastores", "plan_fault", "refuse_bystanders"]


def _section(section: FaultSection | Mapping[str, Any]) -> FaultSection:
    return section if isinstance(section, FaultSection) else parse_section(section)


def affected_datastores(
    inventory: Inventory, section: FaultSection | Mapping[str, Any], datastore: str | None = None
) -> list[Datastore]:
    """The datastores the fault cuts off: those behind a target, the VMFS ones a host mounts, ..."""
    sec = _section(section)
    ctx = PlanContext(inventory, run_id="", fault_id="", scenario_vms=(), datastore=datastore)
    return kind_of(sec.kind).affected_datastores(ctx, sec)


def plan_fault(
    inventory: Inventory,
    section: FaultSection | Mapping[str, Any],
    *,
    run_id: str,
    scenario_vms: Collection[str],
    hold_s: float,
    grace_s: float = DEFAULT_GRACE_S,
    fault_id: str = "f1",
    datastore: str | None = None,
) -> Fault:
    """Check that the fault is allowed (FaultNotAllowedError / FaultRefusedError, before any change) and resolve
    it. `section` is the scenario's `fault:` (a mapping is validated first); `datastore` is the scenario's target
    datastore (esxi-path-off takes its device's paths, lun-remove its LUN, when the section names none)."""
    sec = _section(section)
    try:
        kind = kind_of(sec.kind)
    except ValueError as exc:
        raise FaultRefusedError(str(exc)) from None
    problems = kind.check(sec, inventory)
    if problems:
        raise FaultRefusedError("; ".join(p.message for p in problems))
    inventory.require_fault_allowed(sec.on)
    ctx = PlanContext(inventory, run_id, fault_id, scenario_vms, datastore)
    refuse_bystanders(inventory, kind.affected_datastores(ctx, sec), scenario_vms)
    return Fault(kind.name, sec.on, run_id, fault_id, hold_s + grace_s, dump(kind.plan(ctx, sec)))
