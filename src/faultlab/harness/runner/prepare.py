"""Before the fault: preflight, heal what crashed runs left, wait for a steady lab, baseline, mark, start watching;
after it, the vCenter events of the run's window."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from faultlab.assertions.durations import settings_in
from faultlab.harness.cursors import LogCursors, esxi_log_paths, measure_skew
from faultlab.harness.faults import HealOutcome, heal_ledger
from faultlab.harness.ledger import Ledger, ledger_files
from faultlab.harness.observe import VsphereObserver, read_events
from faultlab.harness.record import Recovery, now_utc, parse_iso
from faultlab.harness.recovery import POLL_S, wait_conditions
from faultlab.harness.runner.context import BASELINE_WAITED, DEFAULT_BASELINE_S, Background, RunContext
from faultlab.harness.scenario import Scenario
from faultlab.harness.wait import wait_until
from faultlab.lab.errors import FaultlabError, LabError
from faultlab.lab.esxi.role import Filesystem

OBSERVER_START_S = 15.0  # the vSphere watch's initial values before the fault goes in
EVENT_MARGIN_S = 2.0  # around the run's window when reading vCenter events
# After an earlier run's fault is healed, its late effects (a guest bugchecking as storage returns, the Tools
# heartbeat loss that follows) must not land after this run's mark: the lab has to stay steady this long.
STEADY_S = 5.0


def scenario_settings(sc: Scenario) -> list[str]:
    """The host settings ({Misc.APDTimeout}) the scenario's durations refer to, each once."""
    texts: list[str] = [sc.hold, sc.recover.within if sc.recover else ""]
    for item in sc.in_order_spec():
        if isinstance(item, dict):
            texts.extend(v for spec in item.values() for v in (spec or {}).values() if isinstance(v, str))
    for count in sc.expect.counts.values():
        texts.extend(v for v in count.as_spec().values() if isinstance(v, str))
    return list(dict.fromkeys(name for t in texts for name in settings_in(t)))


def preflight(run: RunContext) -> None:
    """That the fault's node runs commands, the host settings the scenario's durations name and the datastores'
    ids: the fault node's check meanwhile, one round trip for the host's esxcli reads. Each host's clock skew is
    measured meanwhile too (measure_skew allows for a host that reads its clock late) and taken in by mark()."""
    with run.phase("preflight"):
        if run.sc.required_version is not None:  # a host of another version: refused before anything changes
            esx = run.esx()
            run.sc.check_reported_version(esx.name, esx.product_version(), "vmware -v")
        hosts, node, esx = [run.sc.target.host], run.sc.fault.on, run.esx()
        names = scenario_settings(run.sc)
        node_check = Background(lambda: run.pool.get(node).run(["true"]))
        run.skews = Background(lambda: [(h, measure_skew(run.pool.get(h), h)) for h in hosts])
        values, filesystems = esx.preflight_facts(names)
        node_ok = node_check.result()
        if not node_ok.succeeded:
            raise LabError(f"cannot run commands (true exited {node_ok.exit_status})", host=node)
        for name in names:
            value = values[name]
            if isinstance(value, LabError):
                raise value
            if isinstance(value, str):
                raise LabError(f"advanced option {name} is not a number ({value!r})", host=esx.name)
            run.settings[name] = float(value)
        run.record.settings = dict(run.settings)
        run.record.datastore_ids = datastore_ids(run, filesystems)
        run.record.notes.extend(esx.notes)  # esxcli lines no parsing rule fits, kept and reported
        run.record.hold_s = run.sc.hold_for(run.settings).total_seconds()
        budget = run.sc.recover_within(run.settings)
        run.record.recover_budget_s = budget.total_seconds() if budget is not None else None


def datastore_ids(run: RunContext, listed: list[Filesystem] | LabError) -> dict[str, list[str]]:
    """What the host logs for each inventory datastore instead of its name: the volume UUID and NFS APD
    identifier (`esxcli storage filesystem list`) and the VMFS device (the inventory's naa_id), so that a
    step's `subject: $datastore` matches APD and PDL lines too."""
    ids: dict[str, list[str]] = {d.name: [d.naa_id] if d.naa_id else [] for d in run.inv.datastores}
    filesystems = listed if not isinstance(listed, LabError) else []
    if isinstance(listed, LabError):
        run.record.notes.append(f"volume ids unknown (esxcli storage filesystem list: {listed})")
    for fs in filesystems:
        if fs.volume_name in ids:
            ids[fs.volume_name].extend(fs.identifiers())
    return {name: list(dict.fromkeys(v)) for name, v in ids.items() if v}


def heal_leftovers(run: RunContext) -> None:
    with run.phase("heal-leftovers"):
        ours = run.record.inventory_path
        for path in ledger_files(run.opts.state_dir):
            try:
                ledger = Ledger.load(path)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                run.record.notes.append(f"unreadable ledger {path}: {exc}")
                continue
            if ledger.owner_alive() or ledger.run_id == run.record.run_id:
                continue
            if ours is None or ledger.inventory is None or Path(ledger.inventory).resolve() != Path(ours).resolve():
                run.record.notes.append(f"ledger {path.name} belongs to another inventory; left for `faultlab heal`")
                continue
            outcomes: list[HealOutcome] = heal_ledger(run.pool, ledger)
            for o in outcomes:
                run.leftovers_healed += 1
                run.record.notes.append(f"leftover of run {o.run_id}: {o.line()}")
                if not o.ok:
                    raise LabError(f"a fault left by run {o.run_id} cannot be healed: {o.line()}")


