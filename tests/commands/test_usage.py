"""video.servers and usage.summary through the signed endpoint, on rollups of ingested logs."""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from tests.commands.conftest import CallCommand
from tests.conftest import OriginWorld, Tenant

SEED_001_LABELS = [
    "Edge Bandwidth:",
    "CDN Bandwidth:",
    "Origin Bandwidth:",
    "VideoCDN Bandwidth:",
    "Total Bandwidth:",
    "Edge Requests:",
    "CDN Requests:",
    "Origin Requests:",
    "VideoCDN Requests:",
    "Total Requests:",
    "SQL SELECT:",
    "SQL UPDATE:",
    "SQL OTHER:",
    "SQL Replication Bandwidth:",
    "SQL CPU Hours:",
    "SQL Query Total:",
    "PHP CPU Hours:",
    "Origin CPU Hours:",
    "Origin Processes:",
    "Origin I/O Transactions:",
    "Origin Memory Seconds:",
    "Origin Disk:",
]


def line(day: str, app: str, sent: int) -> str:
    return (
        f'192.0.2.1 - - [{day}:12:00:00 +0000] "GET /{app}/live/cam1/s.ts HTTP/1.1" 200 {sent} '
        '"-" "VLC/3.0.20"\n'
    )


@pytest.fixture
def usage_world(origin_world: OriginWorld, tmp_path: Path) -> OriginWorld:
    """demo-origin (tenant) served by HML and ORG; other-origin (other) by HML; today is
    2026-12-10, so the whole of November is past."""
    origin_world.clock.now = 1_796_900_000.0  # 2026-12-10 UTC
    services = origin_world.services
    services.applications.create(origin_world.tenant.account.id, "demo-vod")
    services.applications.create(origin_world.tenant.account.id, "demo-third")
    services.usage.add_server("HML", "edge")
    services.usage.add_server("ORG", "origin")
    edge = tmp_path / "edge.log"
    edge.write_text(
        line("01/Nov/2026", "demo-origin", 1000) * 3
        + line("02/Nov/2026", "demo-origin", 2_500_000_000)
        + line("02/Nov/2026", "demo-vod", 7)
        + line("02/Nov/2026", "demo-third", 11)
        + line("02/Nov/2026", "other-origin", 999_999)
        + line("05/Dec/2026", "demo-origin", 5)
    )
    origin = tmp_path / "origin.log"
    origin.write_text(line("01/Nov/2026", "demo-origin", 20) * 2)
    for server, log in (("HML", edge), ("ORG", origin)):
        with services.usage.ingest_job(server, workers=1) as job:
            assert job.ingest(str(log)).status == "ingested"
    return origin_world


@pytest.fixture
def call(call_as: Callable[[Tenant], CallCommand], usage_world: OriginWorld) -> CallCommand:
    return call_as(usage_world.tenant)


def rows(answer: dict) -> dict[tuple[str, str], tuple[int, int]]:  # type: ignore[type-arg]
    return {
        (r["date"], r["server"]): (r["bytes_total"], r["requests_total"]) for r in answer["data"]
    }


def test_video_servers_30_days_per_server(call: CallCommand) -> None:
    answer = call("video.servers", app="demo-origin", starttime="2026-11-01")
    assert (answer["status"], answer["message"]) == ("success", "Found Video Region Data")
    data = answer["data"]
    assert len(data) == 60  # 30 days x the two servers that served demo-origin
    assert data[0] == {
        "date": "2026-11-01",
        "server": "HML",
        "bytes_total": 3000,
        "requests_total": 3,
    }
    assert data[1] == {
        "date": "2026-11-01",
        "server": "ORG",
        "bytes_total": 40,
        "requests_total": 2,
    }
    assert data[-1]["date"] == "2026-11-30"
    assert rows(answer)[("2026-11-02", "HML")] == (2_500_000_000, 1)
    assert rows(answer)[("2026-11-03", "ORG")] == (0, 0)


