"""The database handle: one engine, read and write transactions, SQLite discipline.

SQLite (embedded, the default) runs in WAL mode with ``synchronous=NORMAL``, a busy timeout, and
every write transaction opened with ``BEGIN IMMEDIATE`` by one writer per process, so request
handlers, the CLI and workers in other processes share one file without "database is locked"
surprises. PostgreSQL (shared, for several API nodes) gets the same interface.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from cdnpanel.errors import StoreUnavailable
from cdnpanel.store.group_commit import GroupCommit, WriteKind

if TYPE_CHECKING:
    from cdnpanel.store.prepared import CachedRead, Prepared

__all__ = ["Database", "StoreRun"]

T = TypeVar("T")
R = TypeVar("R")

StoreRun = Callable[[Callable[[], Any]], Awaitable[Any]]
"""``Database.run``'s shape, as the services that do store work from async code take it."""

SQLITE_BUSY_TIMEOUT_MS = 5000
WAL_SIZE_LIMIT = 64 * 1024 * 1024
# Values of cached reads a thread keeps between two commits (a read and its parameters each).
READ_CACHE_SIZE = 4096
# How long cached reads may miss a commit made by another process (seconds): a key revoked or
# an application added by the CLI or another worker reaches requests within this time.
OTHERS_CHECK_INTERVAL = 0.001

_NEVER: tuple[float, int | None] | None = None
"""``_others_checked`` before the first look at other processes' commits."""


