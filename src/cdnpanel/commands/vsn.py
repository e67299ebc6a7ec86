"""The ``vsn.*`` commands: live viewer counts."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from cdnpanel.commands.params import AppRef, Name
from cdnpanel.commands.registry import Answer, CommandContext, Params, command

__all__ = ["COMMANDS", "ROOT"]

ROOT = "_root_"
"""The ``url`` that counts every viewer of the application."""


class ViewerCountParams(Params):
    app: AppRef
    # A stream name or VOD path, or a list of them (the answer then maps each to its count).
    url: Annotated[
        Name | Annotated[list[Name], Field(min_length=1, max_length=500)],
        Field(description="a stream name, or a list of 1 to 500 of them"),
    ]


@command(
    "vsn.viewercount",
    params=ViewerCountParams,
    summary="Count the viewers watching a stream or VOD path now (RTMP and HLS).",
    uses=("applications", "viewers"),
    reads=True,
)
def viewercount(context: CommandContext, params: ViewerCountParams) -> Answer:
    services = context.services
    (app,) = services.applications.resolve(context.caller.account_id, [params.app])
    urls = [params.url] if isinstance(params.url, str) else list(dict.fromkeys(params.url))
    named = [u for u in urls if u != ROOT]
    counts = services.viewers.count(app, named) if named else {}
    if ROOT in urls:
        counts[ROOT] = services.viewers.count(app, None)[""]
    if isinstance(params.url, str):
        return Answer("Found Viewer Count", {"viewer_count": counts[params.url]})
    return Answer("Found Viewer Count", {"viewer_count": {url: counts[url] for url in urls}})


COMMANDS = (viewercount,)
