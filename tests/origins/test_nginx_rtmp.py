"""The nginx-rtmp adapter against recorded callback forms and stat documents.

The forms are what Debian's nginx 1.22.1 + libnginx-mod-rtmp 1.2.2 posted for ffmpeg 5.1
publishers and players; the stat documents were fetched from it (tests/origins/data/).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from cdnpanel.errors import MalformedRequest, OriginUnavailable
from cdnpanel.origins.adapter import Action
from cdnpanel.origins.nginx_rtmp import (
    NginxRtmp,
    parse_callback,
    parse_stat,
    parse_target_duration,
    split_app,
)
from cdnpanel.records import Origin

DATA = Path(__file__).with_name("data")
ORIGIN = Origin(1, "origin1.example.net", "nginx-rtmp", "http://127.0.0.1:8081", 2, 0)

PUBLISH_FORM = {
    "app": "demo-origin/live",
    "flashver": "FMLE/3.0 (compatible; Lavf59.27",
    "tcurl": "rtmp://127.0.0.1:19350/demo-origin/live",
    "addr": "127.0.0.1",
    "clientid": "1",
    "call": "publish",
    "name": "cam1",
    "type": "live",
    "key": "pubkey",
}
PLAY_FORM = {
    "app": "demo-origin/live",
    "flashver": "LNX 9,0,124,2",
    "tcurl": "rtmp://127.0.0.1:19350/demo-origin/live",
    "addr": "127.0.0.1",
    "clientid": "7",
    "call": "play",
    "name": "cam1",
    "start": "4294965296",
    "duration": "0",
    "reset": "0",
    "key": "v1",
    "pass": "p1",
}


def test_publish_callback() -> None:
    event = parse_callback("publish", PUBLISH_FORM)
    assert (event.action, event.app, event.inst, event.name) == (
        Action.PUBLISH,
        "demo-origin",
        "live",
        "cam1",
    )
    assert (event.client_id, event.address) == ("1", "127.0.0.1")
    assert event.query == {"key": "pubkey"}  # the publisher URL's own query, nothing of nginx's


def test_play_callback_carries_the_players_query() -> None:
    event = parse_callback("play", PLAY_FORM)
    assert event.action is Action.PLAY
    assert event.query == {"key": "v1", "pass": "p1"}
    assert "p1" not in repr(event)  # a ticket password never reaches a log through repr


def test_done_callbacks() -> None:
    done = {k: v for k, v in PUBLISH_FORM.items() if k != "type"} | {"call": "publish_done"}
    assert parse_callback("publish_done", done).action is Action.PUBLISH_DONE
    play_done = PLAY_FORM | {"call": "play_done"}
    assert parse_callback("play_done", play_done).action is Action.PLAY_DONE
    assert parse_callback("done", PLAY_FORM | {"call": "done"}).action is Action.OTHER


@pytest.mark.parametrize(
    ("event", "form", "message"),
    [
        ("publish", PUBLISH_FORM | {"app": "demo-origin"}, "not APP/INST"),
        ("publish", PUBLISH_FORM | {"app": "a/b/c"}, "not APP/INST"),
        ("publish", {k: v for k, v in PUBLISH_FORM.items() if k != "name"}, "without 'name'"),
        ("play", {k: v for k, v in PLAY_FORM.items() if k != "clientid"}, "without 'clientid'"),
        ("play", PLAY_FORM | {"call": "publish"}, "carries call='publish'"),
        ("publish", PUBLISH_FORM | {"name": "x" * 2000}, "too long"),
    ],
)
def test_unreadable_callbacks_are_refused(event: str, form: dict[str, str], message: str) -> None:
    with pytest.raises(MalformedRequest, match=message):
        parse_callback(event, form)


def test_split_app() -> None:
    assert split_app("demo-origin/live") == ("demo-origin", "live")
    for bad in ("", "demo-origin", "/live", "demo-origin/", "a/b/c"):
        with pytest.raises(MalformedRequest):
            split_app(bad)


def test_stat_with_a_publisher_and_two_players() -> None:
    snapshot = parse_stat((DATA / "stat-publisher-two-players.xml").read_bytes())
    (stream,) = snapshot.streams
    assert (stream.app, stream.inst, stream.name) == ("demo-origin", "live", "cam1")
    assert stream.publisher is not None
    assert (stream.publisher.client_id, stream.publisher.address) == ("3", "127.0.0.1")
    assert stream.publisher.seconds == pytest.approx(4.673)
    assert sorted(p.client_id for p in stream.players) == ["5", "6"]  # the publisher is not one
    # What nginx-rtmp read of the publisher (4.5 s in: no bandwidth measured yet, no audio).
    media = stream.media
    assert (media.video_codec, media.width, media.height, media.frame_rate) == (
        "H264",
        320,
        240,
        25.0,
    )
    assert (media.bitrate, media.video_bitrate, media.audio_codec) == (0, 0, None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1500000", 1_500_000), ("", None), ("x", None), ("-1", None), ("9" * 30, None)],
)
def test_stat_media_numbers_are_read_or_unknown(value: str, expected: int | None) -> None:
    document = (
        "<rtmp><server><application><name>demo-origin/live</name><live><stream>"
        f"<name>cam1</name><time>1</time><bw_in>{value}</bw_in>"
        f"<meta><video><width>{value}</width><frame_rate>nan</frame_rate>"
        "<codec>&#x7f;H264</codec></video></meta>"
        "</stream></live></application></server></rtmp>"
    ).encode()
    (stream,) = parse_stat(document).streams
    assert (stream.media.bitrate, stream.media.width) == (expected, expected)
    assert (stream.media.frame_rate, stream.media.video_codec) == (None, None)


def test_stat_with_players_waiting_for_a_publisher() -> None:
    (stream,) = parse_stat((DATA / "stat-idle-players.xml").read_bytes()).streams
    assert stream.publisher is None
    assert len(stream.players) == 2


def test_stat_with_nothing_live() -> None:
    assert parse_stat((DATA / "stat-empty.xml").read_bytes()).streams == ()


@pytest.mark.parametrize(
    "document", [b"", b"<html>502 Bad Gateway</html>", b"<rtmp><server>", b"\xff\xfe"]
)
def test_unreadable_stat(document: bytes) -> None:
    with pytest.raises(ValueError, match="stat"):
        parse_stat(document)


def adapter(handler: httpx.MockTransport) -> NginxRtmp:
    return NginxRtmp(httpx.Client(transport=handler, timeout=1))


def test_drop_sends_app_slash_inst_unencoded() -> None:
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path)
        return httpx.Response(200, text="1")

    dropped = adapter(httpx.MockTransport(handler)).drop_publisher(
        ORIGIN, app="demo-origin", inst="live", name="cam1"
    )
    assert dropped == 1
    # nginx-rtmp compares the raw argument: "demo-origin%2Flive" would drop nobody.
    assert seen == [b"/control/drop/publisher?app=demo-origin/live&name=cam1"]


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(500), "HTTP 500"),
        (httpx.Response(200, text="dropped"), "not a count"),
        (httpx.Response(404), "HTTP 404"),
    ],
)
def test_drop_failures_name_the_origin(response: httpx.Response, message: str) -> None:
    nginx = adapter(httpx.MockTransport(lambda _request: response))
    with pytest.raises(OriginUnavailable, match=message) as caught:
        nginx.drop_publisher(ORIGIN, app="a", inst="live", name="s")
    assert caught.value.origin == ORIGIN.name


def test_an_origin_that_does_not_answer_is_unavailable_not_a_hang() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    for handler, message in ((timeout, "in time"), (refused, "ConnectError")):
        with pytest.raises(OriginUnavailable, match=message):
            adapter(httpx.MockTransport(handler)).snapshot(ORIGIN)


def test_snapshot_reads_stat() -> None:
    xml = (DATA / "stat-publisher-two-players.xml").read_bytes()
    nginx = adapter(httpx.MockTransport(lambda _request: httpx.Response(200, content=xml)))
    assert nginx.snapshot(ORIGIN).streams[0].name == "cam1"
    garbage = adapter(httpx.MockTransport(lambda _request: httpx.Response(200, text="<html>")))
    with pytest.raises(OriginUnavailable, match="unreadable /stat"):
        garbage.snapshot(ORIGIN)


def test_drop_player_names_the_client() -> None:
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path)
        return httpx.Response(200, text="1")

    dropped = adapter(httpx.MockTransport(handler)).drop_player(
        ORIGIN, app="demo-origin", inst="live", name="cam1", client_id="42"
    )
    assert dropped == 1
    assert seen == [b"/control/drop/subscriber?app=demo-origin/live&name=cam1&clientid=42"]


@pytest.mark.parametrize(
    ("playlist", "seconds"),
    [
        (b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-MEDIA-SEQUENCE:4\n#EXT-X-TARGETDURATION:10\n", 10),
        (b"#EXTM3U\r\n#EXT-X-TARGETDURATION:2\r\n#EXTINF:2.000,\r\n1.ts\r\n", 2),
        (b"#EXTM3U\n#EXTINF:2.0,\n1.ts\n", None),  # none declared
        (b"#EXTM3U\n#EXT-X-TARGETDURATION:0\n", None),
        (b"#EXTM3U\n#EXT-X-TARGETDURATION:abc\n", None),
        (b"<html>not a playlist</html>", None),
        (b"", None),
    ],
)
def test_the_target_duration_of_a_playlist(playlist: bytes, seconds: int | None) -> None:
    assert parse_target_duration(playlist) == seconds


def test_segment_seconds_come_from_the_playlist_on_the_control_server() -> None:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.raw_path.decode())
        if request.url.path.endswith("/cam1/index.m3u8"):
            return httpx.Response(200, content=b"#EXTM3U\n#EXT-X-TARGETDURATION:6\n")
        return httpx.Response(404)

    nginx = adapter(httpx.MockTransport(handler))
    assert nginx.hls_segment_seconds(ORIGIN, app="demo-origin", inst="live", name="cam1") == 6
    assert nginx.hls_segment_seconds(ORIGIN, app="demo-origin", inst="live", name="a b") is None
    assert asked == [
        "/hls/demo-origin/live/cam1/index.m3u8",
        "/hls/demo-origin/live/a%20b/index.m3u8",
    ]
