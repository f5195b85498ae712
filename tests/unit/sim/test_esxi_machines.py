"""Unit tests: the simulated host's storage state machines, driven by a fake clock."""

from __future__ import annotations

from faultlab.sim.esxi.storage.machines import Apd, ApdState, IscsiPath, NfsHeartbeat, PathState, VmfsHeartbeat


def nfs() -> NfsHeartbeat:
    return NfsHeartbeat(frequency_s=2, timeout_s=1, max_failures=3, delta_s=1)


def test_heartbeat_skipped_while_io_succeeds() -> None:
    hb = nfs()
    hb.io_ok(10.0)
    assert not hb.due(10.5)  # I/O within NFS.HeartbeatDelta stands in for the heartbeat
    assert not hb.due(11.0)  # and the next round waits a full NFS.HeartbeatFrequency
    assert hb.due(12.6)


def test_outage_order_start_lost_timeout_restored_exit() -> None:
    hb, seen = nfs(), []
    seen += hb.beat_failed(1.0, apd_timeout_s=6, apd_handling=True)
    assert hb.apd.state is ApdState.NORMAL  # one lost heartbeat is tolerated
    seen += hb.beat_failed(3.0, 6, True)
    seen += hb.tick(8.9)
    seen += hb.beat_failed(5.0, 6, True)
    seen += hb.tick(9.0)  # exactly Misc.APDTimeout after APD start
    assert hb.apd.fast_fail
    seen += hb.io_ok(12.0)
    assert seen == [
        "nfs.heartbeat.failed",
        "nfs.heartbeat.failed",
        "apd.start",
        "nfs.heartbeat.failed",
        "nfs.server.lost",
        "apd.timeout",
        "nfs.server.restored",
        "apd.exit",
    ]
    assert hb.apd.state is ApdState.NORMAL and not hb.down and hb.failures == 0


def test_blip_shorter_than_budget_leaves_no_trace() -> None:
    hb = nfs()
    assert hb.beat_failed(1.0, 6, True) == ["nfs.heartbeat.failed"]
    assert hb.io_ok(2.5) == []


def test_apd_timeout_frozen_at_start_and_disabled_handling() -> None:
    apd = Apd()
    assert apd.enter(0.0, timeout_s=6, handling=True) == ["apd.start"]
    assert apd.enter(1.0, timeout_s=99, handling=True) == []  # a new value does not touch this APD
    assert apd.tick(5.9) == [] and apd.tick(6.0) == ["apd.timeout"]
    off = Apd()
    off.enter(0.0, 6, handling=False)
    assert off.tick(1000.0) == [] and not off.fast_fail  # retried forever, never fast-failed


def test_iscsi_path_dead_apd_after_recovery_time_then_back() -> None:
    path, seen = IscsiPath(recovery_s=2), []
    seen += path.command_failed(10.0)
    seen += path.command_failed(11.0)
    seen += path.tick(11.9, 6, True)
    seen += path.tick(12.0, 6, True)
    seen += path.tick(18.0, 6, True)
    seen += path.command_ok()
    assert seen == [
        "iscsi.connection.offline",
        "path.dead",
        "apd.start",
        "apd.timeout",
        "iscsi.connection.online",
        "path.on",
        "apd.exit",
    ]


def test_pdl_is_not_apd() -> None:
    path = IscsiPath(recovery_s=2)
    assert path.lun_not_supported() == ["pdl"]
    assert path.state is PathState.PDL
    assert path.command_failed(1.0) == [] and path.tick(100.0, 6, True) == []
    assert path.apd.state is ApdState.NORMAL
    assert path.command_ok() == ["pdl.cleared"]


def test_vmfs_heartbeat_timeout_and_reclaim() -> None:
    hb = VmfsHeartbeat(timeout_s=4, last_ok=0.0)
    assert hb.tick(3.9) == [] and hb.tick(4.0) == ["vmfs.heartbeat.timeout"] and hb.tick(9.0) == []
    assert hb.write_ok(9.5) == ["vmfs.heartbeat.reclaimed"] and hb.gen == 2
    assert hb.write_ok(10.5) == []
