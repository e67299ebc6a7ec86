"""The stream registry: publishes from origin callbacks, closing streams, listing them."""

from __future__ import annotations

import pytest

from cdnpanel.errors import Conflict, NotFound, OriginUnavailable, PermissionDenied
from cdnpanel.records import Application
from cdnpanel.services.streams import EndReason
from tests.conftest import OriginWorld


def app_of(world: OriginWorld) -> Application:
    (app,) = world.services.applications.list_for_account(world.tenant.account.id)
    return app


async def test_publish_registers_a_numbered_live_stream(origin_world: OriginWorld) -> None:
    streams = origin_world.services.streams
    stream = await streams.publish_started(
        origin_world.origin, origin_world.event("publish", "cam1", "1")
    )
    assert stream.live and stream.account_id == origin_world.tenant.account.id
    assert (stream.inst, stream.name, stream.publisher_addr) == ("live", "cam1", "192.0.2.10")
    (live,) = streams.active(origin_world.tenant.account.id)
    assert (live.stream.id, live.app, live.origin, live.viewers) == (
        stream.id,
        "demo-origin",
        "origin1.example.net",
        0,
    )
    assert streams.active(origin_world.other.account.id) == []


async def test_publish_to_an_application_nobody_owns_is_refused(origin_world: OriginWorld) -> None:
    with pytest.raises(PermissionDenied, match="no account owns"):
        await origin_world.services.streams.publish_started(
            origin_world.origin, origin_world.event("publish", "cam1", "1", app="stray-app")
        )


async def test_publish_to_an_application_of_another_origin_is_refused(
    origin_world: OriginWorld,
) -> None:
    services = origin_world.services
    services.origins.add("origin2.example.net", control_url="http://127.0.0.1:8082")
    services.origins.assign(app_of(origin_world), "origin2.example.net")
    with pytest.raises(PermissionDenied, match="not served by origin"):
        await services.streams.publish_started(
            origin_world.origin, origin_world.event("publish", "cam1", "1")
        )


async def test_second_publisher_of_a_live_name_is_refused_and_its_done_ends_nothing(
    origin_world: OriginWorld,
) -> None:
    streams, origin = origin_world.services.streams, origin_world.origin
    first = await streams.publish_started(origin, origin_world.event("publish", "cam1", "1"))
    with pytest.raises(Conflict):
        await streams.publish_started(origin, origin_world.event("publish", "cam1", "3"))
    # nginx-rtmp sends publish_done for the refused connection too (observed): it ends nothing.
    assert streams.publish_ended(origin, origin_world.event("publish_done", "cam1", "3")) is None
    ended = streams.publish_ended(origin, origin_world.event("publish_done", "cam1", "1"))
    assert ended is not None and ended.id == first.id
    assert ended.end_reason == EndReason.PUBLISHER_LEFT


async def test_close_by_name_and_by_id_drops_the_publisher(origin_world: OriginWorld) -> None:
    services, origin, fake = origin_world.services, origin_world.origin, origin_world.adapter
    account_id = origin_world.tenant.account.id
    app = app_of(origin_world)
    fake.publish("demo-origin", "live", "cam1", "1")
    stream = await services.streams.publish_started(
        origin, origin_world.event("publish", "cam1", "1")
    )
    closed = services.streams.close(account_id, app=app, inst="live", name="cam1")
    assert (closed.id, closed.end_reason) == (stream.id, EndReason.CLOSED)
    assert fake.drops == [("demo-origin", "live", "cam1")]
    fake.publish("demo-origin", "live", "cam1", "2")
    again = await services.streams.publish_started(
        origin, origin_world.event("publish", "cam1", "2")
    )
    assert services.streams.close(account_id, stream_id=again.id).end_reason == EndReason.CLOSED


async def test_close_refusals(origin_world: OriginWorld) -> None:
    services, origin, fake = origin_world.services, origin_world.origin, origin_world.adapter
    mine, theirs = origin_world.tenant.account.id, origin_world.other.account.id
    fake.publish("demo-origin", "live", "cam1", "1")
    stream = await services.streams.publish_started(
        origin, origin_world.event("publish", "cam1", "1")
    )
    with pytest.raises(NotFound, match="not found in this account"):
        services.streams.close(theirs, stream_id=stream.id)  # another account's stream
    with pytest.raises(NotFound, match="stream 999"):
        services.streams.close(mine, stream_id=999)
    with pytest.raises(NotFound, match="origin"):
        services.streams.close(mine, stream_id=stream.id, origin_name="nowhere.example.net")
    fake.down = True
    with pytest.raises(OriginUnavailable):
        services.streams.close(mine, stream_id=stream.id)
    assert services.streams.active(mine)[0].stream.id == stream.id  # nothing changed
    fake.down = False
    fake.streams.clear()  # the publisher left, but its publish_done never came
    with pytest.raises(NotFound, match="already left"):
        services.streams.close(mine, stream_id=stream.id)
    assert services.streams.active(mine) == []
    with pytest.raises(NotFound, match=r"it ended .* \(not live on the origin"):
        services.streams.close(mine, stream_id=stream.id)
    # By name too: when it ended, and which stream_id it was.
    app = services.applications.resolve(mine, ["demo-origin"])[0]
    with pytest.raises(NotFound, match=rf"it ended .* \(not live on the origin.*{stream.id}\)"):
        services.streams.close(mine, app=app, inst="live", name="cam1")
    with pytest.raises(NotFound, match=r"'demo-origin/live/cam9' not found in this account$"):
        services.streams.close(mine, app=app, inst="live", name="cam9")


async def test_close_is_the_recorded_reason_even_when_publish_done_wins_the_race(
    origin_world: OriginWorld,
) -> None:
    """nginx sends publish_done as soon as it drops the publisher, so the hook may record
    'publisher disconnected' before stream.close records its own end (seen under load)."""
    world = origin_world
    services, origin, fake = world.services, world.origin, world.adapter
    fake.publish("demo-origin", "live", "cam1", "1")
    stream = await services.streams.publish_started(origin, world.event("publish", "cam1", "1"))
    drop = fake.drop_publisher

    def drop_then_publish_done(origin_: object, **names: str) -> int:
        dropped = drop(origin_, **names)  # type: ignore[arg-type]
        services.streams.publish_ended(origin, world.event("publish_done", "cam1", "1"))
        return dropped

    fake.drop_publisher = drop_then_publish_done
    closed = services.streams.close(world.tenant.account.id, stream_id=stream.id)
    assert (closed.id, closed.end_reason) == (stream.id, EndReason.CLOSED)
