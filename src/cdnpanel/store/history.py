"""Viewer history: the live sessions sampled once a minute, rolled up per hour and day.

A sample claims its minute first (``history_samples``: one process of one node samples each
minute, whoever claims it), reads the live sessions outside any write transaction, then writes
what it found in one short transaction: the concurrent viewers of every application and path
(``""`` for the whole application), the same split by server and protocol, and the hour's and
the day's peak and viewer-minutes; then the viewers new since the last sample, and the day's
unique viewers counted again, in transactions of ``UNIQUES_CHUNK``. So a minute with viewers
has rows, a minute without has none (the series fill zeros), and the SQLite writer is held only
for short writes.

Retention: minutes 14 days, hours and days 13 months (``expire``: a chunk at a time).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Table, bindparam, delete, func, or_, select, update

from cdnpanel.records import RTMP
from cdnpanel.store._dialect import insert_or_add_keep_max, insert_or_ignore
from cdnpanel.store.database import Database
from cdnpanel.store.prepared import Prepared
from cdnpanel.store.tables import (
    history_samples,
    viewer_days,
    viewer_hours,
    viewer_minutes,
    viewer_server_minutes,
    viewer_sessions,
    viewer_uniques,
)

__all__ = [
    "DAY_RETENTION",
    "EXPIRE_CHUNK",
    "MINUTE_RETENTION",
    "WHOLE_APPLICATION",
    "Sample",
    "ViewerHistory",
]

WHOLE_APPLICATION = ""


def _series(table: Table, when: str, *columns: str) -> Prepared:
    """One path's rows in a period, on the driver's cursor (a 14-day minute series is 20,160
    rows: SQLAlchemy's row handling would double the read)."""
    t = table
    return Prepared(
        select(t.c[when], *(t.c[name] for name in columns)).where(
            t.c.application_id == bindparam("application_id"),
            t.c.path == bindparam("path"),
            t.c[when].between(bindparam("first"), bindparam("last")),
        )
    )


_MINUTES = _series(viewer_minutes, "minute", "viewers")
_HOURS = _series(viewer_hours, "hour", "peak", "viewer_minutes")
_DAYS = _series(viewer_days, "day", "peak", "viewer_minutes", "uniques")
MINUTE_RETENTION = 14 * 86400
DAY_RETENTION = 396 * 86400  # 13 months (hours and days)
_UNIQUES_RETENTION = 2 * 86400  # who was seen: today's and yesterday's
EXPIRE_CHUNK = 1000
UNIQUES_CHUNK = 5000  # viewers noted per transaction
_RECOUNT_CHUNK = UNIQUES_CHUNK // 20  # paths whose unique viewers are counted per transaction


@dataclass(frozen=True, slots=True)
class Sample:
    minute: int
    sessions: int
    series: int  # application and path pairs with viewers (the whole applications included)


class ViewerHistory:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._claim = insert_or_ignore(db, history_samples).returning(history_samples.c.minute)
        self._add_hours = insert_or_add_keep_max(
            db,
            viewer_hours,
            key=("application_id", "path", "hour"),
            add=("viewer_minutes",),
            keep_max=("peak",),
        )
        self._add_days = insert_or_add_keep_max(
            db,
            viewer_days,
            key=("application_id", "path", "day"),
            add=("viewer_minutes",),
            keep_max=("peak",),
        )
        self._seen = insert_or_ignore(db, viewer_uniques)

    def sample(self, now: int) -> Sample | None:
        """Sample the live sessions into ``now``'s minute; None if it is sampled already."""
        minute = now - now % 60
        day = minute - minute % 86400
        with self._db.write() as conn:
            if conn.execute(self._claim, {"minute": minute}).first() is None:
                return None
            previous = conn.execute(
                select(func.max(history_samples.c.minute)).where(history_samples.c.minute < minute)
            ).scalar()
        # New viewers since the last sample of the day (all of them at the day's first).
        since = previous if previous is not None and previous >= day else None
        s = viewer_sessions
        live = or_(s.c.expires_at.is_(None), s.c.expires_at > now)
        with self._db.read() as conn:
            split = [
                (int(a), str(p), int(o), str(protocol), int(n))
                for a, p, o, protocol, n in conn.execute(
                    select(s.c.application_id, s.c.path, s.c.origin_id, s.c.protocol, func.count())
                    .where(live)
                    .group_by(s.c.application_id, s.c.path, s.c.origin_id, s.c.protocol)
                ).all()
            ]
            arrivals = select(
                s.c.application_id, s.c.path, s.c.protocol, s.c.viewer, s.c.address, s.c.ticket_id
            ).where(live)
            if since is not None:
                arrivals = arrivals.where(s.c.started_at >= since)
            arrived = conn.execute(arrivals).all()
        totals: Counter[tuple[int, str]] = Counter()
        for application_id, path, _origin, _protocol, n in split:
            totals[(application_id, path)] += n
            totals[(application_id, WHOLE_APPLICATION)] += n
        seen = {
            (a, p, _who(protocol, viewer, address, ticket_id))
            for a, path, protocol, viewer, address, ticket_id in arrived
            for p in (path, WHOLE_APPLICATION)
        }
        with self._db.write() as conn:
            self._write(conn, minute, day, split, totals)
        self._add_uniques(day, seen)
        return Sample(minute, sum(n for *_, n in split), len(totals))

    def _write(
        self,
        conn: Connection,
        minute: int,
        day: int,
        split: Sequence[tuple[int, str, int, str, int]],
        totals: Counter[tuple[int, str]],
    ) -> None:
        hour = minute - minute % 3600
        rows = sorted(totals.items())
        if rows:
            conn.execute(
                viewer_minutes.insert(),
                [
                    {"application_id": a, "path": p, "minute": minute, "viewers": n}
                    for (a, p), n in rows
                ],
            )
            conn.execute(
                viewer_server_minutes.insert(),
                [
                    {
                        "application_id": a,
                        "path": p,
                        "minute": minute,
                        "origin_id": origin,
                        "protocol": protocol,
                        "viewers": n,
                    }
                    for a, p, origin, protocol, n in split
                ],
            )
            for statement, period, when in (
                (self._add_hours, "hour", hour),
                (self._add_days, "day", day),
            ):
                conn.execute(
                    statement,
                    [
                        {
                            "application_id": a,
                            "path": p,
                            period: when,
                            "peak": n,
                            "viewer_minutes": n,
                        }
                        for (a, p), n in rows
                    ],
                )

    def _add_uniques(self, day: int, seen: set[tuple[int, str, bytes]]) -> None:
        """Note who was seen today and count each path's unique viewers again, in short
        transactions (the day's first sample sees every live session: on SQLite the writer
        is shared with the request path)."""
        ordered = sorted(seen)
        for start in range(0, len(ordered), UNIQUES_CHUNK):
            with self._db.write() as conn:
                conn.execute(
                    self._seen,
                    [
                        {"application_id": a, "path": p, "day": day, "who": who}
                        for a, p, who in ordered[start : start + UNIQUES_CHUNK]
                    ],
                )
        pairs = sorted({(a, p) for a, p, _who in ordered})
        u, d = viewer_uniques, viewer_days
        for start in range(0, len(pairs), _RECOUNT_CHUNK):
            with self._db.write() as conn:
                for a, p in pairs[start : start + _RECOUNT_CHUNK]:
                    count = conn.execute(
                        select(func.count()).where(
                            u.c.application_id == a, u.c.path == p, u.c.day == day
                        )
                    ).scalar_one()
                    conn.execute(
                        self._add_days,
                        {
                            "application_id": a,
                            "path": p,
                            "day": day,
                            "peak": 0,
                            "viewer_minutes": 0,
                        },
                    )
                    conn.execute(
                        update(d)
                        .where(d.c.application_id == a, d.c.path == p, d.c.day == day)
                        .values(uniques=count)
                    )

    # -- reading ---------------------------------------------------------------------------------

    def minutes(
        self, application_id: int, path: str, *, first: int, last: int, origin_id: int | None
    ) -> list[tuple[int, int]]:
        """(minute, concurrent viewers) of each sampled minute with viewers in ``[first,
        last]``; ``origin_id``: on that server only."""
        params = {"application_id": application_id, "path": path, "first": first, "last": last}
        with self._db.read() as conn:
            if origin_id is None:
                return _MINUTES.rows(conn, params)
            t = viewer_server_minutes
            rows = conn.execute(
                select(t.c.minute, func.sum(t.c.viewers))
                .where(
                    t.c.application_id == application_id,
                    t.c.path == path,
                    t.c.minute.between(first, last),
                    t.c.origin_id == origin_id,
                )
                .group_by(t.c.minute)
            ).all()
        return [(int(m), int(n)) for m, n in rows]

    def hours(
        self, application_id: int, path: str, *, first: int, last: int
    ) -> list[tuple[int, int, int]]:
        """(hour, peak, viewer-minutes) of each hour with viewers in ``[first, last]``."""
        params = {"application_id": application_id, "path": path, "first": first, "last": last}
        with self._db.read() as conn:
            return _HOURS.rows(conn, params)

    def days(
        self, application_id: int, path: str, *, first: int, last: int
    ) -> list[tuple[int, int, int, int]]:
        """(day, peak, viewer-minutes, unique viewers) of each day with viewers in
        ``[first, last]``."""
        params = {"application_id": application_id, "path": path, "first": first, "last": last}
        with self._db.read() as conn:
            return _DAYS.rows(conn, params)

    # -- retention -------------------------------------------------------------------------------

    def expire(self, now: int, *, chunk: int = EXPIRE_CHUNK) -> int:
        """Delete the rows past their retention from each table, about ``chunk`` at most
        from each (the oldest first, whole minutes, hours or days): how many went."""
        gone = 0
        with self._db.write() as conn:
            for table, column, kept in (
                (viewer_minutes, "minute", MINUTE_RETENTION),
                (viewer_server_minutes, "minute", MINUTE_RETENTION),
                (viewer_hours, "hour", DAY_RETENTION),
                (viewer_days, "day", DAY_RETENTION),
                (viewer_uniques, "day", _UNIQUES_RETENTION),
                # As long as the minutes: a minute with rows is always a claimed one.
                (history_samples, "minute", MINUTE_RETENTION),
            ):
                when = table.c[column]
                cutoff = now - kept
                # The chunk-th oldest expired row's time, on the time's index: up to it.
                bound = conn.execute(
                    select(when).where(when < cutoff).order_by(when).limit(1).offset(chunk - 1)
                ).scalar()
                condition = when < cutoff if bound is None else when <= bound
                gone += conn.execute(delete(table).where(condition)).rowcount
        return gone


def _who(protocol: str, viewer: str, address: str, ticket_id: int | None) -> bytes:
    """A viewer as the unique count knows it: their ticket, else (HLS) the hash of their
    address and user agent the session is named by, else (RTMP) their address."""
    if ticket_id is not None:
        identity = f"t:{ticket_id}"
    elif protocol == RTMP:
        identity = f"r:{address}"
    else:
        identity = viewer
    return hashlib.blake2b(identity.encode(), digest_size=16).digest()
