"""What the simulated vCenter holds: the lab's hosts, datastores and VMs, validated, as the launcher's JSON."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from faultlab.sim.errors import EmbeddedLabError

DEFAULT_USER = "administrator@vsphere.local"
DatastoreType = Literal["nfs", "nfs41", "vmfs"]


@dataclass(frozen=True, slots=True)
class VcHost:
    """A simulated ESXi host as vCenter lists it (by its lab name)."""

    name: str
    address: str = ""


@dataclass(frozen=True, slots=True)
class VcDatastore:
    """A datastore mounted on `hosts`. For NFS, `path` is the export folder (the datastore's url)."""

    name: str
    type: DatastoreType
    hosts: tuple[str, ...]
    path: str | None = None
    remote_host: str | None = None
    remote_path: str | None = None
    volume_uuid: str | None = None
    naa_id: str | None = None


@dataclass(frozen=True, slots=True)
class VcVm:
    """A VM registered on `host`, its files on `datastore` (`vmx_path` like "[ds-nfs01] win01/win01.vmx")."""

    name: str
    host: str
    datastore: str
    vmx_path: str | None = None
    guest_os: str = "windows"
    power_on: bool = True


@dataclass(frozen=True, slots=True)
class VcenterSpec:
    """The simulated vCenter: where it listens, its login, and its inventory."""

    address: str
    password: str
    port: int = 443
    user: str = DEFAULT_USER
    datacenter: str = "faultlab"
    hosts: tuple[VcHost, ...] = ()
    datastores: tuple[VcDatastore, ...] = ()
    vms: tuple[VcVm, ...] = ()
    cert_names: tuple[str, ...] = field(default=())

    def validate(self) -> None:
        """Names are unique and every reference resolves (the launcher would otherwise fail half-built)."""
        problems: list[str] = []
        if not self.password:
            problems.append("the vCenter password is empty")
        hosts = _unique("host", [h.name for h in self.hosts], problems)
        dss = _unique("datastore", [d.name for d in self.datastores], problems)
        _unique("vm", [v.name for v in self.vms], problems)
        mounted: dict[str, set[str]] = {}
        for d in self.datastores:
            if not d.hosts:
                problems.append(f"datastore {d.name} is mounted on no host")
            problems += [f"datastore {d.name}: unknown host {h}" for h in d.hosts if h not in hosts]
            mounted[d.name] = set(d.hosts)
            if d.type in ("nfs", "nfs41") and not (d.remote_host and d.remote_path):
                problems.append(f"datastore {d.name}: an NFS datastore needs remote_host and remote_path")
        for v in self.vms:
            if v.host not in hosts:
                problems.append(f"vm {v.name}: unknown host {v.host}")
            elif v.datastore not in dss:
                problems.append(f"vm {v.name}: unknown datastore {v.datastore}")
            elif v.host not in mounted[v.datastore]:
                problems.append(f"vm {v.name}: datastore {v.datastore} is not mounted on host {v.host}")
        if problems:
            raise EmbeddedLabError("simulated vCenter spec: " + "; ".join(problems))

    def launcher_json(self, state_dir: Path, control_socket: Path, port: int | None = None) -> dict[str, Any]:
        """The launcher's -config document (see main.go `spec`)."""
        listen_port = self.port if port is None else port
        return {
            "listen": f"[{self.address}]:{listen_port}" if ":" in self.address else f"{self.address}:{listen_port}",
            "user": self.user,
            "password": self.password,
            "datacenter": self.datacenter,
            "state_dir": str(state_dir),
            "control_socket": str(control_socket),
            "cert_names": list(self.cert_names),
            "hosts": [{"name": h.name, "address": h.address} for h in self.hosts],
            "datastores": [
                {
                    "name": d.name,
                    "type": d.type,
                    "hosts": list(d.hosts),
                    "path": d.path or "",
                    "remote_host": d.remote_host or "",
                    "remote_path": d.remote_path or "",
                    "volume_uuid": d.volume_uuid or "",
                    "naa_id": d.naa_id or "",
                }
                for d in self.datastores
            ],
            "vms": [
                {
                    "name": v.name,
                    "host": v.host,
                    "datastore": v.datastore,
                    "vmx_path": v.vmx_path or "",
                    "guest_os": v.guest_os,
                    "power_on": v.power_on,
                }
                for v in self.vms
            ],
        }


def _unique(kind: str, names: Sequence[str], problems: list[str]) -> set[str]:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            problems.append(f"duplicate {kind} name {n}")
        seen.add(n)
    return seen


def spec_from_inventory(
    inventory: Mapping[str, Any], *, address: str, password: str, port: int = 443, user: str = DEFAULT_USER
) -> VcenterSpec:
    """A spec from the inventory dict `lab up` writes (faultlab.sim.inventory): its hosts, datastores, VMs.

    The NFS datastore's path is its target's `export_dir`, so the vCenter datastore browser shows the real files.
    """
    exports = {t["name"]: t.get("export_dir") for t in inventory.get("storage_targets", []) if t.get("kind") == "nfs"}
    hosts = tuple(VcHost(h["name"], str(h.get("address", ""))) for h in inventory.get("hosts", []))
    all_hosts = tuple(h.name for h in hosts)
    datastores = tuple(
        VcDatastore(
            name=d["name"],
            type=d["type"],
            hosts=tuple(d.get("hosts") or all_hosts),
            path=exports.get(d.get("target", "")) if d["type"] != "vmfs" else None,
            remote_host=d.get("remote_host"),
            remote_path=d.get("remote_path"),
            volume_uuid=d.get("volume_uuid"),
            naa_id=d.get("naa_id"),
        )
        for d in inventory.get("datastores", [])
    )
    vms = tuple(
        VcVm(v["name"], v["host"], v["datastore"], v.get("vmx_path"), v.get("guest_os", "windows"))
        for v in inventory.get("vms", [])
    )
    return VcenterSpec(
        address=address, password=password, port=port, user=user, hosts=hosts, datastores=datastores, vms=vms
    )
