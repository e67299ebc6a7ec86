"""The log parsers: every supported format, and the lines real logs hold that are not requests."""

from __future__ import annotations

import pytest

from cdnpanel.ingest.formats import FORMATS, ChunkTotals, detect_format
from cdnpanel.ingest.sources import line_ranges, read_range_chunks, split_lines

UA = '"https://player.example.com/" "Mozilla/5.0 (X11; Linux x86_64)"'


def per_day(format_name: str, text: bytes) -> dict[tuple[int | None, bytes], list[int]]:
    """Totals of a parse folded to (UTC day, app) -> [bytes, requests]."""
    fmt = FORMATS[format_name]
    totals = fmt.parse(text)
    folded: dict[tuple[int | None, bytes], list[int]] = {}
    for key, count in totals.requests.items():
        day, app, _place = key
        row = folded.setdefault((day, app), [0, 0])
        row[0] += totals.bytes.get(key, 0)
        row[1] += count
    return folded


def per_video(format_name: str, text: bytes) -> dict[tuple[bytes, str | None], list[int]]:
    """Totals of a parse folded to (app, video) -> [bytes, requests]."""
    fmt = FORMATS[format_name]
    totals = fmt.parse(text)
    folded: dict[tuple[bytes, str | None], list[int]] = {}
    for key, count in totals.requests.items():
        _day, app, place = key
        row = folded.setdefault((app, fmt.video(place)), [0, 0])
        row[0] += totals.bytes.get(key, 0)
        row[1] += count
    return folded


DAY = 20777  # 2026-11-20


def combined(time: str, path: str, sent: str = "1000", addr: str = "192.0.2.1") -> bytes:
    return f'{addr} - - [{time}] "GET {path} HTTP/1.1" 200 {sent} {UA}\n'.encode()


def test_combined_counts_requests_and_bytes_per_app() -> None:
    text = (
        combined("20/Nov/2026:10:00:00 +0000", "/live/_definst_/cam1/playlist.m3u8", "310")
        + combined("20/Nov/2026:10:00:01 +0000", "/live/_definst_/cam1/seg1.ts", "500000")
        + combined("20/Nov/2026:23:59:59 +0000", "/vod/films/a.mp4?start=3", "7")
    )
    assert per_day("combined", text) == {
        (DAY, b"live"): [500310, 2],
        (DAY, b"vod"): [7, 1],
    }


def test_videos_are_the_directory_below_the_instance() -> None:
    text = (
        combined("20/Nov/2026:10:00:00 +0000", "/live/_definst_/cam1/playlist.m3u8?key=k", "310")
        + combined("20/Nov/2026:10:00:01 +0000", "/live/_definst_/cam1/seg1.ts", "500000")
        + combined("20/Nov/2026:10:00:02 +0000", "/live/_definst_/cam1/seg2.ts", "400000")
        + combined("20/Nov/2026:10:00:03 +0000", "/live/play/caf%C3%A9/index.m3u8", "9")
        + combined("20/Nov/2026:10:00:04 +0000", "/vod/play/sestore/jb/a.mp4/playlist.m3u8", "7")
        + combined("20/Nov/2026:10:00:05 +0000", "/vod/play/sestore/jb/a.mp4/media_1.ts", "70")
        + combined("20/Nov/2026:10:00:06 +0000", "/vod/play/top.mp4", "5")  # under the instance
        + combined("20/Nov/2026:10:00:07 +0000", "/vod/play/x/../../etc/passwd", "3")
        + combined("20/Nov/2026:10:00:08 +0000", "/vod", "1")
    )
    assert per_video("combined", text) == {
        (b"live", "cam1"): [900310, 3],
        (b"live", "café"): [9, 1],
        (b"vod", "sestore/jb/a.mp4"): [77, 2],
        (b"vod", ""): [6, 2],
        (b"vod", None): [3, 1],
    }
    # Without places: the same per-application totals, every place b"".
    fmt = FORMATS["combined"]
    apps = fmt.parse(text, per_url=False)
    assert {key[2] for key in apps.requests} == {b""}
    assert per_day("combined", text) == {(DAY, b"live"): [900319, 4], (DAY, b"vod"): [86, 5]}
    assert sum(apps.bytes.values()) == sum(fmt.parse(text).bytes.values())


