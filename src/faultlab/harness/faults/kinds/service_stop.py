"""service-stop: the storage target's service stopped with the inventory's `service.stop`, started on heal."""

from __future__ import annotations

from typing import Literal

from faultlab.harness.faults.kinds.base import (
    FaultKind,
    FaultRef,
    FaultSection,
    Params,
    PlanContext,
    exits_zero,
    run_line,
)
from faultlab.lab.esxi import Runner
from faultlab.lab.target import command_text


class ServiceStopFault(FaultSection):
    """The target's service stopped (its `service.stop`), started again on heal."""

    kind: Literal["service-stop"]


class ServiceStopParams(Params):
    stop: str
    start: str
    status: str | None = None  # exits 0 while the service runs; without it heal is unverified


class ServiceStopKind(FaultKind[ServiceStopFault, ServiceStopParams]):
    name = "service-stop"
    section = ServiceStopFault
    params = ServiceStopParams

    def plan(self, ctx: PlanContext, section: ServiceStopFault) -> ServiceStopParams:
        svc = ctx.inventory.target(section.on).service
        status = command_text(svc.status) if svc.status is not None else None
        return ServiceStopParams(stop=command_text(svc.stop), start=command_text(svc.start), status=status)

    def inject(self, ref: FaultRef, params: ServiceStopParams, client: Runner) -> None:
        run_line(ref, client, params.stop)

    def heal(self, ref: FaultRef, params: ServiceStopParams, client: Runner) -> None:
        run_line(ref, client, params.start)

    def verify_active(self, ref: FaultRef, params: ServiceStopParams, client: Runner) -> bool | None:
        return None if params.status is None else not exits_zero(client, params.status)

    def verify_healed(self, ref: FaultRef, params: ServiceStopParams, client: Runner) -> bool | None:
        return None if params.status is None else exits_zero(client, params.status)

    def heal_line(self, ref: FaultRef, params: ServiceStopParams) -> str:
        return params.start


KIND = ServiceStopKind()
