"""vSphere observations of a run: a WaitForUpdatesEx watch on the target's datastore, host and VM, and the events.

The watch runs in its own thread on its own API session (pyVmomi's connection is not shared between threads),
from the mark until recovery is judged, and records every change with the harness's receive time. vSphere
does not stamp property changes, so those times are when faultlab saw them; vCenter events carry the
vCenter's own clock, which is measured against the harness clock (CurrentTime, half the round trip) and
moved onto it, as host log times are.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from faultlab.harness.utc import iso, now_utc

WAIT_S = 1  # server-side wait per WaitForUpdatesEx: how soon a stop is noticed
FINISH_JOIN_S = 0.05  # how long finish() gives the watch to end before leaving it to end on its own
RETRY_S = 1.0
DATASTORE_PATHS = ("summary.accessible", "host")  # host: the per-host mounts (mountInfo accessible / reason)
VM_PATHS = ("runtime.powerState", "runtime.connectionState", "guestHeartbeatStatus", "guest.toolsRunningStatus")
HOST_PATHS = ("runtime.connectionState",)
_LANE = {"Datastore": "datastore", "VirtualMachine": "vm", "HostSystem": "host"}


class Change(Protocol):
    """What the observer needs of a property change (lab.vsphere.PropertyChange)."""

    @property
    def time(self) -> datetime: ...
    @property
    def obj_type(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def moref(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def value(self) -> Any: ...
    @property
    def kind(self) -> str: ...


class Watch(Protocol):
    """What the observer needs of a watch (lab.vsphere.PropertyWatch)."""

    @property
    def initial(self) -> Sequence[Change]: ...

    def wait(self, max_wait_seconds: int) -> Sequence[Change]: ...

    def close(self) -> None: ...


class EventSource(Protocol):
    """What reading the run's events needs of an API session (lab.vsphere.VsphereSession)."""

    def server_time(self) -> datetime: ...

    def events(self, begin: datetime, end: datetime | None = None) -> Sequence[Any]: ...


class Session(EventSource, Protocol):
    """What the observer needs of an API session (lab.vsphere.VsphereSession)."""

    def connect(self) -> None: ...

    def close(self) -> None: ...

    def watch_many(self, specs: Sequence[tuple[str, Sequence[str], Collection[str] | None]]) -> Watch: ...


@dataclass(frozen=True)
class Targets:
    """The vSphere objects a run watches: inventory names, each optional."""

    host: str | None
    datastore: str | None
    vm: str | None

    def specs(self) -> list[tuple[str, Sequence[str], Collection[str] | None]]:
        out: list[tuple[str, Sequence[str], Collection[str] | None]] = []
        if self.datastore:
            out.append(("Datastore", DATASTORE_PATHS, [self.datastore]))
        if self.vm:
            out.append(("VirtualMachine", VM_PATHS, [self.vm]))
        if self.host:
            out.append(("HostSystem", HOST_PATHS, [self.host]))
        return out


def flatten(change: Change) -> list[tuple[str, str, Any]]:
    """A change as (object, property, value) rows: a datastore's `host` list (DatastoreHostMount[]) becomes one
    row per host and mount field, `host[esx01].mountInfo.accessible` / `.inaccessibleReason`."""
    obj = f"{_LANE.get(change.obj_type, change.obj_type)} {change.name or change.moref}"
    if change.obj_type == "Datastore" and change.path == "host" and isinstance(change.value, list):
        rows: list[tuple[str, str, Any]] = []
        for mount in change.value:
            if not isinstance(mount, dict):
                continue
            info = mount.get("mountInfo") or {}
            host = mount.get("key", "?")
            rows.append((obj, f"host[{host}].mountInfo.accessible", info.get("accessible")))
            rows.append((obj, f"host[{host}].mountInfo.inaccessibleReason", info.get("inaccessibleReason")))
        return rows
    return [(obj, change.path, change.value)]


