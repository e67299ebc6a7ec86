"""The few statements SQLite and PostgreSQL spell differently."""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from cdnpanel.store.database import Database


def insert_or_ignore(db: Database, table: Table) -> Insert:
    """INSERT that silently skips rows whose primary or unique key already exists."""
    insert = sqlite.insert(table) if db.is_sqlite else postgresql.insert(table)
    return insert.on_conflict_do_nothing()
