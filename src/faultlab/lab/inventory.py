"""The lab inventory: typed, validated YAML (hosts, vCenter, storage targets, datastores, VMs, access policy)."""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    ValidationInfo,
    WithJsonSchema,
)

from faultlab.assertions.durations import MAX_SECONDS, parse_duration
from faultlab.lab.credentials import SecretRef
from faultlab.lab.errors import ConfigError, FaultNotAllowedError, Issue
from faultlab.lab.yamlsource import Loc, Source, format_key, load_yaml, parse_yaml, raise_if

log = logging.getLogger("faultlab.lab")

INVENTORY_VERSION = 1
FINGERPRINT_RE = r"^SHA256:[A-Za-z0-9+/]{43}=?$"
THUMBPRINT_RE = r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){19}$|^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){31}$"
NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
_HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


# -- field types ------------------------------------------------------------------------------------------


def _address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not _HOSTNAME_RE.match(value):
            raise ValueError(f"{value!r} is neither an IP address nor a host name") from None
    return value


def _local_path(value: Path, info: ValidationInfo) -> Path:
    """~ is expanded; a relative path counts from the inventory file's folder."""
    path = value.expanduser()
    base = (info.context or {}).get("base_dir") if isinstance(info.context, dict) else None
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    return path


def _seconds(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value).total_seconds()
    return value


