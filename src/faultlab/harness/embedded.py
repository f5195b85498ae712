"""The one place the harness starts the simulator: an embedded lab shaped for the scenarios it will run."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from faultlab.harness.scenario import Scenario

if TYPE_CHECKING:
    from faultlab.sim.lab import EmbeddedLab

from faultlab.lab.errors import ConfigError, FaultlabError, Issue

EMBEDDED_STATE_ROOT = Path("/run/faultlab")  # `faultlab lab up` writes <root>/<lab id>/inventory.yaml
# The embedded lab's names (sim/topology.py): hosts esx01.., VMs win01.. on NFS, win-vmfs01.. on VMFS.
_HOST = re.compile(r"^esx(\d{2})$")
_NFS_VM = re.compile(r"^win(\d{2})$")
_VMFS_VM = re.compile(r"^win-vmfs(\d{2})$")
_TARGETS = frozenset({"nfs01", "iscsi01"})
_DATASTORES = frozenset({"ds-nfs01", "ds-iscsi01"})


@dataclass(frozen=True)
class LabShape:
    """How many hosts and VMs an embedded lab needs. The default is the plugin's lab of old: one host, win01 on
    NFS and win-vmfs01 on VMFS."""

    hosts: int = 1
    vms: int = 1
    vmfs_vms: int = 1

    def describe(self) -> str:
        return f"{self.hosts} host(s), {self.vms} NFS VM(s), {self.vmfs_vms} VMFS VM(s)"


def shape_for(scenarios: Iterable[tuple[str, Scenario]]) -> LabShape:
    """The smallest embedded lab holding every host, VM, datastore and target the scenarios name. A name the
    embedded lab cannot have is a ConfigError naming the scenario file (those need --inventory)."""
    hosts, vms, vmfs = 1, 1, 1
    for where, sc in scenarios:
        names = [("host", sc.target.host)]
        if sc.target.vm:
            names.append(("vm", sc.target.vm))
        if sc.target.datastore and sc.target.datastore not in _DATASTORES:
            raise _issue(
                where,
                "target.datastore",
                f"{sc.target.datastore!r} is not in the embedded lab (it has {', '.join(sorted(_DATASTORES))}); "
                "run it with --inventory on a lab that has it",
            )
        fault_on = sc.fault.on
        if fault_on not in _TARGETS and not _HOST.match(fault_on):
            raise _issue(
                where,
                "fault.on",
                f"{fault_on!r} is not in the embedded lab (targets nfs01, iscsi01 or hosts esxNN); run it with "
                "--inventory",
            )
        if m := _HOST.match(fault_on):
            hosts = max(hosts, int(m.group(1)))
        for key, name in names:
            if key == "host" and (m := _HOST.match(name)):
                hosts = max(hosts, int(m.group(1)))
            elif key == "vm" and (m := _NFS_VM.match(name)):
                vms = max(vms, int(m.group(1)))
            elif key == "vm" and (m := _VMFS_VM.match(name)):
                vmfs = max(vmfs, int(m.group(1)))
            else:
                raise _issue(
                    where,
                    f"target.{key}",
                    f"{name!r} is not a name the embedded lab has (hosts esxNN, VMs winNN on NFS and win-vmfsNN on "
                    "VMFS); run it with --inventory",
                )
    return LabShape(hosts, vms, vmfs)


def _issue(where: str, key: str, message: str) -> ConfigError:
    return ConfigError(Issue(where, None, key, message))


class EmbeddedLabHandle:
    """An embedded lab this process started; `close` takes it down (also after errors: callers use finally)."""

    def __init__(self, shape: LabShape) -> None:
        from faultlab.sim.errors import EmbeddedLabError as SimLabError
        from faultlab.sim.lab import EmbeddedLab

        try:
            self._lab = EmbeddedLab.create(hosts=shape.hosts, vms=shape.vms, vmfs_vms=shape.vmfs_vms)
        except SimLabError as exc:
            raise FaultlabError(f"cannot start the embedded lab ({shape.describe()}): {exc}") from None
        set_vcenter_password(self._lab)
        self.shape = shape
        self._live: EmbeddedLab | None = self._lab
        self.lab_id = str(self._lab.lab_id)
        self.inventory_path = Path(self._lab.inventory_path)

    def close(self) -> None:
        lab, self._live = self._live, None
        if lab is not None:
            lab.down()


def set_vcenter_password(lab: object) -> None:
    """The embedded vCenter's password into this process's environment, where the inventory's ${VAR} points
    (a secret: never printed)."""
    from faultlab.sim.lab import vcenter_env

    if getattr(lab, "vcenter", True) is not None:
        os.environ.update(vcenter_env(lab))  # type: ignore[arg-type]


def existing_lab_inventory(lab_id: str) -> Path:
    """The inventory of a running embedded lab (`faultlab lab up`), its vCenter password set in the environment."""
    path = EMBEDDED_STATE_ROOT / lab_id / "inventory.yaml"
    if not path.is_file():
        raise _issue("--lab", "", f"no embedded lab {lab_id!r}: {path} does not exist (see `faultlab lab status`)")
    from faultlab.sim.errors import EmbeddedLabError as SimLabError
    from faultlab.sim.lab import find_lab

    with contextlib.suppress(SimLabError):  # without its manifest the password must come from the environment
        set_vcenter_password(find_lab(lab_id))
    return path
