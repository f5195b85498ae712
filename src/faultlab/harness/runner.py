"""The runner: preflight, heal leftovers, baseline, mark, inject, hold, heal, recover, collect, judge, report.

The record is written after every phase; heal runs in `finally`, also on Ctrl-C and SIGTERM. A lab problem
ends the run with outcome "error"; a behaviour that differs from the scenario with "failed".
"""

from __future__ import annotations

import contextlib
import io
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from faultlab.assertions.durations import settings_in
from faultlab.assertions.layouts import kind_from_filename
from faultlab.assertions.model import LogKind
from faultlab.assertions.scan import scan_stream
from faultlab.harness.artifacts import write_artifacts
from faultlab.harness.cursors import ClockSkew, LogCursors, Mark, esxi_log_paths, measure_skew
from faultlab.harness.faults import Fault, HealOutcome, Injector, heal_ledger, plan_fault
from faultlab.harness.judge import judge
from faultlab.harness.judgement import Judgement
from faultlab.harness.ledger import Ledger, default_state_dir, ledger_files
from faultlab.harness.measures import run_measures
from faultlab.harness.observe import Targets, VsphereObserver, read_events
from faultlab.harness.precheck import check_before_contact
from faultlab.harness.progress import Progress
from faultlab.harness.record import (
    ERROR,
    FAILED,
    PASSED,
    LogFile,
    Phase,
    Recovery,
    RunRecord,
    iso,
    log_artifact_path,
    now_utc,
    parse_iso,
    save_record,
    write_atomic,
)
from faultlab.harness.recovery import (
    POLL_S,
    Condition,
    VsphereReader,
    datastore_accessible,
    host_connected,
    vm_heartbeat_green,
    vm_heartbeat_green_api,
    vm_id,
    vm_powered_on,
    wait_conditions,
)
from faultlab.harness.scenario import Scenario, load_scenario
from faultlab.harness.signals import shielded, sigterm_as_interrupt
from faultlab.lab.errors import FaultlabError, LabError
from faultlab.lab.esxi import EsxiHost
from faultlab.lab.inventory import Inventory, load_inventory
from faultlab.lab.ssh import SshClient, SshPool

DEFAULT_BASELINE_S = 60.0
REBOOT_CONDITION, REBOOT_ANCHOR = "reboots_cleanly", "guest.rebooted"
OBSERVER_START_S = 15.0  # the vSphere watch's initial values before the fault goes in
EVENT_MARGIN_S = 2.0  # around the run's window when reading vCenter events
HOLD_TAIL_S = 1.0  # how often the logs are tailed during the hold
SETTLE_POLL_S = 1.0
# Once every recovery condition holds, a FALSE verdict that has not changed for this long (or 10% of the budget,
# if longer) is final: late log lines (vmware.log lands when the datastore is back) have had their chance.
FALSE_SETTLE_MIN_S = 5.0


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
    progress: Progress | None = None
    pool_factory: Callable[[Inventory], Pool] = field(default=SshPool)


def new_run_id(scenario: str) -> str:
    return f"{scenario}-{now_utc():%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


