"""lun-remove: an iSCSI LUN removed from the target (the host sees PDL), added back on heal.

The inventory's `service.lun_remove`, `lun_add` and `lun_status` name the LUN with a `{lun}` placeholder (e.g.
`tgtadm --lld iscsi --mode logicalunit --op delete --tid 1 --lun {lun}`); the fault fills in the scenario's `lun:`,
else the LUN of the scenario's datastore. Commands without the placeholder act on one fixed LUN: they still serve a
scenario that names no LUN, and a scenario that names one is refused (the named LUN could not be the one removed).
Before anything changes, `lun_status` must say the target presents that LUN.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from faultlab.harness.faults.kinds.base import (
    FaultKind,
    FaultRef,
    FaultRefusedError,
    FaultSection,
    Params,
    PlanContext,
    Problem,
    exits_zero,
    run_line,
)
from faultlab.lab.esxi import Runner
from faultlab.lab.inventory import Datastore, Inventory, StorageTarget
from faultlab.lab.target import command_text

PLACEHOLDER = "{lun}"
_VERBS = ("lun_remove", "lun_add", "lun_status")
_LUN_HELP = (
    "the LUN number the target removes; default: the LUN of the scenario's datastore (the inventory's "
    "service.lun_remove/lun_add/lun_status take it as {lun})"
)


class LunRemoveFault(FaultSection):
    """An iSCSI LUN removed from the target (the host sees PDL), added back on heal."""

    kind: Literal["lun-remove"]
    lun: int | None = Field(default=None, ge=0, description=_LUN_HELP)


class LunRemoveParams(Params):
    lun_remove: str
    lun_add: str
    lun_check: str | None = None  # the inventory's lun_status: exits 0 while the LUN is presented
    lun: int | None = None  # None: the inventory's commands name one fixed LUN


def _commands(target: StorageTarget) -> dict[str, str]:
    """The target's LUN commands the inventory gives, as shell lines (placeholder still in)."""
    svc = target.service
    found = {"lun_remove": svc.lun_remove, "lun_add": svc.lun_add, "lun_status": svc.lun_status}
    return {verb: command_text(cmd) for verb, cmd in found.items() if cmd is not None}


def _takes_lun(target: StorageTarget) -> bool | None:
    """True when every LUN command has {lun}, False when none has, None when they disagree."""
    have = {PLACEHOLDER in line for line in _commands(target).values()}
    return None if len(have) > 1 else have == {True}


def lun_number(inventory: Inventory, section: LunRemoveFault, datastore: str | None) -> int | None:
    """The LUN the fault removes: the scenario's `lun:`, else its datastore's LUN on this target, else the one LUN
    the target's datastores use; None when the inventory's commands act on a fixed LUN."""
    if section.lun is not None:
        return section.lun
    if not _takes_lun(inventory.target(section.on)):
        return None
    behind = [d for d in inventory.datastores if d.target == section.on]
    named = [d.lun for d in behind if d.name == datastore and d.lun is not None]
    luns = named or sorted({d.lun for d in behind if d.lun is not None})
    if len(luns) != 1:
        given = ", ".join(map(str, luns)) or "none"
        raise FaultRefusedError(
            f"lun-remove on {section.on}: name the LUN (`lun:`); the target's datastores give LUNs: {given}"
        )
    return luns[0]


def _fill(line: str, lun: int | None) -> str:
    return line if lun is None else line.replace(PLACEHOLDER, str(lun))


class LunRemoveKind(FaultKind[LunRemoveFault, LunRemoveParams]):
    name = "lun-remove"
    section = LunRemoveFault
    params = LunRemoveParams

    def check(self, section: LunRemoveFault, inventory: Inventory) -> list[Problem]:
        problems = super().check(section, inventory)
        if problems:
            return problems
        target = inventory.target(section.on)
        if target.kind != "iscsi":
            return [Problem(("kind",), f"lun-remove needs an iscsi target; {section.on} is {target.kind}")]
        cmds = _commands(target)
        if "lun_remove" not in cmds or "lun_add" not in cmds:
            missing = f"lun-remove on {section.on}: the inventory gives no service.lun_remove/lun_add"
            return [Problem(("kind",), missing)]
        takes = _takes_lun(target)
        if takes is None:
            return [
                Problem(
                    ("on",),
                    f"service.{', '.join(cmds)} of {section.on} must all take {PLACEHOLDER} (the LUN number) or none",
                )
            ]
        if section.lun is not None and not takes:
            return [
                Problem(
                    ("lun",),
                    f"the scenario names LUN {section.lun}, but service.lun_remove/lun_add of {section.on} act on one "
                    f"fixed LUN: write {PLACEHOLDER} where the LUN number goes",
                )
            ]
        if section.lun is not None and "lun_status" not in cmds:
            return [
                Problem(
                    ("lun",),
                    f"naming LUN {section.lun} needs service.lun_status (with {PLACEHOLDER}) on {section.on}, to check "
                    "that the target presents it before anything changes",
                )
            ]
        return []

    def affected_datastores(self, ctx: PlanContext, section: LunRemoveFault) -> list[Datastore]:
        """The target's datastores on that LUN (and those whose LUN the inventory does not say)."""
        lun = lun_number(ctx.inventory, section, ctx.datastore)
        behind = super().affected_datastores(ctx, section)
        return [d for d in behind if lun is None or d.lun is None or d.lun == lun]

    def plan(self, ctx: PlanContext, section: LunRemoveFault) -> LunRemoveParams:
        lun = lun_number(ctx.inventory, section, ctx.datastore)
        cmds = {verb: _fill(line, lun) for verb, line in _commands(ctx.inventory.target(section.on)).items()}
        return LunRemoveParams(
            lun_remove=cmds["lun_remove"], lun_add=cmds["lun_add"], lun_check=cmds.get("lun_status"), lun=lun
        )

    def _which(self, params: LunRemoveParams) -> str:
        return "the LUN" if params.lun is None else f"LUN {params.lun}"

    def preflight(self, ref: FaultRef, params: LunRemoveParams, client: Runner) -> LunRemoveParams:
        """A LUN the target does not present is refused here: removing it would fail, and heal would then add
        a LUN that was never there."""
        if params.lun_check is not None:
            res = client.run(params.lun_check)
            if not res.succeeded:
                said = (res.stdout.strip() or res.stderr.strip())[-200:]
                raise FaultRefusedError(
                    f"lun-remove on {ref.node}: the target does not present {self._which(params)} "
                    f"({params.lun_check!r} exited {res.exit_status}" + (f": {said}" if said else "") + "); "
                    "nothing was changed"
                )
        return params

    def inject(self, ref: FaultRef, params: LunRemoveParams, client: Runner) -> None:
        run_line(ref, client, params.lun_remove)

    def heal(self, ref: FaultRef, params: LunRemoveParams, client: Runner) -> None:
        run_line(ref, client, params.lun_add)

    def verify_active(self, ref: FaultRef, params: LunRemoveParams, client: Runner) -> bool | None:
        return None if params.lun_check is None else not exits_zero(client, params.lun_check)

    def verify_healed(self, ref: FaultRef, params: LunRemoveParams, client: Runner) -> bool | None:
        return None if params.lun_check is None else exits_zero(client, params.lun_check)

    def heal_line(self, ref: FaultRef, params: LunRemoveParams) -> str:
        return params.lun_add


KIND = LunRemoveKind()
