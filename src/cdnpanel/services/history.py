"""Viewer history: sampling the live sessions once a minute, and the series over time.

``sample_once`` runs every few seconds in each server process (``web/app.py``); the first
process to claim a minute samples it, so a minute is sampled once however many workers and
nodes run. The series are read at three resolutions:

- ``minute``: concurrent viewers each minute (kept 14 days), optionally on one server;
- ``hour``: each hour's peak and viewer-minutes (kept 13 months);
- ``day``: each day's peak, viewer-minutes and unique viewers (kept 13 months).

Series are dense: every minute, hour or day of the period up to now has a point, zero when
nobody watched.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from cdnpanel.errors import InvalidParameter, NotFound
from cdnpanel.records import Application
from cdnpanel.services._clock import Clock
from cdnpanel.store.history import (
    DAY_RETENTION,
    EXPIRE_CHUNK,
    MINUTE_RETENTION,
    WHOLE_APPLICATION,
    Sample,
    ViewerHistory,
)
from cdnpanel.store.origins import OriginStore

__all__ = ["RESOLUTIONS", "HistorySeries", "HistoryService"]

# resolution -> (seconds a point covers, the default span, the longest span asked for)
RESOLUTIONS: dict[str, tuple[int, int, int]] = {
    "minute": (60, 3600, MINUTE_RETENTION),
    "hour": (3600, 86400, DAY_RETENTION),
    "day": (86400, 30 * 86400, DAY_RETENTION),
}


@dataclass(frozen=True, slots=True)
class HistorySeries:
    """A dense series: point ``i`` starts at ``first + i * step``. ``viewers`` are the
    concurrent viewers (minutes) or the peak of the minutes (hours, days); ``uniques`` are
    the unique viewers of each day (days only)."""

    resolution: str
    step: int
    first: int
    last: int  # the end of the period asked for (at most now)
    viewers: list[int]
    viewer_minutes: list[int]
    uniques: list[int] | None = None

    @property
    def peak(self) -> tuple[int, int] | None:
        """(when, viewers) of the first point with the most viewers; None if nobody watched."""
        most = max(self.viewers, default=0)
        if most <= 0:
            return None
        return self.first + self.viewers.index(most) * self.step, most

    @property
    def total_viewer_minutes(self) -> int:
        return sum(self.viewer_minutes)


class HistoryService:
    def __init__(
        self, history: ViewerHistory, origins: OriginStore, *, clock: Clock = time.time
    ) -> None:
        self._history = history
        self._origins = origins
        self._clock = clock

    def sample_once(self) -> Sample | None:
        """Sample this minute if no process has: the sample, or None."""
        return self._history.sample(int(self._clock()))

    def expire_step(self) -> bool:
        """Delete a chunk of history past its retention: True while more may be left."""
        return self._history.expire(int(self._clock())) >= EXPIRE_CHUNK

    def series(
        self,
        app: Application,
        path: str | None,
        *,
        resolution: str,
        start: int | None,
        end: int | None,
        server: str | None = None,
    ) -> HistorySeries:
        """The series of one path (None: the whole application) from ``start`` to ``end``
        (Unix times; by default the last hour, day or 30 days up to now); ``server``: the
        viewers on that origin or edge only (minute resolution)."""
        step, default_span, longest = RESOLUTIONS[resolution]
        now = int(self._clock())
        if end is not None and start is not None and end < start:
            raise InvalidParameter("endtime", "is before starttime")
        last = min(now if end is None else end, now)
        # By default the span up to now, the current minute, hour or day its last point.
        first = last - last % step - default_span + step if start is None else start
        if first > last:
            raise InvalidParameter("starttime", "is in the future")
        if last - first >= longest:
            raise InvalidParameter(
                "starttime",
                f"{resolution} history covers at most {longest // 86400} days: "
                "ask for a shorter period or a coarser resolution",
            )
        first -= first % step
        key = WHOLE_APPLICATION if path is None else path
        origin_id = None
        if server is not None:
            if resolution != "minute":
                raise InvalidParameter("server", "is kept at minute resolution only")
            origin = self._origins.get_by_name(server)
            if origin is None:
                raise NotFound("server", server, scope="")
            origin_id = origin.id
        count = (last - first) // step + 1
        if resolution == "minute":
            rows = self._history.minutes(app.id, key, first=first, last=last, origin_id=origin_id)
            (viewers,) = _dense(rows, first, step, count, 1)
            return HistorySeries(resolution, step, first, last, viewers, viewers)
        if resolution == "hour":
            hours = self._history.hours(app.id, key, first=first, last=last)
            peaks, minutes = _dense(hours, first, step, count, 2)
            return HistorySeries(resolution, step, first, last, peaks, minutes)
        days = self._history.days(app.id, key, first=first, last=last)
        peaks, minutes, uniques = _dense(days, first, step, count, 3)
        return HistorySeries(resolution, step, first, last, peaks, minutes, uniques)


def _dense(
    rows: Sequence[Sequence[int]], first: int, step: int, count: int, width: int
) -> list[list[int]]:
    """Rows of (time, value...) as ``width`` lists of a value per point, 0 where no row is."""
    columns = [[0] * count for _ in range(width)]
    for n, column in enumerate(columns, start=1):
        for row in rows:
            column[(row[0] - first) // step] = row[n]
    return columns
