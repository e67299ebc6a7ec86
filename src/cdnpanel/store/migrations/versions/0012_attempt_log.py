"""The attempt log as a history (issue 17): sevu.errorlog lists a ticket's attempts in time
order, and attempts older than the retention (``CDNPANEL_ATTEMPT_RETENTION_DAYS``, 90 by
default) are deleted.

- ``protocol``: how the viewer asked (``hls`` or ``rtmp``); attempts logged before this
  revision have ``""``.
- The key index becomes (account, key, time), which serves sevu.errorlog's order and still
  leads with what sevu.errorcount's key filter needs.
- An index on the time, for the retention's sweep of the oldest attempts.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ticket_attempts") as batch:
        batch.add_column(sa.Column("protocol", sa.String(8), nullable=False, server_default=""))
    op.drop_index("ix_ticket_attempts_account_key", "ticket_attempts")
    op.create_index(
        "ix_ticket_attempts_account_key_at", "ticket_attempts", ["account_id", "key", "at"]
    )
    op.create_index("ix_ticket_attempts_at", "ticket_attempts", ["at"])


def downgrade() -> None:
    op.drop_index("ix_ticket_attempts_at", "ticket_attempts")
    op.drop_index("ix_ticket_attempts_account_key_at", "ticket_attempts")
    op.create_index("ix_ticket_attempts_account_key", "ticket_attempts", ["account_id", "key"])
    with op.batch_alter_table("ticket_attempts") as batch:
        batch.drop_column("protocol")
