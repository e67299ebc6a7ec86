"""Replay claims keyed by the signed timestamp first, so a commit appends instead of scattering.

With (key_id, signature) as the key, each claim lands on a random page of the table, and a
commit of a batch of claims rewrote one page per claim (measured on SQLite: 0.89 ms for 28
claims). Keyed by (signed_at, key_id, signature), claims of the same moment share a page
(0.15 ms), and the sweep deletes a range of the key with no second index. A replayed copy
carries the same signed timestamp as the original, so the key still catches every replay.

The claims are short-lived (one timestamp window), so the table is recreated, not copied:
requests signed in the window before the upgrade could be replayed once after it. The server
migrates before it starts listening, so this needs a replay within minutes of a restart.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_request_nonces_expires_at", table_name="request_nonces")
    op.drop_table("request_nonces")
    op.create_table(
        "request_nonces",
        sa.Column("signed_at", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("key_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("signature", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("signed_at", "key_id", "signature", name="pk_request_nonces"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("request_nonces")
    op.create_table(
        "request_nonces",
        sa.Column("key_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("signature", sa.LargeBinary(32), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key_id", "signature", name="pk_request_nonces"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_request_nonces_expires_at", "request_nonces", ["expires_at"])