class Observations:
    """The rows recorded so far: one per value that differs from the last one seen for its object and property."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], Any] = {}
        self.rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def add(self, changes: Iterable[Change]) -> None:
        with self._lock:
            for ch in changes:
                for obj, prop, value in flatten(ch):
                    key = (obj, prop)
                    if key in self._last and self._last[key] == value:
                        continue  # a mount list re-sent whole: only the fields that changed are rows
                    initial = key not in self._last
                    self._last[key] = value
                    if initial and value is None:
                        continue  # an unset reason at the start says nothing
                    self.rows.append(
                        {
                            "time": iso(ch.time),
                            "object": obj,
                            "property": prop,
                            "value": value,
                            "kind": "initial" if initial else "change",
                        }
                    )

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.rows)

    def value(self, obj: str, prop: str) -> Any:
        with self._lock:
            return self._last.get((obj, prop))


class VsphereObserver(threading.Thread):
    """Watches the targets until `finish()`; a lost session is noted and reopened (best effort: the verdict
    stands on the logs and the recovery probes, the observations show what vSphere showed)."""

    def __init__(self, session_factory: Callable[[], Session], targets: Targets) -> None:
        super().__init__(name="faultlab-vsphere-observer", daemon=True)
        self.session_factory, self.targets = session_factory, targets
        self.observations = Observations()
        self.problems: list[str] = []
        self.started_watch = threading.Event()
        self._halt = threading.Event()
        self._session: Session | None = None

    def run(self) -> None:
        specs = self.targets.specs()
        while not self._halt.is_set() and specs:
            watch: Watch | None = None
            try:
                self._session = self.session_factory()
                self._session.connect()
                watch = self._session.watch_many(specs)
                self.observations.add(watch.initial)
                self.started_watch.set()
                while not self._halt.is_set():
                    self.observations.add(watch.wait(WAIT_S))
            except Exception as exc:
                if not self._halt.is_set():
                    self.problems.append(f"vSphere watch interrupted: {type(exc).__name__}: {exc}")
                    self._halt.wait(RETRY_S)
            finally:
                if watch is not None:
                    watch.close()
                if self._session is not None:
                    self._session.close()
        self.started_watch.set()

    def wait_started(self, timeout: float) -> bool:
        """True once the watch holds the initial values (or the observer gave up)."""
        return self.started_watch.wait(timeout)

    def finish(self) -> tuple[list[dict[str, Any]], list[str]]:
        """What the watch saw until now. The thread ends by itself once its server-side wait returns (within
        WAIT_S, closing its session): the run does not wait for that."""
        self._halt.set()
        self.join(timeout=FINISH_JOIN_S)
        return self.observations.snapshot(), list(dict.fromkeys(self.problems))


def clock_offset(session: EventSource) -> timedelta:
    """How far the endpoint's clock is ahead of the harness's (CurrentTime against the middle of the call)."""
    t0 = time.monotonic()
    before = now_utc()
    server = session.server_time()
    half = timedelta(seconds=(time.monotonic() - t0) / 2)
    return server - (before + half)


def event_rows(events: Iterable[Any], offset: timedelta, targets: Targets) -> list[dict[str, Any]]:
    """vCenter events (lab.vsphere.VsphereEvent) on the harness clock, keeping those about the run's objects
    (or about none: session and license events are dropped only when they name another object)."""
    rows: list[dict[str, Any]] = []
    ours = {
        ("host", targets.host),
        ("datastore", targets.datastore),
        ("vm", targets.vm),
    }
    for e in events:
        named = [(k, getattr(e, k)) for k in ("host", "datastore", "vm") if getattr(e, k, None)]
        if named and not any(n in ours for n in named):
            continue
        rows.append(
            {
                "time": iso(e.time - offset),
                "vcenter_time": iso(e.time),
                "key": e.key,
                "type": e.type,
                "eventTypeId": e.event_type_id,
                "message": e.message,
                "host": e.host,
                "datastore": e.datastore,
                "vm": e.vm,
            }
        )
    return rows


def read_events(
    session: EventSource, begin: datetime, end: datetime, targets: Targets
) -> tuple[list[dict[str, Any]], float]:
    """The run's window [begin, end] (harness clock) of vCenter events, and the vCenter clock offset used."""
    offset = clock_offset(session)
    events = session.events(begin + offset, end + offset)
    return event_rows(events, offset, targets), offset.total_seconds()
