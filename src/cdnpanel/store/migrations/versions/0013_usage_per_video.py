"""Per-URL usage (issue 17): bytes and requests per application, day and video (the stream
name or VOD path the URL named), and the same per month, for video.usage and usage.vse.

Logs ingested before this revision are not in them: only what is ingested from now on.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table, period in (("usage_videos_daily", "day"), ("usage_videos_monthly", "month")):
        op.create_table(
            table,
            sa.Column(
                "application_id", sa.Integer(), sa.ForeignKey("applications.id"), primary_key=True
            ),
            sa.Column(period, sa.Integer(), primary_key=True),
            sa.Column("video", sa.String(512), primary_key=True),
            sa.Column("account_id", sa.Integer(), sa.ForeignKey("accounts.id"), nullable=False),
            sa.Column("kind", sa.String(8), nullable=False),
            sa.Column("bytes", sa.BigInteger(), nullable=False),
            sa.Column("requests", sa.BigInteger(), nullable=False),
        )
        op.create_index(f"ix_{table}_bytes", table, ["application_id", period, "bytes", "video"])


def downgrade() -> None:
    for table in ("usage_videos_monthly", "usage_videos_daily"):
        op.drop_index(f"ix_{table}_bytes", table)
        op.drop_table(table)
