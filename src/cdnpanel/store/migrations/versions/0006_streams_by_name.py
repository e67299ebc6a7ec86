"""Streams found by name whether live or ended (stream.close says when an ended one ended).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_streams_name", "streams", ["application_id", "inst", "name"])


def downgrade() -> None:
    op.drop_index("ix_streams_name", table_name="streams")
