"""harness/observe.py against a fake API session: rows from property changes, mounts flattened, events on the
harness clock and limited to the run's objects, the observer thread's start, changes and reconnect."""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from faultlab.harness.observe import (
    Observations,
    Targets,
    VsphereObserver,
    clock_offset,
    event_rows,
    flatten,
    read_events,
)
from faultlab.lab.errors import UnreachableError
from faultlab.lab.vsphere import PropertyChange, VsphereEvent

T0 = datetime(2026, 11, 22, 8, 0, 0, tzinfo=UTC)
TARGETS = Targets(host="esx01", datastore="ds-nfs01", vm="win01")


def change(path: str, value: Any, kind: str = "Datastore", name: str = "ds-nfs01", dt: float = 0.0) -> PropertyChange:
    return PropertyChange(T0 + timedelta(seconds=dt), kind, "moref-1", name, path, value)


def mounts(accessible: bool, reason: str | None) -> list[dict[str, Any]]:
    info: dict[str, Any] = {"accessible": accessible, "path": "/vmfs/volumes/ds-nfs01"}
    if reason:
        info["inaccessibleReason"] = reason
    return [{"key": "esx01", "mountInfo": info}]


def test_a_datastore_mount_list_becomes_one_row_per_host_and_field() -> None:
    rows = flatten(change("host", mounts(False, "AllPathsDown_Start")))
    assert rows == [
        ("datastore ds-nfs01", "host[esx01].mountInfo.accessible", False),
        ("datastore ds-nfs01", "host[esx01].mountInfo.inaccessibleReason", "AllPathsDown_Start"),
    ]
    assert flatten(change("guestHeartbeatStatus", "red", "VirtualMachine", "win01")) == [
        ("vm win01", "guestHeartbeatStatus", "red")
    ]


def test_observations_keep_only_values_that_changed_in_order() -> None:
    obs = Observations()
    obs.add([change("summary.accessible", True), change("host", mounts(True, None))])
    obs.add([change("summary.accessible", False, dt=4), change("host", mounts(False, "AllPathsDown_Start"), dt=4)])
    obs.add([change("host", mounts(False, "AllPathsDown_Timeout"), dt=10)])  # only the reason changed
    obs.add([change("summary.accessible", True, dt=20), change("host", mounts(True, None), dt=20)])
    got = [(r["property"], r["value"], r["kind"]) for r in obs.snapshot()]
    assert got == [
        ("summary.accessible", True, "initial"),
        ("host[esx01].mountInfo.accessible", True, "initial"),  # an unset reason at the start is no row
        ("summary.accessible", False, "change"),
        ("host[esx01].mountInfo.accessible", False, "change"),
        ("host[esx01].mountInfo.inaccessibleReason", "AllPathsDown_Start", "change"),
        ("host[esx01].mountInfo.inaccessibleReason", "AllPathsDown_Timeout", "change"),
        ("summary.accessible", True, "change"),
        ("host[esx01].mountInfo.accessible", True, "change"),
        ("host[esx01].mountInfo.inaccessibleReason", None, "change"),
    ]
    assert obs.snapshot()[2]["time"] == "2026-11-22T08:00:04Z"


def event(key: int, dt: float, type_id: str, **where: str) -> VsphereEvent:
    return VsphereEvent(key, T0 + timedelta(seconds=dt), "EventEx", type_id, f"message {key}", **where)


def test_events_move_onto_the_harness_clock_and_only_the_runs_objects_are_kept() -> None:
    events = [
        event(1, 5, "esx.problem.storage.apd.start", host="esx01", datastore="ds-nfs01"),
        event(2, 6, "esx.problem.storage.apd.start", host="esx02", datastore="ds-other"),  # another host's
        event(3, 7, "VmGuestOSCrashedEvent", host="esx01", vm="win01"),
        event(4, 8, "UserLoginSessionEvent"),  # names no object: kept
    ]
    rows = event_rows(events, timedelta(seconds=2), TARGETS)  # the vCenter clock is 2 s ahead
    assert [r["key"] for r in rows] == [1, 3, 4]
    assert rows[0]["time"] == "2026-11-22T08:00:03Z" and rows[0]["vcenter_time"] == "2026-11-22T08:00:05Z"
    assert rows[0]["eventTypeId"] == "esx.problem.storage.apd.start" and rows[1]["vm"] == "win01"


@dataclass
class FakeWatch:
    batches: list[list[PropertyChange]]
    initial: list[PropertyChange] = field(default_factory=list)
    closed: bool = False
    fail_after: bool = False

    def wait(self, max_wait_seconds: int) -> list[PropertyChange]:
        if self.batches:
            return self.batches.pop(0)
        if self.fail_after:
            self.fail_after = False
            raise UnreachableError("wait for property updates: connection reset", host="vc", user="u")
        threading.Event().wait(0.01)
        return []

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeSession:
    watch: FakeWatch
    clock_ahead_s: float = 0.0
    specs: list[Any] = field(default_factory=list)
    event_windows: list[tuple[datetime, datetime | None]] = field(default_factory=list)
    closed: int = 0

    def connect(self) -> None:
        pass

    def close(self) -> None:
        self.closed += 1

    def watch_many(self, specs: Sequence[tuple[str, Sequence[str], Collection[str] | None]]) -> FakeWatch:
        self.specs.append(list(specs))
        return self.watch

    def server_time(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.clock_ahead_s)

    def events(self, begin: datetime, end: datetime | None = None) -> list[VsphereEvent]:
        self.event_windows.append((begin, end))
        return [event(1, 0, "esx.problem.storage.apd.start", host="esx01")]


def test_the_observer_records_initial_values_and_changes_and_reopens_a_lost_session() -> None:
    first = FakeWatch(
        [[change("guestHeartbeatStatus", "red", "VirtualMachine", "win01", 3)]],
        initial=[change("guestHeartbeatStatus", "green", "VirtualMachine", "win01")],
        fail_after=True,
    )
    second = FakeWatch([[change("guestHeartbeatStatus", "green", "VirtualMachine", "win01", 9)]])
    sessions = [FakeSession(first), FakeSession(second)]
    made: list[FakeSession] = []

    def factory() -> FakeSession:
        made.append(sessions.pop(0) if sessions else FakeSession(FakeWatch([])))
        return made[-1]

    observer = VsphereObserver(factory, TARGETS)
    observer.start()
    assert observer.wait_started(5)
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while len(observer.observations.snapshot()) < 3 and datetime.now(UTC) < deadline:
        threading.Event().wait(0.05)
    rows, problems = observer.finish()
    assert [(r["value"], r["kind"]) for r in rows] == [("green", "initial"), ("red", "change"), ("green", "change")]
    assert problems and "connection reset" in problems[0]
    assert first.closed and made[0].closed == 1
    assert [k for k, _p, _n in made[0].specs[0]] == ["Datastore", "VirtualMachine", "HostSystem"]
    assert not observer.is_alive()


def test_read_events_asks_for_the_window_on_the_vcenter_clock() -> None:
    session = FakeSession(FakeWatch([]), clock_ahead_s=30.0)
    assert abs(clock_offset(session).total_seconds() - 30.0) < 1.0
    begin, end = T0, T0 + timedelta(minutes=1)
    rows, offset = read_events(session, begin, end, TARGETS)
    asked_begin, asked_end = session.event_windows[0]
    assert abs((asked_begin - begin).total_seconds() - 30.0) < 1.0 and asked_end is not None
    assert abs(offset - 30.0) < 1.0 and rows[0]["time"] < rows[0]["vcenter_time"]
