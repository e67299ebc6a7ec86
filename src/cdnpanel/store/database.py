"""The database handle: one engine, read and write transactions, SQLite discipline.

SQLite (embedded, the default) runs in WAL mode with ``synchronous=NORMAL``, a busy timeout, and
every write transaction opened with ``BEGIN IMMEDIATE`` by one writer per process, so request
handlers, the CLI and workers in other processes share one file without "database is locked"
surprises. PostgreSQL (shared, for several API nodes) gets the same interface.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from cdnpanel.errors import StoreUnavailable

__all__ = ["Database"]

SQLITE_BUSY_TIMEOUT_MS = 5000


class Database:
    """An engine plus the transaction discipline every repository uses."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.engine = self._create_engine(echo)
        # One writer per process; other processes queue on BEGIN IMMEDIATE + busy_timeout.
        self._write_lock = threading.Lock() if self.is_sqlite else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def _create_engine(self, echo: bool) -> Engine:
        if not self.is_sqlite:
            return create_engine(self.url, echo=echo, pool_pre_ping=True, pool_size=10)
        database = self.url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            self.url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        event.listen(engine, "connect", _configure_sqlite_connection)
        event.listen(engine, "begin", _begin_sqlite_transaction)
        return engine

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in a read transaction (a consistent snapshot on both backends)."""
        with _translate_store_errors(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection in a write transaction; committed on exit, rolled back on error."""
        lock = self._write_lock or nullcontext()
        with _translate_store_errors(), lock, self.engine.connect() as conn:
            if self.is_sqlite:
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself, so writes can say IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _begin_sqlite_transaction(conn: Connection) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def _translate_store_errors() -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        raise StoreUnavailable(_short_reason(exc)) from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise StoreUnavailable("connection lost") from exc
        raise


def _short_reason(exc: OperationalError) -> str:
    text = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else "operational error"
    return text[:120]
