"""Viewer history from real players: ffmpeg watching a real origin (nginx + libnginx-mod-rtmp)
for more than three minutes, sampled once a minute by a real ``cdnpanel serve``.

On SQLite only: the test is mostly waiting for the clock, and the sampling's SQL runs on
PostgreSQL in tests/commands/test_viewer_history.py.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from cdnpanel.store.tables import history_samples
from tests.integration.conftest import Stack
from tests.integration.media import Ffmpeg, wait_until

pytestmark = pytest.mark.integration


def _sampled(stack: Stack, minute: int) -> bool:
    with stack.services.db.read() as conn:
        found = conn.execute(
            select(history_samples.c.minute).where(history_samples.c.minute == minute)
        ).first()
    return found is not None


def _wait_sampled(stack: Stack, minute: int) -> None:
    """Until the server has sampled ``minute`` (it does within 5 s of its start)."""
    wait = max(0.0, minute - time.time()) + 30
    wait_until(lambda: _sampled(stack, minute), timeout=wait, what=f"the sample of {minute}")


def _series(stack: Stack, url: str, start: int, end: int, **more: Any) -> dict[str, Any]:
    return dict(
        stack.client.vsn.viewerhistorybyname(
            "demo-origin", url, starttime=start, endtime=end, **more
        )
    )


@pytest.mark.parametrize("backend", ["sqlite"])
def test_real_players_for_three_minutes(stack: Stack, ffmpeg: Ffmpeg) -> None:
    ffmpeg.publish(stack.nginx.rtmp_url("demo-origin/live/cam1"))
    wait_until(stack.active, timeout=20, what="the stream in stream.active")
    control = f"http://127.0.0.1:{stack.nginx.ports.control}/hls/demo-origin/live/cam1/index.m3u8"
    wait_until(lambda: httpx.get(control).status_code == 200, timeout=20, what="the playlist")
    started = int(time.time())
    # Three viewers: two RTMP players (one address: one unique viewer) and an HLS player.
    players = [ffmpeg.play(stack.nginx.rtmp_url("demo-origin/live/cam1")) for _ in range(2)]
    hls = stack.nginx.http_url("demo-origin/live/cam1/index.m3u8")
    players.append(ffmpeg.play(hls, user_agent="history-player"))
    wait_until(lambda: stack.viewers() == 3, timeout=20, what="three viewers")
    ready = int(time.time())
    first = ready - ready % 60 + 60  # the first minute sampled with all three watching
    _wait_sampled(stack, first + 60)
    players.append(ffmpeg.play(stack.nginx.rtmp_url("demo-origin/live/cam1")))
    wait_until(lambda: stack.viewers() == 4, timeout=20, what="four viewers")
    assert not _sampled(stack, first + 120), "the machine is too slow for this test's timing"
    _wait_sampled(stack, first + 120)
    for player in players:
        player.terminate()
    wait_until(lambda: stack.viewers() == 0, timeout=20, what="nobody watching")
    _wait_sampled(stack, first + 180)

    minutes = _series(stack, "cam1", first, first + 239)
    assert [p["viewers"] for p in minutes["data"]] == [3, 3, 4, 0]
    assert minutes["peak"] == {
        "viewers": 4,
        "time": time.strftime("%Y-%m-%d %H:%M", time.gmtime(first + 120)),
    }
    assert minutes["viewer_minutes"] == 10
    # The minutes the players joined in were sampled before, while or after they joined.
    whole = _series(stack, "cam1", started - started % 60, first + 239)
    joining = [p["viewers"] for p in whole["data"]][:-4]
    assert 1 <= len(joining) <= 2 and all(0 <= n <= 3 for n in joining)
    assert whole["viewer_minutes"] == 10 + sum(joining)
    assert _series(stack, "_root_", first, first + 239)["viewer_minutes"] == 10
    on = _series(stack, "cam1", first, first + 239, server="origin1.test")
    assert [p["viewers"] for p in on["data"]] == [3, 3, 4, 0]

    hours = _series(stack, "cam1", started - 3600, first + 239, resolution="hour")
    assert max(p["peak"] for p in hours["data"]) == 4
    assert sum(p["viewer_minutes"] for p in hours["data"]) == whole["viewer_minutes"]
    days = _series(stack, "cam1", started, first + 239, resolution="day")
    # One unique RTMP viewer (all players on 127.0.0.1) and the HLS one (address and agent),
    # unless the test ran over midnight (UTC): then each day counts them.
    assert days["unique_viewers"] == 2 * len(days["data"])
    assert sum(p["viewer_minutes"] for p in days["data"]) == whole["viewer_minutes"]
    assert stack.client.viewer.live("demo-origin")["data"] == [
        {"url": "cam1", "live": True, "viewer_count": 0, "rtmp": 0, "hls": 0}
    ]
