"""The ESXi host role: esxcli / vim-cmd over SSH, read with parse_output into typed records."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

from faultlab.lab.errors import LabError, VimFaultError
from faultlab.lab.esxi import legacy
from faultlab.lab.esxi.parse import read_output
from faultlab.lab.inventory import Datastore, Host, Inventory
from faultlab.lab.result import CommandResult
from faultlab.lab.shellbatch import batch_script, parse_batch

T = TypeVar("T")
HOST_LOGS: tuple[str, ...] = ("vmkernel", "vmkwarning", "vobd", "hostd", "vmksummary")
_POWER = {"Powered on": "poweredOn", "Powered off": "poweredOff", "Suspended": "suspended"}
_DATASTORE_PATH = re.compile(r"^\[(?P<ds>[^\]]*)\]\s*(?P<rel>.+)$")
# How `esxcli storage core path list` may spell an administratively disabled path: `path set --state off` takes
# "off"; no real listing after it was found (reference/esxcli/SOURCES.md), so both spellings count.
PATH_OFF_STATES = ("off", "disabled")
DEVICE_ACCESSIBLE = ("on", "degraded")  # degraded: a path is down but a working one is left


class Runner(Protocol):
    """What the roles need of an SSH client (SshClient satisfies it; unit tests pass a fake)."""

    def run(self, argv: list[str] | str, timeout: float | None = None, check: bool = False) -> CommandResult: ...


def _norm(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower())


def field(row: Mapping[str, str], *names: str) -> str:
    """A row's value by its human name, whichever form the host printed: "Volume Name" (table), "VolumeName"
    (csv), "Host(s)" / "Hosts" (NFS 4.1). The first name present wins; "" when none is."""
    wanted = [_norm(n) for n in names]
    found = {_norm(k): v for k, v in row.items()}
    return next((found[w] for w in wanted if w in found), "")


def _major(version: str) -> int:
    """The major release in "4.1", "VMware ESX 4.1.0 build-260247", "VMware ESXi 8.0.2 build-..." (99: none)."""
    m = re.search(r"(?<![\d.])(\d+)\.\d+", version)
    return int(m.group(1)) if m else 99


def _bool(value: str) -> bool:
    return value.strip().lower() == "true"


@dataclass(frozen=True, slots=True)
class NfsMount:
    """One row of `esxcli storage nfs list` (version "3") or `esxcli storage nfs41 list` (version "4.1")."""

    volume_name: str
    host: str  # NFS 4.1: the Host(s) cell, one or more server addresses
    share: str
    accessible: bool
    mounted: bool
    read_only: bool
    version: str = "3"
    security: str = ""  # NFS 4.1: AUTH_SYS, SEC_KRB5...


def parse_nfs_list(text: str, version: str = "3") -> list[NfsMount]:
    command = "esxcli storage nfs41 list" if version == "4.1" else "esxcli storage nfs list"
    return [_nfs_mount(r, version) for r in read_output(command, text).rows]


def _nfs_mount(r: Mapping[str, str], version: str) -> NfsMount:
    return NfsMount(
        field(r, "Volume Name"),
        field(r, "Host(s)", "Host"),
        field(r, "Share"),
        _bool(field(r, "Accessible")),
        _bool(field(r, "Mounted")),
        _bool(field(r, "Read-Only")),
        version,
        field(r, "Security"),
    )


@dataclass(frozen=True, slots=True)
class Filesystem:
    """One row of `esxcli storage filesystem list`."""

    mount_point: str
    volume_name: str  # "" for nameless vfat partitions (6.x)
    uuid: str
    mounted: bool
    type: str  # VMFS-6, NFS, NFS41, vfat, VMFSOS, VFFS, vsan...

    def identifiers(self) -> list[str]:
        """The ids ESXi logs for this volume: its UUID and, for NFS and NFS 4.1, the first two groups of it (the
        APD handler's "filesystem identifier" of an NFS volume)."""
        ids = [self.uuid]
        if self.type.upper().startswith("NFS"):
            ids.append("-".join(self.uuid.split("-")[:2]))
        return list(dict.fromkeys(i for i in ids if i))


def parse_filesystem_list(text: str) -> list[Filesystem]:
    return [_filesystem(r) for r in read_output("esxcli storage filesystem list", text).rows]


def _filesystem(r: Mapping[str, str]) -> Filesystem:
    return Filesystem(
        field(r, "Mount Point"), field(r, "Volume Name"), field(r, "UUID"), _bool(field(r, "Mounted")), field(r, "Type")
    )


@dataclass(frozen=True, slots=True)
class Device:
    """One device of `esxcli storage core device list` (every field as the host printed it in `fields`)."""

    id: str
    fields: dict[str, str]

    @property
    def status(self) -> str:
        return field(self.fields, "Status")

    @property
    def display_name(self) -> str:
        return field(self.fields, "Display Name")

    @property
    def accessible(self) -> bool:
        """on, or degraded (a path down, a working one left); off, dead, not connected... are not."""
        return self.status.lower() in DEVICE_ACCESSIBLE


@dataclass(frozen=True, slots=True)
class StoragePath:
    """One path of `esxcli storage core path list`."""

    name: str
    fields: dict[str, str]

    @property
    def runtime_name(self) -> str:
        return field(self.fields, "Runtime Name")

    @property
    def device(self) -> str:
        return field(self.fields, "Device")

    @property
    def state(self) -> str:
        """As the host printed it: active, standby, dead, off or disabled (see PATH_OFF_STATES)..."""
        return field(self.fields, "State")

    @property
    def is_off(self) -> bool:
        return self.state.lower() in PATH_OFF_STATES


def _blocks_of(rows: list[dict[str, str]], id_key: str) -> list[tuple[str, dict[str, str]]]:
    """(id, fields) per block: the id line of the human format, else the id column of the csv format."""
    out = []
    for r in rows:
        fields = {k: v for k, v in r.items() if k != "id"}
        out.append((r.get("id") or field(r, id_key), fields))
    return out


def parse_devices(text: str) -> list[Device]:
    rows = read_output("esxcli storage core device list", text).rows
    return [Device(i, f) for i, f in _blocks_of(rows, "Device")]


def parse_paths(text: str) -> list[StoragePath]:
    rows = read_output("esxcli storage core path list", text).rows
    return [StoragePath(i, f) for i, f in _blocks_of(rows, "UID")]


def path_states(paths: list[StoragePath]) -> dict[str, str]:
    """Each path's State under its name, UID and runtime name (what `path set -p` accepts)."""
    out: dict[str, str] = {}
    for p in paths:
        for key in (p.name, field(p.fields, "UID"), p.runtime_name):
            if key:
                out[key] = p.state
    return out


def parse_advanced(text: str) -> int | str:
    """`esxcli system settings advanced list -o /X/Y`: the Int Value for integer options, else String Value."""
    rows = read_output("esxcli system settings advanced list", text).rows
    r = next((r for r in rows if field(r, "Path")), None)
    if r is None:
        raise ValueError(f"not an advanced option listing: {text.strip()[:120]!r}")
    return _setting_value(r)


def _setting_value(r: Mapping[str, str]) -> int | str:
    """The Int Value of an integer option (ValueError if it is not a number), else the String Value."""
    if (field(r, "Type") or "integer") == "integer" and field(r, "Int Value") != "":
        return int(field(r, "Int Value"))
    if field(r, "Type") == "integer":  # esxcli always prints an integer option's Int Value: a mangled listing
        raise ValueError(f"integer option {field(r, 'Path')!r} without an Int Value line")
    return field(r, "String Value")


@dataclass(frozen=True, slots=True)
class VmEntry:
    """One row of `vim-cmd vmsvc/getallvms`."""

    vmid: int
    name: str
    file: str  # "[ds] vm/vm.vmx", or "[] /var/run/crx/infra/vCLS-.../vCLS-....vmx"
    guest_os: str
    version: str
    annotation: str  # lines joined with "\n"


def parse_getallvms(text: str) -> list[VmEntry]:
    """The registered VMs by Vmid (vim-cmd lists them in the text order of the Vmid: 112, 128, 80)."""
    rows = read_output("vim-cmd vmsvc/getallvms", text).rows
    # by position (Vmid, Name, File, Guest OS, Version, Annotation): a header a publisher mangled still reads
    cells = [[*r.values(), ""][:6] for r in rows]
    vms = [VmEntry(int(c[0]), c[1], c[2], c[3], c[4], c[5]) for c in cells]
    return sorted(vms, key=lambda v: v.vmid)


def parse_power_state(text: str) -> str:
    """`vim-cmd vmsvc/power.getstate N` -> poweredOn / poweredOff / suspended (the vSphere API names)."""
    rows = read_output("vim-cmd vmsvc/power.getstate", text).rows
    state = rows[0]["state"] if rows else ""
    if state not in _POWER:
        raise ValueError(f"no power state in {text.strip()[:120]!r}")
    return _POWER[state]


def datastore_file(datastore_path: str, file_name: str | None = None) -> str:
    """ "[ds] win01/win01.vmx" -> /vmfs/volumes/ds/win01/win01.vmx (or a sibling `file_name` in that folder); a
    VM outside any datastore ("[] /var/run/crx/infra/vCLS-1/vCLS-1.vmx") keeps its absolute path."""
    m = _DATASTORE_PATH.match(datastore_path.strip())
    if m is None:
        raise ValueError(f"not a datastore path: {datastore_path!r}")
    rel = m["rel"].strip()
    if file_name is not None:
        rel = f"{rel.rsplit('/', 1)[0]}/{file_name}" if "/" in rel else file_name
    if not m["ds"]:
        if not rel.startswith("/"):
            raise ValueError(f"no datastore and no absolute path: {datastore_path!r}")
        return rel
    return f"/vmfs/volumes/{m['ds']}/{rel}"


@dataclass(frozen=True, slots=True)
class DatastoreState:
    """Whether a datastore is usable from a host, and what the host said (for reports)."""

    accessible: bool
    detail: str


# -- the role ------------------------------------------------------------------------------------------------


def _advanced_list(option: str) -> tuple[str, ...]:
    return ("system", "settings", "advanced", "list", "-o", option)


def _raise(rows: list[dict[str, str]] | LabError) -> list[dict[str, str]]:
    if isinstance(rows, LabError):
        raise rows
    return rows


class EsxiHost:
    """One ESXi host reached over SSH: what esxcli / vim-cmd say, as typed records.

    esxcli is asked for `--formatter=csv` (meant for machines); a host that refuses the option is asked again
    without it, and whichever layout comes back is read. Lines no rule fits are kept in `notes`."""

    def __init__(self, host: Host, client: Runner) -> None:
        self.host, self.client = host, client
        self.notes: list[str] = []
        self._plain = False  # the host refused --formatter=csv once: ask for the human layout from now on
        self._legacy: bool | None = None  # ESX(i) 3.x/4.x: no `esxcli storage`; esxcfg-* instead

    @property
    def legacy(self) -> bool:
        """ESX(i) before 5.0, whose esxcli has no storage namespace (ESX 4.x) or which has no esxcli at all (ESX
        3.5): storage is read with esxcfg-nas / esxcfg-scsidevs. esxcfg-scsidevs came with ESX 4.0 (3.5 has
        esxcfg-vmhbadevs, not read here): on 3.5 the VMFS listings fail naming the command. From the inventory's
        version; without one, from `vmware -v` once an esxcli storage command has failed (so ESXi 5+ hosts pay
        no extra command)."""
        if self._legacy is None and self.host.version is not None:
            self._legacy = _major(self.host.version) < 5
        return bool(self._legacy)

    def _storage(self, modern: Callable[[], T], old: Callable[[], T]) -> T:
        if self.legacy:
            return old()
        try:
            return modern()
        except LabError:
            if self._legacy is not None:  # known to be 5.0 or later: esxcli's own error stands
                raise
            try:
                self._legacy = _major(self.product_version()) < 5
            except LabError:
                self._legacy = False
            if not self._legacy:
                raise
        return old()

    def _legacy_command(self, argv: list[str]) -> str:
        res = self.client.run(argv)
        command = " ".join(argv)
        if not res.succeeded:
            why = res.stderr.strip() or res.stdout.strip()
            raise LabError(f"{command} exited {res.exit_status}: {why}", host=self.name)
        return res.stdout

    def _odd(self, command: str, odd: list[str]) -> None:
        self.notes.extend(f"{self.name}: {command}: {line}" for line in odd)

    @classmethod
    def of(cls, inventory: Inventory, name: str, client: Runner) -> EsxiHost:
        return cls(inventory.host(name), client)

    @property
    def name(self) -> str:
        return self.host.name

    def _esxcli(self, *args: str) -> list[dict[str, str]]:
        res: CommandResult | None = None
        if not self._plain:
            res = self.client.run(["esxcli", "--formatter=csv", *args])
            if not res.succeeded:
                plain = self.client.run(["esxcli", *args])
                self._plain, res = plain.succeeded, plain
        if res is None:
            res = self.client.run(["esxcli", *args])
        command = f"esxcli {' '.join(args)}"
        if not res.succeeded:
            why = res.stderr.strip() or res.stdout.strip()
            raise LabError(f"{command} exited {res.exit_status}: {why}", host=self.name)
        return self._read(command, res.stdout)

    def run_many(self, commands: list[list[str]]) -> list[CommandResult]:
        """Several read-only commands in one round trip, run at once on the host (batch_script)."""
        if len(commands) < 2:
            return [self.client.run(c) for c in commands]
        token = secrets.token_hex(12)
        return parse_batch(self.client.run(batch_script(commands, token)), commands, token)

    def _esxcli_many(self, calls: list[tuple[str, ...]]) -> list[list[dict[str, str]] | LabError]:
        """Several esxcli reads in one round trip (csv, as `_esxcli`); a call the host refuses in csv is asked again
        on its own in the human layout. Each call's rows, or its LabError."""
        if self._plain or len(calls) < 2:
            return [self._rows_or_error(args) for args in calls]
        results = self.run_many([["esxcli", "--formatter=csv", *args] for args in calls])
        out: list[list[dict[str, str]] | LabError] = []
        for args, res in zip(calls, results, strict=True):
            if res.succeeded:
                try:
                    out.append(self._read(f"esxcli {' '.join(args)}", res.stdout))
                except LabError as exc:
                    out.append(exc)
            else:
                out.append(self._rows_or_error(args))
        return out

    def _rows_or_error(self, args: tuple[str, ...]) -> list[dict[str, str]] | LabError:
        try:
            return self._esxcli(*args)
        except LabError as exc:
            return exc

    def _read(self, command: str, text: str) -> list[dict[str, str]]:
        try:
            parsed = read_output(command, text)
        except VimFaultError as exc:
            raise VimFaultError(exc.fault, exc.msg, context=exc.context or command, host=self.name) from None
        self.notes.extend(f"{self.name}: {command}: {odd}" for odd in parsed.odd)
        return parsed.rows

    def product_version(self) -> str:
        """`vmware -v` as the host prints it: `VMware ESXi 8.0.2 build-22380479`, `VMware ESX 4.1.0 build-260247`,
        `VMware ESX Server 3.5.0 build-NNNNN` on 3.5 (every ESX(i) release has the command)."""
        res = self.client.run(["vmware", "-v"])
        if not res.succeeded or not res.stdout.strip():
            why = res.stderr.strip() or res.stdout.strip() or "no output"
            raise LabError(f"vmware -v exited {res.exit_status}: {why}", host=self.name)
        if self._legacy is None:  # known now: ESX(i) before 5.0 has no `esxcli storage`, so it is not asked
            self._legacy = _major(res.stdout) < 5
        return res.stdout.strip()

    def advanced_setting(self, name: str) -> int | str:
        """An advanced option by "Misc.APDTimeout" or "/Misc/APDTimeout"."""
        option = name if name.startswith("/") else "/" + name.replace(".", "/")
        return self._setting_of(option, self._esxcli(*_advanced_list(option)))

    def preflight_facts(
        self, settings: list[str]
    ) -> tuple[dict[str, int | str | LabError], list[Filesystem] | LabError]:
        """The advanced options and `esxcli storage filesystem list` in one round trip: each option's value (or
        its LabError), and the file systems (or the LabError of their listing)."""
        options = [n if n.startswith("/") else "/" + n.replace(".", "/") for n in settings]
        legacy = self.legacy  # ESX 4 (known from the inventory or `vmware -v`): its esxcli has no storage namespace
        listing = [] if legacy else [("storage", "filesystem", "list")]
        got = self._esxcli_many([*(_advanced_list(o) for o in options), *listing])
        values: dict[str, int | str | LabError] = {}
        for name, option, rows in zip(settings, options, got, strict=False):
            try:
                values[name] = self._setting_of(option, _raise(rows))
            except LabError as exc:
                values[name] = exc
        if legacy:
            try:
                return values, self._legacy_filesystems()
            except LabError as exc:
                return values, exc
        fs = got[-1]
        if isinstance(fs, LabError):  # e.g. ESX 4, whose esxcli has no storage namespace: read as filesystems() does
            refused = fs

            def modern() -> list[Filesystem]:
                raise refused

            try:
                return values, self._storage(modern, self._legacy_filesystems)
            except LabError as exc:
                return values, exc
        return values, [_filesystem(r) for r in fs]

    def _setting_of(self, option: str, rows: list[dict[str, str]]) -> int | str:
        r = next((r for r in rows if field(r, "Path")), None)
        if r is None:
            raise LabError(f"advanced option {option}: not an advanced option listing", host=self.name)
        try:
            return _setting_value(r)
        except ValueError as exc:
            raise LabError(f"advanced option {option}: {exc}", host=self.name) from None

    def set_advanced_setting(self, name: str, value: int | str) -> None:
        """`esxcli system settings advanced set -o <option> -i <int> | -s <string>`."""
        option = name if name.startswith("/") else "/" + name.replace(".", "/")
        kind = "-s" if isinstance(value, str) else "-i"
        self._esxcli("system", "settings", "advanced", "set", "-o", option, kind, str(value))

    def filesystems(self) -> list[Filesystem]:
        """`esxcli storage filesystem list`; on ESX 4: the VMFS volumes of `esxcfg-scsidevs -m` and the NFS mounts
        of `esxcfg-nas -l` (which prints no volume UUID: NFS rows have none)."""
        return self._storage(
            lambda: [_filesystem(r) for r in self._esxcli("storage", "filesystem", "list")], self._legacy_filesystems
        )

    def _legacy_filesystems(self) -> list[Filesystem]:
        volumes, odd = legacy.parse_scsidevs_m(self._legacy_command(["esxcfg-scsidevs", "-m"]))
        self._odd("esxcfg-scsidevs -m", odd)
        out = [Filesystem(f"/vmfs/volumes/{v.uuid}", v.label, v.uuid, True, "VMFS") for v in volumes]
        out += [Filesystem(f"/vmfs/volumes/{m.volume_name}", m.volume_name, "", m.mounted, "NFS") for m in self._nas()]
        return out

    def _nas(self) -> list[NfsMount]:
        mounts, odd = legacy.parse_esxcfg_nas(self._legacy_command(["esxcfg-nas", "-l"]))
        self._odd("esxcfg-nas -l", odd)
        return [NfsMount(m.name, m.server, m.share, m.accessible, m.mounted, False, "3") for m in mounts]

    def nfs_mounts(self, version: str = "3") -> list[NfsMount]:
        """`esxcli storage nfs list`, or `esxcli storage nfs41 list` for version "4.1"; on ESX 4 (NFS 3 only):
        `esxcfg-nas -l` (Read-Only is not printed there: False)."""
        namespace = "nfs41" if version == "4.1" else "nfs"

        def old() -> list[NfsMount]:
            if version == "4.1":
                raise LabError("NFS 4.1 datastores need ESXi 6.0 or later", host=self.name)
            return self._nas()

        return self._storage(lambda: [_nfs_mount(r, version) for r in self._esxcli("storage", namespace, "list")], old)

    def devices(self) -> list[Device]:
        """`esxcli storage core device list`; on ESX 4 `esxcfg-scsidevs -l` (the same Status values)."""

        def old() -> list[Device]:
            found, odd = legacy.parse_scsidevs_l(self._legacy_command(["esxcfg-scsidevs", "-l"]))
            self._odd("esxcfg-scsidevs -l", odd)
            return [Device(d.id, d.fields) for d in found]

        return self._storage(
            lambda: [Device(i, f) for i, f in _blocks_of(self._esxcli("storage", "core", "device", "list"), "Device")],
            old,
        )

    def paths(self) -> list[StoragePath]:
        return [StoragePath(i, f) for i, f in _blocks_of(self._esxcli("storage", "core", "path", "list"), "UID")]

    def datastore_state(self, ds: Datastore) -> DatastoreState:
        """NFS 3 / 4.1: Accessible in `esxcli storage nfs list` / `nfs41 list`; VMFS: the device's Status (on or
        degraded is accessible)."""
        if ds.type in ("nfs", "nfs41"):
            version = "4.1" if ds.type == "nfs41" else "3"
            for mount in self.nfs_mounts(version):
                if mount.volume_name == ds.name:
                    return DatastoreState(mount.accessible, f"accessible={str(mount.accessible).lower()}")
            listing = (
                "esxcfg-nas -l" if self.legacy else f"esxcli storage {'nfs41' if version == '4.1' else 'nfs'} list"
            )
            return DatastoreState(False, f"not in {listing}")
        for dev in self.devices():
            if dev.id == ds.naa_id:
                return DatastoreState(dev.accessible, f"device {ds.naa_id} status {dev.status}")
        listing = "esxcfg-scsidevs -l" if self.legacy else "esxcli storage core device list"
        return DatastoreState(False, f"device {ds.naa_id} not in {listing}")

    def vms(self) -> list[VmEntry]:
        res = self.client.run(["vim-cmd", "vmsvc/getallvms"])
        if not res.succeeded:
            raise LabError(f"vim-cmd vmsvc/getallvms exited {res.exit_status}: {res.stderr.strip()}", host=self.name)
        self._read("vim-cmd vmsvc/getallvms", res.stdout)  # faults and odd lines
        return parse_getallvms(res.stdout)

    def power_state(self, vmid: int) -> str:
        command = f"vim-cmd vmsvc/power.getstate {vmid}"
        res = self.client.run(["vim-cmd", "vmsvc/power.getstate", str(vmid)])
        self._read(command, res.stdout + res.stderr)  # an unknown vmid: VimFaultError (vim.fault.NotFound)
        try:
            return parse_power_state(res.stdout)
        except ValueError as exc:
            raise LabError(f"{command}: {exc}", host=self.name) from None
