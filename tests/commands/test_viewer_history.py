"""Viewer history: the live sessions sampled once a minute (HistoryService.sample_once, as the
server runs it), vsn.viewerhistorybyname's series at three resolutions, retention, and
viewer.live, through the signed endpoint."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdnpanel.errors import InvalidParameter
from cdnpanel.services.history import RESOLUTIONS
from cdnpanel.store.history import DAY_RETENTION, MINUTE_RETENTION
from tests.commands.conftest import CallCommand
from tests.conftest import OriginWorld, Tenant

DAY = 1_794_960_000  # 2026-11-18 00:00 UTC
T0 = DAY + 10 * 3600  # 10:00


def _at(at: int, *, day: bool = False) -> str:
    return time.strftime("%Y-%m-%d" if day else "%Y-%m-%d %H:%M", time.gmtime(at))


@pytest.fixture
def call(call_as: Callable[[Tenant], CallCommand], origin_world: OriginWorld) -> CallCommand:
    return call_as(origin_world.tenant)


async def _play(world: OriginWorld, name: str, client_id: str, addr: str = "192.0.2.10") -> None:
    event = world.event("play", name, client_id, addr=addr)
    await world.services.viewers.play_started(world.origin, event)


def _stop(world: OriginWorld, name: str, client_id: str) -> None:
    world.services.viewers.play_ended(world.origin, world.event("play_done", name, client_id))


async def _hls(world: OriginWorld, name: str, address: str) -> None:
    await world.services.viewers.check_hls(
        world.origin, uri=f"/demo-origin/live/{name}/index.m3u8", address=address, user_agent="u"
    )
    world.services.viewers.flush()


@pytest.fixture
async def played(origin_world: OriginWorld) -> OriginWorld:
    """Five minutes from 10:00: cam1's RTMP players 2, 3, 3, 1, 0 (client 7 from a second
    address), one HLS viewer of cam1 in the first two minutes, cam2 with one RTMP player
    throughout; each minute sampled once, as the server does."""
    world = origin_world
    world.clock.now = T0 + 2
    await _play(world, "cam1", "5")
    await _play(world, "cam1", "6")
    await _play(world, "cam2", "20")
    await _hls(world, "cam1", "198.51.100.1")
    assert world.services.history.sample_once() is not None
    for minute in range(1, 5):
        world.clock.now = T0 + 60 * minute + 2
        if minute == 1:  # 3 RTMP players, the HLS viewer still there
            await _play(world, "cam1", "7", addr="192.0.2.11")
            await _hls(world, "cam1", "198.51.100.1")
        else:  # one player less each minute; the HLS viewer's window has passed
            _stop(world, "cam1", {2: "6", 3: "5", 4: "7"}[minute])
        sample = world.services.history.sample_once()
        assert sample is not None and sample.minute == T0 + 60 * minute
        # Another process (or node) a second later finds the minute taken.
        world.clock.advance(1)
        assert world.services.history.sample_once() is None
    world.clock.now = T0 + 3600 * 2
    return world


CAM1 = [3, 4, 2, 1, 0]  # RTMP 2, 3, 2, 1, 0 with HLS 1, 1, 0, 0, 0 (its window passed)


def test_the_minute_series_of_a_stream(played: OriginWorld, call: CallCommand) -> None:
    answer = call(
        "vsn.viewerhistorybyname",
        app="demo-origin",
        url="cam1",
        starttime=T0,
        endtime=T0 + 299,
        resolution="minute",
    )
    assert answer["status"] == "success", answer
    assert answer["message"] == "Found Viewer History"
    assert [p["viewers"] for p in answer["data"]] == CAM1
    assert [p["time"] for p in answer["data"]] == [_at(T0 + 60 * n) for n in range(5)]
    assert answer["peak"] == {"viewers": 4, "time": _at(T0 + 60)}
    assert answer["viewer_minutes"] == sum(CAM1)
    assert (answer["starttime"], answer["endtime"]) == (_at(T0), _at(T0 + 299))


def test_the_whole_application_and_one_server(played: OriginWorld, call: CallCommand) -> None:
    root = call(
        "vsn.viewerhistorybyname", app="demo-origin", url="_root_", starttime=T0, endtime=T0 + 299
    )
    assert [p["viewers"] for p in root["data"]] == [n + 1 for n in CAM1]
    on = call(
        "vsn.viewerhistorybyname",
        app="demo-origin",
        url="cam1",
        starttime=T0,
        endtime=T0 + 299,
        server="origin1.example.net",
    )
    assert [p["viewers"] for p in on["data"]] == CAM1


def test_hours_and_days(played: OriginWorld, call: CallCommand) -> None:
    hours = call(
        "vsn.viewerhistorybyname",
        app="demo-origin",
        url="cam1",
        resolution="hour",
        starttime="2026-11-18 09:00:00",
        endtime="2026-11-18 11:59:59",
    )
    assert hours["data"] == [
        {"time": _at(T0 - 3600), "peak": 0, "viewer_minutes": 0},
        {"time": _at(T0), "peak": 4, "viewer_minutes": sum(CAM1)},
        {"time": _at(T0 + 3600), "peak": 0, "viewer_minutes": 0},
    ]
    days = call(
        "vsn.viewerhistorybyname",
        app="demo-origin",
        url="cam1",
        resolution="day",
        starttime="2026-11-17",
        endtime="2026-11-18",
    )
    # Unique viewers of cam1: the RTMP address 192.0.2.10 (clients 5 and 6), 192.0.2.11 and
    # the HLS viewer; of the application also cam2's (the same address as 5 and 6: one).
    assert days["data"] == [
        {"date": "2026-11-17", "peak": 0, "viewer_minutes": 0, "unique_viewers": 0},
        {"date": "2026-11-18", "peak": 4, "viewer_minutes": sum(CAM1), "unique_viewers": 3},
    ]
    assert (days["unique_viewers"], days["peak"]) == (3, {"viewers": 4, "time": "2026-11-18"})
    root = call(
        "vsn.viewerhistorybyname",
        app="demo-origin",
        url="_root_",
        resolution="day",
        starttime="2026-11-18",
        endtime="2026-11-18",
    )
    assert root["data"][0]["unique_viewers"] == 3
    assert root["data"][0]["viewer_minutes"] == sum(CAM1) + 5


def test_the_default_period_ends_now(played: OriginWorld, call: CallCommand) -> None:
    answer = call("vsn.viewerhistorybyname", app="demo-origin", url="cam1")
    points = answer["data"]
    assert len(points) == 60 and points[-1]["time"] == _at(int(played.clock.now) // 60 * 60)
    assert answer["message"] == "No Viewer History Found" and answer["peak"] is None
    days = call("vsn.viewerhistorybyname", app="demo-origin", url="cam1", resolution="day")
    assert len(days["data"]) == 30 and days["data"][-1]["date"] == "2026-11-18"


def test_a_stream_nobody_watched(played: OriginWorld, call: CallCommand) -> None:
    answer = call(
        "vsn.viewerhistorybyname", app="demo-origin", url="nobody", starttime=T0, endtime=T0 + 299
    )
    assert answer["status"] == "success"
    assert [p["viewers"] for p in answer["data"]] == [0] * 5
    assert (answer["peak"], answer["viewer_minutes"]) == (None, 0)


def test_another_account_sees_none_of_it(
    played: OriginWorld, call_as: Callable[[Tenant], CallCommand]
) -> None:
    other = call_as(played.other)
    refused = other("vsn.viewerhistorybyname", app="demo-origin", url="cam1", starttime=T0)
    assert (refused["status"], refused["code"]) == ("failure", "0010")
    assert other("viewer.live", app="demo-origin")["code"] == "0010"
    own = other(
        "vsn.viewerhistorybyname", app="other-origin", url="_root_", starttime=T0, endtime=T0 + 299
    )
    assert [p["viewers"] for p in own["data"]] == [0] * 5
    assert other("viewer.live", app="other-origin")["data"] == []


@pytest.mark.parametrize(
    ("params", "code", "text"),
    [
        ({"url": "cam1"}, "0006", "app"),
        ({"app": "demo-origin"}, "0006", "url"),
        ({"app": "demo-origin", "url": "cam1", "resolution": "second"}, "0008", "resolution"),
        ({"app": "demo-origin", "url": "cam1", "starttime": "soon"}, "0008", "starttime"),
        ({"app": "demo-origin", "url": "cam1", "starttime": -5}, "0008", "starttime"),
        (
            {"app": "demo-origin", "url": "cam1", "starttime": T0, "endtime": T0 - 60},
            "0008",
            "endtime",
        ),
        (
            {"app": "demo-origin", "url": "cam1", "starttime": T0 - 15 * 86400},
            "0008",
            "at most 14 days",
        ),
        (
            {"app": "demo-origin", "url": "cam1", "starttime": T0 + 86400 * 400},
            "0008",
            "future",
        ),
        (
            {"app": "demo-origin", "url": "cam1", "resolution": "hour", "server": "x"},
            "0008",
            "minute resolution",
        ),
        ({"app": "demo-origin", "url": "cam1", "server": "nowhere.example"}, "0010", "not found"),
        ({"app": "demo-origin", "url": "cam1", "server": ""}, "0008", "server"),
        ({"app": "demo-origin", "url": "a\x00b"}, "0008", "control characters"),
        ({"app": "demo-origin", "url": "cam1", "urls": "x"}, "0008", "urls"),
    ],
)
def test_refusals(
    played: OriginWorld, call: CallCommand, params: dict[str, object], code: str, text: str
) -> None:
    answer = call("vsn.viewerhistorybyname", **params)
    assert (answer["status"], answer["code"]) == ("failure", code), answer
    assert text in answer["message"], answer["message"]


async def test_minutes_expire_after_14_days_and_hours_stay(origin_world: OriginWorld) -> None:
    """Twenty days of one RTMP viewer, sampled at the start of every hour; the sweep deletes
    the minutes older than 14 days and keeps the hours."""
    world = origin_world
    history = world.services.history
    world.clock.now = DAY
    await _play(world, "cam1", "5")
    for hour in range(20 * 24):
        world.clock.now = DAY + hour * 3600
        assert history.sample_once() is not None
        while history.expire_step():
            pass
    (app,) = world.services.applications.list_for_account(world.tenant.account.id)
    now = int(world.clock.now)
    kept = [m for m, n in _minutes(world, app.id, DAY, now) if n]
    # One sample an hour: those of the last 14 days (the one exactly 14 days old included).
    assert min(kept) == now - MINUTE_RETENTION and len(kept) == 14 * 24 + 1
    hours = world.services.history.series(app, "cam1", resolution="hour", start=DAY, end=now)
    assert hours.viewers == [1] * (20 * 24)
    assert hours.total_viewer_minutes == 20 * 24
    # 13 months later the hours go too.
    world.clock.now = now + DAY_RETENTION + 3600
    world.services.viewers.play_ended(world.origin, world.event("play_done", "cam1", "5"))
    while history.expire_step():
        pass
    assert history.series(app, "cam1", resolution="day", start=DAY, end=DAY + 86400).peak is None


def _minutes(
    world: OriginWorld, application_id: int, first: int, last: int
) -> list[tuple[int, int]]:
    from cdnpanel.store.history import ViewerHistory

    return ViewerHistory(world.services.db).minutes(
        application_id, "cam1", first=first, last=last, origin_id=None
    )


async def test_viewer_live_lists_what_is_watched_and_published(
    origin_world: OriginWorld, call: CallCommand
) -> None:
    world = origin_world
    await world.publish_live("cam1")
    await world.publish_live("quiet", client_id="10")
    await _play(world, "cam1", "5")
    await _play(world, "cam2", "6")
    await _play(world, "cam2", "7")
    await _hls(world, "cam1", "198.51.100.1")
    answer = call("viewer.live", app="demo-origin")
    assert answer["status"] == "success" and answer["message"] == "Found Live Viewers"
    assert answer["viewer_count"] == 4
    assert answer["data"] == [
        {"url": "cam1", "live": True, "viewer_count": 2, "rtmp": 1, "hls": 1},
        {"url": "cam2", "live": False, "viewer_count": 2, "rtmp": 2, "hls": 0},
        {"url": "quiet", "live": True, "viewer_count": 0, "rtmp": 0, "hls": 0},
    ]
    assert call("viewer.live")["code"] == "0006"


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    start=st.none() | st.integers(min_value=-(2**40), max_value=2**40),
    end=st.none() | st.integers(min_value=-(2**40), max_value=2**40),
    resolution=st.sampled_from(["minute", "hour", "day"]),
)
def test_any_period_is_a_bounded_series_or_a_clear_refusal(
    origin_world: OriginWorld, start: int | None, end: int | None, resolution: str
) -> None:
    world = origin_world
    (app,) = world.services.applications.list_for_account(world.tenant.account.id)
    step, _default, longest = RESOLUTIONS[resolution]
    try:
        series = world.services.history.series(
            app, "cam1", resolution=resolution, start=start, end=end
        )
    except InvalidParameter as refused:
        assert refused.param in ("starttime", "endtime")
        return
    assert 1 <= len(series.viewers) <= longest // step + 1
    assert series.first % step == 0 and series.last <= world.clock.now
