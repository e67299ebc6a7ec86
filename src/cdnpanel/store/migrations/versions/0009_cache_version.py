"""Cached reads on PostgreSQL (issue 14): a version row that moves with every change to the
tables cached reads read, so each process, on every node, knows when to drop its values.

Statement-level triggers bump it in the changing transaction itself: the new version becomes
visible exactly when the change does, never before (a sequence would move before the commit).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# The tables CachedReads read (store/keys.py, store/applications.py).
CACHED_TABLES = ("accounts", "api_keys", "applications")


def upgrade() -> None:
    table = op.create_table(
        "cache_version",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "version": 0}])
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite: PRAGMA data_version tells other processes' commits
    op.execute(
        """
        CREATE FUNCTION cdnpanel_bump_cache_version() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE cache_version SET version = version + 1 WHERE id = 1;
            RETURN NULL;
        END $$
        """
    )
    for name in CACHED_TABLES:
        op.execute(
            f"CREATE TRIGGER {name}_cache_version"
            f" AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {name}"
            " FOR EACH STATEMENT EXECUTE FUNCTION cdnpanel_bump_cache_version()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in CACHED_TABLES:
            op.execute(f"DROP TRIGGER {name}_cache_version ON {name}")
        op.execute("DROP FUNCTION cdnpanel_bump_cache_version()")
    op.drop_table("cache_version")
