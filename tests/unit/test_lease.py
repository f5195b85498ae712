"""Lab leases on a real shell and file system (the SSH boundary replaced by `sh -c` on this machine)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from faultlab.lab.lease import LabLease, LeaseError, LeaseEvents, LeaseKeeper, LeaseOptions, acquire, parse_lease
from faultlab.lab.ssh import CommandResult

SHELLS = [s for s in ("/bin/sh", shutil.which("busybox")) if s]


class LocalShell:
    """Runs each command line in a fresh shell, as SSH runs it on a node."""

    def __init__(self, shell: str = "/bin/sh") -> None:
        self.argv = [shell, "sh", "-c"] if shell.endswith("busybox") else [shell, "-c"]
        self.calls = 0

    def run(self, argv: list[str] | str, timeout: float | None = None, check: bool = False) -> CommandResult:
        assert isinstance(argv, str)
        self.calls += 1
        t0 = time.monotonic()
        p = subprocess.run([*self.argv, argv], capture_output=True, text=True, timeout=timeout, check=False)
        return CommandResult(argv, p.returncode, p.stdout, p.stderr, time.monotonic() - t0, "node")


@pytest.fixture(params=SHELLS)
def shell(request: pytest.FixtureRequest) -> LocalShell:
    return LocalShell(request.param)


def lease_at(tmp_path: Path, shell: LocalShell, ttl: float = 30) -> LabLease:
    return LabLease(shell, node="esx01", path=str(tmp_path / "faultlab.lease"), ttl_s=ttl)


def test_first_taker_wins_and_the_second_sees_the_holder(tmp_path: Path, shell: LocalShell) -> None:
    a, b = lease_at(tmp_path, shell), lease_at(tmp_path, shell)
    mine, holder = a.try_acquire("ci1:100", "run-a")
    assert mine is not None and holder is None
    assert Path(a.path).is_symlink()
    mine2, holder2 = b.try_acquire("ci2:200", "run-b")
    assert mine2 is None and holder2 is not None
    assert (holder2.owner, holder2.run_id, holder2.expired) == ("ci1:100", "run-a", False)
    assert 25 <= holder2.remaining_s <= 30
    again = b.read()
    assert again is not None and again.run_id == "run-a"


def test_only_one_of_many_concurrent_takers_gets_the_lease(tmp_path: Path, shell: LocalShell) -> None:
    winners: list[str] = []
    barrier = threading.Barrier(8)

    def take(i: int) -> None:
        lease = lease_at(tmp_path, LocalShell(shell.argv[0]))
        barrier.wait()
        mine, _ = lease.try_acquire(f"w:{i}", f"run-{i}")
        if mine is not None:
            winners.append(mine.run_id)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    info = lease_at(tmp_path, shell).read()
    assert info is not None and info.run_id == winners[0]


def test_release_removes_only_our_own_lease(tmp_path: Path, shell: LocalShell) -> None:
    a, b = lease_at(tmp_path, shell), lease_at(tmp_path, shell)
    assert a.try_acquire("o:1", "a")[0] is not None
    assert b.release() is False  # b holds nothing
    assert a.release() is True
    assert a.read() is None
    assert b.try_acquire("o:2", "b")[0] is not None
    assert a.release() is False  # a's lease is gone; b's stays
    assert a.read() is not None


def test_an_expired_lease_is_broken_with_a_note(tmp_path: Path, shell: LocalShell) -> None:
    path = tmp_path / "faultlab.lease"
    path.symlink_to("faultlab-lease v=1 owner=dead:1 run=killed-run expires=1000")  # 1970: long expired
    events = LeaseEvents()
    info = acquire(lease_at(tmp_path, shell), owner="ci:2", run_id="new", wait_s=0, events=events)
    assert info.run_id == "new"
    assert len(events.notes) == 1 and "killed-run" in events.notes[0] and "expired" in events.notes[0]


def test_a_live_lease_fails_at_once_with_wait_zero_naming_its_holder(tmp_path: Path, shell: LocalShell) -> None:
    acquire(lease_at(tmp_path, shell), owner="ci:1", run_id="holder-run", wait_s=0)
    t0 = time.monotonic()
    with pytest.raises(LeaseError, match=r"holder-run .*ci:1.*--lease-wait"):
        acquire(lease_at(tmp_path, shell), owner="ci:2", run_id="b", wait_s=0)
    assert time.monotonic() - t0 < 5


def test_a_waiter_gets_the_lease_once_it_is_released_and_reports_progress(tmp_path: Path, shell: LocalShell) -> None:
    holder = lease_at(tmp_path, shell)
    acquire(holder, owner="ci:1", run_id="first", wait_s=0)
    seen: list[str] = []
    timer = threading.Timer(1.0, holder.release)
    timer.start()
    info = acquire(
        lease_at(tmp_path, shell),
        owner="ci:2",
        run_id="second",
        wait_s=20,
        poll_s=0.2,
        progress=lambda h: seen.append(h.run_id),
    )
    timer.join()
    assert info.run_id == "second" and seen and set(seen) == {"first"}


def test_break_never_removes_a_fresh_lease_taken_after_the_expired_one_was_read(
    tmp_path: Path, shell: LocalShell
) -> None:
    path = tmp_path / "faultlab.lease"
    path.symlink_to("faultlab-lease v=1 owner=dead:1 run=old expires=1000")
    lease = lease_at(tmp_path, shell)
    stale = lease.read()
    assert stale is not None and stale.expired
    path.unlink()  # someone else broke it and took a fresh one
    assert lease_at(tmp_path, shell).try_acquire("ci:3", "fresh")[0] is not None
    assert lease.break_expired(stale) is False
    now = lease.read()
    assert now is not None and now.run_id == "fresh"


def test_renew_pushes_the_expiry_and_detects_a_stolen_lease(tmp_path: Path, shell: LocalShell) -> None:
    lease = lease_at(tmp_path, shell, ttl=30)
    first = acquire(lease, owner="ci:1", run_id="r", wait_s=0)
    time.sleep(1.1)  # the node clock has whole seconds: let it tick once
    renewed = lease.renew()
    assert renewed.expires > first.expires
    Path(lease.path).unlink()
    Path(lease.path).symlink_to("faultlab-lease v=1 owner=other:9 run=thief expires=99999999999")
    with pytest.raises(LeaseError, match="no longer ours"):
        lease.renew()


def test_renew_retakes_a_lease_a_rebooted_node_forgot(tmp_path: Path, shell: LocalShell) -> None:
    lease = lease_at(tmp_path, shell)
    acquire(lease, owner="ci:1", run_id="r", wait_s=0)
    Path(lease.path).unlink()  # ESXi's /tmp is a ramdisk
    assert lease.renew().run_id == "r"
    assert lease.read() is not None


def test_the_keeper_renews_in_the_background_and_reports_a_loss(tmp_path: Path, shell: LocalShell) -> None:
    lease = lease_at(tmp_path, shell, ttl=6)
    first = acquire(lease, owner="ci:1", run_id="r", wait_s=0)
    lost = threading.Event()
    keeper = LeaseKeeper(lease, on_lost=lambda why: lost.set()).start()
    try:
        deadline = time.monotonic() + 10
        while (held := lease.held) is not None and held.expires == first.expires and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lease.held is not None and lease.held.expires > first.expires  # a renewal completed
        Path(lease.path).unlink()
        Path(lease.path).symlink_to("faultlab-lease v=1 owner=other:9 run=thief expires=99999999999")
        assert lost.wait(10)
        assert keeper.lost is not None and "no longer ours" in keeper.lost
    finally:
        keeper.stop()


def test_a_foreign_file_at_the_lease_path_is_an_error_not_a_free_lab(tmp_path: Path, shell: LocalShell) -> None:
    (tmp_path / "faultlab.lease").symlink_to("something else")
    with pytest.raises(LeaseError, match="not a faultlab lease"):
        lease_at(tmp_path, shell).read()


def test_unsafe_owner_text_is_made_safe() -> None:
    info = parse_lease("faultlab-lease v=1 owner=a:1 run=r expires=5", 10)
    assert info is not None and info.expired and info.remaining_s == -5
    assert parse_lease("faultlab-lease v=1 owner=a b run=r expires=5", 10) is None


# -- the runner's lease phase (harness/runner/leased.py) on the same local shell -----------------------------


class PhaseRun:
    """What the lease phase needs of a RunContext: the inventory, the record and its phases."""

    def __init__(self) -> None:
        from faultlab.harness.record import RunRecord

        self.inv = None
        self.record = RunRecord("run-7", "s", None, "", None, "2026-01-01T00:00:00Z")
        self.phases: list[tuple[str, str]] = []

    @contextlib.contextmanager
    def phase(self, name: str, budget_s: float | None = None) -> Iterator[Any]:
        ph = self.record.begin(name)
        try:
            yield ph
        except BaseException:
            self.phases.append((name, "error"))
            raise
        self.phases.append((name, "ok"))


def options_at(tmp_path: Path, wait_s: float = 0, ttl: float = 30) -> LeaseOptions:
    @contextlib.contextmanager
    def factory(_inventory: Any, ttl_s: float) -> Iterator[LabLease]:
        yield LabLease(LocalShell(), node="esx01", path=str(tmp_path / "faultlab.lease"), ttl_s=ttl_s)

    return LeaseOptions(wait_s=wait_s, ttl_s=ttl, factory=factory)


def test_the_lease_phase_breaks_an_expired_lease_into_the_records_notes_and_releases(tmp_path: Path) -> None:
    from faultlab.harness.runner import leased

    (tmp_path / "faultlab.lease").symlink_to("faultlab-lease v=1 owner=dead:1 run=killed expires=1000")
    run = PhaseRun()
    with leased.held(run, options_at(tmp_path)) as state:  # type: ignore[arg-type]
        held = lease_at(tmp_path, LocalShell()).read()
        assert held is not None and held.run_id == "run-7"
    assert state.lost == [] and run.phases == [("lease", "ok")]
    assert any("broke the expired lease of run killed" in n for n in run.record.notes)
    assert not (tmp_path / "faultlab.lease").is_symlink()  # released


def test_the_lease_phase_fails_naming_the_holder_and_leaves_their_lease(tmp_path: Path) -> None:
    from faultlab.harness.runner import leased

    (tmp_path / "faultlab.lease").symlink_to("faultlab-lease v=1 owner=ci7:4242 run=nightly-x expires=99999999999")
    run = PhaseRun()
    with pytest.raises(LeaseError, match="nightly-x"), leased.held(run, options_at(tmp_path)):  # type: ignore[arg-type]
        pytest.fail("the block must not run without the lease")
    assert run.phases == [("lease", "error")]
    info = lease_at(tmp_path, LocalShell()).read()
    assert info is not None and info.run_id == "nightly-x"


def test_without_lease_options_the_phase_is_skipped(tmp_path: Path) -> None:
    from faultlab.harness.runner import leased

    run = PhaseRun()
    with leased.held(run, None) as state:  # type: ignore[arg-type]
        pass
    assert state.lost == [] and run.phases == [] and run.record.notes == []
