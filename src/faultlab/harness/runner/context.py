"""One run's state and what every phase needs of it: the record (saved without ever raising), phases, the hosts."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar, cast

from faultlab.harness.cursors import ClockSkew, LogCursors, Mark
from faultlab.harness.observe import Targets, VsphereObserver
from faultlab.harness.progress import Progress
from faultlab.harness.record import Phase, RunRecord, iso, now_utc, save_record
from faultlab.harness.recovery import (
    Condition,
    VsphereReader,
    datastore_accessible,
    host_connected,
    vm_heartbeat_green,
    vm_heartbeat_green_api,
    vm_powered_on,
)
from faultlab.harness.scenario import Scenario
from faultlab.lab.errors import LabError
from faultlab.lab.esxi import EsxiHost
from faultlab.lab.inventory import Inventory
from faultlab.lab.ssh import SshClient, SshPool

if TYPE_CHECKING:
    from faultlab.lab.lease import LeaseOptions

DEFAULT_BASELINE_S = 60.0
# Set during the run (record.figures) for the split of the wall time: how long the run waited for another run's
# lease, how long the recovery loop waited for the lab (RecoveryLoop.waited_s), how long the guest's own second
# reboot took from the request to the probe round that saw it back.
LEASE_WAITED, RECOVERY_WAITED, REBOOT_WAITED = "lease_waited_s", "recovery_wait_s", "reboot_waited_s"
BASELINE_WAITED = "baseline_waited_s"  # the baseline's wait for a lab still settling from an earlier fault


T = TypeVar("T")


class Background(Generic[T]):
    """One piece of work in a thread of its own (on another host, or another session of the same host) while the
    caller goes on; `result()` waits for it and raises its exception in the caller's thread."""

    def __init__(self, fn: Callable[[], T]) -> None:
        self._fn = fn
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="faultlab-background", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:  # handed to the caller's thread by result()
            self._error = exc

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return cast(T, self._value)


class Pool(Protocol):
    """SSH clients by node name (lab.ssh.SshPool)."""

    def get(self, name: str) -> SshClient: ...

    def close(self) -> None: ...


@dataclass
class RunOptions:
    """How to run: where artifacts and ledgers go, the dead-man margin, the progress display, the SSH pool."""

    artifacts: Path = Path("artifacts")
    state_dir: Path | None = None  # ledger folder; default /var/lib/faultlab/ledger (root)
    run_id: str | None = None
    grace_s: float | None = None  # dead-man timer margin past the hold; default max(5 s, hold / 2)
    baseline_budget_s: float | None = None  # default: the recovery budget, else 60 s
    steady_s: float | None = None  # after healing leftovers, how long the lab must stay steady; default 5 s
    progress: Progress | None = None
    pool_factory: Callable[[Inventory], Pool] = field(default=SshPool)
    lease: LeaseOptions | None = None  # take the lab's lease first (the CLI and the plugin always do)


class RecordWriteError(LabError):
    """The run record (or a collected log) cannot be written: the run stops, after healing its fault."""