Name = Annotated[str, Field(pattern=NAME_RE, description="a name: letters, digits, '.', '_', '-'")]
Address = Annotated[str, AfterValidator(_address), Field(description="IP address or DNS name")]
Port = Annotated[int, Field(ge=1, le=65535)]
LocalPath = Annotated[Path, AfterValidator(_local_path), Field(description="a path on this machine; ~ expands")]
Seconds = Annotated[
    float,
    BeforeValidator(_seconds),
    Field(gt=0, le=MAX_SECONDS),
    WithJsonSchema({"anyOf": [{"type": "number", "exclusiveMinimum": 0, "maximum": MAX_SECONDS}, {"type": "string"}]}),
]
Fingerprint = Annotated[str, Field(pattern=FINGERPRINT_RE, description='as ssh-keygen -lf prints it: "SHA256:..."')]
Thumbprint = Annotated[str, Field(pattern=THUMBPRINT_RE, description="SHA-1 or SHA-256 hex pairs, AA:BB:...")]
Command = Annotated[
    str | list[Annotated[str, Field(min_length=1)]],
    Field(min_length=1, description="a shell line (run as written) or an argv list (quoted by faultlab)"),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- sections ---------------------------------------------------------------------------------------------

_HOST_KEY_KEYS = ("known_hosts", "host_key_fingerprint", "insecure_accept_any_host_key")
_CREDENTIAL_KEYS = ("private_key", "private_key_passphrase", "password")


class SshSettings(_Model):
    """SSH access. The top-level `ssh` gives defaults; a host's or target's own `ssh` overrides them key by
    key, except that the host-key keys and the credential keys are each replaced as a group."""

    user: str | None = None
    port: Port | None = None
    private_key: LocalPath | None = None
    private_key_passphrase: SecretRef | None = None
    password: SecretRef | None = None
    known_hosts: LocalPath | None = None
    host_key_fingerprint: Fingerprint | None = None
    insecure_accept_any_host_key: StrictBool | None = None
    timeout: Seconds | None = None


class Tls(_Model):
    """TLS of a vSphere endpoint: the certificate chain is verified unless `verify: false`; a `thumbprint`
    pins the server certificate instead."""

    verify: StrictBool = True  # like every boolean key: only true/false (`verify: no` is refused, not false)
    ca_file: LocalPath | None = None
    thumbprint: Thumbprint | None = None


class ApiEndpoint(_Model):
    """A vSphere API endpoint (vCenter, or an ESXi host's own API)."""

    address: Address
    port: Port = 443
    user: str
    password: SecretRef
    tls: Tls = Tls()


class Network(_Model):
    """Where the embedded lab lives (written by `faultlab lab up`; informative)."""

    cidr: str
    gateway: str | None = None
    bridge: str | None = None


class Host(_Model):
    """An ESXi host: reached over SSH (logs, esxcli) and optionally its own API."""

    name: Name
    address: Address
    version: str | None = None
    log_dir: str = "/var/run/log"
    netns: str | None = None
    running: StrictBool | None = None
    ssh: SshSettings | None = None
    api: ApiEndpoint | None = None
    allow_faults: StrictBool = False


class Service(_Model):
    """Commands that act on a storage target's service, run over SSH on the target."""

    name: str | None = None
    process: str | None = None
    start: Command
    stop: Command
    status: Command | None = None
    restart: Command | None = None
    freeze: Command | None = None
    thaw: Command | None = None
    lun_remove: Command | None = None
    lun_add: Command | None = None
    lun_status: Command | None = None  # exits 0 while the LUN is presented: verifies lun-remove and its heal


class StorageTarget(_Model):
    """A storage server (NFS or iSCSI) the faults act on."""

    name: Name
    kind: Literal["nfs", "iscsi"]
    address: Address
    ports: dict[str, Port] = Field(min_length=1, description="service name -> port, e.g. {nfs: 2049}")
    service: Service
    allow_faults: StrictBool = False
    netns: str | None = None
    export_dir: str | None = None
    iqn: str | None = None
    ssh: SshSettings | None = None


class Datastore(_Model):
    """A datastore and the storage target behind it."""

    name: Name
    type: Literal["nfs", "nfs41", "vmfs"]
    target: Name
    hosts: list[Name] = []
    volume_uuid: str | None = None
    remote_host: Address | None = None
    remote_path: str | None = None
    portal: str | None = None
    iqn: str | None = None
    lun: int | None = Field(default=None, ge=0)
    naa_id: str | None = None


class Vm(_Model):
    """A virtual machine the scenarios watch."""

    name: Name
    host: Name
    datastore: Name
    vmx_path: str | None = None
    guest_os: Literal["windows", "linux", "other"] = "windows"


@dataclass(frozen=True, slots=True)
class SshAccess:
    """The effective SSH settings of one node (defaults merged), as lab/ssh.py takes them."""

    name: str
    address: str
    port: int
    user: str
    private_key: Path | None
    private_key_passphrase: SecretRef | None
    password: SecretRef | None
    known_hosts: Path | None
    host_key_fingerprint: str | None
    insecure_accept_any_host_key: bool
    timeout: float


class Inventory(_Model):
    """A lab: vCenter and/or ESXi hosts, storage targets, datastores, VMs (see inventory.example.yaml)."""

    version: Literal[1]
    kind: Literal["real", "embedded"] = "real"
    name: str | None = None
    lab_id: str | None = None
    timing: Literal["fast", "real"] | None = None  # embedded lab: fast = lab-scaled timings, real = ESXi's
    network: Network | None = None
    ssh: SshSettings | None = None
    vcenter: ApiEndpoint | None = None
    hosts: list[Host] = []
    storage_targets: list[StorageTarget] = []
    datastores: list[Datastore] = []
    vms: list[Vm] = []

    _source: Source | None = PrivateAttr(default=None)
    _warnings: list[str] = PrivateAttr(default_factory=list)

    # -- lookups ---------------------------------------------------------------------------------------
    @property
    def warnings(self) -> list[str]:
        """Loud notes about weakened security (accepting any host key, TLS not verified)."""
        return list(self._warnings)

    def _where(self, loc: Loc, message: str) -> Issue:
        if self._source is None:
            return Issue("<inventory>", None, format_key(loc), message)
        return self._source.issue(loc, message)

    def _find(self, section: str, name: str) -> tuple[int, Any]:
        items: list[Any] = getattr(self, section)
        for i, item in enumerate(items):
            if item.name == name:
                return i, item
        known = ", ".join(x.name for x in items) or "none"
        raise ConfigError(
            self._where((section,), f"no {section[:-1].replace('_', ' ')} named {name!r} (known: {known})")
        )

    def host(self, name: str) -> Host:
        h: Host = self._find("hosts", name)[1]
        return h

    def target(self, name: str) -> StorageTarget:
        t: StorageTarget = self._find("storage_targets", name)[1]
        return t

    def datastore(self, name: str) -> Datastore:
        d: Datastore = self._find("datastores", name)[1]
        return d

    def vm(self, name: str) -> Vm:
        v: Vm = self._find("vms", name)[1]
        return v

    def _node(self, name: str) -> tuple[Loc, Host | StorageTarget]:
        for section in ("hosts", "storage_targets"):
            for i, item in enumerate(getattr(self, section)):
                if item.name == name:
                    return (section, i), item
        known = ", ".join([h.name for h in self.hosts] + [t.name for t in self.storage_targets]) or "none"
        raise ConfigError(self._where(("hosts",), f"no host or storage target named {name!r} (known: {known})"))

    def ssh_for(self, name: str) -> SshAccess:
        """The effective SSH access of a host or storage target."""
        _, node = self._node(name)
        return _merge_ssh(node.name, node.address, self.ssh, node.ssh)

    def require_fault_allowed(self, name: str) -> None:
        """Refuse (FaultNotAllowedError naming file, line, key) unless the host or target says `allow_faults: true`."""
        loc, node = self._node(name)
        if node.allow_faults is not True:
            what = "storage target" if isinstance(node, StorageTarget) else "host"
            issue = self._where(
                (*loc, "allow_faults"),
                f"{what} {name!r} may not be touched by a fault: it needs an explicit `allow_faults: true`",
            )
            raise FaultNotAllowedError(issue)

    def iter_nodes(self) -> Iterator[Host | StorageTarget]:
        yield from self.hosts
        yield from self.storage_targets


# -- merging and cross-checks ---------------------------------------------------------------------------


def _pick(defaults: SshSettings | None, own: SshSettings | None, keys: tuple[str, ...]) -> dict[str, Any]:
    """A group of keys comes wholly from `own` when it sets any of them, else from the defaults."""
    if own is not None and any(getattr(own, k) is not None for k in keys):
        return {k: getattr(own, k) for k in keys}
    return {k: getattr(defaults, k) if defaults is not None else None for k in keys}


def _merge_ssh(name: str, address: str, defaults: SshSettings | None, own: SshSettings | None) -> SshAccess:
    def one(key: str, fallback: Any) -> Any:
        for s in (own, defaults):
            if s is not None and getattr(s, key) is not None:
                return getattr(s, key)
        return fallback

    keys = _pick(defaults, own, _HOST_KEY_KEYS)
    creds = _pick(defaults, own, _CREDENTIAL_KEYS)
    return SshAccess(
        name=name,
        address=address,
        port=one("port", 22),
        user=one("user", ""),
        private_key=creds["private_key"],
        private_key_passphrase=creds["private_key_passphrase"],
        password=creds["password"],
        known_hosts=keys["known_hosts"],
        host_key_fingerprint=keys["host_key_fingerprint"],
        insecure_accept_any_host_key=bool(keys["insecure_accept_any_host_key"]),
        timeout=one("timeout", 10.0),
    )


def _ssh_problems(access: SshAccess) -> list[str]:
    out: list[str] = []
    if not access.user:
        out.append("no SSH user: set ssh.user here or in the top-level ssh")
    if access.private_key is None and access.password is None:
        out.append("no SSH credential: set ssh.private_key (a key file) or ssh.password (${VAR})")
    policies = [
        k
        for k in _HOST_KEY_KEYS
        if (getattr(access, k) is True if k == "insecure_accept_any_host_key" else getattr(access, k) is not None)
    ]
    if not policies:
        out.append(
            "no host-key policy: set ssh.known_hosts or ssh.host_key_fingerprint "
            "(or, explicitly, insecure_accept_any_host_key: true)"
        )
    elif len(policies) > 1:
        out.append(f"choose one host-key policy, not {' and '.join(policies)}")
    return out


def _cross_check(inv: Inventory, src: Source, check_files: bool) -> tuple[list[Issue], list[str]]:
    issues: list[Issue] = []
    notes: list[str] = []
    if inv.vcenter is None and not inv.hosts:
        issues.append(src.issue((), "the inventory needs a vcenter or at least one host"))
    seen: dict[str, Loc] = {}
    for section in ("hosts", "storage_targets", "datastores", "vms"):
        names = seen if section in ("hosts", "storage_targets") else {}
        for i, item in enumerate(getattr(inv, section)):
            if item.name in names:
                issues.append(
                    src.issue((section, i, "name"), f"{item.name!r} is already used at {format_key(names[item.name])}")
                )
            names[item.name] = (section, i)
    for section in ("hosts", "storage_targets"):
        for i, node in enumerate(getattr(inv, section)):
            # A node without its own `ssh` inherits the top-level one: its problems are reported there (once).
            loc: Loc = (section, i, "ssh") if node.ssh is not None else ("ssh",) if inv.ssh else (section, i)
            access = _merge_ssh(node.name, node.address, inv.ssh, node.ssh)
            issues.extend(src.issue(loc, p) for p in _ssh_problems(access))
            if access.insecure_accept_any_host_key:
                notes.append(f"{node.name}: insecure_accept_any_host_key is set: ANY SSH host key is accepted")
            if check_files:
                for key in ("private_key", "known_hosts"):
                    path = getattr(access, key)
                    if path is not None and not path.is_file():
                        own = node.ssh is not None and getattr(node.ssh, key) is not None
                        issues.append(src.issue((*loc, key) if own else ("ssh", key), f"no such file: {path}"))
    target_names = {t.name for t in inv.storage_targets}
    host_names = {h.name for h in inv.hosts}
    ds_names = {d.name for d in inv.datastores}
    for i, ds in enumerate(inv.datastores):
        if ds.target not in target_names:
            issues.append(src.issue(("datastores", i, "target"), f"no storage target named {ds.target!r}"))
        for j, h in enumerate(ds.hosts):
            if h not in host_names:
                issues.append(src.issue(("datastores", i, "hosts", j), f"no host named {h!r}"))
    for i, vm in enumerate(inv.vms):
        if vm.host not in host_names:
            issues.append(src.issue(("vms", i, "host"), f"no host named {vm.host!r}"))
        if vm.datastore not in ds_names:
            issues.append(src.issue(("vms", i, "datastore"), f"no datastore named {vm.datastore!r}"))
    endpoints: list[tuple[Loc, ApiEndpoint]] = [(("vcenter",), inv.vcenter)] if inv.vcenter else []
    endpoints += [(("hosts", i, "api"), h.api) for i, h in enumerate(inv.hosts) if h.api is not None]
    for loc, ep in endpoints:
        if not ep.tls.verify and ep.tls.thumbprint is None:
            notes.append(f"{format_key(loc)}: TLS certificate NOT verified (tls.verify: false, no thumbprint)")
    return list(dict.fromkeys(issues)), notes


def _annotate_secrets(obj: Any, loc: Loc, src: Source) -> None:
    """Tell every SecretRef where it was written, for the "variable not set" error."""
    if isinstance(obj, SecretRef):
        obj.where = src.issue(loc, "")
    elif isinstance(obj, BaseModel):
        for key in type(obj).model_fields:
            _annotate_secrets(getattr(obj, key), (*loc, key), src)
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            _annotate_secrets(item, (*loc, i), src)


# -- loading ----------------------------------------------------------------------------------------------


def from_source(src: Source, *, check_files: bool = True) -> Inventory:
    """Validate a parsed inventory. ConfigError lists every problem with file, line and key."""
    inv = src.validate(Inventory, context={"base_dir": src.base_dir})
    issues, notes = _cross_check(inv, src, check_files)
    raise_if(issues)
    inv._source = src
    inv._warnings = notes
    _annotate_secrets(inv, (), src)
    for note in notes:
        log.warning("%s: %s", src.name, note)
    return inv


def load_inventory(path: str | Path, *, check_files: bool = True) -> Inventory:
    """Load and validate an inventory file. `check_files` also requires key and known_hosts files to exist."""
    return from_source(load_yaml(path), check_files=check_files)


def parse_inventory(
    text: str, name: str = "<inventory>", *, base_dir: Path | None = None, check_files: bool = True
) -> Inventory:
    """Like load_inventory, from text (tests, generated inventories)."""
    return from_source(parse_yaml(text, name, base_dir), check_files=check_files)


def inventory_json_schema() -> dict[str, Any]:
    """The JSON Schema published as schemas/inventory.schema.json."""
    schema = Inventory.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://faultlab.invalid/schemas/inventory.schema.json"
    return schema
