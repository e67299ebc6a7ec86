"""Bring a database to the current schema with Alembic; safe to run from several processes."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from cdnpanel.store.database import Database

__all__ = ["current_revision", "head_revision", "upgrade"]

_SCRIPT_LOCATION = Path(__file__).with_name("migrations")
# Any constant works; it only has to be the same for every cdnpanel process.
_PG_MIGRATION_LOCK = 0x0CD9A9E1


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPT_LOCATION))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(db: Database) -> str | None:
    with db.read() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: Database, revision: str = "head") -> None:
    """Create or upgrade the schema (to ``revision``: the newest unless told); concurrent
    callers wait for each other."""
    if current_revision(db) == (head_revision() if revision == "head" else revision):
        return
    with db.write() as conn:
        if db.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        command.upgrade(_config(conn), revision)
