"""Usage metering: servers, the ledger of ingested logs, daily rollups, meters (issue 5).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}")


def upgrade() -> None:
    op.create_table(
        "servers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_servers"),
        sa.UniqueConstraint("name", name="uq_servers_name"),
    )
    op.create_table(
        "ingested_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("first_line_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("bytes_done", sa.BigInteger(), nullable=False),
        sa.Column("lines_done", sa.BigInteger(), nullable=False),
        sa.Column("lines_skipped", sa.BigInteger(), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("last_path", sa.String(1000), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ingested_files"),
        _fk("ingested_files", "server_id", "servers"),
        sa.UniqueConstraint("server_id", "first_line_hash", name="uq_ingested_files_identity"),
    )
    op.create_table(
        "usage_daily",
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("application_id", "day", "server_id", name="pk_usage_daily"),
        _fk("usage_daily", "application_id", "applications"),
        _fk("usage_daily", "server_id", "servers"),
        _fk("usage_daily", "account_id", "accounts"),
    )
    op.create_table(
        "usage_account_server_daily",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "account_id", "day", "server_id", name="pk_usage_account_server_daily"
        ),
        _fk("usage_account_server_daily", "account_id", "accounts"),
        _fk("usage_account_server_daily", "server_id", "servers"),
    )
    op.create_table(
        "usage_account_daily",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "day", "role", name="pk_usage_account_daily"),
        _fk("usage_account_daily", "account_id", "accounts"),
    )
    op.create_table(
        "usage_unattributed",
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("app", sa.String(100), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "server_id", "app", name="pk_usage_unattributed"),
        _fk("usage_unattributed", "server_id", "servers"),
    )
    op.create_table(
        "usage_meters",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("meter", sa.String(40), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "day", "meter", name="pk_usage_meters"),
        _fk("usage_meters", "account_id", "accounts"),
    )


def downgrade() -> None:
    for table in (
        "usage_meters",
        "usage_unattributed",
        "usage_account_daily",
        "usage_account_server_daily",
        "usage_daily",
        "ingested_files",
        "servers",
    ):
        op.drop_table(table)
