"""The usher: admitting viewers of protected applications with SEVU tickets (HLS and RTMP)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from cdnpanel.errors import PermissionDenied
from cdnpanel.records import Application, StreamKey
from cdnpanel.services.ticket_rules import Reason
from cdnpanel.services.viewers import HlsDecision
from cdnpanel.store.tables import ticket_attempts
from tests.conftest import OriginWorld


def protected(world: OriginWorld) -> Application:
    (app,) = world.services.applications.list_for_account(world.tenant.account.id)
    app = world.services.applications.protect(app, "sevu")
    world.clock.advance(10)  # past the application cache
    return app


async def ticket(world: OriginWorld, **overrides: Any) -> str:
    params: dict[str, Any] = {"app": "demo-origin", "video": "cam*", "password": "pw-123456"}
    params.update(overrides)
    return (await world.services.tickets.issue(world.tenant.account.id, **params)).ticket.key


async def hls(
    world: OriginWorld,
    key: str | None,
    *,
    stream: str = "cam1",
    file: str = "index.m3u8",
    password: str = "pw-123456",
    address: str = "198.51.100.7",
    app: str = "demo-origin",
) -> HlsDecision:
    """One HLS request, as the hook checks it."""
    query = f"?key={key}&pass={password}" if key is not None else ""
    return await world.services.viewers.check_hls(
        world.origin, uri=f"/{app}/live/{stream}/{file}{query}", address=address, user_agent="p"
    )


async def rtmp(world: OriginWorld, key: str, client_id: str, **extra: str) -> None:
    """One RTMP play, as the hook starts it; PermissionDenied refuses it."""
    event = world.event("play", extra.pop("name", "cam1"), client_id, key=key, **extra)
    await world.services.viewers.play_started(world.origin, event)


def used(world: OriginWorld, key: str) -> int:
    return world.services.tickets.get(world.tenant.account.id, key).used


def logged(world: OriginWorld) -> list[tuple[int, str]]:
    world.services.viewers.flush()
    with world.services.db.read() as conn:
        rows = conn.execute(
            select(ticket_attempts.c.success, ticket_attempts.c.reason).order_by(
                ticket_attempts.c.id
            )
        ).all()
    return [(r.success, r.reason) for r in rows]


async def test_unprotected_applications_need_no_ticket(origin_world: OriginWorld) -> None:
    assert (await hls(origin_world, None)).allowed


async def test_without_a_ticket_playback_is_refused(origin_world: OriginWorld) -> None:
    protected(origin_world)
    decision = await hls(origin_world, None)
    assert (decision.allowed, decision.reason) == (False, Reason.BAD_TOKEN)
    with pytest.raises(PermissionDenied, match=Reason.BAD_TOKEN):
        await rtmp(origin_world, "", "5")
    assert logged(origin_world) == [(0, Reason.BAD_TOKEN)] * 2


async def test_a_ticket_admits_one_session_for_all_its_requests(origin_world: OriginWorld) -> None:
    world = origin_world
    app = protected(world)
    key = await ticket(world, uses=1)
    assert (await hls(world, key)).allowed
    for n in range(20):  # the same viewer's playlist and segments: the same session
        assert (await hls(world, key, file=f"{n}.ts")).allowed
        world.clock.advance(0.5)
    assert used(world, key) == 1
    world.services.viewers.flush()
    assert world.services.viewers.count(app, ["cam1"]) == {"cam1": 1}
    assert logged(world) == [(1, "ok")]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"password": "wrong-one"}, Reason.BAD_TOKEN),
        ({"stream": "other"}, Reason.WRONG_VIDEO),
        ({"address": "203.0.113.7"}, Reason.BAD_IP),
    ],
)
async def test_refusals_with_their_reasons(
    origin_world: OriginWorld, change: dict[str, str], reason: str
) -> None:
    protected(origin_world)
    key = await ticket(origin_world, ip="198.51.100.0/24")
    decision = await hls(origin_world, key, **change)
    assert (decision.allowed, decision.reason) == (False, reason)
    assert used(origin_world, key) == 0


async def test_a_guessed_key_fails(origin_world: OriginWorld) -> None:
    protected(origin_world)
    key = await ticket(origin_world)
    last = key[-1]
    guessed = key[:-1] + ("0" if last != "0" else "1")
    assert (await hls(origin_world, guessed)).reason == Reason.BAD_TOKEN


@pytest.mark.parametrize("key", ["a%00b", "%00", "k" * 101])
async def test_a_key_no_ticket_can_have_is_refused_without_the_store(
    origin_world: OriginWorld, key: str
) -> None:
    # A NUL (which PostgreSQL's text cannot hold) or an over-long key: refused as a bad token.
    protected(origin_world)
    assert (await hls(origin_world, key)).reason == Reason.BAD_TOKEN
    with pytest.raises(PermissionDenied, match=Reason.BAD_TOKEN):
        await rtmp(origin_world, key.replace("%00", "\x00"), "9")


async def test_expired_tickets_are_refused_and_running_viewers_cut_off(
    origin_world: OriginWorld,
) -> None:
    world = origin_world
    protected(world)
    key = await ticket(world, expire="+30 seconds")
    assert (await hls(world, key)).allowed
    world.clock.advance(29)
    assert (await hls(world, key, file="5.ts")).allowed
    world.clock.advance(2)
    assert (await hls(world, key, file="6.ts")).reason == Reason.EXPIRED


async def test_revocation_cuts_a_running_viewer_off_within_a_second(
    origin_world: OriginWorld,
) -> None:
    world = origin_world
    protected(world)
    key = await ticket(world)
    assert (await hls(world, key)).allowed
    world.services.tickets.revoke(world.tenant.account.id, key)
    # This process forgets the ticket at once; others within the rules cache's second.
    assert (await hls(world, key, file="1.ts")).reason == Reason.REVOKED
    world.clock.advance(1.1)
    assert (await hls(world, key, file="2.ts")).reason == Reason.REVOKED


async def test_used_up_tickets_refuse_new_sessions_not_running_ones(
    origin_world: OriginWorld,
) -> None:
    world = origin_world
    protected(world)
    key = await ticket(world, uses=1)
    assert (await hls(world, key, stream="cam1")).allowed
    assert (await hls(world, key, stream="cam2")).reason == Reason.USED_UP  # a second session
    assert (await hls(world, key, stream="cam1", file="9.ts")).allowed  # the first goes on
    with pytest.raises(PermissionDenied, match="no uses left"):
        await rtmp(world, key, "8", **{"pass": "pw-123456"})


async def test_rtmp_plays_each_take_a_use(origin_world: OriginWorld) -> None:
    world = origin_world
    app = protected(world)
    key = await ticket(world, uses=2)
    await rtmp(world, key, "5", **{"pass": "pw-123456"})
    await rtmp(world, key, "6", **{"pass": "pw-123456"})
    with pytest.raises(PermissionDenied):
        await rtmp(world, key, "7", **{"pass": "pw-123456"})
    assert world.services.viewers.count(app, ["cam1"]) == {"cam1": 2}
    assert used(world, key) == 2


async def test_auto_24_binds_the_first_viewers_network(origin_world: OriginWorld) -> None:
    world = origin_world
    protected(world)
    key = await ticket(world, ip="auto/24")
    assert (await hls(world, key, stream="cam1", address="198.51.100.7")).allowed
    status = world.services.tickets.get(world.tenant.account.id, key)
    assert status.ip_bound == "198.51.100.0/24"
    assert (await hls(world, key, stream="cam2", address="198.51.100.200")).allowed
    refused = await hls(world, key, stream="cam3", address="203.0.113.5")
    assert (refused.allowed, refused.reason) == (False, Reason.BAD_IP)


async def test_tickets_only_work_on_their_accounts_applications(origin_world: OriginWorld) -> None:
    world = origin_world
    protected(world)
    (theirs,) = world.services.applications.list_for_account(world.other.account.id)
    world.services.applications.protect(theirs, "sevu")
    world.clock.advance(10)
    mine = await ticket(world, app="demo-*")  # pattern of my applications
    decision = await hls(world, mine, app="other-origin")
    assert (decision.allowed, decision.reason) == (False, Reason.BAD_TOKEN)


async def test_a_refused_player_retrying_is_logged_once_a_while(origin_world: OriginWorld) -> None:
    world = origin_world
    protected(world)
    key = await ticket(world)
    for _ in range(20):
        await hls(world, key, password="wrong-one")
    assert logged(world) == [(0, Reason.BAD_TOKEN)]
    world.clock.advance(6)
    await hls(world, key, password="wrong-one")
    assert len(logged(world)) == 2


async def test_revoking_drops_the_tickets_rtmp_players(origin_world: OriginWorld) -> None:
    world = origin_world
    app = protected(world)
    key = await ticket(world)
    other = await ticket(world)
    for client_id, k in (("5", key), ("6", key), ("7", other)):
        world.adapter.play("demo-origin", "live", "cam1", client_id)
        await rtmp(world, k, client_id, **{"pass": "pw-123456"})
    revoked = world.services.tickets.revoke(world.tenant.account.id, key)
    players = world.services.viewers.rtmp_players_of_ticket(revoked.id)
    assert world.services.streams.drop_players(players) == 2
    assert sorted(world.adapter.drops) == [
        ("demo-origin", "live", "cam1#5"),
        ("demo-origin", "live", "cam1#6"),
    ]
    assert world.services.viewers.count(app, ["cam1"]) == {"cam1": 1}  # the other ticket's


async def test_a_player_the_reconciler_dropped_first_still_counts(
    origin_world: OriginWorld,
) -> None:
    """The reconciler may drop a revoked ticket's player between the revocation and the
    revoke command's own drop: the origin answers 0, and the player is still one that stopped."""
    world = origin_world
    app = protected(world)
    key = await ticket(world)
    world.adapter.play("demo-origin", "live", "cam1", "5")
    await rtmp(world, key, "5", **{"pass": "pw-123456"})
    ticket_id = world.services.tickets.get(world.tenant.account.id, key).id
    players = world.services.viewers.rtmp_players_of_ticket(ticket_id)
    world.adapter.streams[("demo-origin", "live", "cam1")].players = []  # dropped meanwhile
    assert world.services.streams.drop_players(players) == 1
    assert world.services.viewers.count(app, ["cam1"]) == {"cam1": 0}


