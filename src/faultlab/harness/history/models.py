"""The run history's tables (SQLAlchemy 2 ORM): one row per run, its recovery measures in a child table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class RunRow(Base):
    """One run of one scenario, CLI or pytest, as the history keeps it."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    scenario: Mapped[str] = mapped_column(String(200), nullable=False)
    outcome: Mapped[str] = mapped_column(String(20), nullable=False)
    started: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    duration_s: Mapped[float | None] = mapped_column(Float)
    lab: Mapped[str | None] = mapped_column(String(200))
    timing: Mapped[str | None] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text, default="")
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    versions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    artifacts_dir: Mapped[str | None] = mapped_column(Text)
    report: Mapped[str | None] = mapped_column(Text)
    measures: Mapped[list[MeasureRow]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="MeasureRow.name"
    )

    __table_args__ = (Index("ix_runs_scenario_started", "scenario", "started"),)


class MeasureRow(Base):
    """One recovery measure or recovery-condition time of a run, in seconds."""

    __tablename__ = "measures"

    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    seconds: Mapped[float] = mapped_column(Float, nullable=False)
    judged: Mapped[bool] = mapped_column(default=False)  # a recovery time compare judges (slower = regression)
    run: Mapped[RunRow] = relationship(back_populates="measures")
