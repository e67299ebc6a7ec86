"""The edge tier (issue 16): edges are media servers too, in the table of origins, with a role.

An edge pulls the streams of its origins (``edge_origins``, in order: the first is the one it
pulls from, the others its backups for HLS), caches HLS segments and checks every viewer with
cdnpanel as an origin does. ``location`` is a label for the server's place (e.g. ``fra``),
shown in viewer.livedetailed; ``rtmp_url`` and ``hls_url`` are where edges reach an origin's
RTMP and HLS (NULL: the origin's host name on the generated config's ports, 1935 and 8088).

An application may have a backup origin (``applications.backup_origin_id``): its encoders
publish to both, and edges fetch its HLS from the backup when its origin fails.

Every server that exists before this revision is an origin, as before.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("origins") as batch:
        batch.add_column(sa.Column("role", sa.String(16), nullable=False, server_default="origin"))
        batch.add_column(sa.Column("location", sa.String(100), nullable=True))
        batch.add_column(sa.Column("rtmp_url", sa.String(500), nullable=True))
        batch.add_column(sa.Column("hls_url", sa.String(500), nullable=True))
    op.create_table(
        "edge_origins",
        sa.Column("edge_id", sa.Integer(), sa.ForeignKey("origins.id"), primary_key=True),
        sa.Column("origin_id", sa.Integer(), sa.ForeignKey("origins.id"), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
    )
    op.create_index("ix_edge_origins_origin_id", "edge_origins", ["origin_id"])
    with op.batch_alter_table("applications") as batch:
        batch.add_column(
            sa.Column(
                "backup_origin_id",
                sa.Integer(),
                sa.ForeignKey("origins.id", name="fk_applications_backup_origin_id_origins"),
                nullable=True,
            )
        )
    # viewer.livedetailed reads the sessions of one stream, across every server.
    op.create_index(
        "ix_viewer_sessions_application_id_path", "viewer_sessions", ["application_id", "path"]
    )


def downgrade() -> None:
    op.drop_index("ix_viewer_sessions_application_id_path", "viewer_sessions")
    op.drop_index("ix_edge_origins_origin_id", "edge_origins")
    op.drop_table("edge_origins")
    with op.batch_alter_table("applications") as batch:
        batch.drop_column("backup_origin_id")
    with op.batch_alter_table("origins") as batch:
        batch.drop_column("hls_url")
        batch.drop_column("rtmp_url")
        batch.drop_column("location")
        batch.drop_column("role")
