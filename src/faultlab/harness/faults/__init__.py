"""Faults as inject/heal pairs: model (Fault), planning and refusals, dead-man timer, injector with the ledger."""

from faultlab.harness.faults.deadman import cancel_timer, start_timer, timer_running
from faultlab.harness.faults.injector import HealOutcome, Injector, heal_entry, heal_ledger, heal_leftovers, wait_for
from faultlab.harness.faults.model import FAULT_KINDS, Fault, FaultError, NodePool
from faultlab.harness.faults.plan import FaultRefusedError, affected_datastores, plan_fault, refuse_bystanders

__all__ = [
    "FAULT_KINDS",
    "Fault",
    "FaultError",
    "FaultRefusedError",
    "HealOutcome",
    "Injector",
    "NodePool",
    "affected_datastores",
    "cancel_timer",
    "heal_entry",
    "heal_ledger",
    "heal_leftovers",
    "plan_fault",
    "refuse_bystanders",
    "start_timer",
    "timer_running",
    "wait_for",
]
