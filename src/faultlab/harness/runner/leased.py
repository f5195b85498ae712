"""The run's lab lease as a phase: taken before anything touches the lab, renewed while the run lasts, released
after its recovery; waits, broken leases and a lost lease are written into the record."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from faultlab.harness.runner.context import LEASE_WAITED, RunContext
from faultlab.lab.lease import LeaseEvents, LeaseKeeper, LeaseOptions, acquire, default_owner


@dataclass
class LeaseState:
    """What the run's lease did: set when it was lost (another run may have injected meanwhile)."""

    lost: list[str] = field(default_factory=list)


@contextlib.contextmanager
def held(run: RunContext, options: LeaseOptions | None) -> Iterator[LeaseState]:
    """The lease for the duration of the block (no lease when `options` is None). A lease that cannot be had in
    time is a LeaseError (a lab problem: the run ends in ERROR before any change)."""
    state = LeaseState()
    if options is None:
        yield state
        return
    events = LeaseEvents()
    with options.factory(run.inv, options.ttl_s) as lease:
        with run.phase("lease", options.wait_s) as ph:
            info = acquire(
                lease,
                owner=default_owner(),
                run_id=run.record.run_id,
                wait_s=options.wait_s,
                progress=options.on_wait,
                events=events,
            )
            ph.detail = (
                f"{lease.node}:{lease.path} until {info.expires} (node clock), renewed every {options.ttl_s / 3:.0f} s"
            )
            run.record.figures[LEASE_WAITED] = round(events.waited_s, 3)
            if events.waited_s >= 1:
                run.record.notes.append(f"waited {events.waited_s:.0f} s for the lab lease on {lease.node}")
            run.record.notes.extend(events.notes)
        keeper = LeaseKeeper(lease, on_lost=state.lost.append).start()
        try:
            yield state
        finally:
            keeper.stop()
            if state.lost:
                run.record.notes.append(f"the lab lease was lost during the run: {state.lost[0]}")
            elif not lease.release():
                run.record.notes.append(f"the lab lease on {lease.node} was already gone at release")
