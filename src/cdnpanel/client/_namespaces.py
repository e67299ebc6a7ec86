"""Command namespaces, written once for both clients: ``client.video.getapps()``.

Each method returns whatever the client's ``call`` returns: the answer dict for ``Client``,
an awaitable of it for ``AsyncClient``. Required parameters come first; options are keyword-only
and left out of the request when not given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

__all__ = [
    "Namespaces",
    "SevuCommands",
    "StreamCommands",
    "UsageCommands",
    "VideoCommands",
    "ViewerCommands",
    "VsnCommands",
]

R = TypeVar("R")
Call = Callable[[str, dict[str, Any]], R]
AppRef = int | str


def _given(**params: Any) -> dict[str, Any]:
    return {name: value for name, value in params.items() if value is not None}


class _Commands(Generic[R]):
    def __init__(self, call: Call[R]) -> None:
        self._call = call


class VideoCommands(_Commands[R]):
    def getapps(self) -> R:
        """The account's applications: ``data`` is a list of ``{id, name}``."""
        return self._call("video.getapps", {})

    def servers(self, app: AppRef | Sequence[AppRef], *, starttime: str | int | None = None) -> R:
        """30 days of usage per day and server: ``data`` lists ``{date, server, bytes_total,
        requests_total}``. ``app`` is an id or name, or a list of them; ``starttime`` the
        first day (``"2025-01-01"`` or a Unix time), by default 30 days ago."""
        if not isinstance(app, int | str):
            app = list(app)
        return self._call("video.servers", {"app": app} | _given(starttime=starttime))

    def usage(
        self,
        app: AppRef,
        *,
        url: str | None = None,
        year: int | None = None,
        month: int | None = None,
        day: int | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> R:
        """Every stream name and VOD path of ``app`` used in a month (by default this one) or
        a day, most bytes first: ``data`` lists ``{url, type, bytes_total, requests_total}``,
        ``total`` how many there are; ``limit`` (default 1000) and ``offset`` page them."""
        return self._call(
            "video.usage",
            {"app": app}
            | _given(url=url, year=year, month=month, day=day, limit=limit, offset=offset),
        )

    def cdnlong(self, app: AppRef, *, starttime: str | int | None = None) -> R:
        """90 days of ``app``'s usage per day (``data`` lists ``{date, bytes_total,
        requests_total}``), from ``starttime`` or the 90 days to today."""
        return self._call("video.cdnlong", {"app": app} | _given(starttime=starttime))


class UsageCommands(_Commands[R]):
    def summary(self, *, starttime: str | int | None = None) -> R:
        """A month of usage in Google Tables format: ``data["vals"]`` lists ``[label, {"v":
        exact, "f": formatted}]``. ``starttime`` a date names its month; a Unix time starts 30
        days; by default the current month."""
        return self._call("usage.summary", _given(starttime=starttime))

    def data(self, *, starttime: str | int | None = None) -> R:
        """``usage.summary``'s month with the account's rates: each row ``[label, usage, rate,
        cost, estimated usage, estimated cost]`` (cells ``{"v", "f"}``) and a ``Total:`` row;
        ``cost`` and ``estimated_cost`` in ``currency``."""
        return self._call("usage.data", _given(starttime=starttime))

    def vse(
        self,
        app: AppRef,
        *,
        url: str | None = None,
        year: int | None = None,
        month: int | None = None,
        day: int | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> R:
        """``video.usage`` over VOD paths only."""
        return self._call(
            "usage.vse",
            {"app": app}
            | _given(url=url, year=year, month=month, day=day, limit=limit, offset=offset),
        )


class VsnCommands(_Commands[R]):
    def viewercount(self, app: AppRef, url: str | Sequence[str]) -> R:
        """Viewers now: ``viewer_count`` is a number, or a map of each url to its number.

        ``url`` is a stream name or VOD path, a list of them, or ``"_root_"`` for the whole
        application.
        """
        return self._call(
            "vsn.viewercount", {"app": app, "url": url if isinstance(url, str) else list(url)}
        )

    def viewerhistorybyname(
        self,
        app: AppRef,
        url: str,
        *,
        resolution: str | None = None,
        starttime: int | str | None = None,
        endtime: int | str | None = None,
        server: str | None = None,
    ) -> R:
        """Viewers of a stream or VOD path (``"_root_"``: the whole application) over time:
        ``data`` has a point per ``minute`` (the default), ``hour`` or ``day``, with ``peak``
        and ``viewer_minutes`` (days: ``unique_viewers`` too). ``server``: on one origin or
        edge (minutes only)."""
        return self._call(
            "vsn.viewerhistorybyname",
            {"app": app, "url": url}
            | _given(resolution=resolution, starttime=starttime, endtime=endtime, server=server),
        )


class ViewerCommands(_Commands[R]):
    def livedetailed(self, app: AppRef, url: str) -> R:
        """Viewers now of one stream or VOD path (``"_root_"``: the whole application), by
        server (``servers``), location label (``locations``) and protocol (``rtmp``, ``hls``);
        ``viewer_count`` is the total, the same as ``vsn.viewercount``'s."""
        return self._call("viewer.livedetailed", {"app": app, "url": url})

    def live(self, app: AppRef) -> R:
        """Every stream and VOD path of the application watched or published now, with its
        viewers (``rtmp``, ``hls``, ``viewer_count``), most watched first."""
        return self._call("viewer.live", {"app": app})


class StreamCommands(_Commands[R]):
    def close(
        self,
        *,
        app: AppRef | None = None,
        inst: str | None = None,
        stream: str | None = None,
        stream_id: int | None = None,
        origin_url: str | None = None,
        lock: bool = False,
    ) -> R:
        """Drop a live stream's publisher: by ``app`` + ``inst`` + ``stream``, or ``stream_id``;
        ``lock=True`` refuses its encoder from then on (``sevu.updatestream(locked=0)``)."""
        params = _given(app=app, inst=inst, stream=stream, stream_id=stream_id)
        params |= _given(origin_url=origin_url, lock=1 if lock else None)
        return self._call("stream.close", params)

    def details(
        self,
        *,
        app: AppRef | None = None,
        inst: str | None = None,
        stream: str | None = None,
        stream_id: int | None = None,
    ) -> R:
        """One stream, live or ended: viewers, publisher, ``media`` (bitrate and codecs from
        the origin) and settings; by ``stream_id`` or ``app`` + ``inst`` + ``stream``."""
        return self._call(
            "stream.details", _given(app=app, inst=inst, stream=stream, stream_id=stream_id)
        )

    def active(self, *, app: AppRef | Sequence[AppRef] | None = None) -> R:
        """The account's live streams: ``data`` lists stream_id, app, inst, stream, viewers..."""
        if app is not None and not isinstance(app, int | str):
            app = list(app)
        return self._call("stream.active", _given(app=app))


class SevuCommands(_Commands[R]):
    def request(
        self,
        app: str,
        video: str,
        password: str,
        *,
        ip: str | None = None,
        uses: int | None = None,
        expire: str | int | None = None,
    ) -> R:
        """Issue a ticket; ``answer["ticket"]["key"]`` and the password go on the playback URL
        as ``?key=...&pass=...``. ``app`` and ``video`` are ``|``-separated patterns with ``*``;
        ``ip`` addresses, CIDRs, ``auto`` or ``auto/N``; ``uses`` 0 is unlimited; ``expire`` a
        date (UTC), a Unix time or ``"+N unit"`` (default one week)."""
        return self._call(
            "sevu.request",
            _given(app=app, video=video, ip=ip, uses=uses, expire=expire) | {"pass": password},
        )

    def status(self, key: str, *, password: str | None = None) -> R:
        """The ticket's fields at the top level, with ``uses_remaining`` and ``used_date``."""
        return self._call("sevu.status", {"key": key} | _given(**{"pass": password}))

    def revoke(self, key: str) -> R:
        """Revoke the ticket: viewers with it are refused within seconds."""
        return self._call("sevu.revoke", {"key": key})

    def errorcount(
        self,
        *,
        key: str | None = None,
        app: str | None = None,
        video: str | None = None,
        ip: str | None = None,
        password: str | None = None,
        success: bool | None = None,
        limit: int | None = None,
        seek: int | None = None,
    ) -> R:
        """How many playback attempts match: ``error_count`` (code 2051 some, 2050 none)."""
        flag = None if success is None else int(success)
        return self._call(
            "sevu.errorcount",
            _given(key=key, app=app, video=video, ip=ip, success=flag, limit=limit, seek=seek)
            | _given(**{"pass": password}),
        )

    def errorlog(
        self,
        key: str,
        *,
        starttime: int | str | None = None,
        success: bool | None = None,
        limit: int | None = None,
        seek: int | None = None,
    ) -> R:
        """The ticket's playback attempts, oldest first: ``answer["data"]`` (time, address,
        video, protocol, outcome and reason), ``answer["total"]`` matching in all."""
        flag = None if success is None else int(success)
        return self._call(
            "sevu.errorlog",
            {"key": key} | _given(starttime=starttime, success=flag, limit=limit, seek=seek),
        )

    def addstreamuser(
        self,
        app: AppRef,
        stream: str,
        user: str | None,
        password: str | None,
        *,
        record: bool | None = None,
        record_type: str | None = None,
        segment_type: str | None = None,
        segment_value: int | str | None = None,
        save_folder: str | None = None,
        ga_key: str | None = None,
    ) -> R:
        """Let an encoder publish ``stream`` of ``app`` (``"*"``: every stream of it) with
        ``?user=USER&pass=PASSWORD`` on its URL; ``user`` and ``password`` both None: the
        stream asks for no credentials. ``answer["streamuser"]["streamuser_id"]`` names it;
        the password is never shown again."""
        settings = _given(
            record=record,
            record_type=record_type,
            segment_type=segment_type,
            segment_value=segment_value,
            save_folder=save_folder,
            ga_key=ga_key,
        )
        return self._call(
            "sevu.addstreamuser",
            {"app": app, "stream": stream, "user": user, "pass": password} | settings,
        )

    def removestreamuser(
        self,
        streamuser_id: int | None = None,
        *,
        app: AppRef | None = None,
        stream: str | None = None,
        user: str | None = None,
    ) -> R:
        """Remove a stream user, by ``streamuser_id`` or by ``app``, ``stream`` and ``user``."""
        return self._call(
            "sevu.removestreamuser",
            _given(streamuser_id=streamuser_id, app=app, stream=stream, user=user),
        )

    def updatestream(
        self,
        stream_id: int,
        *,
        record: bool | None = None,
        record_type: str | None = None,
        segment_type: str | None = None,
        segment_value: int | str | None = None,
        save_folder: str | None = None,
        ga_key: str | None = None,
        locked: int | None = None,
    ) -> R:
        """Change the settings given of the stream ``stream_id`` names (its stream users');
        ``locked=0`` lifts a ``stream.close`` lock, ``locked=1`` sets one."""
        return self._call(
            "sevu.updatestream",
            {"stream_id": stream_id}
            | _given(
                record=record,
                record_type=record_type,
                segment_type=segment_type,
                segment_value=segment_value,
                save_folder=save_folder,
                ga_key=ga_key,
                locked=locked,
            ),
        )

    def liststreamusers(self, *, app: AppRef | None = None, stream: str | None = None) -> R:
        """The account's stream users (``data``), optionally of one application or stream."""
        return self._call("sevu.liststreamusers", _given(app=app, stream=stream))

    def retrievestreamuser(
        self,
        streamuser_id: int | None = None,
        *,
        app: AppRef | None = None,
        stream: str | None = None,
        user: str | None = None,
    ) -> R:
        """A stream user's settings, ``origin_url`` and ``publish_url`` (its password as
        ``PASS``: it is kept only as a hash)."""
        return self._call(
            "sevu.retrievestreamuser",
            _given(streamuser_id=streamuser_id, app=app, stream=stream, user=user),
        )


class Namespaces(Generic[R]):
    """Mixin giving a client one attribute per command family."""

    video: VideoCommands[R]
    usage: UsageCommands[R]
    vsn: VsnCommands[R]
    viewer: ViewerCommands[R]
    stream: StreamCommands[R]
    sevu: SevuCommands[R]

    def _bind_namespaces(self, call: Call[R]) -> None:
        self.video = VideoCommands(call)
        self.usage = UsageCommands(call)
        self.vsn = VsnCommands(call)
        self.viewer = ViewerCommands(call)
        self.stream = StreamCommands(call)
        self.sevu = SevuCommands(call)