class Database:
    """An engine plus the transaction discipline every repository uses."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        others_check_interval: float = OTHERS_CHECK_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
        read_cache_size: int = READ_CACHE_SIZE,
    ) -> None:
        """``others_check_interval`` and ``monotonic`` (a clock of seconds that only moves
        forward) say how often cached reads look at other processes' commits; see
        ``_cache_version``. ``read_cache_size``: cached values a thread keeps at most."""
        self.url = make_url(url)
        self._others_check_interval = others_check_interval
        self._read_cache_size = read_cache_size
        self._monotonic = monotonic
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.engine = self._create_engine(echo)
        # PostgreSQL: the single-statement reads of the hot path (see query()).
        self._read_engine: Engine | None = (
            None
            if self.is_sqlite
            else create_engine(self.url, echo=echo, pool_size=10, isolation_level="AUTOCOMMIT")
        )
        # One writer per process, on one connection kept open (a checkout from the pool cost
        # more than the BEGIN IMMEDIATE and COMMIT of a small transaction); other processes
        # queue on BEGIN IMMEDIATE + busy_timeout.
        self._write_lock = threading.Lock() if self.is_sqlite else None
        self._writer: Connection | None = None
        # Commits of this process that may have changed what cached reads read, and the last
        # look at other processes' commits: (when, PRAGMA data_version), or _NEVER before the
        # first. See _cache_version.
        self._generation = 0
        self._others_checked: tuple[float, int | None] | None = _NEVER
        # SQLite: each thread keeps one connection for single-statement reads (see query()).
        self._readers = threading.local()
        self._reader_connections: list[Any] = []
        self._reader_lock = threading.Lock()
        # SQLite's calls take microseconds: store work runs in place, on the event loop.
        # PostgreSQL's wait on the network: in a worker thread.
        self.runs_inline = self.is_sqlite
        self.group_commit = GroupCommit(self)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def _create_engine(self, echo: bool) -> Engine:
        if not self.is_sqlite:
            return create_engine(self.url, echo=echo, pool_pre_ping=True, pool_size=10)
        database = self.url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            _private_database_file(Path(database))
        engine = create_engine(
            self.url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        # No "begin" listener: any engine event puts every execution on SQLAlchemy's slow
        # path (measured: 50 µs a statement). BEGIN is issued on the driver connection instead.
        event.listen(engine, "connect", _configure_sqlite_connection)
        return engine

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in a read transaction (a consistent snapshot on both backends)."""
        with _translate_store_errors(), self.engine.connect() as conn, conn.begin():
            if self.is_sqlite:
                _driver_begin(conn, "BEGIN")
            yield conn

    @contextmanager
    def write(self, *, keeps_cached_reads: bool = False) -> Iterator[Connection]:
        """A connection in a write transaction; committed on exit, rolled back on error.

        ``keeps_cached_reads``: the write changes no table a ``CachedRead`` reads (replay
        claims), so cached values stay valid past its commit. Any other write drops them.
        """
        if self._write_lock is None:
            with _translate_store_errors(), self.engine.connect() as conn, conn.begin():
                yield conn
            return
        with _translate_store_errors(), self._write_lock:
            conn = self._writer_connection()
            try:
                with conn.begin():
                    _driver_begin(conn, "BEGIN IMMEDIATE")
                    yield conn
            finally:  # committed or not: a cached read never outlives a write it may miss
                if not keeps_cached_reads:
                    self._generation += 1

    def _writer_connection(self) -> Connection:
        # Called with the write lock held: the connection is only ever used by one thread at once.
        conn = self._writer
        if conn is None or conn.closed or conn.invalidated:
            conn = self._writer = self.engine.connect()
        return conn

    async def run(self, work: Callable[[], T]) -> T:
        """Store work from async code: in place on SQLite, in a worker thread on PostgreSQL
        (``runs_inline`` says which; the hottest callers skip this coroutine when in place)."""
        if self.runs_inline:
            return work()
        return await anyio.to_thread.run_sync(work)

    async def submit(self, kind: WriteKind[T, R], item: T) -> R:
        """Make one write of ``kind``, grouped with the writes submitted meanwhile into one
        transaction (store/group_commit.py); its result once that has committed."""
        return await self.group_commit.submit(kind, item)

    def query(self, statement: Prepared, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run one prepared read on its own: one statement is its own consistent snapshot.

        The hot path for lookups on every request, always in autocommit mode: no BEGIN or
        COMMIT. On SQLite on the calling thread's own connection (no pool checkout: about 8 µs
        instead of 40). On PostgreSQL on a connection of a pool kept for these reads, which
        skips the ping before each checkout: one round trip instead of four (ping, BEGIN, the
        statement, COMMIT; 620 µs down to about 190 on this machine's loopback). A connection
        that fails there (PostgreSQL restarted) leaves the pool, and the read is sent once more
        on a new one; only a second failure is StoreUnavailable.
        """
        if self._read_engine is not None:
            for attempt in (1, 2):  # a read is safe to send again, on a new connection
                with _translate_store_errors(), self._read_engine.connect() as conn:
                    try:
                        return statement.rows(conn, params)
                    except StoreUnavailable:
                        conn.invalidate()  # not back into the pool
                        if attempt == 2:
                            raise
        return statement.run(self._reader().connection, self.engine.dialect, params)

    def cached(self, read: CachedRead[T], params: Mapping[str, Any]) -> T:
        """``read``'s value for ``params``: on SQLite kept by the thread until the database
        changes (see ``_Reader``), on PostgreSQL read each time."""
        if not self.is_sqlite:
            return read.build(self.query(read.prepared, params))
        return self._reader().cached(read, self.engine.dialect, params)

    def consistent_reads(self) -> AbstractContextManager[object]:
        """Cached reads inside share one check that the database is unchanged: for the reads of
        one request, made in one step with no write between them. On PostgreSQL nothing."""
        return self._reader() if self.is_sqlite else nullcontext()

    def _reader(self) -> _Reader:
        reader: _Reader | None = getattr(self._readers, "reader", None)
        return reader if reader is not None else self._open_reader()

    def _open_reader(self) -> _Reader:
        with _translate_store_errors():
            pooled = self.engine.raw_connection()
        pooled.detach()  # the thread owns it; it does not take a place in the pool
        reader = _Reader(pooled.dbapi_connection, self._cache_version, self._read_cache_size)
        self._readers.reader = reader
        with self._reader_lock:
            self._reader_connections.append(reader.connection)
        return reader

    def _cache_version(self) -> tuple[int | None, int]:
        """What the cached reads of every thread are valid for: this process's commits that may
        have changed what they read, and commits by other processes (the CLI, other workers),
        looked at no more than once every ``others_check_interval``.

        Other processes' commits show in ``PRAGMA data_version`` on the writer's connection,
        which does not count the writer's own (replay claims, a commit every few requests under
        load). None in their place when the writer is busy in another thread: unknown, so the
        caller reads afresh.
        """
        generation = self._generation
        now = self._monotonic()
        last = self._others_checked
        if last is not None and now - last[0] < self._others_check_interval:
            return last[1], generation
        assert self._write_lock is not None
        if not self._write_lock.acquire(blocking=False):  # unknown; looked at next time
            return None, generation
        try:
            driver: Any = self._writer_connection().connection.driver_connection
            with driver_errors(self.engine.dialect):
                ((others,),) = driver.execute("PRAGMA data_version").fetchall()
        finally:
            self._write_lock.release()
        self._others_checked = (now, others)
        return others, generation

    def dispose(self) -> None:
        if self._write_lock is not None:
            with self._write_lock:
                if self._writer is not None:
                    self._writer.close()
                    self._writer = None
        with self._reader_lock:
            readers, self._reader_connections = self._reader_connections, []
        self._readers = threading.local()
        for reader in readers:
            reader.close()
        if self._read_engine is not None:
            self._read_engine.dispose()
        self.engine.dispose()


class _Reader:
    """A thread's own SQLite connection for single-statement reads, and the values of its
    cached reads, kept while the data they read is unchanged.

    Before a cached read (once per ``consistent_reads`` scope) the cache is checked against
    ``Database._cache_version`` and emptied when it moved: at once for a commit of this process
    that may touch what cached reads read, within ``others_check_interval`` for a commit by
    another process. This process's replay claims leave it alone. A read of the key or of an
    account's applications costs 15 to 30 µs (more just after a commit, when SQLite has
    dropped its own page cache); the look at other processes' commits about 5 µs, which is
    why it is made once a millisecond rather than once a request.
    """

    __slots__ = (
        "_limit",
        "_values",
        "_version",
        "_version_now",
        "checked_in_scope",
        "connection",
        "scopes",
    )

    def __init__(
        self, connection: Any, version: Callable[[], tuple[int | None, int]], limit: int
    ) -> None:
        self.connection = connection
        self._limit = limit
        self._version_now = version
        self._values: dict[tuple[CachedRead[Any], tuple[Any, ...]], Any] = {}
        self._version: tuple[int | None, int] | None = None
        self.scopes = 0  # Database.consistent_reads() under way on this thread
        self.checked_in_scope = False

    def __enter__(self) -> _Reader:  # Database.consistent_reads()
        self.scopes += 1
        return self

    def __exit__(self, *_exc: object) -> None:
        self.scopes -= 1
        if not self.scopes:
            self.checked_in_scope = False

    def cached(self, read: CachedRead[T], dialect: Dialect, params: Mapping[str, Any]) -> T:
        if not self.checked_in_scope:
            version = self._version_now()
            if version[0] is None or version != self._version:
                self._values.clear()
                self._version = version
            # A value read fresh later in the scope is newer than this check, never older: the
            # next check after the scope finds the database changed and drops it.
            self.checked_in_scope = self.scopes > 0
        key = (read, tuple(params.items()))
        try:
            value: T = self._values[key]
        except KeyError:
            value = read.build(read.prepared.run(self.connection, dialect, params))
            if len(self._values) >= self._limit:  # many distinct reads between two commits
                self._values.clear()
            self._values[key] = value
        return value


def _private_database_file(path: Path) -> None:
    """Create the database file readable by its owner only (it holds API secrets), and tighten
    one an older version left readable by others. SQLite gives its -wal and -shm files the
    database file's mode."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with suppress(FileNotFoundError, PermissionError):  # another user's: theirs to mend
            if file.stat().st_mode & 0o077:
                file.chmod(0o600)


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # The driver never opens transactions itself: read() and write() say BEGIN, and
    # BEGIN IMMEDIATE for writes, so a read-then-write cannot lose a race for the lock.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    # SQLite's own checkpoints run in the committing writer, right after a commit, so the WAL
    # restarts from its beginning; checkpoints from a background thread (tried) never caught
    # up with continuous writes and let the WAL grow to hundreds of MB. This bounds the file
    # a burst leaves behind.
    cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    cursor.close()


def _driver_begin(conn: Connection, statement: str) -> None:
    # SQLAlchemy's commit and rollback end it: pysqlite commits whenever a transaction is open.
    with driver_errors(conn.dialect):  # "database is locked" after the busy timeout
        conn.connection.driver_connection.execute(statement)  # type: ignore[union-attr]


def driver_errors(dialect: Dialect) -> AbstractContextManager[None]:
    """What ``_translate_store_errors`` does, for calls made on the driver directly."""
    return _DriverErrors(dialect.loaded_dbapi.OperationalError)


class _DriverErrors:
    # A class, not @contextmanager: it wraps the hot statements, and a generator-based context
    # manager cost a microsecond or two each time (py-spy).
    __slots__ = ("_operational",)

    def __init__(self, operational: type[Exception]) -> None:
        self._operational = operational

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _trace: Any
    ) -> None:
        if kind is not None and issubclass(kind, self._operational):
            raise StoreUnavailable(_first_line(str(error))) from error


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
    return _first_line(str(exc.orig)) if exc.orig is not None else "operational error"


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0][:120] if lines else "operational error"
