"""The ``video.*`` commands."""

from __future__ import annotations

from typing import Any

from cdnpanel.commands.params import AppRefs, StartTime
from cdnpanel.commands.registry import Answer, CommandContext, Params, command
from cdnpanel.records import ServerDay

__all__ = ["COMMANDS"]


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


COMMANDS = (getapps, servers)