class RunContext:
    """One run's state. `save()` never raises: a failing write is kept, ends the hold at once (the heal must not
    wait for it) and is raised as RecordWriteError at the next phase that is not the heal."""

    def __init__(
        self, record: RunRecord, run_dir: Path, sc: Scenario, inv: Inventory, pool: Pool, opts: RunOptions
    ) -> None:
        self.record, self.run_dir, self.sc, self.inv, self.pool, self.opts = record, run_dir, sc, inv, pool, opts
        self.progress = opts.progress or Progress(enabled=False)
        self.settings: dict[str, float] = {}
        self.cursors: dict[str, LogCursors] = {}
        self.marks: dict[str, dict[str, Mark]] = {}
        self.heal_mono: float | None = None  # time.monotonic() of the fault's real end: recovery counts from it
        self.stop = threading.Event()
        self.api: VsphereReader | None = None
        self.observer: VsphereObserver | None = None
        self.write_error: OSError | None = None
        self.leftovers_healed = 0
        self.hold_end: datetime | None = None  # the planned end of the hold (harness clock)
        self.vm_ids: list[int] = []  # the target VM's id on its host, shared by the power-state probes
        # preflight's clock-skew measure per host, going on while the baseline waits; taken in by mark()
        self.skews: Background[list[tuple[str, ClockSkew]]] | None = None

    # -- the record --------------------------------------------------------------------------------------
    def save(self) -> None:
        try:
            save_record(self.record, self.run_dir)
        except OSError as exc:
            self.failed_write(exc)

    def failed_write(self, exc: OSError) -> None:
        if self.write_error is None:
            self.write_error = exc
            self.stop.set()

    def write_failure(self) -> RecordWriteError:
        """One paragraph: what could not be written, and what became of the fault."""
        exc = self.write_error
        why = (exc.strerror or str(exc)) if exc is not None else "unknown"
        where = self.run_dir
        heal = self.record.heal
        if heal is None:
            fault = "no fault had been injected"
        else:
            fault = f"the fault was healed first ({heal.get('status', '?')}) and its ledger closed"
            if heal.get("status") == "failed":
                fault = f"the heal FAILED ({heal.get('detail', '')}); its ledger stays for `faultlab heal`"
        return RecordWriteError(f"cannot write the run record in {where}: {why}; the run stopped, {fault}")

    @contextlib.contextmanager
    def phase(self, name: str, budget_s: float | None = None) -> Iterator[Phase]:
        if self.write_error is not None and name != "heal":
            raise self.write_failure()
        ph = self.record.begin(name)
        self.progress.phase(name, budget_s)
        self.save()
        try:
            yield ph
        except KeyboardInterrupt as exc:
            ph.status, ph.detail = "interrupted", str(exc) or "Ctrl-C"
            raise
        except BaseException as exc:
            ph.status, ph.detail = "error", f"{type(exc).__name__}: {exc}"
            raise
        else:
            ph.status = "ok"
        finally:
            ph.ended = iso(now_utc())
            self.save()

    # -- the hosts the scenario touches ------------------------------------------------------------------
    def esx(self, name: str | None = None) -> EsxiHost:
        host = name or self.sc.target.host
        return EsxiHost.of(self.inv, host, self.pool.get(host))

    def heartbeat(self, vm: str) -> Condition:
        api = self.vsphere()
        return vm_heartbeat_green_api(api, vm) if api else vm_heartbeat_green(self.esx(), self.client(), vm)

    def client(self) -> SshClient:
        return self.pool.get(self.sc.target.host)

    def conditions(self) -> list[Condition]:
        """The recovery section's conditions; without one: host reachable, datastore accessible, VM on."""
        esx, client = self.esx(), self.client()
        t, rec = self.sc.target, self.sc.recover
        vm_conds = list(rec.vm) if rec else (["powered_on"] if t.vm else [])
        ds_conds = list(rec.datastore) if rec else (["accessible"] if t.datastore else [])
        host_conds = list(rec.host) if rec else ["connected"]
        out: list[Condition] = [host_connected(esx, client) for _ in host_conds[:1]]
        if t.datastore and ds_conds:
            out.append(datastore_accessible(esx, self.inv, t.datastore))
        if t.vm:
            if "powered_on" in vm_conds:
                out.append(vm_powered_on(esx, t.vm, self.vm_ids))
            if "heartbeat_green" in vm_conds:
                out.append(self.heartbeat(t.vm))
        return out

    def steady_conditions(self) -> list[Condition]:
        """A steady lab (after an earlier run's fault): host up, datastore accessible (no APD), VM on with its
        guest heartbeat green, whatever the scenario's recovery section asks."""
        esx, t = self.esx(), self.sc.target
        out: list[Condition] = [host_connected(esx, self.client())]
        if t.datastore:
            out.append(datastore_accessible(esx, self.inv, t.datastore))
        if t.vm:
            out += [vm_powered_on(esx, t.vm, self.vm_ids), self.heartbeat(t.vm)]
        return out

    def vsphere(self) -> VsphereReader | None:
        """The inventory's vCenter session, made on first use (pyVmomi is imported only then); None without one."""
        if self.inv.vcenter is None:
            return None
        if self.api is None:
            from faultlab.lab.vsphere import VsphereSession

            self.api = VsphereSession(self.inv.vcenter)
        return self.api

    def targets(self) -> Targets:
        t = self.sc.target
        return Targets(host=t.host, datastore=t.datastore, vm=t.vm)

    def end_observing(self) -> None:
        """Stop the vSphere watch and keep what it saw (idempotent; also on an aborted run)."""
        observer, self.observer = self.observer, None
        if observer is not None:
            self.record.observations, problems = observer.finish()
            self.record.notes.extend(p for p in problems if p not in self.record.notes)

    def close(self) -> None:
        self.end_observing()
        if self.api is not None:
            self.api.close()