class _Run:
    """One run's state; `execute()` walks the phases."""

    def __init__(
        self, record: RunRecord, run_dir: Path, sc: Scenario, inv: Inventory, pool: Pool, opts: RunOptions
    ) -> None:
        self.record, self.run_dir, self.sc, self.inv, self.pool, self.opts = record, run_dir, sc, inv, pool, opts
        self.progress = opts.progress or Progress(enabled=False)
        self.settings: dict[str, float] = {}
        self.cursors: dict[str, LogCursors] = {}
        self.marks: dict[str, dict[str, Mark]] = {}
        self.heal_mono: float | None = None
        self.stop = threading.Event()
        self.api: VsphereReader | None = None
        self.observer: VsphereObserver | None = None

    def save(self) -> None:
        save_record(self.record, self.run_dir)

    @contextlib.contextmanager
    def phase(self, name: str, budget_s: float | None = None) -> Iterator[Phase]:
        ph = self.record.begin(name)
        self.progress.phase(name, budget_s)
        self.save()
        try:
            yield ph
        except KeyboardInterrupt as exc:
            ph.status, ph.detail = "interrupted", str(exc) or type(exc).__name__
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

    def conditions(self) -> list[Condition]:
        """The recovery section's conditions; without one: host reachable, datastore accessible, VM on."""
        esx, client = self.esx(), self.pool.get(self.sc.target.host)
        t, rec = self.sc.target, self.sc.recover
        vm_conds = list(rec.vm) if rec else (["powered_on"] if t.vm else [])
        ds_conds = list(rec.datastore) if rec else (["accessible"] if t.datastore else [])
        host_conds = list(rec.host) if rec else ["connected"]
        out: list[Condition] = [host_connected(esx, client) for _ in host_conds[:1]]
        if t.datastore and ds_conds:
            out.append(datastore_accessible(esx, self.inv, t.datastore))
        if t.vm:
            if "powered_on" in vm_conds:
                out.append(vm_powered_on(esx, t.vm))
            if "heartbeat_green" in vm_conds:
                api = self.vsphere()
                out.append(vm_heartbeat_green_api(api, t.vm) if api else vm_heartbeat_green(esx, client, t.vm))
        return out

    def vsphere(self) -> VsphereReader | None:
        """The inventory's vCenter session, made on first use (pyVmomi is imported only then); None without one."""
        if self.inv.vcenter is None:
            return None
        if self.api is None:
            from faultlab.lab.vsphere import VsphereSession

            self.api = VsphereSession(self.inv.vcenter)
        return self.api

    def maybe_second_reboot(self) -> None:
        """The second reboot when the scenario asks for it, only once the run has recovered (verdict TRUE)."""
        rec, vm = self.sc.recover, self.sc.target.vm
        if rec is None or REBOOT_CONDITION not in rec.vm or vm is None:
            return
        if self.record.passed:
            self.second_reboot()
            return
        budget = self.record.recover_budget_s or DEFAULT_BASELINE_S
        why = "not attempted: the run had not recovered"
        self.record.recovery.append(Recovery(f"vm {vm} {REBOOT_CONDITION}", False, None, budget, why))

    def targets(self) -> Targets:
        t = self.sc.target
        return Targets(host=t.host, datastore=t.datastore, vm=t.vm)

    def close(self) -> None:
        self.end_observing()
        if self.api is not None:
            self.api.close()

    # -- phases ------------------------------------------------------------------------------------------
    def preflight(self) -> None:
        with self.phase("preflight"):
            hosts = [self.sc.target.host]
            for h in hosts:
                skew: ClockSkew = measure_skew(self.pool.get(h), h)
                self.record.skews[h] = {"offset_s": skew.offset_s, "uncertainty_s": skew.uncertainty_s}
            node = self.sc.fault.on
            res = self.pool.get(node).run(["true"])
            if not res.succeeded:
                raise LabError(f"cannot run commands (true exited {res.exit_status})", host=node)
            esx = self.esx()
            for name in scenario_settings(self.sc):
                value = esx.advanced_setting(name)
                if isinstance(value, str):
                    raise LabError(f"advanced option {name} is not a number ({value!r})", host=esx.name)
                self.settings[name] = float(value)
            self.record.settings = dict(self.settings)
            self.record.datastore_ids = self.datastore_ids(esx)
            self.record.notes.extend(esx.notes)  # esxcli lines no parsing rule fits, kept and reported
            self.record.hold_s = self.sc.hold_for(self.settings).total_seconds()
            budget = self.sc.recover_within(self.settings)
            self.record.recover_budget_s = budget.total_seconds() if budget is not None else None

    def datastore_ids(self, esx: EsxiHost) -> dict[str, list[str]]:
        """What the host logs for each inventory datastore instead of its name: the volume UUID and NFS APD
        identifier (`esxcli storage filesystem list`) and the VMFS device (the inventory's naa_id), so that a
        step's `subject: $datastore` matches APD and PDL lines too."""
        ids: dict[str, list[str]] = {d.name: [d.naa_id] if d.naa_id else [] for d in self.inv.datastores}
        try:
            filesystems = esx.filesystems()
        except LabError as exc:
            self.record.notes.append(f"volume ids unknown (esxcli storage filesystem list: {exc})")
            filesystems = []
        for fs in filesystems:
            if fs.volume_name in ids:
                ids[fs.volume_name].extend(fs.identifiers())
        return {name: list(dict.fromkeys(v)) for name, v in ids.items() if v}

    def heal_leftovers(self) -> None:
        with self.phase("heal-leftovers"):
            ours = self.record.inventory_path
            for path in ledger_files(self.opts.state_dir):
                try:
                    ledger = Ledger.load(path)
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    self.record.notes.append(f"unreadable ledger {path}: {exc}")
                    continue
                if ledger.owner_alive() or ledger.run_id == self.record.run_id:
                    continue
                if ours is None or ledger.inventory is None or Path(ledger.inventory).resolve() != Path(ours).resolve():
                    self.record.notes.append(
                        f"ledger {path.name} belongs to another inventory; left for `faultlab heal`"
                    )
                    continue
                outcomes: list[HealOutcome] = heal_ledger(self.pool, ledger)
                for o in outcomes:
                    self.record.notes.append(f"leftover of run {o.run_id}: {o.line()}")
                    if not o.ok:
                        raise LabError(f"a fault left by run {o.run_id} cannot be healed: {o.line()}")

    def baseline(self) -> None:
        budget = self.opts.baseline_budget_s or self.record.recover_budget_s or DEFAULT_BASELINE_S
        with self.phase("baseline", budget):
            results = wait_conditions(self.conditions(), budget, stop=self.stop, on_tick=self.progress.tick)
            missed = [r for r in results if r.met is False]
            if missed:
                raise LabError("steady state not reached before the fault: " + "; ".join(_missed(r) for r in missed))

    def mark(self) -> None:
        with self.phase("mark"):
            for host in [self.sc.target.host]:
                h = self.inv.host(host)
                vmx = [v.vmx_path for v in self.inv.vms if v.host == host and v.vmx_path]
                cur = LogCursors(self.pool.get(host), esxi_log_paths(h.log_dir, vmx, h.version), host)
                self.marks[host] = cur.mark()
                self.cursors[host] = cur
            self.start_observing()

    def start_observing(self) -> None:
        """With a vCenter in the inventory: watch the target's datastore, VM and host from now until recovery is
        judged, on the observer's own session; the initial values are in before the fault goes in."""
        endpoint = self.inv.vcenter
        if endpoint is None:
            return
        from faultlab.lab.vsphere import VsphereSession

        self.observer = VsphereObserver(lambda: VsphereSession(endpoint), self.targets())
        self.observer.start()
        if not self.observer.wait_started(OBSERVER_START_S):
            self.record.notes.append(f"the vSphere watch had no initial values after {OBSERVER_START_S:g}s")

    def end_observing(self) -> None:
        """Stop the watch and keep what it saw (idempotent; also on an aborted run)."""
        observer, self.observer = self.observer, None
        if observer is not None:
            self.record.observations, problems = observer.finish()
            self.record.notes.extend(p for p in problems if p not in self.record.notes)

    def vcenter_events(self) -> None:
        """The vCenter events of the run's window (from the mark to now), on the harness clock."""
        api = self.vsphere()
        mark = self.record.phase("mark")
        if api is None or mark is None:
            return
        begin = parse_iso(mark.started) - timedelta(seconds=EVENT_MARGIN_S)
        with self.phase("vcenter-events") as ph:
            try:
                api.connect()
                end = now_utc() + timedelta(seconds=EVENT_MARGIN_S)
                self.record.vcenter_events, offset = read_events(api, begin, end, self.targets())
                self.record.figures["vcenter_clock_offset_s"] = round(offset, 3)
            except FaultlabError as exc:  # the verdict stands on the logs; say what could not be shown
                ph.detail = f"vCenter events not read: {exc}"
                self.record.notes.append(ph.detail)

    def plan(self) -> Fault:
        hold_s = self.record.hold_s or 0.0
        grace = self.opts.grace_s if self.opts.grace_s is not None else max(5.0, hold_s / 2)
        return plan_fault(
            self.inv,
            self.sc.fault,  # the kind's own section: every key it declares reaches its plan
            run_id=self.record.run_id,
            scenario_vms=[self.sc.target.vm] if self.sc.target.vm else [],
            hold_s=hold_s,
            grace_s=grace,
            datastore=self.sc.target.datastore,  # a kind's default device or LUN when its section names none
        )

    def inject_hold_heal(self) -> None:
        with self.phase("plan"):
            fault = self.plan()
            self.record.fault = fault.to_dict()
        ledger = Ledger.create(self.record.run_id, self.opts.state_dir, self.record.inventory_path)
        injector = Injector(self.pool, ledger)
        try:
            with self.phase("inject"):
                self.record.anchors["fault.injected"] = iso(now_utc())
                injector.inject(fault)
                self.record.fault = fault.to_dict()  # resolved: paths, those already off, the host's "off" spelling
            hold_s = self.record.hold_s or 0.0
            with self.phase("hold", hold_s):
                end = time.monotonic() + hold_s
                watcher = HoldWatcher(self.inv, self.opts.pool_factory, [self.sc.target.host])
                watcher.start()
                try:
                    until = set(self.sc.hold_until)
                    while (left := end - time.monotonic()) > 0:
                        names = watcher.names()
                        if until and until <= set(names):
                            self.record.notes.append(
                                f"hold ended {left:.1f}s early: {', '.join(sorted(until))} seen in the live logs"
                            )
                            break
                        seen = ", ".join(names) or "nothing yet"
                        self.progress.tick(f"end of hold ({fault.describe()}); seen: {seen}")
                        if self.stop.wait(min(0.5, left)):
                            break
                finally:
                    self.record.observed, problems = watcher.finish()
                    self.record.notes.extend(problems)
        finally:
            with shielded(), self.phase("heal"):
                self.heal_mono = time.monotonic()
                self.record.anchors["fault.healed"] = iso(now_utc())
                outcome = injector.heal(fault)
                self.record.heal = {"status": outcome.status, "detail": outcome.detail}
                ledger.close()
                if not outcome.ok:
                    raise LabError(f"heal failed: {outcome.line()}; run `faultlab heal --ledger {ledger.path}`")

    def collect(self) -> None:
        logs: list[LogFile] = []
        for host, cur in self.cursors.items():
            for path, chunk in cur.collect().items():
                rel = log_artifact_path(host, path)
                target = self.run_dir / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(target, chunk.data)
                logs.append(LogFile(host, path, rel, len(chunk.data), None, list(chunk.rotated), chunk.gap))
        self.record.logs = logs

    def grown(self) -> None:
        """How much each log grew on the host since its mark (same inode only), for the overhead figures."""
        for lf in self.record.logs:
            mark = self.marks[lf.host][lf.path]
            st = self.cursors[lf.host].client.stat(lf.path)
            if st is not None and (mark.inode in (st.inode, 0)):
                lf.grown = st.size - mark.size

    def judge_now(self) -> bool:
        self.collect()
        self.grown()  # right after the read: the figure compares like with like
        self.record.judgement = judge(self.record, self.run_dir)
        return self.record.judgement.passed

    def recover_and_judge(self) -> None:
        """Poll the recovery conditions and judge the logs until every condition holds and the verdict is TRUE, or
        the recovery budget (counted from heal) is spent. Logs land late (vmware.log is on the datastore), and a
        condition may hold, be lost (the guest bugchecks as storage returns) and hold again: a condition's time
        is that of its LAST change to met, so "recovered" means recovered for good, as far as the run saw."""
        budget = self.record.recover_budget_s
        wait_s = budget if budget is not None else self.record.hold_s or 0.0
        healed = self.heal_mono or time.monotonic()
        deadline = healed + wait_s
        conds = self.conditions() if budget is not None else []
        state: dict[str, Recovery] = {}
        met_at: dict[str, datetime] = {}  # harness clock (UTC) of each condition's last change to met
        standing = StandingFalse(max(FALSE_SETTLE_MIN_S, 0.1 * wait_s))
        with self.phase("recover+judge", wait_s):
            judged_at = None
            while True:
                now = time.monotonic()
                for c in conds:
                    met, prev = c.probe(), state.get(c.name)
                    detail = getattr(c, "detail", "")
                    if met is True and prev is not None and prev.met is True:
                        prev.detail = detail
                    else:
                        state[c.name] = Recovery(c.name, met, now - healed if met else None, wait_s, detail)
                        met_at[c.name] = now_utc()
                done = all(state[c.name].met is not False for c in conds)
                if not done:
                    standing.reset()  # a FALSE verdict is timed only while every condition holds
                out_of_time = time.monotonic() >= deadline
                if (done or out_of_time) and (judged_at is None or now - judged_at >= SETTLE_POLL_S or out_of_time):
                    judged_at = now
                    self.record.recovery = [state[c.name] for c in conds]  # the verdict includes recovery
                    verdict = self.judge_now()
                    if self.green_too_early(state, met_at, wait_s):
                        done = verdict = False
                    if verdict and done:
                        break
                    if done and not verdict and standing.is_final(self.record.judgement):
                        self.record.notes.append(
                            f"recovery: every condition held and the verdict stayed FALSE for {standing.settle_s:g} s; "
                            f"stopped waiting {max(deadline - time.monotonic(), 0):.0f} s before the budget's end"
                        )
                        break
                    if not done or verdict:
                        standing.reset()
                if out_of_time:
                    break
                pending = [c.name for c in conds if state[c.name].met is False]
                self.progress.tick(", ".join(pending) or "the expected events in the logs", now - healed)
                if self.stop.wait(min(POLL_S, max(deadline - time.monotonic(), 0.01))):
                    break
        final = [state[c.name] for c in conds]
        if final != self.record.recovery or self.record.judgement is None:  # judged on what the loop saw last
            self.record.recovery = final
            self.record.judgement = judge(self.record, self.run_dir)

    def second_reboot(self) -> None:
        """KB 392634: after recovery, a guest-initiated reboot (`vim-cmd vmsvc/power.reboot`, through VMware Tools)
        must not bugcheck again. Met when vmware.log shows the guest's reset after the reboot request and the
        heartbeat is green again after it; the judge checks the logs for a bugcheck after `guest.rebooted`."""
        vm = self.sc.target.vm
        budget = self.record.recover_budget_s or DEFAULT_BASELINE_S
        if vm is None:
            return
        name = f"vm {vm} {REBOOT_CONDITION}"
        result = Recovery(name, False, None, budget, "")
        with self.phase("second-reboot", budget):
            esx, client = self.esx(), self.pool.get(self.sc.target.host)
            green = vm_heartbeat_green_api(api, vm) if (api := self.vsphere()) else vm_heartbeat_green(esx, client, vm)
            t0 = time.monotonic()
            asked = now_utc()
            self.record.anchors[REBOOT_ANCHOR] = iso(asked)
            res = client.run(["vim-cmd", "vmsvc/power.reboot", str(vm_id(esx, vm))])
            if not res.succeeded:
                why = (res.stderr.strip() or res.stdout.strip() or f"exit {res.exit_status}").splitlines()
                result.detail = f"vim-cmd vmsvc/power.reboot failed: {' '.join(why)[:200]}"
            else:
                deadline = t0 + budget
                reset_at: str | None = None
                while time.monotonic() < deadline:
                    if reset_at is None:
                        self.judge_now()
                        reset_at = self.guest_reset_after(vm, asked)
                    if reset_at is not None and green.probe():
                        result = Recovery(name, True, time.monotonic() - t0, budget, f"guest reset at {reset_at}")
                        break
                    what = "the guest's reset in vmware.log" if reset_at is None else "heartbeat green"
                    self.progress.tick(f"{what} after the reboot", time.monotonic() - t0)
                    if self.stop.wait(POLL_S * 2):
                        break
                else:
                    result.detail = (
                        "no guest reset in vmware.log after the reboot request"
                        if reset_at is None
                        else f"guest reset at {reset_at}, heartbeat not green again ({green.detail})"
                    )
            self.record.recovery.append(result)
            self.judge_now()

    def guest_reset_after(self, vm: str, t: datetime) -> str | None:
        """The time (harness clock) of the VM's first guest.reset at or after `t`, from the last judgement."""
        resets = self.record.judgement.named("guest.reset", vm) if self.record.judgement else ()
        return next((iso(e.time) for e in resets if e.time is not None and e.time >= t), None)

    def green_too_early(self, state: dict[str, Recovery], met_at: dict[str, datetime], budget_s: float) -> bool:
        """A heartbeat seen green before the Tools heartbeat loss the logs show (the guest bugchecked after
        storage returned) is not the recovery: reset it, so the wait goes on for green after the loss."""
        vm = self.sc.target.vm
        name = f"vm {vm} heartbeat_green"
        if vm is None or name not in state or state[name].met is not True:
            return False
        losses = self.record.judgement.named("guest.tools_heartbeat.lost", vm) if self.record.judgement else ()
        lost = [e.time for e in losses if e.time is not None]
        if not lost or met_at[name] > max(lost):
            return False
        why = f"green was seen before the heartbeat loss at {iso(max(lost))} in vmware.log; waiting for green again"
        state[name] = Recovery(name, False, None, budget_s, why)
        return True


