"""Charges (issue 17): each account's rates per usage type, the currency they are in, and
bytes per account, server role and 5-minute bucket (the 95th percentile's samples; logs
ingested from this revision on).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "billing_accounts",
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("accounts.id"), primary_key=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "usage_account_5min",
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("accounts.id"), primary_key=True),
        sa.Column("bucket", sa.BigInteger(), primary_key=True),
        sa.Column("role", sa.String(16), primary_key=True),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "rates",
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("accounts.id"), primary_key=True),
        sa.Column("type", sa.String(40), primary_key=True),
        sa.Column("per", sa.String(16), nullable=False),
        sa.Column("price", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rates")
    op.drop_table("usage_account_5min")
    op.drop_table("billing_accounts")
