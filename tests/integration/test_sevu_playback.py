"""SEVU tickets enforced on real playback: nginx-rtmp's on_play for RTMP, auth_request for HLS,
players played by ffmpeg and plain HTTP fetches, tickets made by the seed's PHP client."""

from __future__ import annotations

import subprocess
import threading
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from cdnpanel.ingest.formats import FORMATS
from cdnpanel.services.ticket_rules import Reason
from cdnpanel.store.tables import ticket_attempts
from tests.integration.conftest import Stack
from tests.integration.media import Ffmpeg, wait_until

pytestmark = pytest.mark.integration

PASSWORD = "unique_random_string_per_request"


@pytest.fixture
def live(stack_factory: Any, ffmpeg: Ffmpeg) -> Stack:
    """A protected demo-origin with cam1 being published and its HLS playlist out."""
    stack: Stack = stack_factory(protection="sevu")
    ffmpeg.publish(stack.nginx.rtmp_url("demo-origin/live/cam1"))
    wait_until(stack.active, timeout=20, what="cam1 to be live")
    directory = stack.nginx.prefix / "hls.demo-origin.live" / "cam1"
    wait_until(
        lambda: len(list(directory.glob("*.ts"))) >= 2, timeout=20, what="HLS segments of cam1"
    )
    return stack


def ticket(stack: Stack, **params: Any) -> str:
    answer = stack.php(
        "sevu.request", **{"app": "demo-origin", "video": "cam1", "pass": PASSWORD, **params}
    )
    assert answer["status"] == "success", answer
    return str(answer["ticket"]["key"])


def query(key: str, password: str = PASSWORD) -> str:
    return f"?key={key}&pass={password}"


def playlist(stack: Stack, key: str | None = None, password: str = PASSWORD) -> httpx.Response:
    suffix = query(key, password) if key else ""
    return httpx.get(stack.nginx.http_url(f"demo-origin/live/cam1/index.m3u8{suffix}"))


def reasons(stack: Stack) -> list[str]:
    stack.services.viewers.flush()  # (this process's; the server writes its own every 0.5 s)
    with stack.services.db.read() as conn:
        rows = conn.execute(select(ticket_attempts.c.reason).order_by(ticket_attempts.c.id))
        return [r.reason for r in rows]


def refused_within(process: subprocess.Popen[bytes], seconds: float) -> bool:
    try:
        return process.wait(timeout=seconds) != 0 or True
    except subprocess.TimeoutExpired:
        return False


def plays_for(process: subprocess.Popen[bytes], seconds: float) -> bool:
    time.sleep(seconds)
    return process.poll() is None


def test_playback_needs_a_ticket_and_a_ticket_admits(live: Stack, ffmpeg: Ffmpeg) -> None:
    rtmp = live.nginx.rtmp_url("demo-origin/live/cam1")
    # Without a ticket: nginx refuses the RTMP play on cdnpanel's 403, and HLS answers 403.
    assert refused_within(ffmpeg.play(rtmp), 20)
    assert playlist(live).status_code == 403
    # With one (made by the seed's PHP code), both play.
    key = ticket(live, ip="auto/24")
    player = ffmpeg.play(rtmp + query(key))
    assert plays_for(player, 3)
    response = playlist(live, key)
    assert response.status_code == 200
    segment = next(line for line in response.text.splitlines() if line.endswith(query(key)))
    assert httpx.get(live.nginx.http_url(f"demo-origin/live/cam1/{segment}")).status_code == 200
    wait_until(lambda: live.viewers() == 2, timeout=10, what="one RTMP and one HLS viewer")
    status = live.php("sevu.status", key=key)
    assert status["used_date"] != "0000-00-00 00:00:00"
    assert status["ip_bound"] == "127.0.0.0/24"  # auto/24 bound to the first viewer
    assert status["uses_remaining"] is None and status["pass"] is None
    wait_until(
        lambda: reasons(live).count(Reason.BAD_TOKEN) == 2 and reasons(live).count("ok") == 2,
        timeout=5,
        what="two refusals without a ticket and two admissions in the attempt log",
    )


