"""Publishing (issue 15): stream users (who may publish which streams of an application, their
passwords kept only as a keyed hash, with each stream's settings), each application's choice
whether publishing needs credentials, the stream user each live stream was admitted with, and
locks on streams closed for good (stream.close lock).

Applications that exist before this revision keep publishing open, as before (a stream user
added to one of their streams makes that stream ask for credentials); applications made after
it need credentials unless their owner opens them
(``cdnpanel app update --cdn CDN APP --publishing open``).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import secrets
import time

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# The new tables CachedReads read (store/stream_users.py), beside 0009's.
CACHED_TABLES = ("stream_users", "stream_locks")


def upgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.add_column(
            sa.Column("publishing", sa.String(16), nullable=False, server_default="open")
        )
    op.create_table(
        "stream_users",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("application_id", sa.Integer(), sa.ForeignKey("applications.id"), nullable=False),
        sa.Column("stream", sa.String(100), nullable=False),
        sa.Column("user_name", sa.String(100), nullable=False),
        sa.Column("pass_hash", sa.LargeBinary(32), nullable=True),
        sa.Column("record", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("record_type", sa.String(32), nullable=True),
        sa.Column("segment_type", sa.String(16), nullable=True),
        sa.Column("segment_value", sa.String(100), nullable=True),
        sa.Column("save_folder", sa.String(255), nullable=True),
        sa.Column("ga_key", sa.String(64), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint(
            "application_id", "stream", "user_name", name="uq_stream_users_app_stream_user"
        ),
    )
    op.create_index("ix_stream_users_account_id", "stream_users", ["account_id"])
    # The stream user a live stream's publisher was admitted with: removing it drops them.
    with op.batch_alter_table("streams") as batch:
        batch.add_column(sa.Column("stream_user_id", sa.Integer(), nullable=True))
    # Streams closed with lock: refused at the encoder's next publish until unlocked.
    op.create_table(
        "stream_locks",
        sa.Column(
            "application_id",
            sa.Integer(),
            sa.ForeignKey("applications.id"),
            primary_key=True,
        ),
        sa.Column("stream", sa.String(512), primary_key=True),
        sa.Column("locked_at", sa.BigInteger(), nullable=False),
    )
    keys = sa.table(
        "installation_keys",
        sa.column("name", sa.String),
        sa.column("value", sa.LargeBinary),
        sa.column("created_at", sa.BigInteger),
    )
    op.bulk_insert(
        keys,
        [{"name": "stream_pass", "value": secrets.token_bytes(32), "created_at": int(time.time())}],
    )
    if op.get_bind().dialect.name == "postgresql":
        # Publish checks read both through cached reads: tell every process of every node when
        # they change, as 0009 does for keys and applications.
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
    op.execute("DELETE FROM installation_keys WHERE name = 'stream_pass'")
    op.drop_table("stream_locks")
    with op.batch_alter_table("streams") as batch:
        batch.drop_column("stream_user_id")
    op.drop_index("ix_stream_users_account_id", "stream_users")
    op.drop_table("stream_users")
    with op.batch_alter_table("applications") as batch:
        batch.drop_column("publishing")
