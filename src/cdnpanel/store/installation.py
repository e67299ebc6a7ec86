"""Keys of this installation (``installation_keys``), made by the migration that needs them,
so every node of a shared database has the same: ``ticket_pass`` (0004) and ``stream_pass``
(0010), under which ticket and stream user passwords are hashed."""

from __future__ import annotations

from sqlalchemy import select

from cdnpanel.store.database import Database
from cdnpanel.store.tables import installation_keys

__all__ = ["installation_key"]


def installation_key(db: Database, name: str) -> bytes:
    with db.read() as conn:
        value = conn.execute(
            select(installation_keys.c.value).where(installation_keys.c.name == name)
        ).scalar_one()
    return bytes(value)