def test_ipv6_clients_dash_bytes_and_crlf() -> None:
    text = (
        combined("20/Nov/2026:10:00:00 +0000", "/live/a/b", "-", addr="2001:db8::1").rstrip(b"\n")
        + b"\r\n"
        + combined("20/Nov/2026:10:00:00 +0000", "/live/a/b", "0", addr="::ffff:192.0.2.9")
        + combined("20/Nov/2026:10:00:00 +0000", "/live/a/b", "12", addr="fe80::1%eth0")
    )
    totals = FORMATS["combined"].parse(text)
    assert totals.lines == 3 and totals.skipped == 0
    assert per_day("combined", text) == {(DAY, b"live"): [12, 3]}


def test_escaped_bytes_in_request_and_user_agent() -> None:
    line = (
        b'192.0.2.1 - - [20/Nov/2026:10:00:00 +0000] "GET /live/\\xE2\\x80\\x9C/x HTTP/1.1" '
        b'200 99 "-" "curl \\x22quoted\\x22 agent"\n'
    )
    binary = b'192.0.2.1 - - [20/Nov/2026:10:00:00 +0000] "\\x16\\x03\\x01\\x00" 400 157 "-" "-"\n'
    assert per_day("combined", line + binary) == {(DAY, b"live"): [99, 1], (DAY, b""): [157, 1]}


def test_offsets_other_than_utc_decide_the_day() -> None:
    text = (
        # 00:10 in India is 18:40 the day before in UTC
        combined("21/Nov/2026:00:10:00 +0530", "/live/x", "1")
        # 20:00 in New York is 01:00 the next day in UTC
        + combined("20/Nov/2026:20:00:00 -0500", "/live/x", "2")
        + combined("20/Nov/2026:12:00:00 +0000", "/live/x", "4")
    )
    assert per_day("combined", text) == {(DAY, b"live"): [5, 2], (DAY + 1, b"live"): [2, 1]}


def test_garbage_error_log_and_impossible_dates_are_not_requests() -> None:
    text = (
        b"2026/11/20 10:00:00 [error] 812#812: *1 open() failed (2: No such file)\n"
        b"\n"
        b"\x00\xff\xfe binary junk\n"
        b"half a line without its end"  # the last, partial line: not parsed as a request
        b"\n"
        + combined("30/Feb/2026:10:00:00 +0000", "/live/x", "1")
        + combined("20/Nov/2026:25:00:00 +0000", "/live/x", "1")
        + combined("20/Nov/2026:10:00:00 +9999", "/live/x", "1")
        + combined("20/Nov/2026:10:00:00 +0000", "/live/x", "8")
    )
    totals = FORMATS["combined"].parse(text)
    assert totals.lines == 8
    assert totals.skipped == 7  # 4 unreadable lines and 3 impossible dates
    assert per_day("combined", text) == {(DAY, b"live"): [8, 1]}


def test_a_line_over_64_kib_is_one_request() -> None:
    long_path = "/live/" + "a" * 70_000
    text = combined("20/Nov/2026:10:00:00 +0000", long_path, "5") + combined(
        "20/Nov/2026:10:00:00 +0000", "/live/b", "6"
    )
    assert per_day("combined", text) == {(DAY, b"live"): [11, 2]}


def test_paths_without_an_application() -> None:
    text = (
        combined("20/Nov/2026:10:00:00 +0000", "/", "1")
        + combined("20/Nov/2026:10:00:00 +0000", "/?x=/live/", "2")
        + combined("20/Nov/2026:10:00:00 +0000", "/crossdomain.xml", "4")
    )
    assert per_day("combined", text) == {(DAY, b""): [3, 2], (DAY, b"crossdomain.xml"): [4, 1]}


def test_cdnpanel_format_iso_time_and_offsets() -> None:
    def line(time: str, path: str, sent: int) -> bytes:
        return (
            f'192.0.2.1 - - [{time}] "GET {path} HTTP/1.1" 200 {sent} "-" "ua" '
            f'"edge1.example.net" 0.002\n'
        ).encode()

    text = (
        line("2026-11-20T23:30:00+00:00", "/live/a", 10)
        + line("2026-11-21T00:30:00+01:00", "/live/a", 20)
        + line("2026-11-20T20:30:00-05:00", "/live/a", 40)
        + line("2026-11-20T10:00:00Z", "/vod/a", 80)
    )
    assert per_day("cdnpanel", text) == {
        (DAY, b"live"): [30, 2],
        (DAY + 1, b"live"): [40, 1],
        (DAY, b"vod"): [80, 1],
    }