async def test_the_reconciler_drops_rtmp_players_whose_ticket_expired(
    origin_world: OriginWorld,
) -> None:
    world = origin_world
    protected(world)
    key = await ticket(world, expire="+60 seconds")
    world.adapter.publish("demo-origin", "live", "cam1", "1")
    world.adapter.play("demo-origin", "live", "cam1", "5")
    await rtmp(world, key, "5", **{"pass": "pw-123456"})
    world.services.reconciler.run_once()
    assert world.adapter.drops == []
    world.clock.advance(61)
    (report,) = world.services.reconciler.run_once()
    assert world.adapter.drops == [("demo-origin", "live", "cam1#5")]
    assert report.players_ended >= 1


async def test_an_expired_ticket_is_refused_on_a_session_the_process_forgot(
    origin_world: OriginWorld,
) -> None:
    """The case a fresh-clone CI run caught: after the session window and the rules cache
    have both passed, the next request goes to the store, which must judge the ticket."""
    world = origin_world
    protected(world)
    key = await ticket(world, expire="+2 seconds")
    assert (await hls(world, key)).allowed
    (app,) = world.services.applications.list_for_account(world.tenant.account.id)
    stream = StreamKey(app.id, "live", "cam1")
    world.clock.advance(world.services.viewers.hls_window(world.origin, stream) + 1)
    assert (await hls(world, key, file="1.ts")).reason == Reason.EXPIRED


@pytest.mark.parametrize("segment", [2, 6, 10])
async def test_a_one_use_ticket_plays_on_through_long_segments(
    origin_world: OriginWorld, segment: int
) -> None:
    """The README's ffmpeg (x264's 10 s keyframe interval) gave 10 s segments: each playlist
    reload was a new session, and a uses=1 ticket was refused 10 s into playback."""
    world = origin_world
    protected(world)
    await world.publish_live("cam1", segment_seconds=segment)
    key = await ticket(world, uses=1)
    for n in range(6):
        assert (await hls(world, key)).allowed
        assert (await hls(world, key, file=f"{n}.ts")).allowed
        world.services.viewers.flush()
        world.clock.advance(segment)
    used = world.services.tickets.get(world.tenant.account.id, key)
    assert (used.uses, used.used) == (1, 1)  # the one use, taken once
