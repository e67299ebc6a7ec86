"""SEVU: application protection, tickets, the attempt log and its counters, the installation's keys.

The key ticket passwords are hashed under is made here, once, so every node of a shared
database has the same one.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import secrets
import time

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ATTEMPT_INDEXES = {
    "ix_ticket_attempts_account_key": "key",
    "ix_ticket_attempts_account_video": "video",
    "ix_ticket_attempts_account_ip": "ip",
    "ix_ticket_attempts_account_pass": "pass_hash",
}


def upgrade() -> None:
    keys = op.create_table(
        "installation_keys",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.LargeBinary(64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_installation_keys"),
    )
    op.bulk_insert(
        keys,
        [{"name": "ticket_pass", "value": secrets.token_bytes(32), "created_at": int(time.time())}],
    )
    with op.batch_alter_table("applications") as batch:
        batch.add_column(
            sa.Column("protection", sa.String(16), nullable=False, server_default="none")
        )
    with op.batch_alter_table("viewer_sessions") as batch:
        batch.add_column(sa.Column("ticket_id", sa.Integer(), nullable=True))
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("pass_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("apps", sa.String(1000), nullable=False),
        sa.Column("videos", sa.String(1000), nullable=False),
        sa.Column("ip", sa.String(1000), nullable=False),
        sa.Column("ip_bound", sa.String(1000), server_default="", nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("used", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("used_at", sa.BigInteger(), nullable=True),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_tickets"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_tickets_account_id_accounts"
        ),
        sa.UniqueConstraint("key", name="uq_tickets_key"),
    )
    op.create_table(
        "ticket_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("pass_hash", sa.LargeBinary(32), nullable=True),
        sa.Column("app", sa.String(100), nullable=False),
        sa.Column("inst", sa.String(100), nullable=False),
        sa.Column("video", sa.String(512), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("success", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("server", sa.String(253), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ticket_attempts"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_ticket_attempts_account_id_accounts"
        ),
    )
    for name, column in _ATTEMPT_INDEXES.items():
        op.create_index(name, "ticket_attempts", ["account_id", column])
    op.create_table(
        "attempt_counts",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("dimension", sa.String(8), nullable=False),
        sa.Column("value", sa.String(512), nullable=False),
        sa.Column("success", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "account_id", "dimension", "value", "success", name="pk_attempt_counts"
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_attempt_counts_account_id_accounts"
        ),
    )


def downgrade() -> None:
    op.drop_table("attempt_counts")
    for name in _ATTEMPT_INDEXES:
        op.drop_index(name, table_name="ticket_attempts")
    op.drop_table("ticket_attempts")
    op.drop_table("tickets")
    with op.batch_alter_table("viewer_sessions") as batch:
        batch.drop_column("ticket_id")
    with op.batch_alter_table("applications") as batch:
        batch.drop_column("protection")
    op.drop_table("installation_keys")
