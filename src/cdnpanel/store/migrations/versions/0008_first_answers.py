"""Replays of a change get the first answer (issue 14): a claim keeps the answer its request
got, sealed with a key only the request itself gives, until the claim is swept.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("request_nonces", sa.Column("answer", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("request_nonces") as batch:  # SQLite drops a column by copying
        batch.drop_column("answer")
