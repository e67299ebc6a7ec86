"""The database handle: one engine, read and write transactions, SQLite discipline.

SQLite (embedded, the default) runs in WAL mode with ``synchronous=NORMAL``, a busy timeout, and
every write transaction opened with ``BEGIN IMMEDIATE`` by one writer per process, so request
handlers, the CLI and workers in other processes share one file without "database is locked"
surprises. PostgreSQL (shared, for several API nodes) gets the same interface.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, suppress
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from sqlalchemy import Connection, Engine, create_engine, event, select
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from cdnpanel.errors import StoreUnavailable
from cdnpanel.store.group_commit import GroupCommit, WriteKind

if TYPE_CHECKING:
    from cdnpanel.store.prepared import CachedRead, Prepared

__all__ = ["Database", "NotInMemory", "StoreRun"]

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


class NotInMemory(BaseException):
    """Raised inside ``Database.from_memory`` at the work's first need of the database.

    A BaseException, so that no ``except Exception`` of the work's own can take it for a
    failure of the work and answer with it: it always reaches ``from_memory``'s caller."""


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
        # Commits of this process that may have changed what cached reads read (a fresh
        # number per commit, never one a reader may have seen: writes on PostgreSQL run in
        # several threads at once), and the last look at other processes' commits: (when,
        # PRAGMA data_version or the cache_version row), or _NEVER before the first. See
        # _cache_version.
        self._generations = itertools.count(1)
        self._generation = 0
        self._others_checked: tuple[float, int | None] | None = _NEVER
        self._look_at_others = self._look_at_data_version if self.is_sqlite else self._look_at_row
        # PostgreSQL: the thread that looks at the version row ahead of time, and whether it
        # is looking now (see _cache_version).
        self._looker: ThreadPoolExecutor | None = None
        self._looker_lock = threading.Lock()
        self._looking = False
        # SQLite: each thread keeps one connection for single-statement reads (see query()),
        # and its own cached values. PostgreSQL: the threads share one set of values.
        self._readers = threading.local()
        self._shared_values: _Values | None = None if self.is_sqlite else _Values(read_cache_size)
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
        self._needs_the_database()
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
        self._needs_the_database()
        if self._write_lock is None:
            try:
                with _translate_store_errors(), self.engine.connect() as conn, conn.begin():
                    yield conn
            finally:  # as on SQLite; other processes see it in the version row
                if not keeps_cached_reads:
                    self._generation = next(self._generations)
            return
        with _translate_store_errors(), self._write_lock:
            conn = self._writer_connection()
            try:
                with conn.begin():
                    _driver_begin(conn, "BEGIN IMMEDIATE")
                    yield conn
            finally:  # committed or not: a cached read never outlives a write it may miss
                if not keeps_cached_reads:
                    self._generation = next(self._generations)

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

    def from_memory(self, work: Callable[[], T]) -> T:
        """``work``'s result, run in place, on condition that it needs only cached values that
        are known to be valid: at its first need of the database (a value not cached, a look
        at other processes' commits that is due, any other read or write) it stops with
        ``NotInMemory``, and the caller runs it again where store work runs (``run_reads``)."""
        local = self._readers
        local.memory_only = True
        try:
            return work()
        finally:
            local.memory_only = False

    async def run_reads(self, work: Callable[[], T]) -> T:
        """Reads from async code: in place on SQLite; on PostgreSQL in place too while they
        find everything in memory (``from_memory``), else in a worker thread."""
        if self.runs_inline:
            return work()
        try:
            return self.from_memory(work)
        except NotInMemory:
            return await anyio.to_thread.run_sync(work)

    def _needs_the_database(self) -> None:
        if getattr(self._readers, "memory_only", False):
            raise NotInMemory

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
            self._needs_the_database()
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
        """``read``'s value for ``params``, kept until the data it read may have changed (see
        ``_Reader``): by each thread on SQLite, by the process on PostgreSQL."""
        return self._reader().cached(read, params)

    def consistent_reads(self) -> AbstractContextManager[object]:
        """Cached reads inside share one check that the database is unchanged: for the reads of
        one request, made in one step with no write between them."""
        return self._reader()

    def _reader(self) -> _Reader:
        reader: _Reader | None = getattr(self._readers, "reader", None)
        return reader if reader is not None else self._open_reader()

    def _open_reader(self) -> _Reader:
        if self._shared_values is not None:  # PostgreSQL: reads go through query()
            reader = _Reader(self._shared_values, self._cache_version, self._fetch)
            self._readers.reader = reader
            return reader
        self._needs_the_database()
        with _translate_store_errors():
            pooled = self.engine.raw_connection()
        pooled.detach()  # the thread owns it; it does not take a place in the pool
        connection, dialect = pooled.dbapi_connection, self.engine.dialect

        def fetch(read: CachedRead[Any], params: Mapping[str, Any]) -> Any:
            return read.build(read.prepared.run(connection, dialect, params))

        reader = _Reader(_Values(self._read_cache_size), self._cache_version, fetch, connection)
        self._readers.reader = reader
        with self._reader_lock:
            self._reader_connections.append(connection)
        return reader

    def _fetch(self, read: CachedRead[T], params: Mapping[str, Any]) -> T:
        return read.build(self.query(read.prepared, params))

    def _cache_version(self) -> tuple[int | None, int]:
        """What cached reads are valid for: this process's commits that may have changed what
        they read, and commits by other processes (the CLI, other workers, other nodes), looked
        at no more than once every ``others_check_interval`` (never from memory: a look that is
        due stops ``from_memory``).

        On SQLite other processes' commits show in ``PRAGMA data_version`` on the writer's
        connection, which does not count the writer's own (replay claims, a commit every few
        requests under load); None in their place when the writer is busy in another thread:
        unknown, so the caller reads afresh. On PostgreSQL they show in the ``cache_version``
        row (migration 0009: triggers move it in the changing transaction), looked at again in
        the background once half the interval has passed, so that under load requests in place
        never find the look due and never wait for it.
        """
        generation = self._generation
        now = self._monotonic()
        last = self._others_checked
        if last is not None:
            age = now - last[0]
            if age < self._others_check_interval:
                if (
                    self._shared_values is not None  # PostgreSQL
                    and age >= self._others_check_interval / 2
                    and not self._looking
                ):
                    self._look_in_background()
                return last[1], generation
        self._needs_the_database()
        return self._look_at_others(), generation

    def _look_at_data_version(self) -> int | None:
        assert self._write_lock is not None
        if not self._write_lock.acquire(blocking=False):  # unknown; looked at next time
            return None
        when = self._monotonic()
        try:
            driver: Any = self._writer_connection().connection.driver_connection
            with driver_errors(self.engine.dialect):
                ((others,),) = driver.execute("PRAGMA data_version").fetchall()
        finally:
            self._write_lock.release()
        self._others_checked = (when, others)
        return int(others)

    def _look_at_row(self) -> int | None:
        when = self._monotonic()  # before the read: the look is as old as this, or younger
        ((version,),) = self.query(_cache_version_read(), {})
        self._others_checked = (when, version)
        return int(version)

    def _look_in_background(self) -> None:
        self._looking = True
        with self._looker_lock:
            if self._looker is None:
                self._looker = ThreadPoolExecutor(1, thread_name_prefix="cdnpanel-version")
            self._looker.submit(self._look_once)

    def _look_once(self) -> None:
        try:
            self._look_at_row()
        except StoreUnavailable:  # the next request that finds the look due makes it itself
            pass
        finally:
            self._looking = False

    def dispose(self) -> None:
        with self._looker_lock:
            looker, self._looker = self._looker, None
        if looker is not None:
            looker.shutdown(wait=True)
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


