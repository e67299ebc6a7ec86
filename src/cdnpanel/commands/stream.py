"""The ``stream.*`` commands: live streams on the account's origins."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StrictStr

from cdnpanel.commands.params import AppRef, AppRefs, Flag, Instance, Name, WholeNumber
from cdnpanel.commands.registry import Answer, CommandContext, Params, command
from cdnpanel.errors import MissingFields
from cdnpanel.records import Stream
from cdnpanel.services.streams import LiveStream

__all__ = ["COMMANDS"]


def _origin_host(value: str) -> str:
    """``jb-origin.secdn.net``, also given as a URL (``rtmp://jb-origin.secdn.net/...``)."""
    value = value.strip()
    host = urlsplit(value).hostname if "://" in value else value.split("/", 1)[0]
    if not host:
        raise ValueError("must be the origin's host name, e.g. jb-origin.secdn.net")
    return host.lower()


OriginUrl = Annotated[StrictStr, Field(min_length=1, max_length=300), AfterValidator(_origin_host)]


class CloseParams(Params):
    app: AppRef | None = None
    inst: Instance | None = None
    stream: Name | None = None
    stream_id: WholeNumber | None = None
    origin_url: OriginUrl | None = None
    lock: Flag = 0


@command(
    "stream.close",
    params=CloseParams,
    summary="Close a live stream: drop its publisher on the origin (lock: 1 keeps it out).",
    uses=("applications", "streams"),
    blocking_io=True,
)
def close(context: CommandContext, params: CloseParams) -> Answer:
    services = context.services
    account_id = context.caller.account_id
    if params.stream_id is not None:
        closed = services.streams.close(
            account_id,
            stream_id=params.stream_id,
            origin_name=params.origin_url,
            lock=bool(params.lock),
        )
    else:
        missing = [n for n in ("app", "inst", "stream") if getattr(params, n) is None]
        if missing:
            raise MissingFields([*missing, "(or stream_id)"])
        assert params.app is not None and params.inst is not None and params.stream is not None
        (app,) = services.applications.resolve(account_id, [params.app])
        closed = services.streams.close(
            account_id,
            app=app,
            inst=params.inst,
            name=params.stream,
            origin_name=params.origin_url,
            lock=bool(params.lock),
        )
    return Answer(
        "Stream closed",
        {"stream_id": closed.id, "ended": _date(closed.ended_at), "locked": bool(params.lock)},
    )


class ActiveParams(Params):
    app: AppRefs | None = None


@command(
    "stream.active",
    params=ActiveParams,
    summary="List the account's live streams with their stream_id, origin and viewers.",
    uses=("applications", "streams"),
    reads=True,
)
def active(context: CommandContext, params: ActiveParams) -> Answer:
    services = context.services
    account_id = context.caller.account_id
    apps = None if params.app is None else services.applications.resolve(account_id, params.app)
    live = services.streams.active(account_id, applications=apps)
    return Answer(
        "Found Active Streams" if live else "No Active Streams",
        {"data": [_live_stream(s) for s in live]},
    )


class DetailsParams(Params):
    app: AppRef | None = None
    inst: Instance | None = None
    stream: Name | None = None
    stream_id: WholeNumber | None = None


@command(
    "stream.details",
    params=DetailsParams,
    summary="One stream: live or not, publisher, start, viewers, bitrate, codecs, settings.",
    uses=("applications", "streams", "stream_users"),
    blocking_io=True,  # it reads the origin's stat for the bitrate and codecs
)
def details(context: CommandContext, params: DetailsParams) -> Answer:
    services = context.services
    account_id = context.caller.account_id
    if params.stream_id is not None:
        found = services.streams.details(account_id, stream_id=params.stream_id)
    else:
        missing = [n for n in ("app", "inst", "stream") if getattr(params, n) is None]
        if missing:
            raise MissingFields([*missing, "(or stream_id)"])
        assert params.app is not None and params.inst is not None and params.stream is not None
        (app,) = services.applications.resolve(account_id, [params.app])
        found = services.streams.details(account_id, app=app, inst=params.inst, name=params.stream)
    stream = found.stream
    users = services.stream_users.deciding(found.app, stream.name)
    locked_at = services.stream_users.locked_at(found.app, stream.name)
    media = found.media
    return Answer(
        "Found Stream",
        {
            "stream_id": stream.id,
            "app": found.app.name,
            "inst": stream.inst,
            "stream": stream.name,
            "origin_url": found.origin,
            "live": stream.live,
            "publisher_ip": stream.publisher_addr,
            "started": _date(stream.started_at),
            "start_time": stream.started_at,
            "ended": None if stream.live else _date(stream.ended_at),
            "end_reason": stream.end_reason,
            "viewers": found.viewers,
            "media": None if media is None else dataclasses.asdict(media),
            "media_error": found.origin_error,
            "locked": locked_at is not None,
            "publishing": found.app.publishing,
            "streamuser_id": stream.stream_user_id,
            "settings": dataclasses.asdict(users[0].settings) if users else None,
        },
    )


def _live_stream(live: LiveStream) -> dict[str, Any]:
    stream: Stream = live.stream
    return {
        "stream_id": stream.id,
        "app": live.app,
        "inst": stream.inst,
        "stream": stream.name,
        "origin_url": live.origin,
        "started": _date(stream.started_at),
        "start_time": stream.started_at,
        "viewers": live.viewers,
        "publisher_ip": stream.publisher_addr,
    }


def _date(timestamp: int | None) -> str:
    if timestamp is None:
        return "0000-00-00 00:00:00"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


COMMANDS = (close, active, details)