@dataclass
class StandingFalse:
    """How long the same FALSE judgement has stood while every recovery condition held; a change in any check
    restarts the clock. Final once it has stood `settle_s`."""

    settle_s: float
    since: float | None = None
    signature: list[tuple[Any, Any, Any]] | None = None

    def reset(self) -> None:
        self.since = self.signature = None

    def is_final(self, judgement: Judgement | None) -> bool:
        signature = [(c.check, c.verdict, c.message) for c in (judgement.checks if judgement else [])]
        now = time.monotonic()
        if self.since is None or signature != self.signature:
            self.since, self.signature = now, signature
            return False
        return now - self.since >= self.settle_s


class HoldWatcher(threading.Thread):
    """Tails the hosts' own logs during the hold, on its own SSH connections, and notes catalog events as they
    appear (the live view and record.observed). Only for watching: the verdict comes from the collected bytes.
    A thread, so that a slow tail never stretches the hold; datastore files (vmware.log) are left out, since
    reading them blocks while the datastore is cut off."""

    def __init__(self, inv: Inventory, pool_factory: Callable[[Inventory], Pool], hosts: list[str]) -> None:
        super().__init__(name="faultlab-hold-watcher", daemon=True)
        self.inv, self.pool_factory, self.hosts = inv, pool_factory, hosts
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._seen: list[dict[str, str]] = []
        self._problems: list[str] = []
        self._pool: Pool | None = None

    def names(self) -> list[str]:
        with self._lock:
            return [s["name"] for s in self._seen]

    def run(self) -> None:
        try:
            self._pool = self.pool_factory(self.inv)
            cursors = {
                h: LogCursors(
                    self._pool.get(h), esxi_log_paths(self.inv.host(h).log_dir, version=self.inv.host(h).version), h
                )
                for h in self.hosts
            }
            for cur in cursors.values():
                cur.mark()
            while not self.stop.wait(HOLD_TAIL_S):
                for host, cur in cursors.items():
                    for path, data in cur.tail().items():
                        self._note(host, path, data)
        except Exception as exc:  # watching is best effort: the run goes on without it
            if not self.stop.is_set():
                with self._lock:
                    self._problems.append(f"log tail during the hold stopped: {type(exc).__name__}: {exc}")
        finally:
            if self._pool is not None:
                self._pool.close()

    def _note(self, host: str, path: str, data: bytes) -> None:
        events, _ = scan_stream(io.BytesIO(data), kind=kind_from_filename(path) or LogKind.OTHER, name=path, host=host)
        with self._lock:
            known = {s["name"] for s in self._seen}
            for ev in events:
                if ev.twin is None and ev.name not in known:
                    known.add(ev.name)
                    self._seen.append({"name": ev.name, "host": host, "seen_at": iso(now_utc())})

    def finish(self) -> tuple[list[dict[str, str]], list[str]]:
        """Stop, close its connections (that also ends a tail stuck in a read), and hand over what it saw."""
        self.stop.set()
        self.join(timeout=2 * HOLD_TAIL_S)
        if self._pool is not None:
            self._pool.close()
        self.join(timeout=2.0)
        with self._lock:
            return list(self._seen), list(self._problems)


