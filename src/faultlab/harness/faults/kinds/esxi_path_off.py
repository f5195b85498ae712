"""esxi-path-off: storage paths switched off on the ESXi host itself (esxcli storage core path set --state off).

The kind that acts on a host: its node is an ESXi host, its datastores are the VMFS ones the host mounts.
"""

from __future__ import annotations

import shlex
from typing import ClassVar, Literal

from pydantic import Field

from faultlab.harness.faults.kinds.base import FaultKind, FaultRef, FaultRefusedError, FaultSection, Params, PlanContext
from faultlab.lab.esxi import PATH_OFF_STATES, Runner, StoragePath, parse_paths, path_states
from faultlab.lab.inventory import Datastore

_PATH_HELP = "runtime name, e.g. vmhba64:C0:T0:L1; default: every path of the scenario's VMFS datastore's device"


class EsxiPathOffFault(FaultSection):
    """A storage path switched off on the ESXi host (esxcli storage core path set --state off)."""

    kind: Literal["esxi-path-off"]
    path: str | None = Field(default=None, description=_PATH_HELP)


class EsxiPathOffParams(Params):
    paths: list[str] | None = None  # runtime names; resolved on the host from `devices` when not named
    devices: list[str] | None = None
    # paths already off before the fault, with the host's spelling (off or disabled): never turned on at heal
    prior_off: dict[str, str] | None = None
    off_state: list[str] | None = None  # how the host spelled the state of our paths once off (off or disabled)

    def ours(self) -> list[str]:
        """The paths this fault switched off, without those that were off before it."""
        return [p for p in self.paths or [] if p not in (self.prior_off or {})]


def _set_line(paths: list[str], state: str) -> str:
    """One shell line setting every path in turn, stopping at the first failure with the path named on stderr
    (one SSH round trip for all the paths, not one each)."""
    return "; ".join(
        shlex.join(["esxcli", "storage", "core", "path", "set", "--state", state, "-p", p])
        + f" || {{ r=$?; echo {shlex.quote(f'[path {p}]')} >&2; exit $r; }}"
        for p in paths
    )


def _set(ref: FaultRef, client: Runner, paths: list[str], state: str) -> None:
    if not paths:
        return
    res = client.run(_set_line(paths, state))
    if not res.succeeded:
        detail = " ".join(res.stderr.split())
        raise ref.error(f"esxcli storage core path set --state {state} exited {res.exit_status}: {detail}")


def _path_list(ref: FaultRef, client: Runner) -> list[StoragePath]:
    res = client.run(["esxcli", "storage", "core", "path", "list"])
    if not res.succeeded:
        raise ref.error(f"esxcli storage core path list exited {res.exit_status}")
    return parse_paths(res.stdout)


def _states(ref: FaultRef, client: Runner) -> dict[str, str]:
    return path_states(_path_list(ref, client))


class EsxiPathOffKind(FaultKind[EsxiPathOffFault, EsxiPathOffParams]):
    name = "esxi-path-off"
    section = EsxiPathOffFault
    params = EsxiPathOffParams
    acts_on: ClassVar[Literal["target", "host"]] = "host"

    def affected_datastores(self, ctx: PlanContext, section: EsxiPathOffFault) -> list[Datastore]:
        """The VMFS datastores the host mounts; only the scenario's datastore when no path is named."""
        inv = ctx.inventory
        mounted = [d for d in inv.datastores if d.type == "vmfs" and (not d.hosts or section.on in d.hosts)]
        if ctx.datastore is not None and section.path is None:
            return [d for d in mounted if d.name == ctx.datastore] or [inv.datastore(ctx.datastore)]
        return mounted

    def plan(self, ctx: PlanContext, section: EsxiPathOffFault) -> EsxiPathOffParams:
        """A named path is taken as is; else the devices (naa ids) behind the datastores, their paths resolved
        on the host just before the fault is applied (preflight)."""
        if section.path:
            return EsxiPathOffParams(paths=[section.path])
        devices = sorted({d.naa_id for d in self.affected_datastores(ctx, section) if d.naa_id})
        if not devices:
            raise FaultRefusedError(
                f"esxi-path-off on {section.on}: name the path(s); no VMFS datastore gives its naa_id"
            )
        return EsxiPathOffParams(devices=devices)

    def preflight(self, ref: FaultRef, params: EsxiPathOffParams, client: Runner) -> EsxiPathOffParams:
        """The paths of those devices that are not already off, and which named paths were off before the fault
        (kept off at heal; the host's spelling, off or disabled, recorded)."""
        if params.prior_off is not None:
            return params
        found = _path_list(ref, client)
        states = path_states(found)
        paths = params.paths
        if paths is None:
            devices = set(params.devices or [])
            paths = [p.runtime_name or p.name for p in found if p.device in devices and not p.is_off]
            if not paths:
                raise ref.error(f"no path to switch off for {', '.join(sorted(devices))}")
        prior = {p: states[p] for p in paths if states.get(p, "").lower() in PATH_OFF_STATES}
        return params.model_copy(update={"paths": paths, "prior_off": prior})

    def inject(self, ref: FaultRef, params: EsxiPathOffParams, client: Runner) -> None:
        _set(ref, client, params.paths or [], "off")

    def heal(self, ref: FaultRef, params: EsxiPathOffParams, client: Runner) -> None:
        _set(ref, client, params.ours(), "active")

    def verify_active(self, ref: FaultRef, params: EsxiPathOffParams, client: Runner) -> bool | None:
        states = _states(ref, client)
        params.off_state = sorted({states.get(p, "") for p in params.paths or []})
        return all(states.get(p, "").lower() in PATH_OFF_STATES for p in params.paths or [])

    def verify_healed(self, ref: FaultRef, params: EsxiPathOffParams, client: Runner) -> bool | None:
        states = _states(ref, client)
        return all(p in states and states[p].lower() not in PATH_OFF_STATES for p in params.ours())

    def heal_line(self, ref: FaultRef, params: EsxiPathOffParams) -> str:
        return (
            "; ".join(
                shlex.join(["esxcli", "storage", "core", "path", "set", "--state", "active", "-p", p])
                for p in params.ours()
            )
            or ":"
        )


KIND = EsxiPathOffKind()
