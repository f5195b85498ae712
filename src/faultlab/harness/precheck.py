"""Checks before contact: every mistake of a scenario against its inventory is found before the first connection."""

from __future__ import annotations

from pathlib import Path

from faultlab.harness.faults import plan_fault
from faultlab.harness.scenario import Scenario
from faultlab.lab.credentials import SecretRef
from faultlab.lab.errors import ConfigError, FaultlabError, Issue
from faultlab.lab.inventory import Inventory
from faultlab.lab.yamlsource import Source, raise_if

PRECHECK_RUN_ID = "precheck"  # the run id of the dry plan (nothing is written or applied under it)


def check_before_contact(sc: Scenario, inventory: Inventory) -> None:
    """Raise one ConfigError (file, line, key; CLI exit 2) listing what would stop the run later: names the
    inventory lacks, a fault on a node without `allow_faults: true`, a fault the plan phase would refuse
    (bystander VMs, missing service commands, no path), an unset credential variable. Nothing is contacted:
    the fault is planned dry, from the inventory alone."""
    sc.check_against(inventory)  # unknown names first: the plan below needs them
    src = sc.source or Source("<scenario>", {}, {}, Path.cwd())
    issues: list[Issue] = []
    f = sc.fault
    try:
        inventory.require_fault_allowed(f.on)
        plan_fault(  # the same arguments as the runner's plan phase; hold_s only sets the dead-man deadline
            inventory,
            f,
            run_id=PRECHECK_RUN_ID,
            scenario_vms=[sc.target.vm] if sc.target.vm else [],
            hold_s=0.0,
            datastore=sc.target.datastore,
        )
    except ConfigError as exc:  # FaultNotAllowedError: names the inventory's line
        issues.extend(exc.issues)
    except FaultlabError as exc:  # FaultRefusedError: the scenario's fault is the mistake
        issues.append(src.issue(("fault",), str(exc)))
    issues.extend(_unset_credentials(sc, inventory))
    raise_if(issues)


def _unset_credentials(sc: Scenario, inventory: Inventory) -> list[Issue]:
    """The ${VAR} credentials of the nodes the run logs in to (the host, the fault's node, the vCenter) that the
    environment does not give: reported now, not as a lab problem after the first logins."""
    refs: list[SecretRef] = []
    for name in dict.fromkeys((sc.target.host, sc.fault.on)):
        access = inventory.ssh_for(name)
        refs += [r for r in (access.password, access.private_key_passphrase) if r is not None]
    if inventory.vcenter is not None:
        refs.append(inventory.vcenter.password)
    issues: list[Issue] = []
    for ref in dict.fromkeys(refs):
        try:
            ref.resolve()
        except ConfigError as exc:
            issues.extend(exc.issues)
    return issues
