"""The ``viewer.*`` commands: who watches now, and where."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from cdnpanel.commands.params import AppRef, Name
from cdnpanel.commands.registry import Answer, CommandContext, Params, command
from cdnpanel.commands.vsn import ROOT
from cdnpanel.records import HLS, RTMP, ViewersOn

__all__ = ["COMMANDS"]


class LiveDetailedParams(Params):
    app: AppRef
    url: Name


@command(
    "viewer.livedetailed",
    params=LiveDetailedParams,
    summary="Live viewers of a stream or VOD path now, by server, protocol and location.",
    uses=("applications", "viewers"),
    reads=True,
)
def livedetailed(context: CommandContext, params: LiveDetailedParams) -> Answer:
    services = context.services
    (app,) = services.applications.resolve(context.caller.account_id, [params.app])
    rows = services.viewers.by_server(app, None if params.url == ROOT else params.url)
    servers: dict[str, list[ViewersOn]] = defaultdict(list)
    locations: dict[str | None, list[ViewersOn]] = defaultdict(list)
    for row in rows:
        servers[row.server].append(row)
        locations[row.location].append(row)
    return Answer(
        "Found Live Viewers",
        {
            "app": app.name,
            "url": params.url,
            **_tally(rows),
            "servers": _most_first(
                {"server": name, "role": on[0].role, "location": on[0].location, **_tally(on)}
                for name, on in servers.items()
            ),
            "locations": _most_first(
                {"location": location, **_tally(on)} for location, on in locations.items()
            ),
        },
    )


def _tally(rows: list[ViewersOn]) -> dict[str, int]:
    """``viewer_count`` and its split by protocol (``rtmp``, ``hls``)."""
    tally = {"viewer_count": 0, RTMP: 0, HLS: 0}
    for row in rows:
        tally[row.protocol] = tally.get(row.protocol, 0) + row.viewers
        tally["viewer_count"] += row.viewers
    return tally


def _most_first(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(entries, key=lambda e: (-e["viewer_count"], str(e.get("server", e["location"]))))


class LiveParams(Params):
    app: AppRef


@command(
    "viewer.live",
    params=LiveParams,
    summary="Every stream and VOD path of an application watched or published now, with its "
    "viewers.",
    uses=("applications", "viewers", "streams"),
    reads=True,
)
def live(context: CommandContext, params: LiveParams) -> Answer:
    services = context.services
    account_id = context.caller.account_id
    (app,) = services.applications.resolve(account_id, [params.app])
    watched = services.viewers.watched(app)
    published = {s.stream.name for s in services.streams.active(account_id, applications=[app])}
    rows: list[dict[str, Any]] = []
    for url in set(watched) | published:
        rtmp, hls = watched.get(url, (0, 0))
        rows.append(
            {"url": url, "live": url in published, "viewer_count": rtmp + hls, RTMP: rtmp, HLS: hls}
        )
    rows.sort(key=lambda r: (-r["viewer_count"], r["url"]))
    return Answer(
        "Found Live Viewers" if rows else "No Live Viewers",
        {
            "app": app.name,
            "viewer_count": sum(r["viewer_count"] for r in rows),
            "data": rows,
        },
    )


COMMANDS = (livedetailed, live)
