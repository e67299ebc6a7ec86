"""Streams: found by name whether live or ended (stream.close says when an ended one ended),
and the segment duration of their HLS playlist, which HLS viewer sessions follow (issue 12).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_streams_name", "streams", ["application_id", "inst", "name"])
    op.add_column("streams", sa.Column("hls_segment_seconds", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("streams") as batch:  # SQLite drops a column by copying
        batch.drop_column("hls_segment_seconds")
    op.drop_index("ix_streams_name", table_name="streams")
