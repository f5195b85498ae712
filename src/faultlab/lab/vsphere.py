"""The vSphere API session (pyVmomi): verified TLS, property-collector reads, WaitForUpdatesEx watches, events.

The one place faultlab imports pyVmomi, and the one boundary where vSphere faults, TLS and socket errors
become faultlab's errors (with host and user in the message). Reads go through the property collector
only (never attribute access on managed objects, which costs a round trip each and which the simulated
vCenter answers through its fragile `Fetch`); server-side collectors are always destroyed after use.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import ssl
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import pyVim.connect
import pyVmomi

from faultlab.lab.errors import AuthenticationError, HostKeyError, LabError, UnreachableError
from faultlab.lab.inventory import ApiEndpoint, Tls

# pyVmomi's generated types are dynamic: typed as Any here so mypy --strict checks faultlab's side only.
vim: Any = pyVmomi.vim
vmodl: Any = pyVmomi.vmodl
SmartConnect: Any = pyVim.connect.SmartConnect
Disconnect: Any = pyVim.connect.Disconnect
ManagedObject: Any = pyVmomi.VmomiSupport.ManagedObject
DataObject: Any = pyVmomi.VmomiSupport.DataObject

DEFAULT_TIMEOUT = 60.0
READ_BATCH = 100
MAX_EVENTS = 1000
KINDS = ("HostSystem", "Datastore", "VirtualMachine", "Datacenter", "ClusterComputeResource")


@dataclass(frozen=True, slots=True)
class PropertyChange:
    """One property change seen by a watch. `time` is when faultlab received it (UTC): vSphere does not stamp
    property changes. `kind` is enter (initial value), modify or leave; `op` assign/add/remove/indirectRemove."""

    time: datetime
    obj_type: str
    moref: str
    name: str | None
    path: str
    value: Any
    kind: str = "modify"
    op: str = "assign"


@dataclass(frozen=True, slots=True)
class VsphereEvent:
    """One vCenter event: `type` is the vSphere class (EventEx, VmGuestOSCrashedEvent...), `event_type_id` the
    EventEx id (esx.problem.storage.apd.start...) or, for other events, the class name again."""

    key: int
    time: datetime
    type: str
    event_type_id: str
    message: str
    host: str | None = None
    datastore: str | None = None
    vm: str | None = None
    severity: str | None = None
    user: str | None = None
    arguments: dict[str, str] = field(default_factory=dict)


# -- the fault boundary -----------------------------------------------------------------------------------


def _fault_text(exc: BaseException) -> str:
    msg = getattr(exc, "msg", None) or str(exc) or ""
    return f"{type(exc).__name__.rsplit('.', 1)[-1]}: {msg}".strip().rstrip(":")


@contextlib.contextmanager
def _boundary(action: str, host: str, user: str) -> Iterator[None]:
    """Translate everything pyVmomi, ssl and sockets raise during `action` into faultlab's LabError tree."""
    try:
        yield
    except LabError:
        raise
    except vim.fault.InvalidLogin as exc:
        raise AuthenticationError(f"{action}: login refused ({_fault_text(exc)})", host=host, user=user) from exc
    except vim.fault.NoPermission as exc:
        raise AuthenticationError(f"{action}: permission denied ({_fault_text(exc)})", host=host, user=user) from exc
    except ssl.SSLCertVerificationError as exc:
        why = getattr(exc, "verify_message", None) or exc
        raise HostKeyError(
            f"{action}: TLS certificate not trusted ({why}); give tls.ca_file, pin "
            "tls.thumbprint, or (loudly) tls.verify: false in the inventory",
            host=host,
            user=user,
        ) from exc
    except vmodl.MethodFault as exc:
        raise LabError(f"{action}: vSphere fault {_fault_text(exc)}", host=host, user=user) from exc
    except vmodl.RuntimeFault as exc:  # pragma: no cover - RuntimeFault is a MethodFault in current pyVmomi
        raise LabError(f"{action}: vSphere fault {_fault_text(exc)}", host=host, user=user) from exc
    except ssl.SSLError as exc:
        raise UnreachableError(f"{action}: TLS failure ({exc})", host=host, user=user) from exc
    except TimeoutError as exc:
        raise UnreachableError(f"{action}: timed out", host=host, user=user) from exc
    except (OSError, http.client.HTTPException) as exc:
        raise UnreachableError(f"{action}: {_fault_text(exc)}", host=host, user=user) from exc