def test_video_servers_app_forms(call: CallCommand, usage_world: OriginWorld) -> None:
    apps = {
        a.name: a.id
        for a in usage_world.services.applications.list_for_account(usage_world.tenant.account.id)
    }
    by_name = call("video.servers", app="demo-origin", starttime="2026-11-01")
    by_id = call("video.servers", app=apps["demo-origin"], starttime="2026-11-01")
    assert by_id["data"] == by_name["data"]
    both = call("video.servers", app=["demo-origin", "demo-vod"], starttime="2026-11-01")
    ids = call("video.servers", app=[apps["demo-origin"], apps["demo-vod"]], starttime="2026-11-01")
    assert both["data"] == ids["data"]
    assert rows(both)[("2026-11-02", "HML")] == (2_500_000_007, 2)  # 2 of 3: all less one
    assert set(rows(both)) == set(rows(by_name))  # no server row only the third app made
    every = call(
        "video.servers", app=["demo-origin", "demo-vod", "demo-third"], starttime="2026-11-01"
    )
    assert rows(every)[("2026-11-02", "HML")] == (2_500_000_018, 3)
    third = call("video.servers", app="demo-third", starttime="2026-11-01")
    assert rows(third)[("2026-11-02", "HML")] == (11, 1) and len(third["data"]) == 30
    vod = call("video.servers", app="demo-vod", starttime="2026-11-01")
    assert {server for _day, server in rows(vod)} == {"HML"}
    assert rows(vod)[("2026-11-02", "HML")] == (7, 1)


def test_video_servers_starttime_forms(call: CallCommand) -> None:
    unix = calendar.timegm((2026, 11, 2, 1, 0, 0))  # a moment of 2 November, UTC
    answer = call("video.servers", app="demo-origin", starttime=unix)
    assert answer["data"][0]["date"] == "2026-11-02"
    as_text = call("video.servers", app="demo-origin", starttime=str(unix))
    assert as_text["data"] == answer["data"]
    month = call("video.servers", app="demo-origin", starttime="2026-11")
    assert month["data"][0]["date"] == "2026-11-01"
    default = call("video.servers", app="demo-origin")  # the last 30 days, ending today
    assert (default["data"][0]["date"], default["data"][-1]["date"]) == ("2026-11-11", "2026-12-10")
    assert call("video.servers", app="demo-origin", starttime="2025-01-01")["data"] == []


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"app": "demo-origin", "starttime": "2026-02-30"}, "not a valid date"),
        ({"app": "demo-origin", "starttime": "next tuesday"}, "YYYY-MM-DD"),
        ({"app": "demo-origin", "starttime": -5}, "starttime"),
        ({"app": "demo-origin", "starttime": 10**15}, "starttime"),
        ({"app": "demo-origin", "starttime": ["2026-11-01"]}, "starttime"),
        ({"app": "demo-origin", "starttime": ""}, "starttime"),
        ({"app": "no-such-app"}, "no-such-app"),
        ({"app": "other-origin"}, "other-origin"),
        ({"app": []}, "app"),
        ({"app": "x' OR 1=1 --"}, "app"),
    ],
)
def test_video_servers_bad_input(call: CallCommand, params: dict, fragment: str) -> None:  # type: ignore[type-arg]
    answer = call("video.servers", **params)
    assert answer["status"] == "failure", answer
    assert fragment in answer["message"]
    assert "data" not in answer


def test_video_servers_needs_app(call: CallCommand) -> None:
    answer = call("video.servers")
    assert (answer["status"], answer["code"]) == ("failure", "0006")
    assert "app" in answer["message"]


def test_another_account_sees_only_its_own(
    call_as: Callable[[Tenant], CallCommand], usage_world: OriginWorld
) -> None:
    other = call_as(usage_world.other)
    answer = other("video.servers", app="other-origin", starttime="2026-11-01")
    assert rows(answer)[("2026-11-02", "HML")] == (999_999, 1)
    assert {server for _day, server in rows(answer)} == {"HML"}
    refused = other("video.servers", app="demo-origin", starttime="2026-11-01")
    assert refused["status"] == "failure"
    summary = other("usage.summary", starttime="2026-11-01")
    values = dict((label, cell) for label, cell in summary["data"]["vals"])
    assert values["Edge Bandwidth:"] == {"v": 999_999, "f": "1.00 MB"}
    assert values["Origin Requests:"] == {"v": 0, "f": "0 "}


