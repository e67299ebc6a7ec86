"""Viewer history (issue 17): concurrent viewers sampled once a minute from the live sessions,
per application and path, also split by server and protocol (kept 14 days), and per
application and path per hour and per day (peak, viewer-minutes, unique viewers; kept 13
months). On SQLite the tables are WITHOUT ROWID: a series is one range of the primary key.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _application() -> sa.Column[int]:
    return sa.Column(
        "application_id", sa.Integer(), sa.ForeignKey("applications.id"), primary_key=True
    )


def upgrade() -> None:
    op.create_table(
        "viewer_minutes",
        _application(),
        sa.Column("path", sa.String(512), primary_key=True),
        sa.Column("minute", sa.BigInteger(), primary_key=True),
        sa.Column("viewers", sa.Integer(), nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_viewer_minutes_minute", "viewer_minutes", ["minute"])
    op.create_table(
        "viewer_server_minutes",
        _application(),
        sa.Column("path", sa.String(512), primary_key=True),
        sa.Column("minute", sa.BigInteger(), primary_key=True),
        sa.Column("origin_id", sa.Integer(), primary_key=True),
        sa.Column("protocol", sa.String(8), primary_key=True),
        sa.Column("viewers", sa.Integer(), nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_viewer_server_minutes_minute", "viewer_server_minutes", ["minute"])
    op.create_table(
        "viewer_hours",
        _application(),
        sa.Column("path", sa.String(512), primary_key=True),
        sa.Column("hour", sa.BigInteger(), primary_key=True),
        sa.Column("peak", sa.Integer(), nullable=False),
        sa.Column("viewer_minutes", sa.BigInteger(), nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_viewer_hours_hour", "viewer_hours", ["hour"])
    op.create_table(
        "viewer_days",
        _application(),
        sa.Column("path", sa.String(512), primary_key=True),
        sa.Column("day", sa.BigInteger(), primary_key=True),
        sa.Column("peak", sa.Integer(), nullable=False),
        sa.Column("viewer_minutes", sa.BigInteger(), nullable=False),
        sa.Column("uniques", sa.Integer(), nullable=False, server_default="0"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_viewer_days_day", "viewer_days", ["day"])
    op.create_table(
        "viewer_uniques",
        _application(),
        sa.Column("path", sa.String(512), primary_key=True),
        sa.Column("day", sa.BigInteger(), primary_key=True),
        sa.Column("who", sa.LargeBinary(16), primary_key=True),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_viewer_uniques_day", "viewer_uniques", ["day"])
    op.create_table(
        "history_samples",
        sa.Column("minute", sa.BigInteger(), primary_key=True, autoincrement=False),
    )


def downgrade() -> None:
    op.drop_table("history_samples")
    for table, column in (
        ("viewer_uniques", "day"),
        ("viewer_days", "day"),
        ("viewer_hours", "hour"),
        ("viewer_server_minutes", "minute"),
        ("viewer_minutes", "minute"),
    ):
        op.drop_index(f"ix_{table}_{column}", table)
        op.drop_table(table)
