"""nginx with the RTMP module (Debian ``libnginx-mod-rtmp``): callbacks, stat and control.

Facts this relies on, checked against Debian's nginx 1.22.1 + module 1.2.2 (see
docs/design/origin-nginx-rtmp.md): ScaleEngine's ``app/inst`` is the nginx-rtmp application
name ``app/inst``; callbacks are urlencoded forms carrying ``app``, ``name``, ``addr``,
``clientid`` and the client URL's own query; ``/stat`` is XML whose ``<client>`` with
``<publishing/>`` is the publisher; ``/control/drop/publisher`` answers the number dropped.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any, overload
from urllib.parse import parse_qsl, quote, urlsplit

import httpx

from cdnpanel.errors import MalformedRequest, OriginUnavailable
from cdnpanel.origins.adapter import (
    Action,
    CallbackEvent,
    ClientSnapshot,
    OriginSnapshot,
    StreamMedia,
    StreamSnapshot,
)
from cdnpanel.records import Origin

__all__ = [
    "EDGE_FLASHVER",
    "EDGE_NAME_ARG",
    "EDGE_SECRET_ARG",
    "NginxRtmp",
    "parse_callback",
    "parse_stat",
    "parse_target_duration",
    "split_app",
]

KIND = "nginx-rtmp"
# An edge's pull (the generated edge config) connects with this flashVer, which the origin's
# stat shows, and with its name and hook secret in the query of its tcUrl, which the origin's
# on_play passes on (nginx-rtmp's relay sends no play arguments of its own; the tcUrl is in no
# log the generated configs write).
EDGE_FLASHVER = "cdnpanel-edge"
EDGE_NAME_ARG = "cdnpanel_edge"
EDGE_SECRET_ARG = "cdnpanel_secret"  # noqa: S105  (the name of the argument)
# nginx-rtmp's own relays (its pull's local side on the edge).
_RELAY_FLASHVERS = ("ngx-local-relay", EDGE_FLASHVER)
_ACTIONS = {a.value: a for a in Action if a is not Action.OTHER}
# Members nginx-rtmp adds itself; everything else in the form is the client URL's query.
_NOTIFY_FIELDS = frozenset(
    {"app", "flashver", "swfurl", "tcurl", "pageurl", "addr", "clientid", "call", "name", "type"}
    | {"start", "duration", "reset", "path", "recorder", "args", "time", "timestamp"}
)
_MAX_FIELD = 1024


def split_app(app: str) -> tuple[str, str]:
    """``"demo-origin/live"`` is application ``demo-origin``, instance ``live``."""
    application, _, inst = app.partition("/")
    if not application or not inst or "/" in inst:
        raise MalformedRequest(
            f"nginx-rtmp application {app[:100]!r} is not APP/INST: the generated config names "
            "every application block after a cdnpanel application and an instance"
        )
    return application, inst


def parse_callback(event: str, form: Mapping[str, str]) -> CallbackEvent:
    """An nginx-rtmp ``on_*`` callback's form (``event`` is the hook URL's last segment)."""
    call = form.get("call", event)
    action = _ACTIONS.get(call, Action.OTHER)
    if call != event and event in _ACTIONS:
        raise MalformedRequest(f"callback {event!r} carries call={call[:40]!r}")
    for name in ("app", "name", "clientid"):
        value = form.get(name, "")
        if action is not Action.OTHER and not value:
            raise MalformedRequest(f"nginx-rtmp callback without '{name}'")
        if len(value) > _MAX_FIELD:
            raise MalformedRequest(f"nginx-rtmp callback field '{name}' is too long")
    app, inst = split_app(form["app"]) if action is not Action.OTHER else ("", "")
    query = {k: v for k, v in form.items() if k not in _NOTIFY_FIELDS}
    return CallbackEvent(
        action=action,
        app=app,
        inst=inst,
        name=form.get("name", ""),
        client_id=form.get("clientid", ""),
        address=form.get("addr", ""),
        query=query,
        edge=_edge_of(form) if action is Action.PLAY else None,
    )


def _edge_of(form: Mapping[str, str]) -> tuple[str, str] | None:
    """The edge name and secret of an edge's pull (its tcUrl's query); None for a player."""
    tcurl = form.get("tcurl", "")
    if EDGE_NAME_ARG not in tcurl or form.get("flashver") != EDGE_FLASHVER:
        return None
    args = dict(parse_qsl(urlsplit(tcurl[:_MAX_FIELD]).query, max_num_fields=10))
    name, secret = args.get(EDGE_NAME_ARG), args.get(EDGE_SECRET_ARG)
    if not name or not secret:
        raise MalformedRequest("an edge's pull without its name and secret in its tcUrl")
    return name, secret


def parse_stat(xml: bytes) -> OriginSnapshot:
    """The ``/stat`` document of ``rtmp_stat all``."""
    try:
        root = ET.fromstring(xml)  # noqa: S314  (our own origin's loopback control port)
    except ET.ParseError as exc:
        raise ValueError(f"stat is not XML: {exc}") from None
    if root.tag != "rtmp":
        raise ValueError(f"stat document's root is <{root.tag}>, not <rtmp>")
    streams: list[StreamSnapshot] = []
    for application in root.iterfind("server/application"):
        app_name = application.findtext("name", "")
        if "/" not in app_name:
            continue  # not an application block cdnpanel generated
        app, inst = split_app(app_name)
        for stream in application.iterfind("live/stream"):
            publisher: ClientSnapshot | None = None
            players: list[ClientSnapshot] = []
            for client in stream.iterfind("client"):
                snapshot = ClientSnapshot(
                    client_id=client.findtext("id", ""),
                    address=client.findtext("address", ""),
                    seconds=_millis(client.findtext("time")),
                    relay=client.findtext("flashver", "") in _RELAY_FLASHVERS,
                )
                if client.find("publishing") is not None:
                    publisher = snapshot
                else:
                    players.append(snapshot)
            streams.append(
                StreamSnapshot(
                    app=app,
                    inst=inst,
                    name=stream.findtext("name", ""),
                    seconds=_millis(stream.findtext("time")),
                    publisher=publisher,
                    players=tuple(players),
                    media=_media(stream),
                )
            )
    return OriginSnapshot(streams=tuple(streams))


def _media(stream: ET.Element) -> StreamMedia:
    """A stream's ``bw_*`` (bits per second) and ``meta`` (what the publisher's metadata and
    codec headers say): each None when absent or unreadable."""
    return StreamMedia(
        bitrate=_number(stream.findtext("bw_in"), int),
        video_bitrate=_number(stream.findtext("bw_video"), int),
        audio_bitrate=_number(stream.findtext("bw_audio"), int),
        video_codec=_text(stream.findtext("meta/video/codec")),
        width=_number(stream.findtext("meta/video/width"), int),
        height=_number(stream.findtext("meta/video/height"), int),
        frame_rate=_number(stream.findtext("meta/video/frame_rate"), float),
        audio_codec=_text(stream.findtext("meta/audio/codec")),
        audio_channels=_number(stream.findtext("meta/audio/channels"), int),
        audio_sample_rate=_number(stream.findtext("meta/audio/sample_rate"), int),
    )


def _number(text: str | None, kind: type[int] | type[float]) -> Any:
    try:
        value = kind(text) if text else None
    except ValueError:
        return None
    if value is None or not 0 <= value < 2**53:  # NaN too: every comparison with it is false
        return None
    return value


def _text(text: str | None) -> str | None:
    text = (text or "").strip()
    return text[:32] if text and text.isprintable() else None


_TARGET_DURATION = re.compile(rb"^#EXT-X-TARGETDURATION:\s*(\d{1,6})\s*$", re.MULTILINE)


def parse_target_duration(playlist: bytes) -> int | None:
    """``#EXT-X-TARGETDURATION`` of an HLS media playlist (RFC 8216 4.3.3.1), in seconds; None
    when the playlist has none or declares 0."""
    match = _TARGET_DURATION.search(playlist[:65536])
    seconds = int(match.group(1)) if match else 0
    return seconds or None


def _raw_arg(value: str) -> str:
    """A control argument as nginx-rtmp compares it: unescaped, except what would end it."""
    return quote(value, safe="/:@!$'()*,;=-._~")


def _millis(text: str | None) -> float:
    try:
        return max(0, int(text or 0)) / 1000
    except ValueError:
        return 0.0


class NginxRtmp:
    """The nginx-rtmp adapter; ``http`` is shared, and carries the timeout for every call."""

    kind = KIND

    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    def parse_callback(self, event: str, form: Mapping[str, str]) -> CallbackEvent:
        return parse_callback(event, form)

    def snapshot(self, origin: Origin) -> OriginSnapshot:
        response = self._get(origin, "/stat")
        try:
            return parse_stat(response.content)
        except ValueError as exc:
            raise OriginUnavailable(origin.name, f"unreadable /stat: {exc}") from None

    def hls_segment_seconds(self, origin: Origin, *, app: str, inst: str, name: str) -> int | None:
        # The generated config serves the HLS folders read-only on the control server too
        # (/hls/<app>/<inst>/<stream>/index.m3u8), where no ticket is asked for.
        path = "/".join(quote(part, safe="") for part in (app, inst, name))
        response = self._get(origin, f"/hls/{path}/index.m3u8", missing_ok=True)
        if response is None:
            return None
        return parse_target_duration(response.content)

    def drop_publisher(self, origin: Origin, *, app: str, inst: str, name: str) -> int:
        # The control module compares its arguments undecoded: "/" in app must stay "/"
        # (a "%2F" matches nothing and drops nobody), so the query is written by hand.
        query = f"app={_raw_arg(f'{app}/{inst}')}&name={_raw_arg(name)}"
        return self._dropped(origin, f"/control/drop/publisher?{query}")

    def drop_player(self, origin: Origin, *, app: str, inst: str, name: str, client_id: str) -> int:
        query = (
            f"app={_raw_arg(f'{app}/{inst}')}&name={_raw_arg(name)}&clientid={_raw_arg(client_id)}"
        )
        return self._dropped(origin, f"/control/drop/subscriber?{query}")

    def drop_stream(self, origin: Origin, *, app: str, inst: str, name: str) -> int:
        query = f"app={_raw_arg(f'{app}/{inst}')}&name={_raw_arg(name)}"
        return self._dropped(origin, f"/control/drop/client?{query}")

    def _dropped(self, origin: Origin, path: str) -> int:
        text = self._get(origin, path).text.strip()
        if not text.isdigit():
            raise OriginUnavailable(origin.name, f"drop answered {text[:40]!r}, not a count")
        return int(text)

    @overload
    def _get(self, origin: Origin, path: str) -> httpx.Response: ...

    @overload
    def _get(self, origin: Origin, path: str, *, missing_ok: bool) -> httpx.Response | None: ...

    def _get(self, origin: Origin, path: str, *, missing_ok: bool = False) -> httpx.Response | None:
        url = origin.control_url.rstrip("/") + path
        try:
            response = self._http.get(url)
        except httpx.TimeoutException:
            raise OriginUnavailable(origin.name, f"no answer from {url} in time") from None
        except httpx.HTTPError as exc:
            raise OriginUnavailable(origin.name, f"{url}: {type(exc).__name__}") from None
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code != 200:
            raise OriginUnavailable(origin.name, f"{url} answered HTTP {response.status_code}")
        return response
