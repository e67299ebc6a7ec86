"""Access-log formats: pure parsers from a chunk of whole lines to per-minute, per-application
and per-video totals.

Speed matters here (1 GB of log in seconds), so a chunk is parsed by one ``re.findall`` that
starts matching at the ``[`` of the time (anchoring at the line start made the same regex twice
as slow) and captures only what the totals need: the time to the minute, the UTC offset, the
first segment of the URL (the application: ``/<app>/<inst>/<stream>``), the *place* (the URL's
directory below the application, ``/<inst>/<stream or VOD path>``, or the RTMP stream's name)
and the byte count. The place leaves out the file name, so that every segment and playlist
of a stream in a minute adds to one total (with the file names the totals had one key per
line, and parsing took twice as long); ``LogFormat.video`` turns a place into the video the
per-URL reports name. Parsing without places (``per_url=False``) is the same regex without
that group. Lines that do not match (garbage, error-log lines) are counted as skipped, never
fatal.

The time is kept to the minute, with its offset, until totals are merged: with offsets like
``+0530`` the UTC day of a line depends on its minute.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import orjson

__all__ = [
    "BUCKET_MINUTES",
    "FORMATS",
    "MAX_VIDEO",
    "BucketKey",
    "ChunkTotals",
    "DayKey",
    "LogFormat",
    "detect_format",
]

Key = tuple[bytes, bytes, bytes, bytes]  # (time to the minute, UTC offset, application, place)
DayKey = tuple[int, bytes, bytes]  # (UTC day, application, place)
BucketKey = tuple[int, bytes]  # (UTC 5-minute bucket, application)
MAX_VIDEO = 512  # the longest video (stream name or VOD path) the per-URL rollups keep
_MONTHS = {
    name.encode(): number
    for number, name in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LAST_DAY = (datetime(9999, 12, 31, tzinfo=UTC) - _EPOCH).days  # days past it are not dates


@dataclass
class ChunkTotals:
    """Requests and bytes per key of some lines, and what was read. The parsers' keys are
    ``Key`` (to the minute, with the offset); ``LogFormat.parse`` folds them to ``DayKey``."""

    lines: int = 0
    skipped: int = 0
    requests: Counter[Any] = field(default_factory=Counter)
    bytes: dict[Any, int] = field(default_factory=dict)
    # Bytes per (UTC 5-minute bucket, application): the 95th percentile's samples. A bucket is
    # minutes since 1970 // 5.
    buckets: dict[BucketKey, int] = field(default_factory=dict)

    def add(self, other: ChunkTotals) -> None:
        self.lines += other.lines
        self.skipped += other.skipped
        self.requests.update(other.requests)
        for key, value in other.bytes.items():
            self.bytes[key] = self.bytes.get(key, 0) + value
        for bucket, value in other.buckets.items():
            self.buckets[bucket] = self.buckets.get(bucket, 0) + value


@dataclass(frozen=True)
class LogFormat:
    name: str
    description: str
    parse_places: Callable[[bytes], ChunkTotals]
    parse_apps: Callable[[bytes], ChunkTotals]
    utc_minute: Callable[[bytes, bytes], int | None]
    """The UTC minute (minutes since 1970-01-01) of a key's minute and offset; None if it is
    no date."""
    video: Callable[[bytes], str | None]
    """The video (stream name or VOD path) a key's place names; "" for files right under an
    application instance (``/<app>/<inst>/<file>``); None for a place no video can be."""

    def parse(self, data: bytes, *, per_url: bool = True) -> ChunkTotals:
        """Totals per UTC day, application and place (``per_url=False``: place ``b""``);
        lines whose time is no date count as skipped.

        The minutes are folded to days in the parsing worker, once per distinct minute and
        place: the main process then merges a few keys a day, not one per minute."""
        return self.parse_places(data) if per_url else self.parse_apps(data)


MinuteOf = Callable[[bytes, bytes], "int | None"]
BUCKET_MINUTES = 5  # the 95th percentile's samples: bytes per 5 minutes, as CDNs bill


def _totals_no_place(
    found: list[tuple[bytes, ...]], data: bytes, utc_minute: MinuteOf
) -> ChunkTotals:
    """Totals of ``(minute, offset, app, bytes)`` matches, every place ``b""``: one tight
    loop groups the byte counts per key; counting and summing them is then done in C
    (``len``, ``sum(map(int, ...))``), once per key."""
    grouped: defaultdict[tuple[bytes, bytes, bytes], list[bytes]] = defaultdict(list)
    for minute, offset, app, sent in found:
        grouped[(minute, offset, app)].append(sent)
    return _folded(grouped, data.count(b"\n"), len(found), utc_minute, _no_place)


def _no_place(app: bytes) -> tuple[bytes, bytes]:
    return app, b""


def _folded(
    grouped: dict[tuple[bytes, bytes, bytes], list[bytes]],
    lines: int,
    matched: int,
    utc_minute: MinuteOf,
    split: Callable[[bytes], tuple[bytes, bytes]],
) -> ChunkTotals:
    """``(minute, offset, X) -> byte counts`` as totals per (UTC day, application, place),
    ``split`` telling the application and place of an X (once per distinct X)."""
    totals = ChunkTotals(lines, max(0, lines - matched))
    requests, sums, buckets = totals.requests, totals.bytes, totals.buckets
    moments: dict[tuple[bytes, bytes], tuple[int, int] | None] = {}
    parts: dict[bytes, tuple[bytes, bytes]] = {}
    for (minute, offset, x), values in grouped.items():
        moment = (minute, offset)
        when = moments[moment] if moment in moments else _when(moments, moment, utc_minute)
        if when is None:
            totals.skipped += len(values)
            continue
        split_x = parts.get(x)
        if split_x is None:
            split_x = parts[x] = split(x)
        key = (when[0], *split_x)
        try:
            sent = sum(map(int, values))
        except ValueError:  # "-": nothing sent
            sent = sum(int(v) for v in values if v != b"-")
        requests[key] += len(values)
        sums[key] = sums.get(key, 0) + sent
        bucket = (when[1], split_x[0])
        buckets[bucket] = buckets.get(bucket, 0) + sent
    return totals


def _when(
    moments: dict[tuple[bytes, bytes], tuple[int, int] | None],
    moment: tuple[bytes, bytes],
    utc_minute: MinuteOf,
) -> tuple[int, int] | None:
    """A minute and offset as (UTC day, 5-minute bucket), noted in ``moments``."""
    minute = utc_minute(*moment)
    when = None if minute is None else (minute // 1440, minute // BUCKET_MINUTES)
    moments[moment] = when
    return when


def _fold(found: ChunkTotals, utc_minute: MinuteOf) -> ChunkTotals:
    """Totals per (minute, offset, app, place) as totals per (UTC day, app, place)."""
    folded = ChunkTotals(found.lines, found.skipped)
    requests, sums, buckets = folded.requests, folded.bytes, folded.buckets
    moments: dict[tuple[bytes, bytes], tuple[int, int] | None] = {}
    for (minute, offset, app, place), count in found.requests.items():
        moment = (minute, offset)
        when = moments[moment] if moment in moments else _when(moments, moment, utc_minute)
        if when is None:
            folded.skipped += count
            continue
        key = (when[0], app, place)
        sent = found.bytes.get((minute, offset, app, place), 0)
        requests[key] += count
        sums[key] = sums.get(key, 0) + sent
        buckets[(when[1], app)] = buckets.get((when[1], app), 0) + sent
    return folded


def _totals_two(found: list[tuple[bytes, ...]], data: bytes, *, places: bool) -> ChunkTotals:
    """Totals of ``(minute, offset, app, name, received, sent)`` matches (a line per session)."""
    lines = data.count(b"\n")
    keys = [(m, o, a, n if places else b"") for m, o, a, n, _r, _s in found]
    totals = ChunkTotals(lines, max(0, lines - len(found)), Counter(keys))
    sums = totals.bytes
    for key, (_m, _o, _a, _n, received, sent) in zip(keys, found, strict=True):
        sums[key] = sums.get(key, 0) + int(received) + int(sent)
    return totals


# The regexes are written for Python's engine: the time as runs of ``.`` (checked strictly once
# per distinct minute, by the format's ``utc_minute``) and quoted fields as ``[^"]*`` are each
# about 1.4 times faster than ``\d``, character classes and ``[^"\n]*``. A quoted field never
# holds a raw ``"`` (nginx writes it as ``\x22``), so a match can run past a line's end only on a
# damaged line followed by one with ``" NNN `` right after its first quote, which nginx never
# writes; even then one line is counted as skipped, nothing more.

# -- nginx combined (and cdnpanel's own format, with ISO 8601 time and $bytes_sent) -------------

# A byte count of a line has at most 12 digits (just under 1 TB): a line claiming more is not a
# request nginx logged but damage or forgery, skipped like any unreadable line, so that the
# rollups' 64-bit sums can never overflow and one line can never stop a log's metering.
_BYTES = rb"\d{1,12}"

# $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$referer" "$ua"
# The request's path: /<app>; with places, its directory instead (one group, greedy up to the
# last "/": the file name is matched but not kept), "/<app>/<inst>/<stream>/" of
# /<app>/<inst>/<stream>/12.ts, which _totals_of_directories splits into the application and
# the place "/<inst>/<stream>"; a path of one segment (/<app>, /favicon.ico) is captured whole,
# the application. (Two groups, application and place, made the regex 1.3 times slower.)
_PATH_APP = rb'/([^/?" \n]*)'
_PATH_PLACE = rb'(/[^?" \n]*/|/[^/?" \n]*)[^/?" \n]*'
_STATUS_BYTES = rb'[^"]*|[^"]*)" (?:\d{3}|-) (' + _BYTES + rb"|-)(?![0-9])"
_REQUEST = rb'"(?:[^" \n]+ ' + _PATH_APP + _STATUS_BYTES
_REQUEST_PLACE = rb'"(?:[^" \n]+ ' + _PATH_PLACE + _STATUS_BYTES
_LOCAL_TIME = rb"\[(../.../....:..:..):.. (.....)\] "
_ISO_TIME = rb"\[(....-..-..T..:..):..(Z|[-+]..:..)\] "
_COMBINED = re.compile(_LOCAL_TIME + _REQUEST)
_COMBINED_PLACE = re.compile(_LOCAL_TIME + _REQUEST_PLACE)
# cdnpanel's: the same with [$time_iso8601] and $bytes_sent (headers included), then more fields
_CDNPANEL = re.compile(_ISO_TIME + _REQUEST)
_CDNPANEL_PLACE = re.compile(_ISO_TIME + _REQUEST_PLACE)
# nginx-rtmp: $remote_addr [$time_local] $command "$app" "$name" "$args" - $bytes_received
# $bytes_sent "$pageurl" "$flashver" ($session_readable_time); app is APP/INST, the place the
# stream's name.
_RTMP = re.compile(
    _LOCAL_TIME + rb"[A-Z]+ "
    rb'"([^/"\n]*)[^"]*" "([^"\n]*)" "[^"]*" - (' + _BYTES + rb") (" + _BYTES + rb")(?![0-9])"
)
_LOCAL_MINUTE = re.compile(rb"\d\d/[A-Z][a-z][a-z]/\d{4}:\d\d:\d\d")
_ISO_MINUTE = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d")


def _totals_of_directories(
    found: list[tuple[bytes, ...]], data: bytes, utc_minute: MinuteOf
) -> ChunkTotals:
    """Totals of ``(minute, offset, directory, bytes)`` matches: the directory split into
    the application and the place once per distinct directory, not per line."""
    grouped: defaultdict[tuple[bytes, bytes, bytes], list[bytes]] = defaultdict(list)
    for minute, offset, directory, sent in found:
        grouped[(minute, offset, directory)].append(sent)
    return _folded(grouped, data.count(b"\n"), len(found), utc_minute, _split_directory)


def _split_directory(directory: bytes) -> tuple[bytes, bytes]:
    """``/<app>/<inst>/<stream>/`` as (``<app>``, ``/<inst>/<stream>``); ``/<app>`` (one
    segment, no "/" after it) as (``<app>``, ``b""``)."""
    if not directory.endswith(b"/"):
        return directory[1:], b""
    app, _, place = directory[1:-1].partition(b"/")
    return app, b"/" + place if place else b""


def _parse_combined(data: bytes) -> ChunkTotals:
    return _totals_of_directories(_COMBINED_PLACE.findall(data), data, _minute_local)


def _parse_combined_apps(data: bytes) -> ChunkTotals:
    return _totals_no_place(_COMBINED.findall(data), data, _minute_local)


def _parse_cdnpanel(data: bytes) -> ChunkTotals:
    return _totals_of_directories(_CDNPANEL_PLACE.findall(data), data, _minute_iso)


def _parse_cdnpanel_apps(data: bytes) -> ChunkTotals:
    return _totals_no_place(_CDNPANEL.findall(data), data, _minute_iso)


def _parse_rtmp(data: bytes) -> ChunkTotals:
    return _fold(_totals_two(_RTMP.findall(data), data, places=True), _minute_local)


def _parse_rtmp_apps(data: bytes) -> ChunkTotals:
    return _fold(_totals_two(_RTMP.findall(data), data, places=False), _minute_local)


def _video_of_directory(place: bytes) -> str | None:
    """``/<inst>/<stream or VOD path>`` (percent-encoded, as the URL has it) as the video it
    names, the rule the usher checks tickets by (``services.viewers.parse_playback_uri``);
    ``/<inst>`` (files right under the instance) as ""."""
    _, _, path = place[1:].partition(b"/")
    if not path:
        return ""
    segments = [unquote(s.decode("utf-8", "replace")) for s in path.split(b"/")]
    if any(not s or s in (".", "..") or "/" in s or not s.isprintable() for s in segments):
        return None
    video = "/".join(segments)
    return video if len(video) <= MAX_VIDEO else None


def _video_of_name(place: bytes) -> str | None:
    """An RTMP stream's name, as nginx-rtmp logs it."""
    name = place.decode("utf-8", "replace")
    if len(name) > MAX_VIDEO or not name.isprintable() or "/" in name:
        return None
    return name