# -- TLS --------------------------------------------------------------------------------------------------


def thumbprint_of(der: bytes, like: str) -> str:
    """The certificate's thumbprint in the hash `like` uses (40 hex digits: SHA-1, 64: SHA-256), AA:BB:... form."""
    digits = len(like.replace(":", ""))
    algo = {40: "sha1", 64: "sha256", 128: "sha512"}.get(digits)
    if algo is None:
        raise ValueError(f"not a SHA-1/SHA-256/SHA-512 thumbprint: {like!r}")
    hexdigest = hashlib.new(algo, der).hexdigest().upper()
    return ":".join(hexdigest[i : i + 2] for i in range(0, len(hexdigest), 2))


def ssl_context(tls: Tls, address: str, port: int, timeout: float) -> ssl.SSLContext:
    """The TLS context the inventory asks for: verified chain (default, optional CA file); a pinned thumbprint
    (the server's certificate must hash to it: it becomes the only trust anchor, on every connection); or,
    only with `verify: false`, no check at all."""
    if tls.thumbprint:
        pem = ssl.get_server_certificate((address, port), timeout=timeout)
        der = ssl.PEM_cert_to_DER_cert(pem)
        seen = thumbprint_of(der, tls.thumbprint)
        if seen.replace(":", "") != tls.thumbprint.replace(":", "").upper():
            raise ssl.SSLCertVerificationError(f"certificate thumbprint {seen} is not the pinned {tls.thumbprint}")
        ctx = ssl.create_default_context(cadata=der)
        ctx.check_hostname = False  # the pin is the identity; the name in the certificate does not matter
        ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # a leaf certificate may be the trust anchor
        return ctx
    if not tls.verify:
        return ssl._create_unverified_context()
    return ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)


# -- value conversion -------------------------------------------------------------------------------------


def _plain(value: Any, names: Mapping[str, str]) -> Any:
    """pyVmomi values as plain Python: data objects as dicts, arrays as lists, managed objects as their
    inventory name when known (else their moref id), enums as str."""
    if value is None or isinstance(value, bool | int | float | datetime | bytes):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, ManagedObject):
        return names.get(value._moId, value._moId)
    if isinstance(value, DataObject):
        out: dict[str, Any] = {}
        for prop in value._GetPropertyList():
            v = getattr(value, prop.name, None)
            if v is not None and not (isinstance(v, list) and not v):
                out[prop.name] = _plain(v, names)
        return out
    if isinstance(value, list | tuple):
        return [_plain(v, names) for v in value]
    return value


def _vim_type(kind: str) -> Any:
    vimtype = getattr(vim, kind, None)
    if vimtype is None or not isinstance(vimtype, type) or not issubclass(vimtype, vim.ManagedEntity):
        raise LabError(f"not a vSphere managed entity type: {kind!r}")
    return vimtype


def _event_of(e: Any, names: Mapping[str, str]) -> VsphereEvent:
    cls = type(e).__name__.rsplit(".", 1)[-1]
    args: dict[str, str] = {}
    for kv in getattr(e, "arguments", None) or []:
        args[str(kv.key)] = str(kv.value)
    created = e.createdTime if e.createdTime.tzinfo else e.createdTime.replace(tzinfo=UTC)
    return VsphereEvent(
        key=int(e.key),
        time=created.astimezone(UTC),
        type=cls,
        event_type_id=str(getattr(e, "eventTypeId", None) or cls),
        message=str(e.fullFormattedMessage or getattr(e, "message", None) or ""),
        host=e.host.name if e.host else None,
        datastore=e.ds.name if e.ds else None,
        vm=e.vm.name if e.vm else None,
        severity=str(getattr(e, "severity", None)) if getattr(e, "severity", None) else None,
        user=e.userName or None,
        arguments=args,
    )


# -- the session ------------------------------------------------------------------------------------------