def test_rtmp_access_log_counts_sessions_both_directions() -> None:
    text = (
        b'192.0.2.7 [20/Nov/2026:10:00:00 +0000] PLAY "demo-origin/live" "cam1" "" - '
        b'413 29348210 "" "LNX 9,0,124,2" (1m 4s)\n'
        b'192.0.2.8 [20/Nov/2026:10:00:05 +0000] PUBLISH "demo-origin/live" "cam1" '
        b'"key=abc" - 52428800 3453 "" "FMLE/3.0" (10m 0s)\n'
    )
    assert per_day("rtmp", text) == {(DAY, b"demo-origin"): [413 + 29348210 + 52428800 + 3453, 2]}
    assert per_video("rtmp", text) == {
        (b"demo-origin", "cam1"): [413 + 29348210 + 52428800 + 3453, 2]
    }


def test_json_lines() -> None:
    text = (
        b'{"time_iso8601":"2026-11-20T10:00:00+00:00","request_uri":"/live/a/b.ts",'
        b'"bytes_sent":100}\n'
        b'{"msec":"1795176000.123","uri":"/live/x","body_bytes_sent":"50"}\n'
        b'{"time_local":"21/Nov/2026:00:10:00 +0530","request":"GET /vod/f.mp4 HTTP/1.1",'
        b'"bytes_sent":1}\n'
        b'{"@timestamp":"2026-11-20T01:00:00Z","path":"/live/y","bytes":"-"}\n'
        b"not json\n"
        b"[1, 2]\n"
        b'{"request_uri":"/live/no-time","bytes_sent":5}\n'
    )
    totals = FORMATS["json"].parse(text)
    assert totals.lines == 7 and totals.skipped == 3
    assert per_day("json", text) == {(DAY, b"live"): [150, 3], (DAY, b"vod"): [1, 1]}
    assert per_video("json", text) == {
        (b"live", ""): [150, 3],  # /live/a/b.ts: a file right under instance "a"
        (b"vod", ""): [1, 1],
    }
    deeper = b'{"msec":"1795176000","uri":"/live/play/cam9/3.ts","bytes_sent":8}\n'
    assert per_video("json", deeper) == {(b"live", "cam9"): [8, 1]}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (combined("20/Nov/2026:10:00:00 +0000", "/a/b"), "combined"),
        (
            b'1.2.3.4 - - [2026-11-20T10:00:00+00:00] "GET /a/b HTTP/1.1" 200 1 "-" "-" "h" 0.1\n',
            "cdnpanel",
        ),
        (b'1.2.3.4 [20/Nov/2026:10:00:00 +0000] PLAY "a/b" "c" "" - 1 2 "" "" (1s)\n', "rtmp"),
        (b'{"msec": 1}\n', "json"),
        (b"2026/11/20 10:00:00 [error] 1#1: *1 boom\n", None),
    ],
)
def test_detect_format(line: bytes, expected: str | None) -> None:
    found = detect_format(line)
    assert (found.name if found else None) == expected


def test_chunk_totals_add_up() -> None:
    a = FORMATS["combined"].parse(combined("20/Nov/2026:10:00:00 +0000", "/live/x", "1"))
    b = FORMATS["combined"].parse(combined("20/Nov/2026:10:00:00 +0000", "/live/x", "2"))
    total = ChunkTotals()
    total.add(a)
    total.add(b)
    assert total.lines == 2 and sum(total.requests.values()) == 2 and sum(total.bytes.values()) == 3


