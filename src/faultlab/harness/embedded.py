"""The one place the harness starts the simulator: an embedded lab shaped for the scenarios it will run."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from faultlab.harness.scenario import Scenario, version_matches

if TYPE_CHECKING:
    from faultlab.sim.config import VersionProfile
    from faultlab.sim.lab import EmbeddedLab

from faultlab.lab.errors import ConfigError, FaultlabError, Issue

EMBEDDED_STATE_ROOT = Path("/run/faultlab")  # `faultlab lab up` writes <root>/<lab id>/inventory.yaml
# The embedded lab's names (sim/topology.py): hosts esx01.., VMs win01.. on NFS, win-vmfs01.. on VMFS.
_HOST = re.compile(r"^esx(\d{2})$")
_NFS_VM = re.compile(r"^win(\d{2})$")
_VMFS_VM = re.compile(r"^win-vmfs(\d{2})$")
_TARGETS = frozenset({"nfs01", "iscsi01"})
_DATASTORES = frozenset({"ds-nfs01", "ds-iscsi01"})
# The embedded lab's version profiles (sim/config.py VersionProfile) and the release each reports (`vmware -v`:
# sim/esxi/release.py, sim/esx4/lines.py): a scenario's `lab.version` picks the profile whose release it matches.
EMBEDDED_RELEASES: dict[str, str] = {"8.0": "8.0.2", "7.0": "7.0.3", "4.1": "4.1.0"}
DEFAULT_VERSION = "8.0"


@dataclass(frozen=True)
class LabShape:
    """How many hosts and VMs an embedded lab needs. The default is the plugin's lab of old: one host, win01 on
    NFS and win-vmfs01 on VMFS."""

    hosts: int = 1
    vms: int = 1
    vmfs_vms: int = 1
    version: str = DEFAULT_VERSION  # a version profile of EMBEDDED_RELEASES

    def describe(self) -> str:
        return f"ESX(i) {self.version}: {self.hosts} host(s), {self.vms} NFS VM(s), {self.vmfs_vms} VMFS VM(s)"


def embedded_version(where: str, sc: Scenario) -> str:
    """The embedded version profile a scenario's host must run (8.0 when it names none); a version the embedded
    lab cannot have is a ConfigError at the scenario's lab.version."""
    required = sc.required_version
    if required is None:
        return DEFAULT_VERSION
    for profile, release in EMBEDDED_RELEASES.items():
        if version_matches(required, release):
            return profile
    have = ", ".join(f"{p} ({r})" for p, r in EMBEDDED_RELEASES.items())
    raise _issue(
        where,
        "lab.version",
        f"the embedded lab has no ESX(i) {required} hosts (it has {have}); run it with --inventory on such a lab",
    )


def shapes_for(scenarios: Iterable[tuple[str, Scenario]]) -> dict[str, LabShape]:
    """One embedded lab per ESX(i) version the scenarios need, each the smallest holding what its scenarios name
    (every scenario is checked, whichever lab it goes to)."""
    groups: dict[str, list[tuple[str, Scenario]]] = {}
    for where, sc in scenarios:
        groups.setdefault(embedded_version(where, sc), []).append((where, sc))
    return {version: shape_for(group, version) for version, group in groups.items()}


def shape_for(scenarios: Iterable[tuple[str, Scenario]], version: str = DEFAULT_VERSION) -> LabShape:
    """The smallest embedded lab of `version` holding every host, VM, datastore and target the scenarios name. A
    name the embedded lab cannot have is a ConfigError naming the scenario file (those need --inventory). The 8.0
    lab always has a VMFS VM (the catalog's lab of old); a lab of another version only those its scenarios name."""
    hosts, vms, vmfs = 1, 1, 1 if version == DEFAULT_VERSION else 0
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
    return LabShape(hosts, vms, vmfs, version)


def _issue(where: str, key: str, message: str) -> ConfigError:
    return ConfigError(Issue(where, None, key, message))


class EmbeddedLabHandle:
    """An embedded lab this process started; `close` takes it down (also after errors: callers use finally)."""

    def __init__(self, shape: LabShape) -> None:
        from faultlab.sim.errors import EmbeddedLabError as SimLabError
        from faultlab.sim.lab import EmbeddedLab

        try:
            self._lab = EmbeddedLab.create(
                hosts=shape.hosts,
                vms=shape.vms,
                vmfs_vms=shape.vmfs_vms,
                version=_profile(shape.version),
            )
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


def _profile(version: str) -> VersionProfile:
    if version == "4.1":
        return "4.1"
    if version == "7.0":
        return "7.0"
    if version == "8.0":
        return "8.0"
    raise FaultlabError(f"the embedded lab has no ESX(i) {version} profile ({', '.join(EMBEDDED_RELEASES)})")


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