def test_usage_summary_shape_and_totals(call: CallCommand) -> None:
    answer = call("usage.summary", starttime="2026-11-01")
    assert (answer["status"], answer["message"]) == ("success", "Found Usage Summary Data")
    assert answer["data"]["cols"] == [["string", "Name"], ["number", "Total"]]
    vals = answer["data"]["vals"]
    assert [label for label, _cell in vals] == SEED_001_LABELS
    values = dict((label, cell) for label, cell in vals)
    assert values["Edge Bandwidth:"] == {"v": 2_500_003_018, "f": "2.50 GB"}
    assert values["Origin Bandwidth:"] == {"v": 40, "f": "40 B"}
    assert values["Total Bandwidth:"] == {"v": 2_500_003_058, "f": "2.50 GB"}
    assert values["Edge Requests:"] == {"v": 6, "f": "6 "}
    assert values["Origin Requests:"] == {"v": 2, "f": "2 "}
    assert values["Total Requests:"] == {"v": 8, "f": "8 "}
    assert values["Origin CPU Hours:"] == {"v": 0, "f": "Coming Soon"}
    assert values["Origin Disk:"] == {"v": 0, "f": "Coming Soon"}
    assert values["SQL SELECT:"] == {"v": 0, "f": "0 "}
    december = call("usage.summary", starttime="2026-12-15")  # the month it falls in
    december_values = dict((label, cell) for label, cell in december["data"]["vals"])
    assert december_values["Edge Requests:"] == {"v": 1, "f": "1 "}


def test_usage_summary_meters(call: CallCommand, usage_world: OriginWorld) -> None:
    services, account = usage_world.services, usage_world.tenant.account.id
    for meter, value in (
        ("sql-select", 20_000),
        ("sql-select", 103),
        ("sql-update", 5),
        ("origin-io-transactions", 28_103),
        ("origin-memory-seconds", 31_802),
        ("php-cpu-seconds", 5_400),
        ("origin-cpu-seconds", 0),
    ):
        services.usage.record_meter(account, meter, value, on=date(2026, 11, 3))
    services.usage.record_meter(account, "origin-disk-bytes", 9e9, on=date(2026, 11, 3))
    services.usage.record_meter(account, "origin-disk-bytes", 4e9, on=date(2026, 11, 3))
    services.usage.record_meter(account, "origin-disk-bytes", 6e9, on=date(2026, 11, 4))
    services.usage.record_meter(account, "sql-select", 1, on=date(2026, 12, 1))
    values = dict(
        (label, cell) for label, cell in call("usage.summary", starttime="2026-11")["data"]["vals"]
    )
    assert values["SQL SELECT:"] == {"v": 20_103, "f": "20,103 "}
    assert values["SQL Query Total:"] == {"v": 20_108, "f": "20,108 "}
    assert values["Origin I/O Transactions:"] == {"v": 28103, "f": "28,103 "}
    assert values["Origin Memory Seconds:"] == {"v": 31802, "f": "31,802 "}
    assert values["PHP CPU Hours:"] == {"v": 1.5, "f": "1.50 "}
    assert values["Origin CPU Hours:"] == {"v": 0, "f": "0 "}  # recorded, so no longer "coming"
    assert values["Origin Disk:"] == {"v": 6_000_000_000, "f": "6.00 GB"}  # the month's peak


@pytest.mark.parametrize("starttime", ["2026-13-01", "yesterday", -1, 2**62, {"a": 1}])
def test_usage_summary_bad_starttime(call: CallCommand, starttime: object) -> None:
    answer = call("usage.summary", starttime=starttime)
    assert answer["status"] == "failure" and "starttime" in answer["message"]


def test_video_servers_stops_at_today(call: CallCommand, usage_world: OriginWorld) -> None:
    usage_world.clock.now = 1_795_000_000.0  # 2026-11-18: the rest of November is to come
    answer = call("video.servers", app="demo-origin", starttime="2026-11-01")
    assert answer["data"][-1]["date"] == "2026-11-18"
    assert len(answer["data"]) == 18 * 2


def test_video_servers_with_nothing_served_says_so(call: CallCommand) -> None:
    answer = call("video.servers", app="demo-vod", starttime="2026-01-01")
    assert (answer["data"], answer["message"]) == ([], "No Video Region Data Found")
