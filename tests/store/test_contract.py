"""The store's contract, written once and run on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import text

from cdnpanel.errors import Conflict
from cdnpanel.records import Nonce, StreamSettings
from cdnpanel.store.accounts import FIRST_CDN_ID, AccountStore
from cdnpanel.store.applications import ApplicationStore
from cdnpanel.store.database import Database, NotInMemory
from cdnpanel.store.keys import KeyStore
from cdnpanel.store.migrate import current_revision, head_revision, upgrade
from cdnpanel.store.nonces import NonceStore
from cdnpanel.store.stream_users import StreamUserStore
from cdnpanel.store.tables import applications
from tests.conftest import FrozenClock


@pytest.fixture
def db_factory(database_url: str) -> Iterator[Callable[..., Database]]:
    """Returns a function opening the migrated test database with the given ``Database``
    options (the interval and clock of the look at other processes' commits)."""
    opened: list[Database] = []

    def open_database(**options: Any) -> Database:
        database = Database(database_url, **options)
        upgrade(database)
        opened.append(database)
        return database

    yield open_database
    for database in opened:
        database.dispose()


@pytest.fixture
def db(db_factory: Callable[..., Database]) -> Database:
    return db_factory()


@pytest.fixture
def other(database_url: str) -> Iterator[Database]:
    """A second handle on the same database: another process, as far as ``db`` can tell."""
    database = Database(database_url)
    yield database
    database.dispose()


def test_fresh_database_gets_the_schema_and_upgrade_is_idempotent(db: Database) -> None:
    assert current_revision(db) == head_revision()
    upgrade(db)
    assert current_revision(db) == head_revision()


def test_accounts_allocate_cdn_ids_and_refuse_taken_ones(db: Database) -> None:
    store = AccountStore(db)
    first = store.create(name="a", cdn_id=None, now=1)
    second = store.create(name="b", cdn_id=None, now=2)
    chosen = store.create(name="c", cdn_id=158, now=3)
    assert (first.cdn_id, second.cdn_id, chosen.cdn_id) == (FIRST_CDN_ID, FIRST_CDN_ID + 1, 158)
    assert store.create(name="d", cdn_id=None, now=4).cdn_id == 159
    with pytest.raises(Conflict, match="158"):
        store.create(name="e", cdn_id=158, now=5)
    assert store.get_by_cdn(158) == chosen
    assert store.get_by_cdn(999) is None
    assert [a.cdn_id for a in store.list()] == [100, 101, 158, 159]


async def test_keys_find_list_revoke_and_record_use(db: Database) -> None:
    account = AccountStore(db).create(name="a", cdn_id=158, now=1)
    keys = KeyStore(db)
    key = keys.create(account_id=account.id, api_key="K1", secret="s1", label="ci", now=10)
    keys.create(account_id=account.id, api_key="K2", secret="s2", label="", now=11)
    credential = keys.find_active_credential("K1")
    assert credential is not None
    assert (credential.key_id, credential.cdn_id, credential.secret) == (key.id, 158, "s1")
    assert "s1" not in repr(credential)
    await keys.record_use(key_id=key.id, now=20)
    assert keys.list_for_account(account.id)[0].last_used_at == 20
    assert keys.revoke(account_id=account.id, api_key="K1", now=30)
    assert not keys.revoke(account_id=account.id, api_key="K1", now=31)
    assert keys.find_active_credential("K1") is None
    assert [(k.api_key, k.active) for k in keys.list_for_account(account.id)] == [
        ("K1", False),
        ("K2", True),
    ]
    with pytest.raises(Conflict):
        keys.create(account_id=account.id, api_key="K2", secret="x", label="", now=40)


def test_a_key_cannot_be_revoked_through_another_account(db: Database) -> None:
    accounts = AccountStore(db)
    mine = accounts.create(name="mine", cdn_id=None, now=1)
    theirs = accounts.create(name="theirs", cdn_id=None, now=1)
    keys = KeyStore(db)
    keys.create(account_id=theirs.id, api_key="THEIRS", secret="s", label="", now=1)
    assert not keys.revoke(account_id=mine.id, api_key="THEIRS", now=2)
    assert keys.find_active_credential("THEIRS") is not None


def test_application_names_are_unique_across_accounts(db: Database) -> None:
    accounts = AccountStore(db)
    a = accounts.create(name="a", cdn_id=None, now=1)
    b = accounts.create(name="b", cdn_id=None, now=1)
    apps = ApplicationStore(db)
    origin = apps.create(account_id=a.id, name="demo-origin", now=1)
    apps.create(account_id=a.id, name="demo-vod", now=1)
    with pytest.raises(Conflict, match="unique across all accounts"):
        apps.create(account_id=b.id, name="demo-origin", now=2)
    assert [x.name for x in apps.list_for_account(a.id)] == ["demo-origin", "demo-vod"]
    assert apps.list_for_account(b.id) == []
    assert apps.find_for_account(b.id, ids=[origin.id], names=["demo-origin"]) == []
    assert apps.find_for_account(a.id, ids=[origin.id]) == [origin]


async def test_nonce_is_claimed_once_and_swept_after_expiry(db: Database) -> None:
    nonces = NonceStore(db)
    sig = bytes(32)
    assert await nonces.claim(Nonce(1, sig, 100))
    assert not await nonces.claim(Nonce(1, sig, 100))
    assert await nonces.claim(Nonce(2, sig, 100))  # another key: another claim
    for i in range(50):
        await nonces.claim(Nonce(3, i.to_bytes(32, "big"), 100 + i))
    assert nonces.sweep(before=100) == 0  # claims signed at or after `before` are kept
    assert nonces.sweep(before=101) == 3
    assert nonces.sweep(before=126) == 25
    assert nonces.sweep(before=126) == 0
    assert not await nonces.claim(Nonce(3, (30).to_bytes(32, "big"), 130))


async def test_claims_in_one_batch_commit_together_and_a_copy_in_the_batch_is_a_replay(
    db: Database,
) -> None:
    nonces = NonceStore(db)
    first, second = Nonce(1, b"a" * 32, 500), Nonce(1, b"b" * 32, 500)
    assert await nonces.claim(first)
    before = db.group_commit.transactions
    batch = [second, first, second, Nonce(2, b"a" * 32, 500)]
    assert await asyncio.gather(*(nonces.claim(n) for n in batch)) == [
        True,
        False,  # claimed by the earlier batch
        False,  # the same request twice in one batch: only its first copy is admitted
        True,
    ]
    assert db.group_commit.transactions == before + 1


def test_concurrent_claims_of_one_nonce_admit_exactly_one(database_url: str, backend: str) -> None:
    # Separate Database objects: separate pools and, on SQLite, no shared in-process lock.
    dbs = [Database(database_url) for _ in range(4)]
    upgrade(dbs[0])
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def claim(db: Database) -> None:
        barrier.wait()
        wins.append(asyncio.run(NonceStore(db).claim(Nonce(7, b"r" * 32, 10**10))))

    threads = [threading.Thread(target=claim, args=(dbs[i % 4],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for db in dbs:
        db.dispose()
    assert sorted(wins) == [False] * 7 + [True]


def test_a_hot_read_on_a_lost_connection_is_sent_again_on_a_new_one(
    db: Database, other: Database, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite has no server to lose")
    account = AccountStore(db).create(name="a", cdn_id=None, now=1)
    keys = KeyStore(db)
    keys.create(account_id=account.id, api_key="K" * 32, secret="s", label="", now=1)
    assert keys.find_active_credential("K" * 32) is not None  # a pooled read connection
    with other.write() as conn:  # what a PostgreSQL restart does to it
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND state = 'idle'"
            )
        )
    # The pooled connection is dead: the read goes again on a new one, unseen by the caller.
    assert keys.find_active_credential("K" * 32) is not None


def test_prepared_reads_see_what_another_connection_committed(
    db_factory: Callable[..., Database], other: Database
) -> None:
    # The hot-path reads (Database.query) run outside read(): on SQLite on a connection the
    # thread keeps. A key revoked or an application created elsewhere must show at once (once
    # the cached reads look at other processes' commits: here every time).
    db = db_factory(others_check_interval=0.0)
    account = AccountStore(db).create(name="a", cdn_id=None, now=1)
    keys, apps = KeyStore(db), ApplicationStore(db)
    keys.create(account_id=account.id, api_key="K" * 32, secret="s", label="", now=1)
    assert keys.find_active_credential("K" * 32) is not None
    assert apps.list_for_account(account.id) == []
    KeyStore(other).revoke(account_id=account.id, api_key="K" * 32, now=2)
    ApplicationStore(other).create(account_id=account.id, name="late", now=2)
    assert keys.find_active_credential("K" * 32) is None
    assert [a.name for a in apps.list_for_account(account.id)] == ["late"]


def test_prepared_reads_work_from_several_threads(db: Database) -> None:
    account = AccountStore(db).create(name="a", cdn_id=None, now=1)
    ApplicationStore(db).create(account_id=account.id, name="one", now=1)
    seen: list[list[str]] = []

    def read() -> None:
        seen.append([a.name for a in ApplicationStore(db).list_for_account(account.id)])

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [["one"]] * 4


def test_reads_after_a_consistent_scope_see_what_another_connection_committed(
    db_factory: Callable[..., Database], other: Database
) -> None:
    db = db_factory(others_check_interval=0.0)  # look every time
    account = AccountStore(db).create(name="a", cdn_id=None, now=1)
    keys, apps = KeyStore(db), ApplicationStore(db)
    keys.create(account_id=account.id, api_key="K" * 32, secret="s", label="", now=1)
    with db.consistent_reads():
        assert keys.find_active_credential("K" * 32) is not None
        ApplicationStore(other).create(account_id=account.id, name="late", now=2)
        # Read first here, after the other commit: fresh, whatever the scope's check saw.
        assert [a.name for a in apps.list_for_account(account.id)] == ["late"]
        KeyStore(other).revoke(account_id=account.id, api_key="K" * 32, now=2)
    assert keys.find_active_credential("K" * 32) is None
    ApplicationStore(other).create(account_id=account.id, name="later", now=3)
    assert [a.name for a in apps.list_for_account(account.id)] == ["late", "later"]


def test_cached_reads_see_other_processes_commits_within_the_check_interval(
    db_factory: Callable[..., Database], other: Database
) -> None:
    clock = FrozenClock(0.0)  # a monotonic clock as a machine booted a moment ago has it
    db = db_factory(others_check_interval=3600.0, monotonic=clock)
    account = AccountStore(db).create(name="a", cdn_id=None, now=1)
    apps = ApplicationStore(db)
    assert apps.list_for_account(account.id) == []
    ApplicationStore(other).create(account_id=account.id, name="theirs", now=2)
    clock.advance(3599.0)
    assert apps.list_for_account(account.id) == []  # not looked at again yet
    clock.advance(1.0)
    assert [a.name for a in apps.list_for_account(account.id)] == ["theirs"]


def test_the_first_cached_read_looks_at_other_processes_commits(
    db_factory: Callable[..., Database], other: Database
) -> None:
    # "Never looked" is its own state: not a look at time zero, which a monotonic clock that
    # started under an hour ago (a freshly booted machine) would take for a recent one.
    clock = FrozenClock(5.0)
    db = db_factory(others_check_interval=3600.0, monotonic=clock)
    account = AccountStore(db).create(name="a", cdn_id=None, now=1)
    ApplicationStore(other).create(account_id=account.id, name="theirs", now=2)
    assert [a.name for a in ApplicationStore(db).list_for_account(account.id)] == ["theirs"]


def test_cached_reads_are_read_afresh_while_the_writer_is_busy_elsewhere(
    db_factory: Callable[..., Database], other: Database
) -> None:
    db = db_factory(others_check_interval=0.0)
    if not db.is_sqlite:
        pytest.skip("PostgreSQL's look at other commits reads a row, not the writer's connection")
    writing, done = threading.Event(), threading.Event()

    def hold_the_writer() -> None:
        with db.write():
            writing.set()
            done.wait(10)

    holder = threading.Thread(target=hold_the_writer)
    try:
        account = AccountStore(db).create(name="a", cdn_id=None, now=1)
        apps = ApplicationStore(db)
        assert apps.list_for_account(account.id) == []
        ApplicationStore(other).create(account_id=account.id, name="theirs", now=2)
        holder.start()
        assert writing.wait(10)
        # The look at other processes' commits needs the writer's connection: without it,
        # nothing is known, and the read goes to the database.
        assert [a.name for a in apps.list_for_account(account.id)] == ["theirs"]
        assert holder.is_alive()  # read without waiting for the writer
    finally:
        done.set()
        if holder.is_alive():
            holder.join()


async def test_cached_reads_see_this_process_commits_at_once_but_for_replay_claims(
    db_factory: Callable[..., Database],
) -> None:
    db = db_factory(others_check_interval=3600.0, monotonic=FrozenClock(0.0))
    account = AccountStore(db).create(name="a", cdn_id=None, now=1)
    apps, keys = ApplicationStore(db), KeyStore(db)
    keys.create(account_id=account.id, api_key="K" * 32, secret="s", label="", now=1)
    assert keys.find_active_credential("K" * 32) is not None
    assert apps.list_for_account(account.id) == []
    apps.create(account_id=account.id, name="mine", now=2)
    assert [a.name for a in apps.list_for_account(account.id)] == ["mine"]
    keys.revoke(account_id=account.id, api_key="K" * 32, now=3)
    assert keys.find_active_credential("K" * 32) is None
    # A write declared to touch no cached read leaves the values in place.
    assert [a.name for a in apps.list_for_account(account.id)] == ["mine"]
    with db.write(keeps_cached_reads=True) as conn:
        conn.execute(applications.insert().values(account_id=account.id, name="x", created_at=4))
    assert [a.name for a in apps.list_for_account(account.id)] == ["mine"]
    await NonceStore(db).claim(Nonce(1, bytes(32), 5))
    assert [a.name for a in apps.list_for_account(account.id)] == ["mine"]
    with db.write() as conn:  # any other write drops them
        pass
    assert [a.name for a in apps.list_for_account(account.id)] == ["mine", "x"]


def test_every_change_to_a_cached_table_moves_the_version_other_nodes_look_at(
    db: Database,
) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite's PRAGMA data_version moves with every commit of another process")

    def version() -> int:
        with db.read() as conn:
            return int(conn.execute(text("SELECT version FROM cache_version")).scalar_one())

    seen = [version()]
    account = AccountStore(db).create(name="a", cdn_id=None, now=1)
    seen.append(version())
    keys, apps = KeyStore(db), ApplicationStore(db)
    keys.create(account_id=account.id, api_key="K" * 32, secret="s", label="", now=1)
    seen.append(version())
    app = apps.create(account_id=account.id, name="one", now=1)
    seen.append(version())
    with db.write() as conn:
        conn.execute(text("UPDATE applications SET name = 'two' WHERE id = :id"), {"id": app.id})
    seen.append(version())
    stream_users = StreamUserStore(db)  # publish checks read these from memory (0010)
    user = stream_users.add(
        account_id=account.id,
        application_id=app.id,
        stream="cam1",
        user="enc",
        pass_hash=bytes(32),
        settings=StreamSettings(),
        now=1,
    )
    seen.append(version())
    stream_users.lock(app.id, "cam1", now=2)
    seen.append(version())
    stream_users.unlock(app.id, "cam1")
    seen.append(version())
    stream_users.remove(account.id, user.id)
    seen.append(version())
    keys.revoke(account_id=account.id, api_key="K" * 32, now=2)
    seen.append(version())
    with db.write() as conn:
        conn.execute(text("DELETE FROM applications"))
    seen.append(version())
    with db.write() as conn:  # a change that fails moves nothing
        conn.execute(text("UPDATE accounts SET name = 'b'"))
        conn.rollback()
    seen.append(version())
    moves = seen[:-1]
    assert all(a < b for a, b in itertools.pairwise(moves)), seen
    assert seen[-1] == seen[-2], seen


def test_cached_reads_from_memory_need_no_database(
    db_factory: Callable[..., Database], other: Database
) -> None:
    clock = FrozenClock(0.0)
    db = db_factory(others_check_interval=10.0, monotonic=clock)
    account = AccountStore(db).create(name="a", cdn_id=None, now=1)
    keys, apps = KeyStore(db), ApplicationStore(db)
    keys.create(account_id=account.id, api_key="K" * 32, secret="s", label="", now=1)

    def credential() -> object:
        return keys.find_active_credential("K" * 32)

    if db.is_sqlite:  # SQLite's reads take microseconds: they are always made in place
        return
    with pytest.raises(NotInMemory):  # not read yet
        db.from_memory(credential)
    assert credential() is not None
    assert db.from_memory(credential) is not None  # now kept
    with pytest.raises(NotInMemory):  # any other read needs the database
        db.from_memory(lambda: apps.get_by_name("one"))
    KeyStore(other).revoke(account_id=account.id, api_key="K" * 32, now=2)
    clock.advance(9.0)
    assert db.from_memory(credential) is not None  # within the interval: not looked at yet
    clock.advance(1.0)
    with pytest.raises(NotInMemory):  # the look is due: it needs the database
        db.from_memory(credential)
    assert asyncio.run(db.run_reads(credential)) is None  # looked at in a thread
    assert db.from_memory(credential) is None


def test_cached_reads_stay_right_past_the_cache_bound(
    db_factory: Callable[..., Database],
) -> None:
    db = db_factory(read_cache_size=2)
    account = AccountStore(db).create(name="a", cdn_id=None, now=1)
    keys = KeyStore(db)
    for i in range(5):
        keys.create(account_id=account.id, api_key=f"K{i}", secret=f"s{i}", label="", now=1)
    for _ in range(2):
        secrets = [keys.find_active_credential(f"K{i}") for i in range(5)]
        assert [c.secret if c else None for c in secrets] == [f"s{i}" for i in range(5)]
    assert keys.find_active_credential("K9") is None