def _offset_minutes(offset: bytes) -> int | None:
    """``+0530``, ``-05:00`` or ``Z`` as minutes east of UTC."""
    if offset == b"Z":
        return 0
    digits = offset[1:].replace(b":", b"")
    if offset[:1] not in (b"+", b"-") or len(digits) != 4 or not digits.isdigit():
        return None
    hours, minutes = int(digits[:2]), int(digits[2:])
    if hours > 14 or minutes >= 60:  # UTC offsets run from -12:00 to +14:00
        return None
    east = hours * 60 + minutes
    return -east if offset[:1] == b"-" else east


def _minute(year: int, month: int, day: int, hour: int, minute: int, offset: bytes) -> int | None:
    """Minutes since 1970-01-01 UTC of a local time with its offset; None if no date."""
    east = _offset_minutes(offset)
    if east is None:
        return None
    try:
        local = datetime(year, month, day, hour, minute, tzinfo=UTC)
        utc = local - timedelta(minutes=east)
    except (ValueError, OverflowError):  # 30/Feb, 25:00 ..., or past the calendar's ends
        return None
    since = utc - _EPOCH
    return since.days * 1440 + since.seconds // 60 if 0 <= since.days <= _LAST_DAY else None


def _minute_local(minute: bytes, offset: bytes) -> int | None:
    # 22/Nov/2026:23:59
    month = _MONTHS.get(minute[3:6])
    if month is None or not _LOCAL_MINUTE.fullmatch(minute):
        return None
    return _minute(
        int(minute[7:11]), month, int(minute[:2]), int(minute[12:14]), int(minute[15:17]), offset
    )


