"""The ``video.*`` commands."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field, StrictStr

from cdnpanel.commands.params import AppRef, AppRefs, StartTime, WholeNumber, printable
from cdnpanel.commands.registry import Answer, CommandContext, Params, command
from cdnpanel.records import Application, ServerDay, VideoUsage
from cdnpanel.services.usage import VideoPeriod
from cdnpanel.store.usage import NO_VIDEO

__all__ = ["COMMANDS", "VideoUsageParams", "video_usage_answer"]


class GetAppsParams(Params):
    pass


@command(
    "video.getapps",
    params=GetAppsParams,
    summary="List the account's applications with their ids and names.",
    uses=("applications",),
    reads=True,
)
def getapps(context: CommandContext, _params: GetAppsParams) -> Answer:
    apps = context.services.applications.list_for_account(context.caller.account_id)
    return Answer(
        "Found Applications" if apps else "No Applications Found",
        {"data": [{"id": app.id, "name": app.name} for app in apps]},
    )


class ServersParams(Params):
    app: AppRefs
    starttime: StartTime | None = None


@command(
    "video.servers",
    params=ServersParams,
    summary="30 days of bytes and requests per day and server for one or more applications.",
    uses=("applications", "usage"),
    reads=True,
)
def servers(context: CommandContext, params: ServersParams) -> Answer:
    services = context.services
    apps = services.applications.resolve(context.caller.account_id, params.app)
    period = services.usage.servers_period(params.starttime)
    days = services.usage.video_servers(context.caller.account_id, apps, period)
    data = [_server_day(d) for d in days]
    # The seed's message, and for nothing the seeds' "No ... Found" (as video.getapps says).
    return Answer(
        "Found Video Region Data" if data else "No Video Region Data Found", {"data": data}
    )


def _server_day(day: ServerDay) -> dict[str, Any]:
    """One row of the seed's answer."""
    return {
        "date": day.day,
        "server": day.server,
        "bytes_total": day.bytes_sent,
        "requests_total": day.requests,
    }


MAX_USAGE_LIMIT = 10_000
MAX_USAGE_OFFSET = 10_000_000


class VideoUsageParams(Params):
    app: AppRef
    url: (
        Annotated[StrictStr, Field(min_length=1, max_length=512), AfterValidator(printable)] | None
    ) = None
    year: Annotated[WholeNumber, Field(ge=1970, le=9999)] | None = None
    month: Annotated[WholeNumber, Field(ge=1, le=12)] | None = None
    day: Annotated[WholeNumber, Field(ge=1, le=31)] | None = None
    limit: Annotated[WholeNumber, Field(ge=1, le=MAX_USAGE_LIMIT)] = 1000
    offset: Annotated[WholeNumber, Field(le=MAX_USAGE_OFFSET)] = 0


@command(
    "video.usage",
    params=VideoUsageParams,
    summary="Every stream name and VOD path of an application used in a month or a day, with "
    "its bytes and requests, most first.",
    uses=("applications", "usage"),
    reads=True,
)
def usage(context: CommandContext, params: VideoUsageParams) -> Answer:
    services = context.services
    (app,) = services.applications.resolve(context.caller.account_id, [params.app])
    period = services.usage.video_period(params.year, params.month, params.day)
    total, videos = services.usage.video_usage(
        app, period, url=params.url, limit=params.limit, offset=params.offset
    )
    return video_usage_answer(app, period, total, videos)


def video_usage_answer(
    app: Application, period: VideoPeriod, total: int, videos: list[VideoUsage]
) -> Answer:
    """video.usage's answer (and usage.vse's)."""
    data = [
        {
            "url": video.video if video.video != NO_VIDEO else None,
            "type": video.kind or None,
            "bytes_total": video.bytes,
            "requests_total": video.requests,
        }
        for video in videos
    ]
    found = "Found Video Usage Data" if total else "No Video Usage Data Found"
    return Answer(found, {"app": app.name, "period": period.name, "total": total, "data": data})


class CdnLongParams(Params):
    app: AppRef
    starttime: StartTime | None = None


@command(
    "video.cdnlong",
    params=CdnLongParams,
    summary="90 days of an application's bytes and requests per day, all servers together.",
    uses=("applications", "usage"),
    reads=True,
)
def cdnlong(context: CommandContext, params: CdnLongParams) -> Answer:
    services = context.services
    account_id = context.caller.account_id
    (app,) = services.applications.resolve(account_id, [params.app])
    period = services.usage.cdnlong_period(params.starttime)
    days = services.usage.daily_totals(account_id, app, period)
    data = [{"date": d.date, "bytes_total": d.bytes, "requests_total": d.requests} for d in days]
    found = any(d.requests for d in days)
    return Answer(
        "Found Video CDN Data" if found else "No Video CDN Data Found",
        {"app": app.name, "data": data},
    )


COMMANDS = (getapps, servers, usage, cdnlong)
