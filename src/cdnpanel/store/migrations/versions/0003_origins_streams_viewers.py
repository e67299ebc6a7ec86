"""Origins, the stream registry, viewer sessions and viewer counters (issue 3).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_LIVE = sa.text("ended_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "origins",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("control_url", sa.String(500), nullable=False),
        sa.Column("hook_secret_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("hls_fragment", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("reconcile_due_at", sa.BigInteger(), nullable=True),
        sa.Column("last_contact_at", sa.BigInteger(), nullable=True),
        sa.Column("failing_since", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_origins"),
        sa.UniqueConstraint("name", name="uq_origins_name"),
    )
    with op.batch_alter_table("applications") as batch:
        batch.add_column(sa.Column("origin_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_applications_origin_id_origins", "origins", ["origin_id"], ["id"]
        )
    op.create_table(
        "streams",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("origin_id", sa.Integer(), nullable=False),
        sa.Column("inst", sa.String(100), nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("publisher_addr", sa.String(64), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("ended_at", sa.BigInteger(), nullable=True),
        sa.Column("end_reason", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_streams"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_streams_account_id_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["application_id"], ["applications.id"], name="fk_streams_application_id_applications"
        ),
        sa.ForeignKeyConstraint(["origin_id"], ["origins.id"], name="fk_streams_origin_id_origins"),
    )
    op.create_index(
        "uq_streams_live_name",
        "streams",
        ["origin_id", "application_id", "inst", "name"],
        unique=True,
        sqlite_where=_LIVE,
        postgresql_where=_LIVE,
    )
    op.create_index(
        "ix_streams_live_account",
        "streams",
        ["account_id"],
        sqlite_where=_LIVE,
        postgresql_where=_LIVE,
    )
    op.create_index("ix_streams_origin_id_client_id", "streams", ["origin_id", "client_id"])
    op.create_table(
        "viewer_sessions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("origin_id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("inst", sa.String(100), nullable=False),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("protocol", sa.String(8), nullable=False),
        sa.Column("viewer", sa.String(200), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("seen_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_viewer_sessions"),
        sa.ForeignKeyConstraint(
            ["origin_id"], ["origins.id"], name="fk_viewer_sessions_origin_id_origins"
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name="fk_viewer_sessions_application_id_applications",
        ),
        sa.UniqueConstraint(
            "origin_id",
            "protocol",
            "viewer",
            "application_id",
            "inst",
            "path",
            name="uq_viewer_sessions_identity",
        ),
    )
    op.create_index("ix_viewer_sessions_expires_at", "viewer_sessions", ["expires_at"])
    op.create_table(
        "viewer_counts",
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("inst", sa.String(100), nullable=False),
        sa.Column("rtmp", sa.Integer(), server_default="0", nullable=False),
        sa.Column("hls", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("application_id", "path", "inst", name="pk_viewer_counts"),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name="fk_viewer_counts_application_id_applications",
        ),
    )


def downgrade() -> None:
    op.drop_table("viewer_counts")
    op.drop_index("ix_viewer_sessions_expires_at", table_name="viewer_sessions")
    op.drop_table("viewer_sessions")
    op.drop_index("ix_streams_origin_id_client_id", table_name="streams")
    op.drop_index("ix_streams_live_account", table_name="streams")
    op.drop_index("uq_streams_live_name", table_name="streams")
    op.drop_table("streams")
    with op.batch_alter_table("applications") as batch:
        batch.drop_constraint("fk_applications_origin_id_origins", type_="foreignkey")
        batch.drop_column("origin_id")
    op.drop_table("origins")