def _minute_iso(minute: bytes, offset: bytes) -> int | None:
    # 2026-11-23T03:34
    if not _ISO_MINUTE.fullmatch(minute):
        return None
    return _minute(
        int(minute[:4]),
        int(minute[5:7]),
        int(minute[8:10]),
        int(minute[11:13]),
        int(minute[14:16]),
        offset,
    )


# -- JSON lines (nginx log_format escape=json, or any shipper) ------------------------------------

_TIME_FIELDS = ("time_iso8601", "time", "timestamp", "@timestamp", "time_local", "msec")
_PATH_FIELDS = ("request_uri", "uri", "path")
_BYTES_FIELDS = ("bytes_sent", "body_bytes_sent", "bytes")


def _parse_json(data: bytes) -> ChunkTotals:
    return _fold(_parse_json_lines(data, places=True), _minute_json)


def _parse_json_apps(data: bytes) -> ChunkTotals:
    return _fold(_parse_json_lines(data, places=False), _minute_json)


def _parse_json_lines(data: bytes, *, places: bool) -> ChunkTotals:
    totals = ChunkTotals()
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        totals.lines += 1
        parsed = _json_line(line)
        if parsed is None:
            totals.skipped += 1
            continue
        minute, app, place, sent = parsed
        key = (str(minute).encode(), b"", app, place if places else b"")
        totals.requests[key] += 1
        totals.bytes[key] = totals.bytes.get(key, 0) + sent
    return totals


