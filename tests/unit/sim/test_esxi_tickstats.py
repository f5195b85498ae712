"""Unit tests of TickStats: lateness of periodic rounds against their schedule (the host's `stats` command)."""

from __future__ import annotations

import threading

from faultlab.sim.esxi.storage.tickstats import TickStats


def test_lateness_mean_and_max_and_early_rounds_count_as_on_time() -> None:
    stats = TickStats(2.0)
    assert stats.as_dict() == {"period_s": 2.0, "count": 0, "late_mean_ms": 0.0, "late_max_ms": 0.0}
    stats.tick(10.0, 10.010)
    stats.tick(12.0, 12.030)
    stats.tick(14.0, 13.990)  # early: 0 late, not negative
    out = stats.as_dict()
    assert out["count"] == 3
    assert out["late_max_ms"] == 30.0
    assert out["late_mean_ms"] == round((0.010 + 0.030) / 3 * 1000, 3)


def test_period_follows_a_changed_setting() -> None:
    stats = TickStats(2.0)
    stats.tick(1.0, 1.5, period_s=12.0)
    assert stats.as_dict()["period_s"] == 12.0 and stats.as_dict()["late_max_ms"] == 500.0


def test_concurrent_writer_and_reader_see_consistent_counts() -> None:
    stats = TickStats(0.05)
    done = threading.Event()

    def writer() -> None:
        for i in range(20000):
            stats.tick(float(i), float(i) + 0.001)
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    while not done.is_set():
        snap = stats.as_dict()
        assert snap["count"] == 0 or abs(float(snap["late_mean_ms"]) - 1.0) < 1e-6
    thread.join()
    assert stats.as_dict()["count"] == 20000


def test_reset_starts_a_new_window_after_answering() -> None:
    stats = TickStats(1.0)
    stats.tick(0.0, 0.9)
    assert stats.as_dict(reset=True)["late_max_ms"] == 900.0
    assert stats.as_dict() == {"period_s": 1.0, "count": 0, "late_mean_ms": 0.0, "late_max_ms": 0.0}
    stats.tick(1.0, 1.002)
    assert stats.as_dict()["count"] == 1 and stats.as_dict()["late_max_ms"] == 2.0
