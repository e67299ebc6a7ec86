"""video.usage, usage.vse and video.cdnlong through the signed endpoint, on a generated log
ingested by the real ingest job; the expected numbers are computed here from the log itself."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from cdnpanel.store.usage import UsageStore, video_kind
from tests.commands.conftest import CallCommand
from tests.conftest import OriginWorld, Tenant

# (app, video) -> [bytes, requests] per day of November 2026, as the generator wrote them.
Expected = dict[int, dict[tuple[str, str | None], list[int]]]

VIDEOS = ["cam1", "cam2", "news", "café", "sestore/jb/film.mp4", "sestore/jb/b c.mp4"]


def _request_paths(video: str, n: int) -> list[str]:
    """What players ask for a video: its playlist and segments (VOD: its HLS below the file)."""
    quoted = "/".join(quote(part) for part in video.split("/"))
    return [f"/play/{quoted}/index.m3u8?key=k.{n}&pass=p", f"/play/{quoted}/{n}.ts"]


def generated_log(path: Path, seed: int = 7) -> Expected:
    rng = random.Random(seed)
    expected: Expected = defaultdict(dict)
    lines = []
    for n in range(3000):
        day = rng.choice([1, 2, 20])
        app = rng.choice(["demo-origin", "demo-origin", "other-origin"])
        sent = rng.randrange(0, 2_000_000)
        if n % 97 == 0:  # a file right under the instance: no video
            target, video = "/play/top.mp4", None
        else:
            video = rng.choice(VIDEOS)
            target = rng.choice(_request_paths(video, n))
        stamp = f"{day:02d}/Nov/2026:{rng.randrange(24):02d}:{rng.randrange(60):02d}:00 +0000"
        request = f'"GET /{app}{target} HTTP/1.1" 200 {sent}'
        lines.append(f'198.51.100.{n % 250} - - [{stamp}] {request} "-" "ExoPlayerLib/2.19.1"\n')
        row = expected[day].setdefault((app, video), [0, 0])
        row[0] += sent
        row[1] += 1
    path.write_text("".join(lines), encoding="utf-8")
    return expected


@pytest.fixture
def expected(origin_world: OriginWorld, tmp_path: Path) -> Expected:
    origin_world.clock.now = 1_796_900_000.0  # 2026-12-10 UTC
    services = origin_world.services
    services.usage.add_server("HML", "edge")
    log = tmp_path / "edge.log"
    totals = generated_log(log)
    with services.usage.ingest_job("HML", workers=1) as job:
        assert job.ingest(str(log)).status == "ingested"
    return totals


@pytest.fixture
def call(call_as: Callable[[Tenant], CallCommand], origin_world: OriginWorld) -> CallCommand:
    return call_as(origin_world.tenant)


def _rows(expected: Expected, app: str, days: list[int]) -> list[dict[str, Any]]:
    """The expected answer rows: per video over the days, most bytes first."""
    totals: dict[str | None, list[int]] = defaultdict(lambda: [0, 0])
    for day in days:
        for (a, video), (sent, count) in expected[day].items():
            if a == app:
                totals[video][0] += sent
                totals[video][1] += count
    rows = [
        {
            "url": video,
            "type": video_kind(video) or None if video is not None else None,
            "bytes_total": sent,
            "requests_total": count,
        }
        for video, (sent, count) in totals.items()
    ]
    rows.sort(key=lambda r: r["url"] or "", reverse=True)  # ties: by url, in reverse
    return sorted(rows, key=lambda r: -r["bytes_total"])


def test_video_usage_for_a_month_equals_the_logs_totals_in_order(
    call: CallCommand, expected: Expected
) -> None:
    answer = call("video.usage", app="demo-origin", year=2026, month=11)
    assert (answer["status"], answer["message"]) == ("success", "Found Video Usage Data")
    rows = _rows(expected, "demo-origin", [1, 2, 20])
    assert (answer["app"], answer["period"], answer["total"]) == ("demo-origin", "2026-11", 7)
    assert answer["data"] == rows
    assert {r["url"] for r in rows} == {*VIDEOS, None}
    assert {r["type"] for r in rows} == {"live", "vod", None}


def test_video_usage_pages_and_one_day_and_one_url(call: CallCommand, expected: Expected) -> None:
    everything = _rows(expected, "demo-origin", [1, 2, 20])
    pages = [
        call("video.usage", app="demo-origin", year="2026", month="11", limit=3, offset=offset)
        for offset in (0, 3, 6, 9)
    ]
    assert [r for page in pages for r in page["data"]] == everything
    assert [page["total"] for page in pages] == [7, 7, 7, 7]
    assert pages[-1]["data"] == []
    one_day = call("video.usage", app="demo-origin", year=2026, month=11, day=20)
    assert one_day["period"] == "2026-11-20"
    assert one_day["data"] == _rows(expected, "demo-origin", [20])
    one = call("video.usage", app="demo-origin", year=2026, month=11, url="café")
    assert one["data"] == [r for r in everything if r["url"] == "café"]
    # The default period is the current month (December), which has no usage.
    now = call("video.usage", app="demo-origin")
    assert (now["period"], now["total"], now["message"]) == (
        "2026-12",
        0,
        "No Video Usage Data Found",
    )


def test_usage_vse_lists_only_vod_paths(call: CallCommand, expected: Expected) -> None:
    answer = call("usage.vse", app="demo-origin", year=2026, month=11)
    vod = [r for r in _rows(expected, "demo-origin", [1, 2, 20]) if r["type"] == "vod"]
    assert answer["data"] == vod
    assert [r["url"] for r in vod] != [] and answer["total"] == len(vod)


def test_per_url_rows_add_up_to_video_servers(call: CallCommand, expected: Expected) -> None:
    per_url = call("video.usage", app="demo-origin", year=2026, month=11)["data"]
    servers = call("video.servers", app="demo-origin", starttime="2026-11-01")["data"]
    assert sum(r["bytes_total"] for r in per_url) == sum(r["bytes_total"] for r in servers)
    assert sum(r["requests_total"] for r in per_url) == sum(r["requests_total"] for r in servers)


def test_video_cdnlong_is_90_days_with_zeros(call: CallCommand, expected: Expected) -> None:
    answer = call("video.cdnlong", app="demo-origin", starttime="2026-10-01")
    data = answer["data"]
    assert answer["message"] == "Found Video CDN Data"
    assert len(data) == 71  # 2026-10-01 to today (2026-12-10) inclusive; no days to come
    assert data[0]["date"] == "2026-10-01" and data[-1]["date"] == "2026-12-10"
    by_day = {r["date"]: (r["bytes_total"], r["requests_total"]) for r in data}
    for day in (1, 2, 20):
        rows = [v for (app, _video), v in expected[day].items() if app == "demo-origin"]
        assert by_day[f"2026-11-{day:02d}"] == (sum(r[0] for r in rows), sum(r[1] for r in rows))
    assert by_day["2026-11-03"] == (0, 0)
    default = call("video.cdnlong", app="demo-origin")["data"]
    assert (len(default), default[-1]["date"]) == (90, "2026-12-10")


def test_another_account_sees_none_of_it(
    call_as: Callable[[Tenant], CallCommand], origin_world: OriginWorld, expected: Expected
) -> None:
    theirs = call_as(origin_world.other)
    for command in ("video.usage", "usage.vse", "video.cdnlong"):
        refused = theirs(command, app="demo-origin", year=2026, month=11)
        if command == "video.cdnlong":
            refused = theirs(command, app="demo-origin")
        assert refused["code"] == "0010", refused
    own = theirs("video.usage", app="other-origin", year=2026, month=11)
    assert own["data"] == _rows(expected, "other-origin", [1, 2, 20])


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"month": 13}, "month"),
        ({"month": 0}, "month"),
        ({"year": 1969}, "year"),
        ({"year": 2026, "month": 11, "day": 31}, "day"),
        ({"year": 2026, "day": 3}, "month"),
        ({"limit": 0}, "limit"),
        ({"limit": 10_001}, "limit"),
        ({"offset": -1}, "offset"),
        ({"url": ""}, "url"),
        ({"url": "a\x00b"}, "url"),
        ({"app": ["a", "b"]}, "app"),
    ],
)
def test_bad_parameters_are_refused_by_name(
    call: CallCommand, params: dict[str, Any], param: str
) -> None:
    for command in ("video.usage", "usage.vse"):
        answer = call(command, **({"app": "demo-origin"} | params))
        assert (answer["code"], answer.get("param")) == ("0008", param), answer
    assert call("video.usage")["code"] == "0006"
    assert call("video.cdnlong", app="demo-origin", starttime="soon")["param"] == "starttime"


def test_distinct_videos_per_day_are_bounded(origin_world: OriginWorld, tmp_path: Path) -> None:
    """Made-up paths cannot add rows without end: past the day's limit, their bytes count under
    the row without a video, and the totals still add up."""
    services = origin_world.services
    services.usage.add_server("HML", "edge")
    log = tmp_path / "made-up.log"
    lines = [
        f'192.0.2.1 - - [02/Nov/2026:10:00:00 +0000] "GET /demo-origin/play/v{n}/1.ts HTTP/1.1" '
        f'200 {1000 + n} "-" "-"\n'
        for n in range(30)
    ]
    log.write_text("".join(lines))
    job = services.usage.ingest_job("HML", workers=1)
    job._usage = UsageStore(services.db, max_videos_per_day=10)  # the bound, made small
    with job:
        assert job.ingest(str(log)).status == "ingested"
    (app,) = services.applications.list_for_account(origin_world.tenant.account.id)
    period = services.usage.video_period(2026, 11, 2)
    total, rows = services.usage.video_usage(app, period, limit=100, offset=0)
    assert total == 10
    named = [r for r in rows if r.video]
    assert [r.video for r in named] == [f"v{n}" for n in range(29, 20, -1)]  # the 9 largest
    assert sum(r.bytes for r in rows) == sum(1000 + n for n in range(30))
    assert sum(r.requests for r in rows) == 30