def _json_line(line: bytes) -> tuple[int, bytes, bytes, int] | None:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(record, dict):
        return None
    minute = _json_minute(next((record[f] for f in _TIME_FIELDS if f in record), None))
    if minute is None:
        return None
    path = next((record[f] for f in _PATH_FIELDS if isinstance(record.get(f), str)), None)
    if path is None and isinstance(record.get("request"), str):
        parts = record["request"].split(" ")
        path = parts[1] if len(parts) >= 2 else ""
    app = place = b""
    if isinstance(path, str) and path.startswith("/"):
        target = path[1:].split("?", 1)[0]
        app_name, _, below = target.partition("/")
        app = app_name.encode("utf-8", "replace")[:100]
        directory = below.rpartition("/")[0]  # as the text formats' place: no file name
        place = ("/" + directory).encode("utf-8", "replace") if below else b""
    sent = next((record[f] for f in _BYTES_FIELDS if f in record), 0)
    if isinstance(sent, str) and len(sent) > 12:
        return None  # like a text line's byte count: more than 12 digits is no request
    try:
        count = max(0, int(sent)) if not isinstance(sent, bool) else 0
    except (TypeError, ValueError, OverflowError):
        count = 0
    if count >= 10**12:
        return None
    return minute, app, place, count


def _json_minute(value: object) -> int | None:
    """The UTC minute (since 1970) of a JSON record's time; None if it is no date."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and _is_number(value)):
        seconds = float(value)
        if seconds > 1e11:  # milliseconds
            seconds /= 1000
        if seconds != seconds or not 0 <= seconds // 86400 <= _LAST_DAY:  # NaN, or no date
            return None
        return int(seconds // 60)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text[:1].isdigit() and "/" in text[:3]:  # time_local: 22/Nov/2026:23:59:59 +0000
        key, _, offset = text.partition(" ")
        return _minute_local(key[:17].encode(), offset.encode())
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        since = moment - _EPOCH
    except OverflowError:
        return None
    return since.days * 1440 + since.seconds // 60 if 0 <= since.days <= _LAST_DAY else None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _minute_json(minute: bytes, _offset: bytes) -> int | None:
    return int(minute)  # the JSON parser keys totals by UTC minute already


FORMATS: dict[str, LogFormat] = {
    f.name: f
    for f in (
        LogFormat(
            "combined",
            "nginx's predefined combined format ($body_bytes_sent: response headers not counted)",
            _parse_combined,
            _parse_combined_apps,
            _minute_local,
            _video_of_directory,
        ),
        LogFormat(
            "cdnpanel",
            "cdnpanel's recommended log_format: ISO 8601 time and $bytes_sent (see docs/usage.md)",
            _parse_cdnpanel,
            _parse_cdnpanel_apps,
            _minute_iso,
            _video_of_directory,
        ),
        LogFormat(
            "rtmp",
            "the nginx-rtmp access log (one line per session; bytes received + sent)",
            _parse_rtmp,
            _parse_rtmp_apps,
            _minute_local,
            _video_of_name,
        ),
        LogFormat(
            "json",
            "JSON lines with a time (time_iso8601, time, msec ...), a path (request_uri, uri, "
            "request) and bytes (bytes_sent, body_bytes_sent)",
            _parse_json,
            _parse_json_apps,
            _minute_json,
            _video_of_directory,
        ),
    )
}


def detect_format(first_line: bytes) -> LogFormat | None:
    """The format a log's first line is in, or None when no format reads it."""
    if first_line.lstrip()[:1] == b"{":
        return FORMATS["json"]
    for name in ("cdnpanel", "rtmp", "combined"):
        if FORMATS[name].parse(first_line.rstrip(b"\r\n") + b"\n").requests:
            return FORMATS[name]
    return None
