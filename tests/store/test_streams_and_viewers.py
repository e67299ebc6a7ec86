"""The store contract for origins, streams and viewers, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select

from cdnpanel.errors import Conflict
from cdnpanel.records import Application, HlsTouch, Origin, StreamKey
from cdnpanel.store.accounts import AccountStore
from cdnpanel.store.applications import ApplicationStore
from cdnpanel.store.database import Database
from cdnpanel.store.migrate import upgrade
from cdnpanel.store.origins import OriginStore
from cdnpanel.store.streams import StreamStore
from cdnpanel.store.tables import metadata, viewer_counts, viewer_sessions
from cdnpanel.store.viewers import ViewerStore


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    upgrade(database)
    yield database
    database.dispose()


@dataclass
class World:
    db: Database
    origin: Origin
    other_origin: Origin
    app: Application
    streams: StreamStore
    viewers: ViewerStore
    origins: OriginStore


@pytest.fixture
def world(db: Database) -> World:
    origins = OriginStore(db)
    origin = origins.create(
        name="o1.example.net",
        kind="nginx-rtmp",
        control_url="http://127.0.0.1:8081",
        hook_secret_hash=b"h" * 32,
        hls_fragment=2,
        now=1,
    )
    other = origins.create(
        name="o2.example.net",
        kind="nginx-rtmp",
        control_url="http://127.0.0.1:8082",
        hook_secret_hash=b"i" * 32,
        hls_fragment=2,
        now=1,
    )
    account = AccountStore(db).create(name="a", cdn_id=158, now=1)
    app = ApplicationStore(db).create(
        account_id=account.id, name="demo-origin", now=1, origin_id=origin.id
    )
    return World(db, origin, other, app, StreamStore(db), ViewerStore(db), origins)


def test_migrations_build_exactly_the_tables_of_tables_py(db: Database) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_origins_are_unique_by_name_and_lease_one_reconciler(world: World) -> None:
    origins = world.origins
    with pytest.raises(Conflict, match="exists already"):
        origins.create(
            name="o1.example.net",
            kind="nginx-rtmp",
            control_url="http://x",
            hook_secret_hash=b"x" * 32,
            hls_fragment=2,
            now=2,
        )
    assert origins.get_by_name("o1.example.net") == world.origin
    assert origins.take_reconcile_lease(origin_id=world.origin.id, now=100, until=105)
    assert not origins.take_reconcile_lease(origin_id=world.origin.id, now=104, until=109)
    assert origins.take_reconcile_lease(origin_id=world.origin.id, now=105, until=110)
    assert origins.record_failure(origin_id=world.origin.id, now=200) == 200
    assert origins.record_failure(origin_id=world.origin.id, now=210) == 200
    origins.record_contact(origin_id=world.origin.id, now=220)
    refreshed = origins.get(world.origin.id)
    assert refreshed is not None
    assert (refreshed.failing_since, refreshed.last_contact_at) == (None, 220)


def test_one_live_stream_per_name_and_origin_with_history(world: World) -> None:
    streams, app = world.streams, world.app
    args = {
        "account_id": app.account_id,
        "application_id": app.id,
        "inst": "live",
        "name": "cam1",
        "publisher_addr": "192.0.2.1",
    }
    first = streams.start(origin_id=world.origin.id, client_id="1", started_at=10, **args)
    with pytest.raises(Conflict, match="already being published"):
        streams.start(origin_id=world.origin.id, client_id="3", started_at=11, **args)
    elsewhere = streams.start(origin_id=world.other_origin.id, client_id="1", started_at=11, **args)
    assert [s.id for s in streams.find_live(application_id=app.id, inst="live", name="cam1")] == [
        first.id,
        elsewhere.id,
    ]
    # publish_done of the refused connection ends nothing; the publisher's own ends its stream.
    done = {"application_id": app.id, "inst": "live", "name": "cam1", "now": 20, "reason": "r"}
    assert streams.end_published(origin_id=world.origin.id, client_id="3", **done) is None
    ended = streams.end_published(origin_id=world.origin.id, client_id="1", **done)
    assert ended is not None and (ended.id, ended.ended_at, ended.end_reason) == (first.id, 20, "r")
    assert not streams.end(stream_id=first.id, now=21, reason="again")
    second = streams.start(origin_id=world.origin.id, client_id="9", started_at=30, **args)
    assert not streams.reopen(stream_id=first.id)  # cam1 is live again: no second live row
    assert streams.end(stream_id=second.id, now=31, reason="closed")
    assert streams.reopen(stream_id=first.id)
    assert streams.get(first.id) == first
    assert [s.id for s in streams.history(app.account_id)] == [second.id, elsewhere.id, first.id]
    assert streams.started_by_client_since(origin_id=world.origin.id, client_id="9", since=30)


def counts_table(world: World) -> list[tuple[object, ...]]:
    with world.db.read() as conn:
        rows = conn.execute(select(viewer_counts).order_by(viewer_counts.c.path)).all()
    return [tuple(r) for r in rows]


def test_rtmp_players_are_counted_until_they_leave(world: World) -> None:
    viewers, origin = world.viewers, world.origin
    cam1 = StreamKey(world.app.id, "live", "cam1")
    for client_id in ("5", "6", "7"):
        assert viewers.open_rtmp(
            origin_id=origin.id, stream=cam1, client_id=client_id, address="::1", now=1
        )
    assert not viewers.open_rtmp(origin_id=origin.id, stream=cam1, client_id="5", address="", now=2)
    assert viewers.count(world.app.id, ["cam1", "cam2"]) == {"cam1": 3, "cam2": 0}
    assert viewers.close_rtmp(origin_id=origin.id, client_ids=["5", "6", "404"]) == 2
    assert viewers.count(world.app.id, None) == {"": 1}
    assert viewers.close_rtmp(origin_id=origin.id, client_ids=["7"]) == 1
    assert counts_table(world) == []  # no zero rows are left behind


def test_hls_sessions_refresh_expire_and_count(world: World) -> None:
    viewers, origin = world.viewers, world.origin
    cam1 = StreamKey(world.app.id, "live", "cam1")
    vod = StreamKey(world.app.id, "play", "sestore/jb/video.mp4")

    def touch(stream: StreamKey, viewer: str, seen: int) -> HlsTouch:
        return HlsTouch(origin.id, stream, viewer, "198.51.100.7", seen, seen + 6)

    assert viewers.touch_hls([touch(cam1, "a:1", 100), touch(cam1, "a:2", 100)]) == 2
    assert viewers.touch_hls([touch(cam1, "a:1", 103), touch(vod, "a:1", 103)]) == 1
    assert viewers.count(world.app.id, ["cam1", vod.path]) == {"cam1": 2, vod.path: 1}
    assert viewers.sweep_expired(now=106) == 1  # a:2 on cam1 was last seen at 100
    assert viewers.count(world.app.id, ["cam1"]) == {"cam1": 1}
    assert viewers.sweep_expired(now=109) == 2
    assert viewers.count(world.app.id, None) == {"": 0}
    assert counts_table(world) == []


def test_sweep_works_in_batches(world: World) -> None:
    cam1 = StreamKey(world.app.id, "live", "cam1")
    touches = [HlsTouch(world.origin.id, cam1, f"a:{i}", "x", 1, 5) for i in range(25)]
    assert world.viewers.touch_hls(touches) == 25
    # One short transaction per call: the server calls again while a call fills its batch.
    assert [world.viewers.sweep_expired(now=5, batch=10) for _ in range(4)] == [10, 10, 5, 0]
    with world.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(viewer_sessions)).scalar_one() == 0


def test_counters_stay_exact_under_concurrent_writers(world: World) -> None:
    viewers, origin = world.viewers, world.origin
    cam1 = StreamKey(world.app.id, "live", "cam1")

    def play(worker: int) -> None:
        for i in range(20):
            viewers.open_rtmp(
                origin_id=origin.id, stream=cam1, client_id=f"{worker}-{i}", address="x", now=1
            )
            viewers.touch_hls([HlsTouch(origin.id, cam1, f"a:{i % 5}", "x", i, i + 100)])

    threads = [threading.Thread(target=play, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert viewers.count(world.app.id, ["cam1"]) == {"cam1": 80 + 5}