@pytest.mark.parametrize(
    ("params", "password", "reason"),
    [
        ({"ip": "203.0.113.0/24"}, PASSWORD, Reason.BAD_IP),
        ({"video": "cam2"}, PASSWORD, Reason.WRONG_VIDEO),
        ({}, "not-the-password", Reason.BAD_TOKEN),
    ],
    ids=["wrong-ip", "wrong-video", "wrong-pass"],
)
def test_refused_tickets_say_why(
    live: Stack, ffmpeg: Ffmpeg, params: dict[str, Any], password: str, reason: str
) -> None:
    key = ticket(live, **params)
    assert playlist(live, key, password).status_code == 403
    player = ffmpeg.play(live.nginx.rtmp_url("demo-origin/live/cam1") + query(key, password))
    assert refused_within(player, 20)
    # Refusals reach the attempt log within the server's half-second write.
    # Polled with the SDK: the seed's PHP code signs a repeat of a request within the same
    # second identically (it sends no nonce), and a replay is refused.
    count = wait_until(
        lambda: (
            (a := live.client.sevu.errorcount(key=key, success=False))["error_count"] >= 2 and a
        ),
        timeout=5,
        what="two refusals counted",
    )
    assert count["code"] == 2051
    assert live.php("sevu.errorcount", key=key, success=1)["code"] == 2050
    wait_until(lambda: reason in reasons(live), timeout=5, what=f"{reason!r} in the attempt log")


def test_expired_revoked_and_used_up_tickets(live: Stack, ffmpeg: Ffmpeg) -> None:
    expiring = ticket(live, expire="+2 seconds")
    assert playlist(live, expiring).status_code == 200
    time.sleep(3)
    assert playlist(live, expiring).status_code == 403
    revoked = ticket(live)
    assert live.php("sevu.revoke", key=revoked)["status"] == "success"
    assert playlist(live, revoked).status_code == 403
    once = ticket(live, uses=1)
    assert playlist(live, once).status_code == 200  # the one session
    assert playlist(live, once).status_code == 200  # its next request: the same session
    player = ffmpeg.play(live.nginx.rtmp_url("demo-origin/live/cam1") + query(once))
    assert refused_within(player, 20)  # a second session: no uses left
    wait_until(
        lambda: {Reason.EXPIRED, Reason.REVOKED, Reason.USED_UP} <= set(reasons(live)),
        timeout=5,
        what="the three reasons in the attempt log",
    )


def test_errorlog_lists_real_plays_with_their_reasons(live: Stack, ffmpeg: Ffmpeg) -> None:
    key = ticket(live, uses=1)
    player = ffmpeg.play(live.nginx.http_url(f"demo-origin/live/cam1/index.m3u8{query(key)}"))
    wait_until(lambda: live.viewers() == 1, timeout=20, what="the HLS player admitted")
    refused = ffmpeg.play(live.nginx.rtmp_url("demo-origin/live/cam1") + query(key))
    assert refused_within(refused, 20)  # a second session: the ticket's one use is taken
    assert playlist(live, key, "not-the-password").status_code == 403
    answer = wait_until(
        lambda: (a := live.php("sevu.errorlog", key=key))["total"] >= 3 and a,
        timeout=5,
        what="three attempts in the log",
    )
    assert answer["message"] == "Found Ticket Attempts"
    rows = answer["data"]
    assert [(r["protocol"], r["success"], r["reason"]) for r in rows[:3]] == [
        ("hls", 1, "Admitted"),
        ("rtmp", 0, Reason.USED_UP),
        ("hls", 0, Reason.BAD_TOKEN),
    ]
    assert [r["pass_matched"] for r in rows[:3]] == [True, True, False]
    assert {(r["app"], r["appinst"], r["video"], r["ip"]) for r in rows} == {
        ("demo-origin", "live", "cam1", "127.0.0.1")
    }
    only_refused = live.client.sevu.errorlog(key, success=False)
    assert [r["reason"] for r in only_refused["data"]] == [Reason.USED_UP, Reason.BAD_TOKEN]
    player.kill()


