"""The ESXi host role: log paths, and esxcli / vim-cmd output parsed into typed records, over SSH."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from faultlab.lab.errors import LabError
from faultlab.lab.inventory import Host, Inventory
from faultlab.lab.ssh import CommandResult

HOST_LOGS: tuple[str, ...] = ("vmkernel", "vmkwarning", "vobd", "hostd", "vmksummary")
_POWER = {"Powered on": "poweredOn", "Powered off": "poweredOff", "Suspended": "suspended"}
_VM_ROW = re.compile(r"^(?P<vmid>\d+)\s+(?P<name>.+?)\s+(?P<file>\[[^\]]+\]\s+\S.*?\.vmx)\s+(?P<rest>.*)$")
_DATASTORE_PATH = re.compile(r"^\[(?P<ds>[^\]]+)\]\s*(?P<rel>.+)$")


class Runner(Protocol):
    """What the roles need of an SSH client (SshClient satisfies it; unit tests pass a fake)."""

    def run(self, argv: list[str] | str, timeout: float | None = None, check: bool = False) -> CommandResult: ...


@dataclass(frozen=True, slots=True)
class NfsMount:
    """One row of `esxcli storage nfs list`."""

    volume_name: str
    host: str
    share: str
    accessible: bool
    mounted: bool
    read_only: bool


@dataclass(frozen=True, slots=True)
class Filesystem:
    """One row of `esxcli storage filesystem list`."""

    mount_point: str
    volume_name: str
    uuid: str
    mounted: bool
    type: str  # VMFS-6, NFS, NFS41, vfat, vsan...

    def identifiers(self) -> list[str]:
        """The ids ESXi logs for this volume: its UUID and, for NFS, the first two groups of it (the APD
        handler's "filesystem identifier" of an NFS volume)."""
        ids = [self.uuid]
        if self.type.upper().startswith("NFS"):
            ids.append("-".join(self.uuid.split("-")[:2]))
        return list(dict.fromkeys(i for i in ids if i))


def parse_filesystem_list(text: str) -> list[Filesystem]:
    return [
        Filesystem(
            r.get("Mount Point", ""),
            r.get("Volume Name", ""),
            r.get("UUID", ""),
            _bool(r.get("Mounted", "")),
            r.get("Type", ""),
        )
        for r in parse_table(text)
    ]


@dataclass(frozen=True, slots=True)
class Device:
    """One device of `esxcli storage core device list` (all its "Key: Value" lines in `fields`)."""

    id: str
    fields: dict[str, str]

    @property
    def status(self) -> str:
        return self.fields.get("Status", "")

    @property
    def display_name(self) -> str:
        return self.fields.get("Display Name", "")


@dataclass(frozen=True, slots=True)
class StoragePath:
    """One path of `esxcli storage core path list`."""

    name: str
    fields: dict[str, str]

    @property
    def runtime_name(self) -> str:
        return self.fields.get("Runtime Name", "")

    @property
    def device(self) -> str:
        return self.fields.get("Device", "")

    @property
    def state(self) -> str:
        return self.fields.get("State", "")


@dataclass(frozen=True, slots=True)
class VmEntry:
    """One row of `vim-cmd vmsvc/getallvms`."""

    vmid: int
    name: str
    file: str
    guest_os: str
    version: str
    annotation: str


# -- pure parsers (unit-tested on VMware's documented output) ---------------------------------------------


def parse_blocks(text: str) -> list[tuple[str, dict[str, str]]]:
    """esxcli's list format: an unindented id line, then indented "Key: Value" lines."""
    blocks: list[tuple[str, dict[str, str]]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            blocks.append((line.strip(), {}))
        elif blocks and ":" in line:
            key, _, value = line.strip().partition(":")
            blocks[-1][1][key.strip()] = value.strip()
    return blocks


def parse_advanced(text: str) -> int | str:
    """`esxcli system settings advanced list -o /X/Y`: the Int Value for integer options, else String Value."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    if "Path" not in fields:
        raise ValueError(f"not an advanced option listing: {text.strip()[:120]!r}")
    if fields.get("Type", "integer") == "integer" and fields.get("Int Value", "") != "":
        return int(fields["Int Value"])
    return fields.get("String Value", "")


def parse_table(text: str) -> list[dict[str, str]]:
    """esxcli's table format: a header, a line of dash runs giving the column extents, then rows."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip() and set(line.strip()) <= {"-", " "} and i > 0:
            spans = [(m.start(), m.end()) for m in re.finditer(r"-+", line)]
            header = lines[i - 1]
            names = [header[a:b].strip() for a, b in _widen(spans, len(header))]
            rows = []
            for row in lines[i + 1 :]:
                if row.strip():
                    cells = [row[a:b].strip() for a, b in _widen(spans, len(row))]
                    rows.append(dict(zip(names, cells, strict=True)))
            return rows
    return []


def _widen(spans: list[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    """Each column runs to the start of the next one (right-aligned cells overhang their dash run)."""
    starts = [0] + [a for a, _ in spans[1:]]
    ends = [a for a, _ in spans[1:]] + [max(length, spans[-1][1])]
    return list(zip(starts, ends, strict=True))


def _bool(value: str) -> bool:
    return value.strip().lower() == "true"


def parse_nfs_list(text: str) -> list[NfsMount]:
    return [
        NfsMount(
            r["Volume Name"],
            r["Host"],
            r["Share"],
            _bool(r.get("Accessible", "")),
            _bool(r.get("Mounted", "")),
            _bool(r.get("Read-Only", "")),
        )
        for r in parse_table(text)
    ]


def parse_getallvms(text: str) -> list[VmEntry]:
    out: list[VmEntry] = []
    for line in text.splitlines():
        m = _VM_ROW.match(line.strip())
        if m is None:
            continue
        rest = m["rest"].split(None, 2)
        rest += [""] * (3 - len(rest))
        out.append(VmEntry(int(m["vmid"]), m["name"], m["file"], rest[0], rest[1], rest[2]))
    return out


def parse_power_state(text: str) -> str:
    """`vim-cmd vmsvc/power.getstate N` -> poweredOn / poweredOff / suspended (the vSphere API names)."""
    for line in text.splitlines():
        if line.strip() in _POWER:
            return _POWER[line.strip()]
    raise ValueError(f"no power state in {text.strip()[:120]!r}")


def datastore_file(datastore_path: str, file_name: str | None = None) -> str:
    """ "[ds] win01/win01.vmx" -> /vmfs/volumes/ds/win01/win01.vmx (or a sibling `file_name` in that folder)."""
    m = _DATASTORE_PATH.match(datastore_path.strip())
    if m is None:
        raise ValueError(f"not a datastore path: {datastore_path!r}")
    rel = m["rel"].strip()
    if file_name is not None:
        rel = f"{rel.rsplit('/', 1)[0]}/{file_name}" if "/" in rel else file_name
    return f"/vmfs/volumes/{m['ds']}/{rel}"


# -- the role ------------------------------------------------------------------------------------------------


class EsxiHost:
    """One ESXi host reached over SSH: where its logs are, and what esxcli / vim-cmd say."""

    def __init__(self, host: Host, client: Runner) -> None:
        self.host, self.client = host, client

    @classmethod
    def of(cls, inventory: Inventory, name: str, client: Runner) -> EsxiHost:
        return cls(inventory.host(name), client)

    @property
    def name(self) -> str:
        return self.host.name

    def log_path(self, log: str) -> str:
        """/var/run/log/vmkernel.log etc. (the inventory's log_dir)."""
        return f"{self.host.log_dir.rstrip('/')}/{log}.log"

    def log_paths(self) -> list[str]:
        return [self.log_path(x) for x in HOST_LOGS]

    @staticmethod
    def vm_log_path(vmx_path: str) -> str:
        """The VM's vmware.log beside its .vmx ("[ds] vm/vm.vmx")."""
        return datastore_file(vmx_path, "vmware.log")

    def _esxcli(self, *args: str) -> str:
        res = self.client.run(["esxcli", *args])
        if not res.succeeded:
            raise LabError(
                f"esxcli {' '.join(args)} exited {res.exit_status}: {res.stderr.strip() or res.stdout.strip()}",
                host=self.name,
            )
        return res.stdout

    def advanced_setting(self, name: str) -> int | str:
        """An advanced option by "Misc.APDTimeout" or "/Misc/APDTimeout"."""
        option = name if name.startswith("/") else "/" + name.replace(".", "/")
        text = self._esxcli("system", "settings", "advanced", "list", "-o", option)
        try:
            return parse_advanced(text)
        except ValueError as exc:
            raise LabError(f"advanced option {option}: {exc}", host=self.name) from None

    def set_advanced_setting(self, name: str, value: int | str) -> None:
        """`esxcli system settings advanced set -o <option> -i <int> | -s <string>`."""
        option = name if name.startswith("/") else "/" + name.replace(".", "/")
        kind = "-s" if isinstance(value, str) else "-i"
        self._esxcli("system", "settings", "advanced", "set", "-o", option, kind, str(value))

    def filesystems(self) -> list[Filesystem]:
        return parse_filesystem_list(self._esxcli("storage", "filesystem", "list"))

    def nfs_mounts(self) -> list[NfsMount]:
        return parse_nfs_list(self._esxcli("storage", "nfs", "list"))

    def devices(self) -> list[Device]:
        return [Device(i, f) for i, f in parse_blocks(self._esxcli("storage", "core", "device", "list"))]

    def paths(self) -> list[StoragePath]:
        return [StoragePath(i, f) for i, f in parse_blocks(self._esxcli("storage", "core", "path", "list"))]

    def set_path_state(self, path: str, state: str) -> None:
        """`esxcli storage core path set --state off|active -p <runtime name or UID>`."""
        self._esxcli("storage", "core", "path", "set", "--state", state, "-p", path)

    def vms(self) -> list[VmEntry]:
        res = self.client.run(["vim-cmd", "vmsvc/getallvms"])
        if not res.succeeded:
            raise LabError(f"vim-cmd vmsvc/getallvms exited {res.exit_status}: {res.stderr.strip()}", host=self.name)
        return parse_getallvms(res.stdout)

    def power_state(self, vmid: int) -> str:
        res = self.client.run(["vim-cmd", "vmsvc/power.getstate", str(vmid)])
        try:
            return parse_power_state(res.stdout)
        except ValueError as exc:
            raise LabError(f"vim-cmd vmsvc/power.getstate {vmid}: {exc}", host=self.name) from None
