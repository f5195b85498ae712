"""The harness's one UTC helper: now on the harness clock, and times as ISO 8601 text ending in Z, and back."""

from __future__ import annotations

from datetime import UTC, datetime


def now_utc() -> datetime:
    """Now, as an aware UTC datetime (the harness clock)."""
    return datetime.now(UTC)


def as_utc(t: datetime) -> datetime:
    """An aware datetime in UTC; a naive one is taken to be UTC already."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def iso(t: datetime, timespec: str = "auto") -> str:
    """2026-11-22T04:55:50.959029Z (timespec as datetime.isoformat: "milliseconds" for reports)."""
    return as_utc(t).isoformat(timespec=timespec).replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """ISO 8601 text (Z or an offset; none means UTC) -> an aware UTC datetime. ValueError when it is not one."""
    return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
