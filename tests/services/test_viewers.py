"""Viewers: RTMP players from callbacks, HLS sessions from auth_request checks, counting."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from cdnpanel.errors import PermissionDenied, StoreUnavailable
from cdnpanel.records import Application, HlsTouch, StreamKey
from cdnpanel.services.usher import Usher
from cdnpanel.services.viewers import PlaybackUri, ViewerService, parse_playback_uri
from cdnpanel.store.streams import StreamStore
from cdnpanel.store.viewers import ViewerStore
from tests.conftest import OriginWorld


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("/demo-origin/live/cam1/index.m3u8", ("demo-origin", "live", "cam1", {})),
        (
            "/demo-origin/live/cam1/12.ts?key=k.1&pass=p%20q",
            ("demo-origin", "live", "cam1", {"key": "k.1", "pass": "p q"}),
        ),
        (
            "/jb-origin/play/sestore/jb/video.mp4/playlist.m3u8",
            ("jb-origin", "play", "sestore/jb/video.mp4", {}),
        ),
        ("/demo-origin/live/cam1.m3u8", ("demo-origin", "live", "cam1", {})),
        ("/demo-origin/live/caf%C3%A9/index.m3u8", ("demo-origin", "live", "café", {})),
    ],
)
def test_playback_uris(uri: str, expected: tuple[object, ...]) -> None:
    assert parse_playback_uri(uri) == PlaybackUri(*expected)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "demo-origin/live/cam1/index.m3u8",
        "/demo-origin/live",
        "/demo-origin//cam1/index.m3u8",
        "/demo-origin/live/../../etc/passwd",
        "/demo-origin/live/a%2Fb/index.m3u8",
        "/demo-origin/live/%00/index.m3u8",
        "/demo-origin/live/" + "x" * 5000,
    ],
)
def test_not_playback_uris(uri: str) -> None:
    assert parse_playback_uri(uri) is None


def demo_app(world: OriginWorld) -> Application:
    (app,) = world.services.applications.list_for_account(world.tenant.account.id)
    return app


async def test_rtmp_players_count_until_play_done(origin_world: OriginWorld) -> None:
    world, viewers = origin_world, origin_world.services.viewers
    await viewers.play_started(world.origin, world.event("play", "cam1", "5"))
    await viewers.play_started(world.origin, world.event("play", "cam1", "6"))
    assert viewers.count(demo_app(world), ["cam1"]) == {"cam1": 2}
    viewers.play_ended(world.origin, world.event("play_done", "cam1", "5"))
    assert viewers.count(demo_app(world), None) == {"": 1}
    with pytest.raises(PermissionDenied):
        await viewers.play_started(world.origin, world.event("play", "x", "7", app="stray"))


class RecordingStore(ViewerStore):
    def __init__(self, store: ViewerStore, *, fail: bool = False) -> None:
        super().__init__(store._db)
        self.batches: list[list[HlsTouch]] = []
        self.fail = fail

    def touch_hls(self, touches: Sequence[HlsTouch]) -> int:
        if self.fail:
            raise StoreUnavailable("database is locked")
        self.batches.append(list(touches))
        return super().touch_hls(touches)


async def test_hls_checks_write_once_per_session_per_third_of_the_window(
    origin_world: OriginWorld,
) -> None:
    world = origin_world
    store = RecordingStore(world.services.viewers._viewers)
    applications = world.services.applications._applications
    await world.publish_live("cam1", segment_seconds=2)
    viewers = ViewerService(
        store,
        applications,
        Usher(world.services.tickets, clock=world.clock),
        StreamStore(world.services.db),
        run=world.services.db.run,
        clock=world.clock,
    )
    window = viewers.hls_window(world.origin, StreamKey(demo_app(world).id, "live", "cam1"))
    assert window == 6  # 3 segments of 2 s
    for second in range(12):  # two players, a playlist and a segment each per second
        for player in ("p1", "p2"):
            for uri in ("/demo-origin/live/cam1/index.m3u8", f"/demo-origin/live/cam1/{second}.ts"):
                decision = await viewers.check_hls(
                    world.origin, uri=uri, address="x", user_agent=player
                )
                assert decision.allowed
        viewers.flush()  # the server's loop does this every half second
        world.clock.advance(1)
    writes = [t for batch in store.batches for t in batch]
    assert len(writes) == 2 * 12 // (window // 3)  # 48 requests, one write each 2 s per player
    assert viewers.count(demo_app(world), ["cam1"]) == {"cam1": 2}
    world.clock.advance(window)
    viewers.sweep()
    assert viewers.count(demo_app(world), ["cam1"]) == {"cam1": 0}


async def test_a_failed_write_is_retried_by_the_next_request(origin_world: OriginWorld) -> None:
    world = origin_world
    store = RecordingStore(world.services.viewers._viewers, fail=True)
    viewers = ViewerService(
        store,
        world.services.applications._applications,
        Usher(world.services.tickets, clock=world.clock),
        StreamStore(world.services.db),
        run=world.services.db.run,
        clock=world.clock,
    )
    uri = "/demo-origin/live/cam1/index.m3u8"
    await viewers.check_hls(world.origin, uri=uri, address="x", user_agent="ua")
    with pytest.raises(StoreUnavailable):
        viewers.flush()
    store.fail = False
    await viewers.check_hls(world.origin, uri=uri, address="x", user_agent="ua")
    viewers.flush()
    assert viewers.count(demo_app(world), ["cam1"]) == {"cam1": 1}


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("/stray-app/live/cam1/index.m3u8", "no application 'stray-app'"),
        ("/other-origin/live/cam1/index.m3u8", None),  # another account's app: counted for it
        ("/index.html", "not a playback URL"),
    ],
)
async def test_hls_checks_refuse_what_is_not_playback(
    origin_world: OriginWorld, uri: str, reason: str | None
) -> None:
    decision = await origin_world.services.viewers.check_hls(
        origin_world.origin, uri=uri, address="x", user_agent="ua"
    )
    assert decision.allowed is (reason is None)
    if reason:
        assert reason in decision.reason


async def test_hls_check_refuses_applications_of_other_origins(origin_world: OriginWorld) -> None:
    world = origin_world
    world.services.origins.add("origin2.example.net", control_url="http://127.0.0.1:8082")
    world.services.origins.assign(demo_app(world), "origin2.example.net")
    world.clock.advance(10)  # past the application cache
    decision = await world.services.viewers.check_hls(
        world.origin, uri="/demo-origin/live/cam1/index.m3u8", address="x", user_agent="ua"
    )
    assert not decision.allowed


async def test_flushing_goes_a_bounded_chunk_at_a_time(origin_world: OriginWorld) -> None:
    world = origin_world
    store = RecordingStore(world.services.viewers._viewers)
    viewers = ViewerService(
        store,
        world.services.applications._applications,
        Usher(world.services.tickets, clock=world.clock),
        StreamStore(world.services.db),
        run=world.services.db.run,
        clock=world.clock,
    )
    for n in range(300):
        uri = f"/demo-origin/live/cam{n % 7}/index.m3u8"
        await viewers.check_hls(world.origin, uri=uri, address="x", user_agent=f"player-{n}")
    steps = [viewers.flush_step() for _ in range(3)]
    assert steps == [True, True, False]  # 128 + 128 + 44: each step one short transaction
    assert [len(batch) for batch in store.batches] == [128, 128, 44]
    assert viewers.flush_step() is False
    assert viewers.count(demo_app(world), None) == {"": 300}


async def test_replay_claims_are_swept_in_bounded_steps(origin_world: OriginWorld) -> None:
    from cdnpanel.store.nonces import SWEEP_ROWS, Nonce, NonceStore

    world = origin_world
    services = world.services
    key_id = services.accounts.list_keys(world.tenant.cdn)[0].id
    old = int(world.clock.now) - services.authenticator.window - 100
    claims = [Nonce(key_id, n.to_bytes(32, "big"), old + n % 50) for n in range(SWEEP_ROWS + 10)]
    nonces = NonceStore(services.db)
    await asyncio.gather(*(nonces.claim(claim) for claim in claims))
    assert services.authenticator.sweep_expired_claims() is True  # a full batch: more to do
    assert services.authenticator.sweep_expired_claims() is False  # the last 10
    assert await nonces.claim(claims[0])  # gone


@pytest.mark.parametrize("segment", [2, 6, 10, 20])
async def test_an_hls_session_lasts_three_of_its_streams_segments(
    origin_world: OriginWorld, segment: int
) -> None:
    """A player reloads its playlist one target duration apart (RFC 8216 6.3.4): with 10 s
    segments (x264's default keyframe interval) a reload is 10 s after the last."""
    world = origin_world
    await world.publish_live("cam1", segment_seconds=segment)
    viewers = world.services.viewers
    stream = StreamKey(demo_app(world).id, "live", "cam1")
    assert viewers.hls_window(world.origin, stream) == 3 * segment
    opened = 0
    for n in range(8):  # a playlist reload and a new segment every segment duration
        for uri in ("/demo-origin/live/cam1/index.m3u8", f"/demo-origin/live/cam1/{n}.ts"):
            assert (
                await viewers.check_hls(world.origin, uri=uri, address="x", user_agent="ua")
            ).allowed
        opened += viewers.flush()
        viewers.sweep()
        assert viewers.count(demo_app(world), ["cam1"]) == {"cam1": 1}
        world.clock.advance(segment)
    assert opened == 1  # one session throughout
    world.clock.advance(3 * segment)
    viewers.sweep()
    assert viewers.count(demo_app(world), ["cam1"]) == {"cam1": 0}


async def test_until_its_playlist_is_read_a_stream_gets_a_generous_window(
    origin_world: OriginWorld,
) -> None:
    world = origin_world
    await world.publish_live("cam1", segment_seconds=None)  # no playlist yet: no segment cut
    stream = StreamKey(demo_app(world).id, "live", "cam1")
    viewers = world.services.viewers
    assert viewers.hls_window(world.origin, stream) == 30  # 3 x 10 s, whatever the encoder
    world.adapter.segment_seconds[("demo-origin", "live", "cam1")] = 4
    world.clock.advance(10)  # the next round, past the caches
    world.services.reconciler.run_once()
    assert viewers.hls_window(world.origin, stream) == 12
    # A path that is no live stream (VOD) keeps the generous window.
    assert viewers.hls_window(world.origin, StreamKey(stream.application_id, "live", "vod")) == 30


async def test_sessions_opened_before_the_segment_duration_was_read_get_its_window(
    origin_world: OriginWorld,
) -> None:
    world = origin_world
    await world.publish_live("cam1", segment_seconds=None)
    viewers = world.services.viewers
    uri = "/demo-origin/live/cam1/index.m3u8"
    for player in ("leaves", "stays"):
        await viewers.check_hls(world.origin, uri=uri, address="x", user_agent=player)
    viewers.flush()  # written with the window of an unknown stream: 30 s
    world.adapter.segment_seconds[("demo-origin", "live", "cam1")] = 1
    world.clock.advance(10)  # the next reconciler round
    await viewers.check_hls(world.origin, uri=uri, address="x", user_agent="stays")
    world.services.reconciler.run_once()  # learns 1 s segments: sessions get 3 s (+ 2 s)
    for _ in range(8):
        world.clock.advance(1)
        await viewers.check_hls(world.origin, uri=uri, address="x", user_agent="stays")
        viewers.flush()
        viewers.sweep()
    assert viewers.count(demo_app(world), ["cam1"]) == {"cam1": 1}  # not 30 s for "leaves"