class VsphereSession:
    """A logged-in vSphere API session to a vCenter or ESXi endpoint of the inventory. Use as a context
    manager, or call connect()/close(). The password is resolved from its ${VAR} only when connecting."""

    def __init__(
        self,
        endpoint: ApiEndpoint,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._environ = environ
        self._si: Any = None
        self._content: Any = None
        self._names: dict[str, str] = {}  # moref id -> inventory name, filled by every read
        self._names_loaded = False
        self.last_event_collector: str | None = None  # moref of the latest events() collector (checked gone)

    @property
    def host(self) -> str:
        return f"{self.endpoint.address}:{self.endpoint.port}"

    @property
    def user(self) -> str:
        return self.endpoint.user

    def __repr__(self) -> str:
        return f"VsphereSession({self.user}@{self.host})"

    def _guard(self, action: str) -> contextlib.AbstractContextManager[None]:
        return _boundary(action, self.host, self.user)

    def __enter__(self) -> VsphereSession:
        self.connect()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def connect(self) -> None:
        """Log in (TLS as the inventory says). Raises AuthenticationError, HostKeyError or UnreachableError."""
        if self._si is not None:
            return
        ep = self.endpoint
        password = ep.password.resolve(self._environ).reveal()
        with self._guard("connect"):
            ctx = ssl_context(ep.tls, ep.address, ep.port, self.timeout)
            self._si = SmartConnect(
                host=ep.address,
                port=ep.port,
                user=ep.user,
                pwd=password,
                sslContext=ctx,
                httpConnectionTimeout=self.timeout,
            )
            self._content = self._si.RetrieveContent()

    def close(self) -> None:
        """Log out; never raises (the session may already be gone with the server)."""
        si, self._si, self._content = self._si, None, None
        if si is not None:
            with contextlib.suppress(Exception):
                Disconnect(si)

    @property
    def content(self) -> Any:
        if self._content is None:
            raise LabError("the vSphere session is not connected", host=self.host, user=self.user)
        return self._content

    @property
    def about(self) -> dict[str, Any]:
        """The endpoint's `about` (product name, version, apiType...)."""
        return dict(_plain(self.content.about, self._names))

    # -- reads --------------------------------------------------------------------------------------------

    def _view_spec(self, view: Any, vimtype: Any, paths: Sequence[str]) -> Any:
        traversal = vmodl.query.PropertyCollector.TraversalSpec(
            name="view", path="view", skip=False, type=vim.view.ContainerView
        )
        obj_spec = vmodl.query.PropertyCollector.ObjectSpec(obj=view, skip=True, selectSet=[traversal])
        prop_spec = vmodl.query.PropertyCollector.PropertySpec(type=vimtype, pathSet=sorted({"name", *paths}))
        return vmodl.query.PropertyCollector.FilterSpec(objectSet=[obj_spec], propSet=[prop_spec])

    def _retrieve_raw(self, kind: str, paths: Sequence[str]) -> list[tuple[Any, dict[str, Any]]]:
        vimtype = _vim_type(kind)
        content = self.content
        view = content.viewManager.CreateContainerView(content.rootFolder, [vimtype], True)
        try:
            pc = content.propertyCollector
            spec = self._view_spec(view, vimtype, paths)
            result = pc.RetrievePropertiesEx([spec], vmodl.query.PropertyCollector.RetrieveOptions(maxObjects=500))
            rows: list[tuple[Any, dict[str, Any]]] = []
            while result is not None:
                for oc in result.objects or []:
                    rows.append((oc.obj, {p.name: p.val for p in oc.propSet or []}))
                result = pc.ContinueRetrievePropertiesEx(result.token) if result.token else None
        finally:
            view.DestroyView()
        for obj, props in rows:
            if "name" in props:
                self._names[obj._moId] = str(props["name"])
        return rows

    def _ensure_names(self) -> None:
        # Property values that are references (a VM's runtime.host, a mount's host) are shown by name.
        if not self._names_loaded:
            self._retrieve_raw("ManagedEntity", [])
            self._names_loaded = True

    def _retrieve_objects(self, objs: Sequence[Any], vimtype: Any, paths: Sequence[str]) -> list[dict[str, Any]]:
        pc = vmodl.query.PropertyCollector
        spec = pc.FilterSpec(
            objectSet=[pc.ObjectSpec(obj=o, skip=False) for o in objs],
            propSet=[pc.PropertySpec(type=vimtype, pathSet=sorted({"name", *paths}))],
        )
        collector = self.content.propertyCollector
        result = collector.RetrievePropertiesEx([spec], pc.RetrieveOptions(maxObjects=500))
        rows: list[dict[str, Any]] = []
        while result is not None:
            rows.extend({p.name: p.val for p in oc.propSet or []} for oc in result.objects or [])
            result = collector.ContinueRetrievePropertiesEx(result.token) if result.token else None
        return rows

    def retrieve(
        self, kind: str, paths: Sequence[str], names: Collection[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        """{entity name: {path: value}} for every `kind` entity (or only `names`), fetching just `paths` (and,
        with `names`, only for those entities). A path the server leaves unset is None. Values are plain
        Python (see `_plain`)."""
        with self._guard(f"read {kind} {', '.join(paths) or 'names'}"):
            if paths:
                self._ensure_names()
            if names is None or not paths:
                rows = [props for _obj, props in self._retrieve_raw(kind, paths)]
            else:
                wanted = [obj for obj, props in self._retrieve_raw(kind, []) if props.get("name") in names]
                rows = self._retrieve_objects(wanted, _vim_type(kind), paths) if wanted else []
        out: dict[str, dict[str, Any]] = {}
        for props in rows:
            name = str(props.get("name"))
            if names is None or name in names:
                out[name] = {p: _plain(props.get(p), self._names) for p in paths}
        missing = set(names or ()) - set(out)
        if missing:
            raise LabError(f"no {kind} named {', '.join(sorted(missing))}", host=self.host, user=self.user)
        return out

    def server_time(self) -> datetime:
        """The endpoint's clock (ServiceInstance.CurrentTime), UTC: vCenter stamps its events with it."""
        with self._guard("read the server time"):
            t = self._si.CurrentTime() if self._si is not None else None
        if t is None:
            raise LabError("the vSphere session is not connected", host=self.host, user=self.user)
        stamped: datetime = t if t.tzinfo else t.replace(tzinfo=UTC)
        return stamped.astimezone(UTC)

    def names(self, kind: str) -> list[str]:
        """The inventory names of every `kind` entity, sorted."""
        return sorted(self.retrieve(kind, []))

    # -- watches ------------------------------------------------------------------------------------------

    def watch(self, kind: str, paths: Sequence[str], names: Collection[str] | None = None) -> PropertyWatch:
        """A server-side watch of `paths` on the `kind` entities named `names` (all when None). Its `initial`
        holds the current values; `wait()` blocks in WaitForUpdatesEx. Close it (or use `with`)."""
        if not paths:
            raise ValueError("a watch needs at least one property path")
        return self.watch_many([(kind, paths, names)], kind=kind)

    def watch_many(
        self, specs: Sequence[tuple[str, Sequence[str], Collection[str] | None]], *, kind: str | None = None
    ) -> PropertyWatch:
        """One server-side watch over several (kind, paths, names) specs: one collector, one filter per spec,
        so a single WaitForUpdatesEx reports changes of datastores, hosts and VMs in the order vSphere saw them."""
        if not specs or any(not paths for _k, paths, _n in specs):
            raise ValueError("a watch needs at least one spec, each with at least one property path")
        pc_type = vmodl.query.PropertyCollector
        with self._guard("watch " + "; ".join(f"{k} {', '.join(p)}" for k, p, _n in specs)):
            self._ensure_names()
            filters = []
            for spec_kind, paths, names in specs:
                rows = self._retrieve_raw(spec_kind, [])
                objs = [obj for obj, props in rows if names is None or props.get("name") in names]
                missing = set(names or ()) - {self._names.get(o._moId) for o in objs}
                if missing:
                    raise LabError(f"no {spec_kind} named {', '.join(sorted(missing))}", host=self.host, user=self.user)
                filters.append(
                    pc_type.FilterSpec(
                        objectSet=[pc_type.ObjectSpec(obj=o, skip=False) for o in objs],
                        propSet=[pc_type.PropertySpec(type=_vim_type(spec_kind), pathSet=list(paths))],
                    )
                )
            pc = self.content.propertyCollector.CreatePropertyCollector()
            try:
                for spec in filters:
                    pc.CreateFilter(spec, partialUpdates=False)
                watch = PropertyWatch(self, pc, kind)
                watch.initial = watch._wait(None)
            except BaseException:
                with contextlib.suppress(Exception):
                    pc.DestroyPropertyCollector()
                raise
        return watch

    # -- events -------------------------------------------------------------------------------------------

    def events(
        self,
        begin: datetime,
        end: datetime | None = None,
        *,
        event_type_ids: Collection[str] | None = None,
        max_events: int = MAX_EVENTS,
    ) -> list[VsphereEvent]:
        """The events created in [begin, end] (UTC), oldest first, through an EventHistoryCollector that is
        destroyed afterwards whatever happens. `event_type_ids` keeps only those (EventEx ids such as
        esx.problem.storage.apd.start, or class names such as VmGuestOSCrashedEvent); it is applied here,
        not by the server, because the simulated vCenter matches it against class names only."""
        if begin.tzinfo is None or (end is not None and end.tzinfo is None):
            raise ValueError("events() needs timezone-aware datetimes")
        ids = set(event_type_ids or ())
        with self._guard("read events"):
            content = self.content
            spec = vim.event.EventFilterSpec(
                time=vim.event.EventFilterSpec.ByTime(beginTime=begin, endTime=end),
                entity=vim.event.EventFilterSpec.ByEntity(entity=content.rootFolder, recursion="all"),
                maxCount=max_events,
            )
            collector = content.eventManager.CreateCollectorForEvents(spec)
            self.last_event_collector = str(collector._moId)
            try:
                collector.RewindCollector()
                events: list[VsphereEvent] = []
                while len(events) < max_events and (batch := collector.ReadNextEvents(READ_BATCH)):
                    events.extend(_event_of(e, self._names) for e in batch)
            finally:
                collector.DestroyCollector()
        upper = end or datetime.max.replace(tzinfo=UTC)
        kept = [e for e in events if begin <= e.time <= upper and (not ids or e.event_type_id in ids or e.type in ids)]
        return sorted({e.key: e for e in kept}.values(), key=lambda e: (e.time, e.key))


class PropertyWatch:
    """A private PropertyCollector with one filter; `wait` is one WaitForUpdatesEx with maxWaitSeconds."""

    def __init__(self, session: VsphereSession, collector: Any, kind: str | None) -> None:
        self._session = session
        self._pc = collector
        self._kind = kind  # None: several kinds (watch_many); each change names its object's own type
        self._version = ""
        self._pending: list[PropertyChange] = []  # received by wait_for after its match, handed out next
        self.initial: list[PropertyChange] = []
        self.closed = False

    @property
    def _what(self) -> str:
        return self._kind or "property"

    def __enter__(self) -> PropertyWatch:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _wait(self, max_wait_seconds: int | None) -> list[PropertyChange]:
        options = vmodl.query.PropertyCollector.WaitOptions(maxWaitSeconds=max_wait_seconds)
        update = self._pc.WaitForUpdatesEx(self._version, options)
        now = datetime.now(UTC)
        if update is None:
            return []
        self._version = update.version
        names = self._session._names
        changes: list[PropertyChange] = []
        for fs in update.filterSet or []:
            for ou in fs.objectSet or []:
                moref = ou.obj._moId
                obj_type = self._kind or type(ou.obj).__name__.rsplit(".", 1)[-1]
                for ch in ou.changeSet or []:
                    changes.append(
                        PropertyChange(
                            time=now,
                            obj_type=obj_type,
                            moref=moref,
                            name=names.get(moref),
                            path=ch.name,
                            value=_plain(ch.val, names),
                            kind=str(ou.kind),
                            op=str(ch.op),
                        )
                    )
        return changes

    def wait(self, max_wait_seconds: int) -> list[PropertyChange]:
        """The changes since the last call, waiting up to `max_wait_seconds` server-side ([] when none came).
        The wait is capped below the session's socket timeout."""
        if self.closed:
            raise LabError("the property watch is closed", host=self._session.host, user=self._session.user)
        if self._pending:
            pending, self._pending = self._pending, []
            return pending
        cap = max(1, int(self._session.timeout) - 5)
        with self._session._guard(f"wait for {self._what} updates"):
            return self._wait(max(0, min(int(max_wait_seconds), cap)))

    def wait_for(
        self, condition: Callable[[PropertyChange], bool], timeout: float, max_wait_seconds: int = 5
    ) -> list[PropertyChange]:
        """Every change received until one satisfies `condition` (it is the last in the list); LabError after
        `timeout` seconds (monotonic deadline) without such a change. Changes that arrived in the same batch
        after the match are kept for the next `wait`/`wait_for`, not lost."""
        deadline = time.monotonic() + timeout
        seen: list[PropertyChange] = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LabError(
                    f"no matching {self._what} change within {timeout:.0f}s (saw {len(seen)} other changes)",
                    host=self._session.host,
                    user=self._session.user,
                )
            batch = self.wait(max(1, min(max_wait_seconds, int(left + 0.999))))
            for i, change in enumerate(batch):
                seen.append(change)
                if condition(change):
                    self._pending = batch[i + 1 :] + self._pending
                    return seen

    def close(self) -> None:
        """Destroy the server-side collector (and its filter); idempotent, never raises."""
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                self._pc.DestroyPropertyCollector()
