"""The first history schema: runs and their measures.

Revision ID: 0001
Revises:
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(200), nullable=False, unique=True),
        sa.Column("scenario", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("started", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_s", sa.Float()),
        sa.Column("lab", sa.String(200)),
        sa.Column("timing", sa.String(20)),
        sa.Column("message", sa.Text(), nullable=False, server_default=""),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("versions", sa.JSON(), nullable=False),
        sa.Column("artifacts_dir", sa.Text()),
        sa.Column("report", sa.Text()),
    )
    op.create_index("ix_runs_scenario_started", "runs", ["scenario", "started"])
    op.create_table(
        "measures",
        sa.Column("run_pk", sa.Integer(), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("judged", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_table("measures")
    op.drop_index("ix_runs_scenario_started", table_name="runs")
    op.drop_table("runs")
