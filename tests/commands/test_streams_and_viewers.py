"""vsn.viewercount, stream.active and stream.close through the signed endpoint."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.commands.conftest import CallCommand
from tests.conftest import OriginWorld, Tenant


@pytest.fixture
def call(call_as: Callable[[Tenant], CallCommand], origin_world: OriginWorld) -> CallCommand:
    return call_as(origin_world.tenant)


@pytest.fixture
async def live(origin_world: OriginWorld) -> OriginWorld:
    """cam1 live with two RTMP players and one HLS viewer; cam2 with one HLS viewer."""
    world = origin_world
    world.adapter.publish("demo-origin", "live", "cam1", "1")
    await world.services.streams.publish_started(world.origin, world.event("publish", "cam1", "1"))
    for client_id in ("5", "6"):
        await world.services.viewers.play_started(
            world.origin, world.event("play", "cam1", client_id)
        )
    for stream in ("cam1", "cam2"):
        await world.services.viewers.check_hls(
            world.origin, uri=f"/demo-origin/live/{stream}/index.m3u8", address="a", user_agent="u"
        )
    world.services.viewers.flush()
    return world


def test_viewercount_for_one_url(live: OriginWorld, call: CallCommand) -> None:
    answer = call("vsn.viewercount", app="demo-origin", url="cam1")
    assert answer["status"] == "success"
    assert (answer["viewer_count"], answer["message"]) == (3, "Found Viewer Count")
    assert call("vsn.viewercount", app="demo-origin", url="nobody-here")["viewer_count"] == 0


def test_viewercount_for_several_urls_and_the_root(live: OriginWorld, call: CallCommand) -> None:
    (app,) = live.services.applications.list_for_account(live.tenant.account.id)
    answer = call("vsn.viewercount", app=app.id, url=["cam1", "cam2", "_root_", "none"])
    assert answer["viewer_count"] == {"cam1": 3, "cam2": 1, "_root_": 4, "none": 0}
    assert call("vsn.viewercount", app="demo-origin", url="_root_")["viewer_count"] == 4


@pytest.mark.parametrize(
    ("params", "code", "text"),
    [
        ({"url": "cam1"}, "0006", "app"),
        ({"app": "demo-origin"}, "0006", "url"),
        ({"app": "other-origin", "url": "cam1"}, "0010", "not found"),  # another account's
        ({"app": "demo-origin", "url": []}, "0008", "url"),
        ({"app": "demo-origin", "url": 5}, "0008", "url"),
        ({"app": "demo-origin", "url": "a\x00b"}, "0008", "control characters"),
        ({"app": ["demo-origin", "x"], "url": "cam1"}, "0008", "app"),
        ({"app": "demo-origin", "url": "cam1", "uri": "x"}, "0008", "uri"),
    ],
)
def test_viewercount_refusals(
    live: OriginWorld, call: CallCommand, params: dict[str, object], code: str, text: str
) -> None:
    answer = call("vsn.viewercount", **params)
    assert (answer["status"], answer["code"]) == ("failure", code)
    assert text in answer["message"]


def test_stream_active_lists_the_accounts_live_streams(
    live: OriginWorld, call: CallCommand, call_as: Callable[[Tenant], CallCommand]
) -> None:
    answer = call("stream.active")
    (stream,) = answer["data"]
    assert {k: stream[k] for k in ("app", "inst", "stream", "origin_url", "viewers")} == {
        "app": "demo-origin",
        "inst": "live",
        "stream": "cam1",
        "origin_url": "origin1.example.net",
        "viewers": 3,
    }
    assert isinstance(stream["stream_id"], int) and stream["started"].count(":") == 2
    assert call("stream.active", app=["demo-origin"])["data"] == answer["data"]
    theirs = call_as(live.other)("stream.active")
    assert (theirs["data"], theirs["message"]) == ([], "No Active Streams")


async def test_stream_close_by_name_then_by_id(live: OriginWorld, call: CallCommand) -> None:
    answer = call("stream.close", app="demo-origin", inst="live", stream="cam1")
    assert (answer["status"], answer["message"]) == ("success", "Stream closed")
    assert live.adapter.drops == [("demo-origin", "live", "cam1")]
    live.adapter.publish("demo-origin", "live", "cam1", "2")
    stream = await live.services.streams.publish_started(
        live.origin, live.event("publish", "cam1", "2")
    )
    answer = call("stream.close", stream_id=str(stream.id), origin_url="origin1.example.net")
    assert (answer["status"], answer["stream_id"]) == ("success", stream.id)


@pytest.mark.parametrize(
    ("params", "code", "text"),
    [
        ({}, "0006", "app, inst, stream, (or stream_id)"),
        ({"app": "demo-origin", "inst": "live"}, "0006", "stream"),
        ({"app": "demo-origin", "inst": "live", "stream": "nope"}, "0010", "live stream"),
        ({"app": "other-origin", "inst": "live", "stream": "cam1"}, "0010", "not found"),
        ({"stream_id": 999}, "0010", "stream 999"),
        ({"stream_id": -1}, "0008", "stream_id"),
        ({"stream_id": 1.5}, "0008", "stream_id"),
        ({"stream_id": "1; DROP TABLE streams"}, "0008", "stream_id"),
        ({"app": "demo-origin", "inst": "a/b", "stream": "cam1"}, "0008", "inst"),
        ({"stream_id": 1, "origin_url": "elsewhere.example.net"}, "0010", "origin"),
    ],
)
def test_stream_close_refusals(
    live: OriginWorld, call: CallCommand, params: dict[str, object], code: str, text: str
) -> None:
    answer = call("stream.close", **params)
    assert (answer["status"], answer["code"]) == ("failure", code), answer
    assert text in answer["message"]
    assert live.adapter.drops == []


def test_another_accounts_stream_cannot_be_closed(
    live: OriginWorld, call_as: Callable[[Tenant], CallCommand]
) -> None:
    (stream,) = live.services.streams.active(live.tenant.account.id)
    answer = call_as(live.other)("stream.close", stream_id=stream.stream.id)
    assert answer["code"] == "0010"
    assert live.adapter.drops == []


def test_an_origin_that_does_not_answer(live: OriginWorld, call: CallCommand) -> None:
    live.adapter.down = True
    answer = call("stream.close", app="demo-origin", inst="live", stream="cam1")
    assert (answer["code"], answer["status"]) == ("0015", "failure")
    assert "origin1.example.net" in answer["message"]
    assert len(live.services.streams.active(live.tenant.account.id)) == 1


async def test_livedetailed_splits_the_viewers_by_server_protocol_and_location(
    live: OriginWorld, call: CallCommand
) -> None:
    """cam1: two RTMP players and an HLS viewer on the origin, two HLS viewers on an edge in
    fra (one of them also watching on the origin: one viewer per server it watches on)."""
    edge = live.services.origins.add_edge(
        "edge1.example.net",
        origins=["origin1.example.net"],
        control_url="http://127.0.0.1:8091",
        location="fra",
    ).origin
    for address in ("a", "b"):
        await live.services.viewers.check_hls(
            edge, uri="/demo-origin/live/cam1/3.ts", address=address, user_agent="u"
        )
    live.services.viewers.flush()
    answer = call("viewer.livedetailed", app="demo-origin", url="cam1")
    assert answer["status"] == "success", answer
    assert answer["message"] == "Found Live Viewers"
    assert {k: answer[k] for k in ("app", "url", "viewer_count", "rtmp", "hls")} == {
        "app": "demo-origin",
        "url": "cam1",
        "viewer_count": 5,
        "rtmp": 2,
        "hls": 3,
    }
    assert answer["servers"] == [
        {
            "server": "origin1.example.net",
            "role": "origin",
            "location": None,
            "viewer_count": 3,
            "rtmp": 2,
            "hls": 1,
        },
        {
            "server": "edge1.example.net",
            "role": "edge",
            "location": "fra",
            "viewer_count": 2,
            "rtmp": 0,
            "hls": 2,
        },
    ]
    assert answer["locations"] == [
        {"location": None, "viewer_count": 3, "rtmp": 2, "hls": 1},
        {"location": "fra", "viewer_count": 2, "rtmp": 0, "hls": 2},
    ]
    # The same viewers vsn.viewercount counts, and the whole application with _root_.
    assert call("vsn.viewercount", app="demo-origin", url="cam1")["viewer_count"] == 5
    root = call("viewer.livedetailed", app="demo-origin", url="_root_")
    assert (root["viewer_count"], root["hls"]) == (6, 4)
    nobody = call("viewer.livedetailed", app="demo-origin", url="nobody-here")
    assert (nobody["viewer_count"], nobody["servers"], nobody["locations"]) == (0, [], [])


@pytest.mark.parametrize(
    ("params", "code", "text"),
    [
        ({"url": "cam1"}, "0006", "app"),
        ({"app": "demo-origin"}, "0006", "url"),
        ({"app": "other-origin", "url": "cam1"}, "0010", "not found"),  # another account's
        ({"app": "demo-origin", "url": ["cam1"]}, "0008", "url"),
        ({"app": "demo-origin", "url": ""}, "0008", "url"),
        ({"app": "demo-origin", "url": "a\x00b"}, "0008", "control characters"),
    ],
)
def test_livedetailed_refusals(
    live: OriginWorld, call: CallCommand, params: dict[str, object], code: str, text: str
) -> None:
    answer = call("viewer.livedetailed", **params)
    assert (answer["status"], answer["code"]) == ("failure", code)
    assert text in answer["message"]
