"""The history database: open (SQLite file or PostgreSQL URL), migrate to the newest schema, add and query runs."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, selectinload
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random

from faultlab.harness.history.models import MeasureRow, RunRow

ENV_VAR = "FAULTLAB_HISTORY"
SQLITE_FILE = "history.sqlite"
_MIGRATING = threading.Lock()


class HistoryError(Exception):
    """The history database could not be opened, migrated, read or written (the URL is shown without password)."""


@dataclass(frozen=True)
class RunSummary:
    """What the history keeps of one run."""

    run_id: str
    scenario: str
    outcome: str
    started: datetime
    duration_s: float | None = None
    lab: str | None = None
    timing: str | None = None
    message: str = ""
    settings: dict[str, float] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    measures: dict[str, float] = field(default_factory=dict)
    judged: frozenset[str] = frozenset()  # measures compare judges (recovery times from heal)
    artifacts_dir: str | None = None
    report: str | None = None


def history_url(explicit: str | None, artifacts: Path) -> str:
    """--history, else $FAULTLAB_HISTORY, else SQLite next to the artifacts. postgresql:// uses psycopg 3."""
    url = explicit or os.environ.get(ENV_VAR) or f"sqlite:///{(artifacts / SQLITE_FILE).resolve()}"
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def shown(url: str) -> str:
    """The URL as it may be printed: never its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable history URL>"


class HistoryStore:
    """A history database, migrated to the newest schema when opened."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            parsed = make_url(url)
            if parsed.get_backend_name() == "sqlite" and parsed.database:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(url, future=True)
            if parsed.get_backend_name() == "sqlite":
                event.listen(self.engine, "connect", _sqlite_pragmas)
            self._migrate()
        except (SQLAlchemyError, ArgumentError, OSError, ImportError) as exc:
            raise HistoryError(f"history {shown(url)}: {_first_line(exc)}") from None

    @retry(
        retry=retry_if_exception_type(SQLAlchemyError),
        stop=stop_after_attempt(4),
        wait=wait_random(0.2, 1.0),
        reraise=True,
    )
    def _migrate(self) -> None:
        # Two workers opening a new database race to create its tables: the loser tries again and finds them.
        cfg = Config()
        cfg.set_main_option("script_location", str(files("faultlab.harness.history") / "migrations"))
        # alembic keeps its migration context in a module global: one migration at a time per process
        with _MIGRATING, self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        try:
            with Session(self.engine) as session, session.begin():
                yield session
        except SQLAlchemyError as exc:
            raise HistoryError(f"history {shown(self.url)}: {_first_line(exc)}") from None

    def add(self, run: RunSummary) -> None:
        """Insert a run, or replace the row of the same run id (a run re-judged offline)."""
        with self._session() as s:
            old = s.scalar(select(RunRow).where(RunRow.run_id == run.run_id))
            if old is not None:
                s.delete(old)
                s.flush()
            row = RunRow(
                run_id=run.run_id,
                scenario=run.scenario,
                outcome=run.outcome,
                started=run.started,
                duration_s=run.duration_s,
                lab=run.lab,
                timing=run.timing,
                message=run.message[:2000],
                settings=dict(run.settings),
                versions=dict(run.versions),
                artifacts_dir=run.artifacts_dir,
                report=run.report,
            )
            row.measures = [
                MeasureRow(name=k, seconds=v, judged=k in run.judged) for k, v in sorted(run.measures.items())
            ]
            s.add(row)

    def runs(self, scenario: str | None = None, since: datetime | None = None) -> list[RunSummary]:
        """Runs oldest first, of one scenario or all, from `since` on."""
        q = select(RunRow).options(selectinload(RunRow.measures)).order_by(RunRow.started, RunRow.id)
        if scenario is not None:
            q = q.where(RunRow.scenario == scenario)
        if since is not None:
            q = q.where(RunRow.started >= since)
        with self._session() as s:
            return [_summary(r) for r in s.scalars(q)]

    def get(self, run_id: str) -> RunSummary | None:
        q = select(RunRow).options(selectinload(RunRow.measures)).where(RunRow.run_id == run_id)
        with self._session() as s:
            row = s.scalar(q)
            return None if row is None else _summary(row)


def _summary(row: RunRow) -> RunSummary:
    started = row.started if row.started.tzinfo else row.started.replace(tzinfo=UTC)  # SQLite drops the zone
    return RunSummary(
        run_id=row.run_id,
        scenario=row.scenario,
        outcome=row.outcome,
        started=started,
        duration_s=row.duration_s,
        lab=row.lab,
        timing=row.timing,
        message=row.message or "",
        settings={str(k): float(v) for k, v in (row.settings or {}).items()},
        versions={str(k): str(v) for k, v in (row.versions or {}).items()},
        measures={m.name: m.seconds for m in row.measures},
        judged=frozenset(m.name for m in row.measures if m.judged),
        artifacts_dir=row.artifacts_dir,
        report=row.report,
    )


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Several pytest-xdist workers write one SQLite file: wait for the lock instead of failing at once.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout = 30000")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.close()


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