def baseline_budget(run: RunContext) -> float:
    return run.opts.baseline_budget_s or run.record.recover_budget_s or DEFAULT_BASELINE_S


def steady(run: RunContext) -> None:
    """After healing what an earlier run left: wait until the host answers, the datastore is accessible (no APD)
    and the VM is on with its heartbeat green, all of them without a break for `steady_s`."""
    if not run.leftovers_healed:
        return
    budget = max(baseline_budget(run), DEFAULT_BASELINE_S)  # an earlier outage's effects, not this scenario's
    settle = run.opts.steady_s if run.opts.steady_s is not None else STEADY_S
    with run.phase("steady", budget) as ph:
        conds = run.steady_conditions()
        since: list[float] = []
        last: dict[str, str] = {}

        def held() -> bool:
            missing = []
            for c in conds:
                if c.probe() is False:
                    missing.append(f"{c.name} ({getattr(c, 'detail', '')})")
            last["missing"] = "; ".join(missing)
            if missing:
                since.clear()
                return False
            since[:] = since or [time.monotonic()]
            return time.monotonic() - since[0] >= settle

        def show(_: bool, elapsed: float) -> None:
            what = last["missing"] or f"{settle:g}s without a break"
            run.progress.tick(f"a steady lab after healing an earlier run's fault: {what}", elapsed)

        waited = wait_until(held, budget, POLL_S * 2, wake=run.stop, on_tick=show)
        if not waited.done:
            why = last.get("missing") or f"steady for less than {settle:g}s at a time"
            raise LabError(
                f"the lab did not settle within {budget:g}s after healing an earlier run's fault ({why}); "
                "the fault's late effects would land in this run: try again once the lab has recovered"
            )
        ph.detail = f"steady for {settle:g}s after {waited.elapsed_s:.1f}s"


def baseline(run: RunContext) -> None:
    budget = baseline_budget(run)
    with run.phase("baseline", budget):
        results = wait_conditions(run.conditions(), budget, stop=run.stop, on_tick=run.progress.tick)
        # A lab still settling from an earlier fault: the wait from the first condition met to the last is the
        # lab's time, not the harness's (the first probe round is the harness's own).
        met = [r.seconds for r in results if r.met and r.seconds is not None]
        run.record.figures[BASELINE_WAITED] = round(max(met) - min(met), 3) if met else 0.0
        missed = [r for r in results if r.met is False]
        if missed:
            raise LabError("steady state not reached before the fault: " + "; ".join(_missed(r) for r in missed))


def _missed(r: Recovery) -> str:
    return f"{r.condition} ({r.detail})" if r.detail else r.condition


def take_skews(run: RunContext) -> None:
    """The clock skews preflight set out to measure, into the record (before the fault: the host may go away)."""
    skews, run.skews = run.skews, None
    for h, skew in skews.result() if skews is not None else []:
        run.record.skews[h] = {"offset_s": skew.offset_s, "uncertainty_s": skew.uncertainty_s}


def mark(run: RunContext) -> None:
    with run.phase("mark"):
        take_skews(run)
        for host in [run.sc.target.host]:
            h = run.inv.host(host)
            vmx = [v.vmx_path for v in run.inv.vms if v.host == host and v.vmx_path]
            cur = LogCursors(run.pool.get(host), esxi_log_paths(h.log_dir, vmx, h.version), host)
            run.marks[host] = cur.mark()
            run.cursors[host] = cur
        start_observing(run)


def start_observing(run: RunContext) -> None:
    """With a vCenter in the inventory: watch the target's datastore, VM and host from now until recovery is
    judged, on the observer's own session; the initial values are in before the fault goes in."""
    endpoint = run.inv.vcenter
    if endpoint is None:
        return
    from faultlab.lab.vsphere import VsphereSession

    run.observer = VsphereObserver(lambda: VsphereSession(endpoint), run.targets())
    run.observer.start()
    if not run.observer.wait_started(OBSERVER_START_S):
        run.record.notes.append(f"the vSphere watch had no initial values after {OBSERVER_START_S:g}s")


def vcenter_events(run: RunContext) -> None:
    """The vCenter events of the run's window (from the mark to now), on the harness clock."""
    api = run.vsphere()
    marked = run.record.phase("mark")
    if api is None or marked is None:
        return
    begin = parse_iso(marked.started) - timedelta(seconds=EVENT_MARGIN_S)
    with run.phase("vcenter-events") as ph:
        try:
            api.connect()
            end = now_utc() + timedelta(seconds=EVENT_MARGIN_S)
            run.record.vcenter_events, offset = read_events(api, begin, end, run.targets())
            run.record.figures["vcenter_clock_offset_s"] = round(offset, 3)
        except FaultlabError as exc:  # the verdict stands on the logs; say what could not be shown
            ph.detail = f"vCenter events not read: {exc}"
            run.record.notes.append(ph.detail)
