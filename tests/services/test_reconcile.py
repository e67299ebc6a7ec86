"""The reconciler brings the registry in line with what the origin says is live."""

from __future__ import annotations

from cdnpanel.services.streams import EndReason
from tests.conftest import OriginWorld


def reconcile(world: OriginWorld) -> None:
    (report,) = world.services.reconciler.run_once()
    assert report.origin == world.origin.name


def live_names(world: OriginWorld) -> list[tuple[int, str]]:
    return [
        (s.stream.id, s.stream.name) for s in world.services.streams.active(world.tenant.account.id)
    ]


async def test_a_lost_publish_done_leaves_no_phantom(origin_world: OriginWorld) -> None:
    world = origin_world
    stream = await world.services.streams.publish_started(
        world.origin, world.event("publish", "c", "1")
    )
    world.clock.advance(10)  # older than the grace period: not racing any callback
    reconcile(world)  # the fake origin has nothing live: publish_done was lost
    history = world.services.streams.history(world.tenant.account.id)
    assert (history[0].id, history[0].end_reason) == (stream.id, EndReason.NOT_ON_ORIGIN)


async def test_a_fresh_stream_is_not_ended_by_a_snapshot_taken_before_it(
    origin_world: OriginWorld,
) -> None:
    world = origin_world
    await world.services.streams.publish_started(world.origin, world.event("publish", "c", "1"))
    reconcile(world)  # registered a moment ago; the snapshot may predate it
    assert live_names(world) == [(1, "c")]


def test_the_lease_lets_one_caller_reconcile_per_interval(origin_world: OriginWorld) -> None:
    reconciler = origin_world.services.reconciler
    assert len(reconciler.run_once()) == 1
    assert reconciler.run_once() == []  # another worker, the same moment: lease taken
    origin_world.clock.advance(reconciler.interval)
    assert len(reconciler.run_once()) == 1


def test_publishers_the_registry_missed_are_adopted_and_wrong_ends_reopened(
    origin_world: OriginWorld,
) -> None:
    world = origin_world
    world.adapter.publish("demo-origin", "live", "cam1", "7", seconds=30)
    world.adapter.publish("unknown-app", "live", "x", "8")  # nobody's application: ignored
    reconcile(world)
    ((adopted_id, name),) = live_names(world)
    assert name == "cam1"
    (adopted,) = world.services.streams.active(world.tenant.account.id)
    assert adopted.stream.started_at == int(world.clock.now) - 30
    # A close that failed half-way recorded an end; the origin still has the publisher.
    world.services.streams._streams.end(stream_id=adopted_id, now=int(world.clock.now), reason="x")
    world.clock.advance(10)
    reconcile(world)
    assert live_names(world) == [(adopted_id, "cam1")]  # the same stream, the same id


async def test_players_are_reconciled(origin_world: OriginWorld) -> None:
    world = origin_world
    viewers = world.services.viewers
    for client_id in ("11", "12"):
        await viewers.play_started(world.origin, world.event("play", "cam1", client_id))
    world.adapter.play("demo-origin", "live", "cam1", "12")  # 11 left without a play_done
    world.adapter.play("demo-origin", "live", "cam1", "13")  # 13's on_play was lost
    world.clock.advance(10)
    (app,) = world.services.applications.list_for_account(world.tenant.account.id)
    reconcile(world)
    assert viewers.count(app, ["cam1"]) == {"cam1": 2}
    assert {s.viewer for s in world.services.viewers._viewers.rtmp_sessions(world.origin.id)} == {
        "12",
        "13",
    }


async def test_an_origin_that_stays_unreachable_loses_its_streams_and_players(
    origin_world: OriginWorld,
) -> None:
    world = origin_world
    world.adapter.publish("demo-origin", "live", "cam1", "1")
    await world.services.streams.publish_started(world.origin, world.event("publish", "cam1", "1"))
    await world.services.viewers.play_started(world.origin, world.event("play", "cam1", "2"))
    world.adapter.down = True
    reconciler = world.services.reconciler
    (report,) = reconciler.run_once()
    assert not report.reachable and report.streams_ended == 0  # one failure is not death
    world.clock.advance(world.services.settings.origin_lost_after)
    (report,) = reconciler.run_once()
    assert (report.streams_ended, report.players_ended) == (1, 1)
    assert live_names(world) == []
    (ended,) = world.services.streams.history(world.tenant.account.id)
    assert ended.end_reason == EndReason.ORIGIN_UNREACHABLE
    (origin,) = world.services.origins.list_origins()
    assert origin.failing_since is not None
    world.adapter.down = False
    world.clock.advance(reconciler.interval)
    reconciler.run_once()  # back: the publisher is still there, so its stream is live again
    assert [name for _, name in live_names(world)] == ["cam1"]
    (origin,) = world.services.origins.list_origins()
    assert origin.failing_since is None


async def test_segment_durations_are_read_until_known(origin_world: OriginWorld) -> None:
    world = origin_world
    stream = await world.publish_live("cam1", segment_seconds=None)  # no segment cut yet
    store = world.services.streams._streams
    assert store.get(stream.id).hls_segment_seconds is None
    world.adapter.segment_seconds[("demo-origin", "live", "cam1")] = 10
    world.clock.advance(10)
    reconcile(world)
    assert store.get(stream.id).hls_segment_seconds == 10
    world.adapter.segment_seconds[("demo-origin", "live", "cam1")] = 999_999
    world.clock.advance(10)
    reconcile(world)  # known: not asked again
    assert store.get(stream.id).hls_segment_seconds == 10


async def test_an_absurd_segment_duration_is_capped(origin_world: OriginWorld) -> None:
    stream = await origin_world.publish_live("cam1", segment_seconds=86_400)
    assert origin_world.services.streams._streams.get(stream.id).hls_segment_seconds == 60
