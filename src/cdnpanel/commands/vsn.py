"""The ``vsn.*`` commands: live viewer counts, and viewers over time."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import Field

from cdnpanel.commands.params import AppRef, Name, StartTime, unix_time
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


class HistoryParams(Params):
    app: AppRef
    url: Name
    starttime: StartTime | None = None
    endtime: StartTime | None = None
    resolution: Literal["minute", "hour", "day"] = "minute"
    server: Annotated[str, Field(min_length=1, max_length=253)] | None = None


@command(
    "vsn.viewerhistorybyname",
    params=HistoryParams,
    summary="Viewers of a stream or VOD path over time, per minute, hour or day, with the peak.",
    uses=("applications", "history"),
    reads=True,
)
def viewerhistorybyname(context: CommandContext, params: HistoryParams) -> Answer:
    services = context.services
    (app,) = services.applications.resolve(context.caller.account_id, [params.app])
    series = services.history.series(
        app,
        None if params.url == ROOT else params.url,
        resolution=params.resolution,
        start=None if params.starttime is None else unix_time(params.starttime, "starttime"),
        end=None if params.endtime is None else unix_time(params.endtime, "endtime"),
        server=params.server,
    )
    day = params.resolution == "day"
    peak = series.peak
    times = _times(series.first, series.step, len(series.viewers), day=day)
    members: dict[str, Any] = {
        "app": app.name,
        "url": params.url,
        "resolution": series.resolution,
        "starttime": _when(series.first, day=day),
        "endtime": _when(series.last, day=day),
        "peak": None if peak is None else {"viewers": peak[1], "time": _when(peak[0], day=day)},
        "viewer_minutes": series.total_viewer_minutes,
    }
    if series.resolution == "minute":
        members["data"] = [
            {"time": t, "viewers": n} for t, n in zip(times, series.viewers, strict=True)
        ]
    elif series.resolution == "hour":
        members["data"] = [
            {"time": t, "peak": p, "viewer_minutes": m}
            for t, p, m in zip(times, series.viewers, series.viewer_minutes, strict=True)
        ]
    else:
        uniques = series.uniques or [0] * len(times)
        members["data"] = [
            {"date": t, "peak": p, "viewer_minutes": m, "unique_viewers": u}
            for t, p, m, u in zip(
                times, series.viewers, series.viewer_minutes, uniques, strict=True
            )
        ]
        members["unique_viewers"] = sum(uniques)
    return Answer("Found Viewer History" if peak else "No Viewer History Found", members)


_HOURS_MINUTES = [f"{h:02d}:{m:02d}" for h in range(24) for m in range(60)]


def _times(first: int, step: int, count: int, *, day: bool) -> list[str]:
    """The points' times as ``_when`` writes them (formatting each day's date once)."""
    end = first + step * count
    if day or step != 60:
        times = []
        current, date = -1, ""
        for at in range(first, end, step):
            number, second = divmod(at, 86400)
            if number != current:
                current, date = number, _when(at - second, day=True)
            times.append(date if day else f"{date} {_HOURS_MINUTES[second // 60]}")
        return times
    minutes: list[str] = []
    for midnight in range(first - first % 86400, end, 86400):
        date = _when(midnight, day=True)
        low, high = max(first, midnight), min(end, midnight + 86400)
        minutes += [
            f"{date} {hm}"
            for hm in _HOURS_MINUTES[(low - midnight) // 60 : (high - midnight) // 60]
        ]
    return minutes


def _when(at: int, *, day: bool = False) -> str:
    """UTC, ``YYYY-MM-DD HH:MM`` (days: ``YYYY-MM-DD``)."""
    return time.strftime("%Y-%m-%d" if day else "%Y-%m-%d %H:%M", time.gmtime(at))


COMMANDS = (viewercount, viewerhistorybyname)
