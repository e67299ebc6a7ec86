"""Hot statements: compiled once per dialect, run on the driver's cursor.

A few statements run on every signed request (the key lookup, a command's one read). Through
``Connection.execute`` each costs about 35 µs of SQLAlchemy's per-execution machinery (execution
context, result metadata, events); on the driver's cursor the same SQL costs about 5 µs. A
``Prepared`` statement keeps the SQL in Core (one definition, both dialects, the compiler's
quoting) and only skips that machinery. It runs inside ``Database.read()``/``write()``, so the
transaction discipline is unchanged.

Limits, on purpose: plain bound parameters only (no ``IN`` expansion), and rows come back as
the driver's tuples in the statement's column order, without type processing: fine for the
integer, text and bytes columns these statements select.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Executable

from cdnpanel.store.database import driver_errors

__all__ = ["CachedRead", "Prepared"]

T = TypeVar("T")


class _Compiled:
    """A statement's SQL for one dialect, and how its parameters are passed to the driver."""

    __slots__ = ("_ordered", "sql")

    def __init__(self, sql: str, positional: tuple[str, ...] | None) -> None:
        self.sql = sql
        # Parameter order for qmark drivers (SQLite), taken by itemgetter in C; None for named.
        self._ordered: Callable[[Mapping[str, Any]], Any] | None = None
        if positional is not None and len(positional) > 1:
            self._ordered = itemgetter(*positional)
        elif positional is not None:  # itemgetter of one name gives the value, not a tuple
            self._ordered = lambda params: tuple(params[name] for name in positional)

    def arguments(self, params: Mapping[str, Any]) -> Any:
        return params if self._ordered is None else self._ordered(params)


class Prepared:
    """One Core statement, compiled on first use for each dialect it meets."""

    __slots__ = ("_compiled", "_statement")

    def __init__(self, statement: Executable) -> None:
        self._statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            result = self._statement.compile(dialect=dialect)  # type: ignore[attr-defined]
            positional = tuple(result.positiontup) if result.positional else None
            compiled = _Compiled(result.string, positional)
            self._compiled[dialect.name] = compiled
        return compiled

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """All rows, inside the transaction of a ``Database.read()``/``write()`` connection."""
        return self.run(conn.connection.dbapi_connection, conn.dialect, params)

    def rowcounts(self, conn: Connection, params: Sequence[Mapping[str, Any]]) -> list[int]:
        """Run a write once per parameter set, in the connection's transaction; rows touched."""
        compiled = self._compile(conn.dialect)
        counts: list[int] = []
        with driver_errors(conn.dialect):
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                for one in params:
                    cursor.execute(compiled.sql, compiled.arguments(one))
                    counts.append(cursor.rowcount)
            finally:
                cursor.close()
        return counts

    def rowcount_many(self, conn: Connection, params: Sequence[Mapping[str, Any]]) -> int:
        """Run a write once per parameter set (the driver's executemany), in the connection's
        transaction; the rows touched, all together."""
        compiled = self._compile(conn.dialect)
        with driver_errors(conn.dialect):
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.executemany(compiled.sql, [compiled.arguments(one) for one in params])
                return int(cursor.rowcount)
            finally:
                cursor.close()

    def run(
        self, dbapi_connection: Any, dialect: Dialect, params: Mapping[str, Any]
    ) -> list[tuple[Any, ...]]:
        """All rows, as tuples in the order of the statement's columns."""
        compiled = self._compile(dialect)
        with driver_errors(dialect):
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(compiled.sql, compiled.arguments(params))
                return list(cursor.fetchall())
            finally:
                cursor.close()


class CachedRead(Generic[T]):
    """A prepared read and how its rows become a value, which ``Database.cached`` may keep.

    For the reads of nearly every request (a key's credential, an account's applications):
    on SQLite the thread keeps the built value until the database changes, so ``build`` must
    return something nobody changes (records, tuples) and the statement must depend on nothing
    but the database and its parameters.
    """

    __slots__ = ("build", "prepared")

    def __init__(self, statement: Executable, build: Callable[[list[tuple[Any, ...]]], T]) -> None:
        self.prepared = Prepared(statement)
        self.build = build
