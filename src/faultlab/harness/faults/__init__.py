"""Faults as inject/heal pairs: kinds as plug-ins (registry, kinds/), planning and refusals, dead-man timer,
injector with the ledger."""

from faultlab.harness.faults.deadman import cancel_timer, start_timer, timer_running
from faultlab.harness.faults.injector import HealOutcome, Injector, heal_entry, heal_ledger, heal_leftovers, wait_for
from faultlab.harness.faults.kinds.base import FaultError, FaultRefusedError, FaultSection, NodePool
from faultlab.harness.faults.model import Fault
from faultlab.harness.faults.plan import affected_datastores, plan_fault, refuse_bystanders
from faultlab.harness.faults.registry import FAULT_KINDS, KINDS, kind_of, parse_section

__all__ = [
    "FAULT_KINDS",
    "KINDS",
    "Fault",
    "FaultError",
    "FaultRefusedError",
    "FaultSection",
    "HealOutcome",
    "Injector",
    "NodePool",
    "affected_datastores",
    "cancel_timer",
    "heal_entry",
    "heal_ledger",
    "heal_leftovers",
    "kind_of",
    "parse_section",
    "plan_fault",
    "refuse_bystanders",
    "start_timer",
    "timer_running",
    "wait_for",
]
