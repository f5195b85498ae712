"""The run history: every run (CLI or pytest) in a database, SQLite by default or a shared PostgreSQL."""

from faultlab.harness.history.store import (
    ENV_VAR,
    HistoryError,
    HistoryStore,
    RunSummary,
    history_url,
    shown,
)

__all__ = ["ENV_VAR", "HistoryError", "HistoryStore", "RunSummary", "history_url", "shown"]
