"""cdnpanel driving a real origin: Debian's nginx + libnginx-mod-rtmp, fed and watched by ffmpeg.

nginx runs the config ``cdnpanel origin nginx-config`` writes; cdnpanel runs as a real server
process on SQLite and on PostgreSQL; every port is on 127.0.0.1.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import httpx
import pytest

from cdnpanel.freshness import DEFAULT_FRESHNESS
from tests.integration.conftest import (
    HLS_FRAGMENT,
    ORIGIN_LOST_AFTER,
    RECONCILE_EVERY,
    Stack,
)
from tests.integration.media import Ffmpeg, wait_until

pytestmark = pytest.mark.integration


def exited(process: subprocess.Popen[bytes]) -> bool:
    return process.poll() is not None


def test_live_stream_viewers_and_close(stack: Stack, ffmpeg: Ffmpeg) -> None:
    publisher = ffmpeg.publish(stack.nginx.rtmp_url("demo-origin/live/cam1"))
    (live,) = wait_until(stack.active, timeout=20, what="the stream in stream.active")
    assert (live["app"], live["inst"], live["stream"], live["origin_url"]) == (
        "demo-origin",
        "live",
        "cam1",
        "origin1.test",
    )
    assert live["publisher_ip"] == "127.0.0.1"

    # Three RTMP players and two HLS players (the HLS ones differ by user agent).
    players = [ffmpeg.play(stack.nginx.rtmp_url("demo-origin/live/cam1")) for _ in range(3)]
    playlist = stack.nginx.http_url("demo-origin/live/cam1/index.m3u8")
    # Waited for on the control server, where a fetch is no viewer (on the playback server it
    # would be one, counted until its window passes).
    control = f"http://127.0.0.1:{stack.nginx.ports.control}/hls/demo-origin/live/cam1/index.m3u8"
    wait_until(lambda: httpx.get(control).status_code == 200, timeout=20, what="the HLS playlist")
    players += [ffmpeg.play(playlist, user_agent=f"hls-player-{n}") for n in (1, 2)]
    wait_until(lambda: stack.viewers() == 5, timeout=20, what="viewercount 5")
    assert stack.client.vsn.viewercount("demo-origin", ["cam1", "_root_"])["viewer_count"] == {
        "cam1": 5,
        "_root_": 5,
    }
    assert stack.active()[0]["viewers"] == 5
    assert not exited(publisher)

    # Players stop: RTMP ones leave with play_done, HLS ones when their window passes.
    for player in players:
        player.terminate()
    wait_until(
        lambda: stack.viewers() == 0,
        # Three segments, plus (for sessions opened before the stream's segment duration was
        # read) a reconcile round and the checks' cache of it.
        timeout=3 * HLS_FRAGMENT + RECONCILE_EVERY + DEFAULT_FRESHNESS.segment_durations + 4,
        what="the count to fall within the HLS window",
    )

    # stream.close by name drops the publisher on the origin; the registry records the end.
    answer = stack.client.stream.close(app="demo-origin", inst="live", stream="cam1")
    assert answer["stream_id"] == live["stream_id"]
    wait_until(lambda: exited(publisher), timeout=15, what="the publishing ffmpeg to exit")
    assert stack.active() == []
    (ended,) = stack.history()
    assert (ended.id, ended.end_reason) == (live["stream_id"], "closed by stream.close")

    # The encoder may publish again (a new stream), and stream.close by id ends it too.
    again = ffmpeg.publish(stack.nginx.rtmp_url("demo-origin/live/cam1"))
    (relive,) = wait_until(stack.active, timeout=20, what="the stream to be live again")
    assert relive["stream_id"] != live["stream_id"]
    stack.client.stream.close(stream_id=relive["stream_id"])
    wait_until(lambda: exited(again), timeout=15, what="the second publisher to exit")
    assert [s.end_reason for s in stack.history()] == ["closed by stream.close"] * 2


def test_killing_nginx_leaves_no_phantom_stream(stack: Stack, ffmpeg: Ffmpeg) -> None:
    ffmpeg.publish(stack.nginx.rtmp_url("demo-origin/live/cam1"))
    ffmpeg.play(stack.nginx.rtmp_url("demo-origin/live/cam1"))
    wait_until(
        lambda: stack.active() and stack.viewers() == 1,
        timeout=20,
        what="the stream and one RTMP viewer",
    )
    stack.nginx.kill()  # no publish_done, no play_done: only the reconciler can tell
    wait_until(
        lambda: stack.active() == [] and stack.viewers() == 0,
        timeout=ORIGIN_LOST_AFTER + 3 * RECONCILE_EVERY + 5,
        what="the reconciler to end the stream",
    )
    (ended,) = stack.history()
    assert ended.end_reason == "origin unreachable (reconciled)"


def test_publish_to_an_application_nobody_owns_is_refused(
    stack_factory: Callable[..., Stack], ffmpeg: Ffmpeg
) -> None:
    def add_stray_application(config: str) -> str:
        """A stale or hand-edited config: a block for an application no account owns, wired
        to cdnpanel like the others (copied from demo-origin's), so cdnpanel decides."""
        start = config.index("        application demo-origin/live {")
        end = config.index("        }", start) + len("        }")
        block = config[start:end].replace("demo-origin", "stray-app")
        return config[:start] + block + "\n" + config[start:]

    stack = stack_factory(edit=add_stray_application)
    publisher = ffmpeg.publish(stack.nginx.rtmp_url("stray-app/live/cam1"))
    assert publisher.wait(timeout=20) != 0  # nginx ended the publish on cdnpanel's 403
    assert stack.active() == []
    assert stack.history() == []
    assert "no account owns an application named 'stray-app'" in stack.server.log()


def test_an_origin_with_a_wrong_secret_gets_nowhere(
    stack_factory: Callable[..., Stack], ffmpeg: Ffmpeg
) -> None:
    stack = stack_factory(secret_override="f" * 64)
    publisher = ffmpeg.publish(stack.nginx.rtmp_url("demo-origin/live/cam1"))
    assert publisher.wait(timeout=20) != 0  # on_publish answered 403
    assert stack.active() == []
    playlist = httpx.get(stack.nginx.http_url("demo-origin/live/cam1/index.m3u8"))
    assert playlist.status_code == 403  # auth_request refused: the secret is wrong
