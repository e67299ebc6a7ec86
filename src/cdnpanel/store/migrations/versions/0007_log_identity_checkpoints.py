"""Logs known apart when their first lines are equal (issue 13): the ledger keeps, with each
position, a hash of the bytes just before it and of the log's first bytes, and a log whose
first line is that of another log with different content gets a ledger row of its own (its
generation).

Rows written before this revision have no checkpoints: they are taken as the log they name
whenever the log reaches their position (as before), and get them at their next commit.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ingested_files") as batch:  # SQLite alters a table by copying
        batch.add_column(sa.Column("generation", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("checkpoint_hash", sa.LargeBinary(32), nullable=True))
        batch.add_column(sa.Column("head_hash", sa.LargeBinary(32), nullable=True))
        batch.drop_constraint("uq_ingested_files_identity", type_="unique")
        batch.create_unique_constraint(
            "uq_ingested_files_identity", ["server_id", "first_line_hash", "generation"]
        )


def downgrade() -> None:
    # Back to one row per first line: the later generations' usage stays counted, but their
    # ledger rows go (a downgraded ingester would take such a log for the first one again).
    op.execute("DELETE FROM ingested_files WHERE generation > 0")
    with op.batch_alter_table("ingested_files") as batch:
        batch.drop_constraint("uq_ingested_files_identity", type_="unique")
        batch.create_unique_constraint(
            "uq_ingested_files_identity", ["server_id", "first_line_hash"]
        )
        batch.drop_column("head_hash")
        batch.drop_column("checkpoint_hash")
        batch.drop_column("generation")
