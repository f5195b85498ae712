"""The run history on SQLite and on a real throwaway PostgreSQL server: store, migrations, trends, page, CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from faultlab.harness.history import HistoryError, HistoryStore, RunSummary, history_url, shown
from faultlab.harness.history.page import render_history
from faultlab.harness.history.trends import summarise, trend, trends
from faultlab.harness.record import load_record
from tests.pg import throwaway_postgres

FIXTURE_RUN = Path(__file__).parents[2] / "fixtures" / "runs" / "nfs-apd-bsod"
T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def run(i: int, outcome: str = "passed", green: float = 4.0, apd: float = 6.0, **kw: object) -> RunSummary:
    base: dict[str, object] = {
        "run_id": f"nfs-apd-bsod-{i:03d}",
        "scenario": "nfs-apd-bsod",
        "outcome": outcome,
        "started": T0 + timedelta(hours=i),
        "settings": {"Misc.APDTimeout": apd},
        "versions": {"esx01": "8.0.2"},
        "measures": {"heal_to_guest_heartbeat_green_s": green, "fault_to_apd_start_s": 4.2},
        "judged": frozenset({"heal_to_guest_heartbeat_green_s"}),
    }
    base.update(kw)
    return RunSummary(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with throwaway_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'h.sqlite'}"
    url: str = request.getfixturevalue("postgres_url")
    engine = create_engine(url)
    with engine.begin() as conn:  # each test starts from an empty database
        conn.execute(text("DROP TABLE IF EXISTS measures, runs, alembic_version"))
    engine.dispose()
    return url


def test_runs_round_trip_and_a_rerecorded_run_replaces_its_row(store_url: str) -> None:
    with HistoryStore(store_url) as store:
        store.add(run(1, green=4.0))
        store.add(run(2, outcome="failed", message="guest.bsod missing"))
        store.add(run(1, green=4.5))  # the same run re-judged
        runs = store.runs()
        assert [r.run_id for r in runs] == ["nfs-apd-bsod-001", "nfs-apd-bsod-002"]
        assert runs[0].measures["heal_to_guest_heartbeat_green_s"] == 4.5
        assert runs[0].judged == frozenset({"heal_to_guest_heartbeat_green_s"})
        assert runs[0].started == T0 + timedelta(hours=1) and runs[0].started.tzinfo is not None
        assert runs[1].message == "guest.bsod missing"
        assert store.runs(since=T0 + timedelta(hours=2)) == [runs[1]]
        assert store.runs("other") == []
        assert store.get("nfs-apd-bsod-002") == runs[1]


def test_the_schema_is_migrated_by_alembic_and_reopening_is_a_no_op(store_url: str) -> None:
    HistoryStore(store_url).close()
    with HistoryStore(store_url) as store:
        store.add(run(1))
    engine = create_engine(store_url)
    names = set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    engine.dispose()
    assert {"runs", "measures", "alembic_version"} <= names and head == "0001"


def test_many_writers_at_once_on_one_new_database(store_url: str) -> None:
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            with HistoryStore(store_url) as store:
                store.add(run(i))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with HistoryStore(store_url) as store:
        assert len(store.runs()) == 6


def test_a_slower_recovery_is_a_drift_by_compares_rule_and_a_faster_one_is_not() -> None:
    runs = [run(i, green=4.0 + 0.1 * (i % 2)) for i in range(5)] + [run(5, green=9.0), run(6, green=3.0)]
    t = trend("nfs-apd-bsod", runs)
    drifts = t.drifts
    assert [(m, p.run_id) for m, p in drifts] == [("heal_to_guest_heartbeat_green_s", "nfs-apd-bsod-005")]
    assert "9.0s against a median of 4.0s" in drifts[0][1].why
    # a measure compare does not judge (from the fault) never drifts
    assert all(not p.drift for p in t.series["fault_to_apd_start_s"])
    assert t.flaky == []


def test_flaky_only_when_the_outcome_flips_with_the_same_settings_and_versions() -> None:
    same = [run(0), run(1, outcome="failed"), run(2)]
    assert len(trend("s", same).flaky) == 1 and "Misc.APDTimeout=6" in trend("s", same).flaky[0]
    changed = [run(0), run(1, outcome="failed", apd=140.0)]
    assert trend("s", changed).flaky == []
    firmware = [run(0), run(1, outcome="failed", versions={"esx01": "8.0.3"})]
    assert trend("s", firmware).flaky == []


def test_summary_of_a_real_run_record(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(FIXTURE_RUN, run_dir)
    record, _ = load_record(run_dir)
    s = summarise(record, run_dir, lab="fl9e2b", timing="fast")
    assert s.run_id == record.run_id and s.outcome == "passed" and s.scenario == "nfs-apd-bsod"
    assert s.settings["Misc.APDTimeout"] == 6.0
    assert s.duration_s is not None and s.duration_s > 10
    assert "fault_to_apd_start_s" in s.measures and s.artifacts_dir == str(run_dir.resolve())


def test_history_page_has_a_strip_trend_lines_flags_and_links(tmp_path: Path) -> None:
    report = tmp_path / "r5" / "report.html"
    report.parent.mkdir()
    report.write_text("x")
    runs = [run(i) for i in range(5)] + [run(5, green=9.0, report=str(report)), run(6, outcome="failed")]
    page = render_history(trends(runs), tmp_path, "sqlite:///x")
    assert page.count('<div class="strip">') == 1 and page.count("<a style=") == 7
    assert 'href="r5/report.html"' in page
    assert "drift in nfs-apd-bsod-005" in page and "is flaky" in page
    assert page.count("<polyline") == 2  # one per measure


def test_history_url_defaults_and_never_shows_a_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAULTLAB_HISTORY", raising=False)
    assert history_url(None, tmp_path) == f"sqlite:///{tmp_path.resolve() / 'history.sqlite'}"
    monkeypatch.setenv("FAULTLAB_HISTORY", "postgresql://ci:s3cret@db.example:5432/faultlab")
    url = history_url(None, tmp_path)
    assert url.startswith("postgresql+psycopg://") and "s3cret" not in shown(url)
    assert history_url("sqlite:///a.db", tmp_path) == "sqlite:///a.db"


def test_an_unreachable_history_is_one_clear_error_without_the_password() -> None:
    with pytest.raises(HistoryError) as info:
        HistoryStore("postgresql+psycopg://u:topsecret@127.0.0.1:1/x?connect_timeout=2")
    assert "topsecret" not in str(info.value) and "127.0.0.1" in str(info.value)


def test_cli_lists_runs_as_json_lines_with_drifts(tmp_path: Path, postgres_url: str) -> None:
    url = postgres_url
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS measures, runs, alembic_version"))
    engine.dispose()
    with HistoryStore(url) as store:
        for r in [run(i) for i in range(5)] + [run(5, green=9.0)]:
            store.add(r)
    page = tmp_path / "history.html"
    res = subprocess.run(
        [sys.executable, "-m", "faultlab.harness.cli", "history", "--history", url, "--json", "-", "--html", str(page)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    lines = [json.loads(x) for x in res.stdout.splitlines()]
    assert [x["record"] for x in lines].count("run") == 6
    drift = [x for x in lines if x["record"] == "drift"]
    assert len(drift) == 1 and drift[0]["run_id"] == "nfs-apd-bsod-005"
    assert page.is_file() and "drift in nfs-apd-bsod-005" in page.read_text()