def test_a_revoked_ticket_stops_running_viewers(live: Stack, ffmpeg: Ffmpeg) -> None:
    key = ticket(live)
    hls = ffmpeg.play(live.nginx.http_url(f"demo-origin/live/cam1/index.m3u8{query(key)}"))
    rtmp = ffmpeg.play(live.nginx.rtmp_url("demo-origin/live/cam1") + query(key))
    wait_until(lambda: live.viewers() == 2, timeout=20, what="both viewers")
    answer = live.php("sevu.revoke", key=key)
    assert answer["players_dropped"] == 1  # the RTMP one, dropped on the origin
    # The HLS player's next playlist request is refused: it stops within the window.
    hls.wait(timeout=10)
    rtmp.wait(timeout=10)
    wait_until(lambda: live.viewers() == 0, timeout=10, what="no viewers")


def test_uses_1_raced_by_20_first_plays_admits_exactly_one(live: Stack, ffmpeg: Ffmpeg) -> None:
    key = ticket(live, uses=1)
    url = live.nginx.rtmp_url("demo-origin/live/cam1") + query(key)
    barrier = threading.Barrier(20)
    players: list[subprocess.Popen[bytes]] = []
    lock = threading.Lock()

    def start() -> None:
        barrier.wait()
        player = ffmpeg.play(url)
        with lock:
            players.append(player)

    threads = [threading.Thread(target=start) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wait_until(
        lambda: sum(p.poll() is not None for p in players) >= 19,
        timeout=60,
        what="19 refused players to exit",
    )
    assert sum(p.poll() is None for p in players) == 1
    assert live.php("sevu.status", key=key)["uses_remaining"] == 0
    assert live.php("sevu.errorcount", key=key, success=1)["error_count"] == 1
    wait_until(  # every refused play is an attempt of its own in the log
        lambda: live.client.sevu.errorcount(key=key, success=False)["error_count"] == 19,
        timeout=5,
        what="19 refusals counted",
    )


def test_errorcount_matches_the_attempt_log(live: Stack) -> None:
    keys = [ticket(live, ip="127.0.0.1"), ticket(live, ip="203.0.113.7"), ticket(live)]
    for key in keys:
        for password in (PASSWORD, "bad-password"):
            playlist(live, key, password)
    live.php("sevu.revoke", key=keys[2])
    playlist(live, keys[2])
    time.sleep(1.5)  # the server writes refusals every half second

    def logged(**where: Any) -> int:
        query_ = select(func.count()).select_from(ticket_attempts)
        for name, value in where.items():
            query_ = query_.where(getattr(ticket_attempts.c, name) == value)
        with live.services.db.read() as conn:
            return int(conn.execute(query_).scalar_one())

    def counted(**filters: Any) -> int:
        answer = live.php("sevu.errorcount", **filters)
        assert answer["status"] == "success"
        return int(answer["error_count"])

    assert counted() == logged() == 7
    assert counted(key=keys[0]) == logged(key=keys[0]) == 2
    assert counted(app="demo-origin") == logged(app="demo-origin")
    assert counted(video="cam1") == logged(video="cam1")
    assert counted(ip="127.0.0.1") == logged(ip="127.0.0.1") == 7
    assert counted(success=1) == logged(success=1) == 2
    assert counted(success=0) == logged(success=0) == 5
    assert counted(**{"pass": "bad-password"}) == 3
    assert counted(limit=5) == 5
    assert counted(limit=5, seek=5) == 2
    assert counted(key=keys[2], success=0) == 2  # wrong pass, then revoked


def test_ticket_passwords_never_reach_the_logs(live: Stack, ffmpeg: Ffmpeg) -> None:
    secret_pass = "s3cret-1234-never-logged"
    key = ticket(live, **{"pass": secret_pass})
    response = playlist(live, key, secret_pass)
    assert response.status_code == 200
    segment = next(line for line in response.text.splitlines() if ".ts?" in line)
    assert httpx.get(live.nginx.http_url(f"demo-origin/live/cam1/{segment}")).status_code == 200
    gone = f"demo-origin/live/cam1/cam1-999999.ts{query(key, secret_pass)}"
    assert httpx.get(live.nginx.http_url(gone)).status_code in (403, 404)
    assert playlist(live, key, secret_pass + "-wrong").status_code == 403
    rtmp = live.nginx.rtmp_url("demo-origin/live/cam1")
    assert plays_for(ffmpeg.play(rtmp + query(key, secret_pass)), 2)
    assert refused_within(ffmpeg.play(rtmp + query(key, secret_pass + "-wrong")), 20)
    ffmpeg.stop_all()
    live.nginx.stop()  # every log line written and closed
    logs = {p.name: p.read_bytes() for p in live.nginx.prefix.iterdir() if p.suffix == ".log"}
    logs["cdnpanel"] = live.server.log_path.read_bytes()
    assert {"access.log", "rtmp-access.log", "error.log"} <= set(logs)
    leaked = [name for name, text in logs.items() if secret_pass.encode() in text]
    assert leaked == []
    # What metering needs is still there: the path, the bytes, the application.
    assert b"GET /demo-origin/live/cam1/index.m3u8 HTTP/1.1" in logs["access.log"]
    assert FORMATS["cdnpanel"].parse(logs["access.log"]).requests
    assert b'PLAY "demo-origin/live" "cam1" ""' in logs["rtmp-access.log"]
    assert FORMATS["rtmp"].parse(logs["rtmp-access.log"]).requests


@pytest.mark.parametrize("backend", ["sqlite"])  # the store's part runs on both in tests/services
@pytest.mark.parametrize("keyframe_seconds", [2, 6, 10])
def test_an_hls_viewer_is_one_session_whatever_the_keyframe_interval(
    stack_factory: Any, ffmpeg: Ffmpeg, keyframe_seconds: int
) -> None:
    """x264's default keyframe interval is 10 s, so ordinary encoders give 10 s segments: a
    uses=1 ticket must play on, and the viewer count hold, through playlist reloads 10 s
    apart."""
    stack: Stack = stack_factory(protection="sevu")
    ffmpeg.publish(stack.nginx.rtmp_url("demo-origin/live/cam1"), keyframe_seconds=keyframe_seconds)
    wait_until(stack.active, timeout=20, what="cam1 to be live")
    (live_stream,) = stack.active()
    store = stack.services.streams._streams

    def learnt() -> int | None:
        stream = store.get(int(live_stream["stream_id"]))
        return stream.hls_segment_seconds if stream else None

    # The reconciler reads the playlist's target duration once the first segment is cut.
    wait_until(learnt, timeout=keyframe_seconds * 3 + 10, what="the segment duration")
    assert keyframe_seconds <= (learnt() or 0) <= keyframe_seconds + 1
    key = ticket(stack, uses=1)
    player = ffmpeg.play(stack.nginx.http_url(f"demo-origin/live/cam1/index.m3u8{query(key)}"))
    wait_until(lambda: stack.viewers() == 1, timeout=keyframe_seconds * 2 + 10, what="the viewer")
    counts = []
    for _ in range(6):  # three playlist reloads at the least
        time.sleep(keyframe_seconds / 2)
        counts.append(stack.viewers())
    assert player.poll() is None  # still playing: never refused
    assert counts == [1] * 6
    assert stack.php("sevu.status", key=key)["uses_remaining"] == 0
    assert stack.client.sevu.errorcount(key=key, success=True)["error_count"] == 1
    assert stack.client.sevu.errorcount(key=key, success=False)["error_count"] == 0


def test_a_refused_player_is_told_why(live: Stack) -> None:
    key = ticket(live, ip="203.0.113.0/24")
    for response, reason in (
        (playlist(live), Reason.BAD_TOKEN),  # no ticket
        (playlist(live, key), Reason.BAD_IP),
        (playlist(live, key, "not-the-password"), Reason.BAD_TOKEN),
    ):
        assert response.status_code == 403
        assert response.headers["x-cdnpanel-reason"] == reason
        assert response.text == f"403 refused by cdnpanel: {reason}\n"
    for _ in range(20):  # a player retrying: the server log says it once a while
        playlist(live, key)
    wait_until(lambda: "HLS refused" in live.server.log(), timeout=5, what="the log line")
    lines = [line for line in live.server.log().splitlines() if "HLS refused" in line]
    assert sum(Reason.BAD_IP in line for line in lines) == 1
    assert all("pass=" not in line and PASSWORD not in line for line in lines)