def test_split_lines_and_line_ranges_cut_only_at_line_ends(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lines = [f"line {i} {'x' * (i % 37)}\n".encode() for i in range(5000)]
    data = b"".join(lines)
    pieces = list(split_lines(data, 1000))
    assert b"".join(pieces) == data and len(pieces) > 10
    assert all(p.endswith(b"\n") for p in pieces)
    path = tmp_path / "log"
    path.write_bytes(data)
    ranges = line_ranges(str(path), 0, len(data), 7)
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
    read = b"".join(b"".join(read_range_chunks(str(path), a, b, 333)) for a, b in ranges)
    assert read == data
    for a, _b in ranges[1:]:
        assert data[a - 1 : a] == b"\n"


@pytest.mark.parametrize(
    "bad",
    [
        combined("20/Nov/2026:10:00:00 +0000", "/live/x", str(2**63)),
        combined("20/Nov/2026:10:00:00 +0000", "/live/x", "9" * 25),
        combined("20/Nov/2026:10:00:00 +0000", "/live/x", "9" * 4300),
        combined("01/Jan/0001:00:00:00 +0100", "/live/x", "5"),
        combined("31/Dec/9999:23:59:00 -0100", "/live/x", "5"),
        combined("01/Jan/0001:00:10:00 +1400", "/live/x", "5"),
    ],
    ids=["2^63", "25-digits", "4300-digits", "year-1", "year-9999", "year-1-plus-14"],
)
def test_a_hostile_line_is_skipped_and_the_rest_counted(bad: bytes) -> None:
    good = combined("20/Nov/2026:10:00:00 +0000", "/live/x", "8")
    text = good + bad + good
    assert per_day("combined", text).get((DAY, b"live")) == [16, 2]
    assert FORMATS["combined"].parse(text).lines == 3


@pytest.mark.parametrize(
    "record",
    [
        b'{"time_iso8601":"2026-11-20T10:00:00+00:00","request_uri":"/live/a","bytes_sent":"'
        + b"9" * 4300
        + b'"}',
        b'{"time_iso8601":"2026-11-20T10:00:00+00:00","request_uri":"/live/a","bytes_sent":1e300}',
        b'{"time_iso8601":"0001-01-01T00:00:00+14:00","request_uri":"/live/a","bytes_sent":5}',
        b'{"time_iso8601":"9999-12-31T23:59:00-12:00","request_uri":"/live/a","bytes_sent":5}',
        b'{"msec":"inf","request_uri":"/live/a","bytes_sent":5}',
    ],
)
def test_a_hostile_json_line_is_skipped(record: bytes) -> None:
    totals = FORMATS["json"].parse(record + b"\n")
    assert (totals.lines, totals.skipped, sum(totals.requests.values())) == (1, 1, 0)


@pytest.mark.parametrize("per_url", [True, False])
def test_bytes_per_utc_five_minutes(per_url: bool) -> None:
    """The 95th percentile's samples: bytes per application and UTC 5-minute bucket, whatever
    the lines' offsets and formats."""
    combined = (
        b'1.2.3.4 - - [20/Nov/2026:10:04:59 +0000] "GET /a/live/c/1.ts HTTP/1.1" 200 10 "-" "-"\n'
        b'1.2.3.4 - - [20/Nov/2026:15:35:00 +0530] "GET /a/live/c/2.ts HTTP/1.1" 200 20 "-" "-"\n'
        b'1.2.3.4 - - [20/Nov/2026:10:09:00 +0000] "GET /b/x.mp4 HTTP/1.1" 200 - "-" "-"\n'
        b'1.2.3.4 - - [20/Nov/2026:10:10:00 +0000] "GET /a/live/c/3.ts HTTP/1.1" 200 40 "-" "-"\n'
    )
    ten = (DAY * 1440 + 600) // 5  # 2026-11-20 10:00 UTC
    expected = {(ten, b"a"): 10, (ten + 1, b"a"): 20, (ten + 1, b"b"): 0, (ten + 2, b"a"): 40}
    assert FORMATS["combined"].parse(combined, per_url=per_url).buckets == expected
    rtmp = b'192.0.2.7 [20/Nov/2026:10:07:00 +0000] PLAY "a/live" "cam1" "" - 5 6 "" "" (1s)\n'
    assert FORMATS["rtmp"].parse(rtmp, per_url=per_url).buckets == {(ten + 1, b"a"): 11}
    moment = DAY * 86400 + 10 * 3600 + 14 * 60 + 59  # 10:14:59 UTC
    json_line = (
        b'{"msec": "%d.250", "request_uri": "/a/live/cam1/4.ts", "bytes_sent": 7}\n' % moment
    )
    assert FORMATS["json"].parse(json_line, per_url=per_url).buckets == {(ten + 2, b"a"): 7}
