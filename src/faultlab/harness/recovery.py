"""Recovery conditions (pluggable probes) and the one wait that measures how long each took, within a budget."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from faultlab.harness.record import Recovery
from faultlab.harness.wait import wait_until
from faultlab.lab.errors import LabError
from faultlab.lab.esxi import EsxiHost, Runner
from faultlab.lab.inventory import Inventory

POLL_S = 0.25


class Condition(Protocol):
    """A recovery condition: `probe()` says True (met), False (not yet) or None (cannot be observed here)."""

    @property
    def name(self) -> str: ...

    def probe(self) -> bool | None: ...


@dataclass
class Probe:
    """A condition made of a name and a function; the last reason it was not met is kept in `detail`."""

    name: str
    fn: Callable[[], tuple[bool | None, str]]
    detail: str = ""

    def probe(self) -> bool | None:
        try:
            met, self.detail = self.fn()
        except LabError as exc:  # the host may be slow or unreachable while it recovers: not yet
            met, self.detail = False, str(exc)
        return met


def probe_together(conditions: Sequence[Condition]) -> list[bool | None]:
    """Every condition's probe at once, one thread each (each asks its host over its own SSH session): a round
    takes as long as its slowest probe, not their sum. An exception from a probe is raised here."""
    if len(conditions) < 2:
        return [c.probe() for c in conditions]
    results: list[bool | None] = [None] * len(conditions)
    errors: list[BaseException | None] = [None] * len(conditions)

    def one(i: int) -> None:
        try:
            results[i] = conditions[i].probe()
        except BaseException as exc:  # handed to the caller's thread below
            errors[i] = exc

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(1, len(conditions))]
    for t in threads:
        t.start()
    one(0)
    for t in threads:
        t.join()
    for exc in errors:
        if exc is not None:
            raise exc
    return results


def vm_id(esx: EsxiHost, vm: str) -> int:
    """The host's id of a VM (vim-cmd vmsvc/getallvms), by name."""
    for entry in esx.vms():
        if entry.name == vm:
            return entry.vmid
    raise LabError(f"no VM {vm!r} registered (vim-cmd vmsvc/getallvms)", host=esx.name)


def vm_powered_on(esx: EsxiHost, vm: str, known: list[int] | None = None) -> Probe:
    """vim-cmd vmsvc/power.getstate. `known`: the VM's id, looked up once (vim-cmd vmsvc/getallvms) and again if
    it stops answering; a list the caller may share between the probes of one run."""
    known = [] if known is None else known

    def fn() -> tuple[bool | None, str]:
        if known:
            try:
                state = esx.power_state(known[0])
                return state == "poweredOn", f"power state {state}"
            except LabError:
                known.clear()  # unregistered, or the host is slow: look the id up again
        known.append(vm_id(esx, vm))
        state = esx.power_state(known[0])
        return state == "poweredOn", f"power state {state}"

    return Probe(f"vm {vm} powered_on", fn)


def vm_heartbeat_green(esx: EsxiHost, client: Runner, vm: str) -> Probe:
    """`vim-cmd vmsvc/get.guestheartbeatStatus` (ESXi prints green/yellow/red/gray); unobservable if unsupported."""

    def fn() -> tuple[bool | None, str]:
        res = client.run(["vim-cmd", "vmsvc/get.guestheartbeatStatus", str(vm_id(esx, vm))])
        status = res.stdout.strip().splitlines()[-1].strip() if res.stdout.strip() else ""
        if not res.succeeded or status not in ("green", "yellow", "red", "gray"):
            why = (res.stderr.strip() or res.stdout.strip() or f"exit {res.exit_status}")[:200]
            return None, f"the host does not answer vim-cmd vmsvc/get.guestheartbeatStatus ({why})"
        return status == "green", f"guest heartbeat {status}"

    return Probe(f"vm {vm} heartbeat_green", fn)


class VsphereReader(Protocol):
    """What the API probes need of a vSphere session (lab.vsphere.VsphereSession satisfies it)."""

    def connect(self) -> None: ...

    def close(self) -> None: ...

    def retrieve(
        self, kind: str, paths: Sequence[str], names: Collection[str] | None = None
    ) -> dict[str, dict[str, Any]]: ...

    def server_time(self) -> datetime: ...

    def events(self, begin: datetime, end: datetime | None = None) -> Sequence[Any]: ...


def vm_heartbeat_green_api(api: VsphereReader, vm: str) -> Probe:
    """VirtualMachine.guestHeartbeatStatus through vCenter (the property collector): green, yellow, red, gray."""

    def fn() -> tuple[bool | None, str]:
        api.connect()  # no-op once connected; a missing password is a ConfigError, not "not yet"
        status = api.retrieve("VirtualMachine", ["guestHeartbeatStatus"], [vm])[vm]["guestHeartbeatStatus"]
        return status == "green", f"guest heartbeat {status} (vSphere API)"

    return Probe(f"vm {vm} heartbeat_green", fn)


def datastore_accessible(esx: EsxiHost, inventory: Inventory, datastore: str) -> Probe:
    """NFS 3 / 4.1: Accessible in `esxcli storage nfs list` / `nfs41 list`; VMFS: the device's Status is on or
    degraded (a working path left)."""
    ds = inventory.datastore(datastore)

    def fn() -> tuple[bool | None, str]:
        state = esx.datastore_state(ds)
        return state.accessible, state.detail

    return Probe(f"datastore {datastore} accessible", fn)


def host_connected(esx: EsxiHost, client: Runner) -> Probe:
    def fn() -> tuple[bool | None, str]:
        res = client.run(["date", "-u"])
        return res.succeeded, f"date -u exited {res.exit_status}"

    return Probe(f"host {esx.name} connected", fn)


def wait_conditions(
    conditions: Sequence[Condition],
    budget_s: float,
    *,
    since: float | None = None,
    stop: threading.Event | None = None,
    on_tick: Callable[[str, float], None] | None = None,
    poll_s: float = POLL_S,
) -> list[Recovery]:
    """Poll every condition until each is met (or unobservable) or the monotonic deadline passes. `seconds`
    counts from `since` (a time.monotonic() value, e.g. the heal), so a condition already met gets its real delay."""
    start = time.monotonic() if since is None else since
    pending = list(conditions)
    results: dict[str, Recovery] = {}

    def all_met() -> bool:
        for cond, met in zip(list(pending), probe_together(pending), strict=True):
            if met is not False:
                detail = getattr(cond, "detail", "")
                results[cond.name] = Recovery(
                    cond.name, met, time.monotonic() - start if met else None, budget_s, detail
                )
                pending.remove(cond)
        return not pending

    def show(_: bool, elapsed: float) -> None:
        if on_tick is not None:
            on_tick(", ".join(c.name for c in pending), time.monotonic() - start)

    wait_until(all_met, budget_s, poll_s, wake=stop, on_tick=show)
    for cond in pending:
        results[cond.name] = Recovery(cond.name, False, None, budget_s, getattr(cond, "detail", ""))
    return [results[c.name] for c in conditions]
