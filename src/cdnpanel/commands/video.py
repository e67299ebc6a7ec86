"""The ``video.*`` commands."""

from __future__ import annotations

from cdnpanel.commands.registry import Answer, CommandContext, Params, command

__all__ = ["COMMANDS"]


class GetAppsParams(Params):
    pass


@command(
    "video.getapps",
    params=GetAppsParams,
    summary="List the account's applications with their ids and names.",
)
def getapps(context: CommandContext, _params: GetAppsParams) -> Answer:
    apps = context.services.applications.list_for_account(context.caller.account_id)
    return Answer(
        "Found Applications" if apps else "No Applications Found",
        {"data": [{"id": app.id, "name": app.name} for app in apps]},
    )


COMMANDS = (getapps,)
