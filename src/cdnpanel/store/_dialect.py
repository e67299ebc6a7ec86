"""The few statements SQLite and PostgreSQL spell differently."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table, case
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from cdnpanel.store.database import Database


def _insert(db: Database, table: Table) -> sqlite.Insert | postgresql.Insert:
    return sqlite.insert(table) if db.is_sqlite else postgresql.insert(table)


def insert_or_ignore(db: Database, table: Table) -> Insert:
    """INSERT that silently skips rows whose primary or unique key already exists."""
    return _insert(db, table).on_conflict_do_nothing()


def insert_or_add(db: Database, table: Table, *, key: Sequence[str], add: Sequence[str]) -> Insert:
    """INSERT a row, or add its ``add`` columns to the existing row with the same ``key``."""
    insert = _insert(db, table)
    return insert.on_conflict_do_update(
        index_elements=list(key),
        set_={name: table.c[name] + insert.excluded[name] for name in add},
    )


def insert_or_set(db: Database, table: Table, *, key: Sequence[str], set_: Sequence[str]) -> Insert:
    """INSERT a row, or overwrite the ``set_`` columns of the existing row with the same ``key``."""
    insert = _insert(db, table)
    return insert.on_conflict_do_update(
        index_elements=list(key), set_={name: insert.excluded[name] for name in set_}
    )


def insert_or_add_keep_max(
    db: Database, table: Table, *, key: Sequence[str], add: Sequence[str], keep_max: Sequence[str]
) -> Insert:
    """``insert_or_add``, and the ``keep_max`` columns set to the larger of the two values."""
    insert = _insert(db, table)
    set_ = {name: table.c[name] + insert.excluded[name] for name in add}
    for name in keep_max:
        new, old = insert.excluded[name], table.c[name]
        set_[name] = case((new > old, new), else_=old)
    return insert.on_conflict_do_update(index_elements=list(key), set_=set_)