def scenario_settings(sc: Scenario) -> list[str]:
    """The host settings ({Misc.APDTimeout}) the scenario's durations refer to, each once."""
    texts: list[str] = [sc.hold, sc.recover.within if sc.recover else ""]
    for item in sc.in_order_spec():
        if isinstance(item, dict):
            texts.extend(v for spec in item.values() for v in (spec or {}).values() if isinstance(v, str))
    for count in sc.expect.counts.values():
        texts.extend(v for v in count.as_spec().values() if isinstance(v, str))
    return list(dict.fromkeys(name for t in texts for name in settings_in(t)))


def _missed(r: Recovery) -> str:
    return f"{r.condition} ({r.detail})" if r.detail else r.condition


def _figures(record: RunRecord, wall_s: float) -> dict[str, float]:
    """Wall time against what the scenario inherently needs (hold + recovery), and bytes collected vs grown."""
    recovery_s = max((r.seconds for r in record.recovery if r.seconds is not None), default=0.0)
    phases = {p.name: p.seconds or 0.0 for p in record.phases}
    hold_s = phases.get("hold", 0.0)  # as held (hold_until may end it early; a run that ended before held nothing)
    anchors = record.anchor_times()
    outage = (
        (anchors["fault.healed"] - anchors["fault.injected"]).total_seconds()
        if {"fault.injected", "fault.healed"} <= anchors.keys()
        else 0.0
    )
    return {
        "wall_s": round(wall_s, 3),
        "outage_s": round(outage, 3),  # inject start to heal start: the hold plus the inject's own time
        "hold_s": round(hold_s, 3),
        "hold_planned_s": record.hold_s or 0.0,
        "recovery_s": round(recovery_s, 3),
        "inherent_s": round(hold_s + recovery_s, 3),
        "overhead_s": round(wall_s - hold_s - recovery_s, 3),
        **{f"phase_{k.replace('+', '_').replace('-', '_')}_s": round(v, 3) for k, v in phases.items()},
        "bytes_collected": float(sum(lf.bytes for lf in record.logs)),
        "bytes_grown": float(sum(lf.grown for lf in record.logs if lf.grown is not None)),
    }