class _Values:
    """Values of cached reads and the version of the data they were read at; shared by the
    threads of a process on PostgreSQL, so a value is kept only when the version its reader
    checked is still the current one (a thread that looked later may have seen a change)."""

    __slots__ = ("_lock", "limit", "values", "version")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.values: dict[tuple[CachedRead[Any], tuple[Any, ...]], Any] = {}
        self.version: tuple[int | None, int] | None = None
        self._lock = threading.Lock()

    def valid_for(self, version: tuple[int | None, int]) -> None:
        """Drop every value unless the data is known unchanged since they were read."""
        if version[0] is None or version != self.version:
            with self._lock:
                self.values = {}
                self.version = version

    def keep(self, key: tuple[CachedRead[Any], tuple[Any, ...]], value: Any, seen: Any) -> None:
        with self._lock:
            if seen != self.version:
                return  # read before a change another thread has seen since
            if len(self.values) >= self.limit:  # many distinct reads between two changes
                self.values = {}
            self.values[key] = value


class _Reader:
    """A thread's way to cached reads (and, on SQLite, its own connection for single-statement
    reads): values kept while the data they read is unchanged.

    Before a cached read (once per ``consistent_reads`` scope) the values are checked against
    the database's version (``Database._cache_version``) and emptied when it moved: at once
    for a commit of this process that may touch what cached reads read, within
    ``others_check_interval`` for a commit by another process (or node). This process's replay
    claims leave them alone. On SQLite a read of the key or of an account's applications costs
    15 to 30 µs (more just after a commit, when SQLite has dropped its own page cache) and the
    look at other processes' commits about 5 µs, which is why it is made once a millisecond
    rather than once a request; on PostgreSQL each is a round trip (about 150 µs here).
    """

    __slots__ = (
        "_fetch",
        "_seen",
        "_values",
        "_version_now",
        "checked_in_scope",
        "connection",
        "scopes",
    )

    def __init__(
        self,
        values: _Values,
        version: Callable[[], tuple[int | None, int]],
        fetch: Callable[[CachedRead[Any], Mapping[str, Any]], Any],
        connection: Any = None,
    ) -> None:
        self.connection = connection  # SQLite only
        self._values = values
        self._version_now = version
        self._fetch = fetch
        self._seen: tuple[int | None, int] | None = None
        self.scopes = 0  # Database.consistent_reads() under way on this thread
        self.checked_in_scope = False

    def __enter__(self) -> _Reader:  # Database.consistent_reads()
        self.scopes += 1
        return self

    def __exit__(self, *_exc: object) -> None:
        self.scopes -= 1
        if not self.scopes:
            self.checked_in_scope = False

    def cached(self, read: CachedRead[T], params: Mapping[str, Any]) -> T:
        values = self._values
        if not self.checked_in_scope:
            version = self._version_now()
            values.valid_for(version)
            self._seen = version
            # A value read fresh later in the scope is newer than this check, never older: the
            # next check after the scope finds the database changed and drops it.
            self.checked_in_scope = self.scopes > 0
        key = (read, tuple(params.items()))
        try:
            value: T = values.values[key]
        except KeyError:
            value = self._fetch(read, params)
            values.keep(key, value, self._seen)
        return value


@cache
def _cache_version_read() -> Prepared:
    from cdnpanel.store.prepared import Prepared  # here: that module imports this one
    from cdnpanel.store.tables import cache_version

    return Prepared(select(cache_version.c.version))  # its one row


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
