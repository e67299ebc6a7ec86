"""Publisher authentication on a real origin: Debian's nginx + libnginx-mod-rtmp, ffmpeg as the
encoder, stream users made by the Ruby client's own call (ConferenceCloud/ruby-scaleengine's
tests/test.rb) and by the SDK, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import CLIENTS, Stack
from tests.integration.media import Ffmpeg, wait_until

pytestmark = pytest.mark.integration

PASSWORD = "QWERTYUIOPASDFGH"  # 16 letters, as the Ruby client's test program makes them
STAR_PASSWORD = "studio-Pa55word-9"


def exited(process: subprocess.Popen[bytes]) -> bool:
    return process.poll() is not None


def ruby(stack: Stack, command: str, **params: object) -> dict[str, object]:
    argv = ["ruby", str(CLIENTS / "ruby_client.rb"), f"{stack.server.url}/stable/", "158"]
    argv += [stack.api_key, stack.api_secret, command, json.dumps(params)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr + done.stdout
    return dict(json.loads(done.stdout))


def test_only_encoders_with_a_stream_users_credentials_publish(
    stack_factory: object, ffmpeg: Ffmpeg, tmp_path: Path
) -> None:
    stack: Stack = stack_factory(publishing="credentials")  # type: ignore[operator]
    url = stack.nginx.rtmp_url

    # No stream user yet: an application that needs credentials refuses every encoder.
    bare = ffmpeg.publish(url("demo-origin/live/cam1"))
    wait_until(lambda: exited(bare), timeout=20, what="the refused ffmpeg to exit")
    assert stack.active() == []

    added = ruby(
        stack, "sevu.addstreamuser", app="demo-origin", stream="cam1", user="conferencecloud",
        **{"pass": PASSWORD},
    )  # fmt: skip
    assert added["status"] == "success", added

    for wrong in ("", "?user=conferencecloud&pass=wrong-password", f"?user=eve&pass={PASSWORD}"):
        refused = ffmpeg.publish(url(f"demo-origin/live/cam1{wrong}"))
        wait_until(lambda p=refused: exited(p), timeout=20, what=f"ffmpeg {wrong!r} refused")
    assert stack.active() == []

    good = ffmpeg.publish(url(f"demo-origin/live/cam1?user=conferencecloud&pass={PASSWORD}"))
    (live,) = wait_until(stack.active, timeout=20, what="the authenticated stream live")
    assert (live["stream"], live["publisher_ip"]) == ("cam1", "127.0.0.1")
    assert not exited(good)

    # stream.details: what the origin's stat says of the encoder (tests/integration/media.py:
    # H.264 160x120 at 15 frames/s with AAC audio); nginx-rtmp measures bandwidth in intervals.
    def measured() -> dict[str, object] | None:
        details = stack.client.stream.details(stream_id=live["stream_id"])
        media = details["media"]
        return details if media and media["bitrate"] else None

    details = wait_until(measured, timeout=30, what="the origin to measure the bitrate")
    media = details["media"]  # type: ignore[index]
    # nginx-rtmp reads the size from the H.264 header and misreads its cropping: 120 lines
    # (8 macroblock rows, 8 cropped) come out as 112 (docs/commands/stream.details.md).
    assert (media["video_codec"], media["width"], media["height"]) == ("H264", 160, 112)
    assert (media["frame_rate"], media["audio_codec"]) == (15, "AAC")
    assert details["streamuser_id"] == added["streamuser"]["streamuser_id"]  # type: ignore[index]

    # A '*' stream user serves every stream without one of its own.
    stack.client.sevu.addstreamuser("demo-origin", "*", "studio", STAR_PASSWORD)
    other = ffmpeg.publish(url(f"demo-origin/live/studio-b?user=studio&pass={STAR_PASSWORD}"))
    wait_until(lambda: len(stack.active()) == 2, timeout=20, what="the '*' stream live")
    not_for_cam1 = ffmpeg.publish(url(f"demo-origin/live/cam1?user=studio&pass={STAR_PASSWORD}"))
    wait_until(lambda: exited(not_for_cam1), timeout=20, what="cam1 to refuse the '*' user")
    assert not exited(other)

    log = stack.server.log()
    assert "refused publish callback: application 'demo-origin' needs publisher credentials" in log
    assert "refused publish callback: wrong user or pass for stream 'cam1'" in log
    assert "refused publish callback: stream 'cam1' of 'demo-origin' needs a stream user" in log

    # The passwords are nowhere in clear: not in the origin's logs, the server's, the database.
    stack.nginx.stop()
    texts = [path.read_bytes() for path in stack.nginx.prefix.glob("*.log")]
    texts += [(stack.nginx.prefix / "nginx.out").read_bytes(), log.encode()]
    texts += database_bytes(stack)
    for password in (PASSWORD, STAR_PASSWORD):
        for text in texts:
            assert password.encode() not in text


def database_bytes(stack: Stack) -> list[bytes]:
    db = stack.services.db
    if db.url.get_backend_name() == "sqlite":
        database = Path(str(db.url.database))
        files = [database, database.with_name(database.name + "-wal")]
        return [f.read_bytes() for f in files if f.exists()]
    with db.read() as conn:  # PostgreSQL: every text and bytes value of the tables it touched
        rows = conn.exec_driver_sql("SELECT * FROM stream_users").all()
    return [repr(rows).encode()]


def test_open_publishing_and_a_stream_without_credentials(stack: Stack, ffmpeg: Ffmpeg) -> None:
    url = stack.nginx.rtmp_url  # the stack's application is open (as before publishing auth)
    ffmpeg.publish(url("demo-origin/live/cam1"))
    wait_until(lambda: len(stack.active()) == 1, timeout=20, what="an open stream live")
    stack.client.sevu.addstreamuser("demo-origin", "cam2", "enc", "enc-Pa55word")
    refused = ffmpeg.publish(url("demo-origin/live/cam2"))
    wait_until(lambda: exited(refused), timeout=20, what="cam2 to ask for credentials")
    stack.client.sevu.addstreamuser("demo-origin", "cam3", None, None)  # no credentials
    ffmpeg.publish(url("demo-origin/live/cam3"))
    wait_until(lambda: len(stack.active()) == 2, timeout=20, what="cam3 live without any")
    assert sorted(s["stream"] for s in stack.active()) == ["cam1", "cam3"]


def test_a_locked_stream_stays_closed_and_a_removed_user_is_dropped(
    stack_factory: object, ffmpeg: Ffmpeg
) -> None:
    stack: Stack = stack_factory(publishing="credentials")  # type: ignore[operator]
    encoder = f"demo-origin/live/cam1?user=enc&pass={PASSWORD}"
    # The seed documentation's own PHP code (php-cli + curl) adds it.
    added = stack.php(
        "sevu.addstreamuser", app="demo-origin", stream="cam1", user="enc", **{"pass": PASSWORD}
    )
    assert added["status"] == "success", added
    first = ffmpeg.publish(stack.nginx.rtmp_url(encoder))
    (live,) = wait_until(stack.active, timeout=20, what="cam1 live")

    closed = stack.client.stream.close(stream_id=live["stream_id"], lock=True)
    assert closed["locked"] is True
    wait_until(lambda: exited(first), timeout=15, what="the closed publisher to exit")
    # The encoder's reconnect loop: each attempt is refused while the lock holds.
    for _attempt in range(3):
        retry = ffmpeg.publish(stack.nginx.rtmp_url(encoder))
        wait_until(lambda p=retry: exited(p), timeout=20, what="a locked reconnect refused")
    assert stack.active() == []
    assert "is locked (closed with lock at" in stack.server.log()

    stack.client.sevu.updatestream(live["stream_id"], locked=0)
    again = ffmpeg.publish(stack.nginx.rtmp_url(encoder))
    wait_until(lambda: len(stack.active()) == 1, timeout=20, what="cam1 live after unlocking")

    # Removing the stream user drops its live publisher at once, and its reconnect is refused.
    streamuser_id = added["streamuser"]["streamuser_id"]
    removed = stack.php("sevu.removestreamuser", streamuser_id=streamuser_id)
    assert removed["publishers_dropped"] == 1, removed
    wait_until(lambda: exited(again), timeout=15, what="the removed user's publisher to exit")
    assert stack.active() == []
    retry = ffmpeg.publish(stack.nginx.rtmp_url(encoder))
    wait_until(lambda: exited(retry), timeout=20, what="the removed user's reconnect refused")
    (ended, *_rest) = stack.history()
    assert ended.end_reason == "its stream user was removed"