def run_scenario(
    sc: Scenario,
    inventory: Inventory,
    *,
    scenario_text: str,
    scenario_path: str | None = None,
    inventory_path: str | None = None,
    options: RunOptions | None = None,
) -> RunRecord:
    """Run one scenario against a lab. Returns the record (outcome passed / failed / error); re-raises
    KeyboardInterrupt (Ctrl-C, SIGTERM) after healing. Config mistakes (ConfigError) are raised before any change."""
    opts = options or RunOptions()
    check_before_contact(sc, inventory)  # nothing is contacted before the scenario fits the inventory
    run_id = opts.run_id or new_run_id(sc.name)
    record = RunRecord(
        run_id=run_id,
        scenario_name=sc.name,
        scenario_path=scenario_path,
        scenario_text=scenario_text,
        inventory_path=str(Path(inventory_path).resolve()) if inventory_path else None,
        started=iso(now_utc()),
    )
    run_dir = opts.artifacts / run_id
    save_record(record, run_dir)
    t0 = time.monotonic()
    pool = opts.pool_factory(inventory)
    run = _Run(record, run_dir, sc, inventory, pool, opts)
    try:
        with sigterm_as_interrupt():
            run.preflight()
            run.heal_leftovers()
            run.baseline()
            run.mark()
            run.inject_hold_heal()
            run.recover_and_judge()
            run.maybe_second_reboot()
            run.end_observing()
            run.vcenter_events()
        record.outcome = PASSED if record.passed else FAILED
        record.message = record.judgement.message if record.judgement else ""
    except KeyboardInterrupt as exc:
        record.outcome, record.message = ERROR, f"interrupted ({exc or 'Ctrl-C'}); the fault was healed"
        raise
    except FaultlabError as exc:
        failed = next((p.name for p in reversed(record.phases) if p.status == "error"), "?")
        record.outcome, record.message = ERROR, f"lab problem in phase {failed}: {exc}"
    finally:
        run.close()
        pool.close()
        record.figures = {**record.figures, **_figures(record, time.monotonic() - t0)}
        record.measures = run_measures(record, run_dir)
        write_artifacts(record, run_dir)  # record.json last; a report that cannot be made is a note
    return record


def run_file(scenario_path: str | Path, inventory_path: str | Path, options: RunOptions | None = None) -> RunRecord:
    """Load (ConfigError names file, line, key) and run."""
    inv = load_inventory(inventory_path)
    sc = load_scenario(scenario_path)
    text = Path(scenario_path).read_text(encoding="utf-8")
    return run_scenario(
        sc,
        inv,
        scenario_text=text,
        scenario_path=str(scenario_path),
        inventory_path=str(inventory_path),
        options=options,
    )


__all__ = [
    "ERROR",
    "FAILED",
    "PASSED",
    "RunOptions",
    "default_state_dir",
    "new_run_id",
    "run_file",
    "run_scenario",
    "write_atomic",
]
