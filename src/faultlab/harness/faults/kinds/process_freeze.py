"""process-freeze: the storage target's service process SIGSTOPped (`service.freeze`), SIGCONT on heal."""

from __future__ import annotations

import shlex
from typing import Literal

from faultlab.harness.faults.kinds.base import (
    FaultKind,
    FaultRef,
    FaultSection,
    Params,
    PlanContext,
    Problem,
    exits_zero,
    run_line,
)
from faultlab.lab.esxi import Runner
from faultlab.lab.inventory import Inventory, StorageTarget
from faultlab.lab.target import command_text


class ProcessFreezeFault(FaultSection):
    """The target's service process SIGSTOPped (`service.freeze`), SIGCONT on heal."""

    kind: Literal["process-freeze"]


class ProcessFreezeParams(Params):
    freeze: str
    thaw: str
    frozen_check: str  # exits 0 while the process is stopped (state T)


def frozen_check(target: StorageTarget) -> str:
    """Exit 0 when the service process is stopped (state T): by process name, else the status line."""
    if target.service.process:
        name = shlex.quote(target.service.process)
        return f"pgrep -x {name} | xargs -r ps -o stat= -p | grep -q '^[Tt]'"
    return f"{command_text(target.service.status)} | grep -qi frozen" if target.service.status is not None else ""


class ProcessFreezeKind(FaultKind[ProcessFreezeFault, ProcessFreezeParams]):
    name = "process-freeze"
    section = ProcessFreezeFault
    params = ProcessFreezeParams

    def check(self, section: ProcessFreezeFault, inventory: Inventory) -> list[Problem]:
        problems = super().check(section, inventory)
        if problems:
            return problems
        target = inventory.target(section.on)
        if target.service.freeze is None or target.service.thaw is None:
            return [Problem(("kind",), f"process-freeze on {section.on}: the inventory gives no service.freeze/thaw")]
        if not frozen_check(target):
            return [Problem(("kind",), f"process-freeze on {section.on} needs service.process or service.status")]
        return []

    def plan(self, ctx: PlanContext, section: ProcessFreezeFault) -> ProcessFreezeParams:
        target = ctx.inventory.target(section.on)
        assert target.service.freeze is not None and target.service.thaw is not None  # check() refused otherwise
        return ProcessFreezeParams(
            freeze=command_text(target.service.freeze),
            thaw=command_text(target.service.thaw),
            frozen_check=frozen_check(target),
        )

    def inject(self, ref: FaultRef, params: ProcessFreezeParams, client: Runner) -> None:
        run_line(ref, client, params.freeze)

    def heal(self, ref: FaultRef, params: ProcessFreezeParams, client: Runner) -> None:
        run_line(ref, client, params.thaw)

    def verify_active(self, ref: FaultRef, params: ProcessFreezeParams, client: Runner) -> bool | None:
        return exits_zero(client, params.frozen_check)

    def verify_healed(self, ref: FaultRef, params: ProcessFreezeParams, client: Runner) -> bool | None:
        return not exits_zero(client, params.frozen_check)

    def heal_line(self, ref: FaultRef, params: ProcessFreezeParams) -> str:
        return params.thaw


KIND = ProcessFreezeKind()
