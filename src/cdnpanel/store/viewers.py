"""Viewer sessions and the counters kept in step with them.

Every change to ``viewer_sessions`` changes ``viewer_counts`` in the same transaction, so a count
is a read of a few counter rows, never a scan of sessions. The functions that take a
``Connection`` are the building blocks: other repositories (ticket admission) call them inside
their own transactions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, delete, func, or_, select, update

from cdnpanel.records import HLS, RTMP, HlsTouch, StreamKey, ViewerSession, ViewersOn
from cdnpanel.store._dialect import insert_or_add, insert_or_ignore
from cdnpanel.store.database import Database
from cdnpanel.store.prepared import Prepared
from cdnpanel.store.tables import origins, tickets, viewer_counts, viewer_sessions

__all__ = ["ViewerStore"]


_TOTAL = func.sum(viewer_counts.c.rtmp + viewer_counts.c.hls)  # NULL without rows
_COUNT_PATH = Prepared(
    select(_TOTAL).where(
        viewer_counts.c.application_id == bindparam("application_id"),
        viewer_counts.c.path == bindparam("path"),
    )
)
_COUNT_APPLICATION = Prepared(
    select(_TOTAL).where(viewer_counts.c.application_id == bindparam("application_id"))
)
_REFRESH = Prepared(
    update(viewer_sessions)
    .where(
        viewer_sessions.c.origin_id == bindparam("origin_id"),
        viewer_sessions.c.protocol == bindparam("protocol"),
        viewer_sessions.c.viewer == bindparam("viewer"),
        viewer_sessions.c.application_id == bindparam("application_id"),
        viewer_sessions.c.inst == bindparam("inst"),
        viewer_sessions.c.path == bindparam("path"),
    )
    .values(seen_at=bindparam("new_seen_at"), expires_at=bindparam("new_expires_at"))
)
_SESSION_COLUMNS = (
    "ticket_id",
    "origin_id",
    "application_id",
    "inst",
    "path",
    "protocol",
    "viewer",
    "address",
    "started_at",
    "seen_at",
    "expires_at",
)
_COUNT_COLUMNS = ("application_id", "path", "inst", "rtmp", "hls")


class ViewerStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        # RETURNING tells whether the row went in, on both backends (PostgreSQL's rowcount is
        # -1 for an INSERT that returns rows).
        self._insert_session = Prepared(
            insert_or_ignore(db, viewer_sessions)
            .values({name: bindparam(name) for name in _SESSION_COLUMNS})
            .returning(viewer_sessions.c.id)
        )
        self._add_counts = Prepared(
            insert_or_add(
                db, viewer_counts, key=("application_id", "path", "inst"), add=("rtmp", "hls")
            ).values({name: bindparam(name) for name in _COUNT_COLUMNS})
        )

    # -- RTMP: one session per player connection, from play to play_done ----------------------

    def open_rtmp(
        self, *, origin_id: int, stream: StreamKey, client_id: str, address: str, now: int
    ) -> bool:
        """Count a new RTMP player; False if this connection was counted already."""
        with self._db.write() as conn:
            return self.open_session(
                conn,
                origin_id=origin_id,
                stream=stream,
                protocol=RTMP,
                viewer=client_id,
                address=address,
                now=now,
                expires_at=None,
            )

    def close_rtmp(self, *, origin_id: int, client_ids: Collection[str]) -> int:
        """Stop counting these player connections of an origin; returns how many were counted."""
        if not client_ids:
            return 0
        with self._db.write() as conn:
            rows = conn.execute(
                delete(viewer_sessions)
                .where(
                    viewer_sessions.c.origin_id == origin_id,
                    viewer_sessions.c.protocol == RTMP,
                    viewer_sessions.c.viewer.in_(list(client_ids)),
                )
                .returning(
                    viewer_sessions.c.application_id,
                    viewer_sessions.c.inst,
                    viewer_sessions.c.path,
                )
            ).all()
            self._subtract(conn, RTMP, (StreamKey(*row) for row in rows))
        return len(rows)

    def rtmp_players_of_ticket(self, ticket_id: int) -> list[ViewerSession]:
        """RTMP players a ticket admitted that still play (on any origin)."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(viewer_sessions).where(
                    viewer_sessions.c.ticket_id == ticket_id, viewer_sessions.c.protocol == RTMP
                )
            ).all()
        return [_session(r) for r in rows]

    def rtmp_players_with_stale_tickets(self, origin_id: int, *, now: int) -> list[ViewerSession]:
        """RTMP players of an origin whose ticket has since been revoked or has expired."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(viewer_sessions)
                .join(tickets, tickets.c.id == viewer_sessions.c.ticket_id)
                .where(
                    viewer_sessions.c.origin_id == origin_id,
                    viewer_sessions.c.protocol == RTMP,
                    or_(tickets.c.revoked_at.is_not(None), tickets.c.expires_at <= now),
                )
            ).all()
        return [_session(r) for r in rows]

    def rtmp_sessions(self, origin_id: int) -> list[ViewerSession]:
        with self._db.read() as conn:
            rows = conn.execute(
                select(viewer_sessions).where(
                    viewer_sessions.c.origin_id == origin_id, viewer_sessions.c.protocol == RTMP
                )
            ).all()
        return [_session(r) for r in rows]

    # -- HLS: sessions refreshed by requests, expiring when the requests stop ------------------

    def touch_hls(self, touches: Sequence[HlsTouch]) -> int:
        """Refresh or open HLS sessions, all in one transaction; returns how many are new."""
        if not touches:
            return 0
        opened = 0
        with self._db.write() as conn:
            refreshed = _REFRESH.rowcounts(
                conn,
                [
                    {
                        **_identity(touch.origin_id, touch.stream, HLS, touch.viewer),
                        "new_seen_at": touch.seen_at,
                        "new_expires_at": touch.expires_at,
                    }
                    for touch in touches
                ],
            )
            for touch, count in zip(touches, refreshed, strict=True):
                if count:
                    continue
                opened += self.open_session(
                    conn,
                    origin_id=touch.origin_id,
                    stream=touch.stream,
                    protocol=HLS,
                    viewer=touch.viewer,
                    address=touch.address,
                    now=touch.seen_at,
                    expires_at=touch.expires_at,
                )
        return opened

    def cap_hls_expiry(self, *, origin_id: int, stream: StreamKey, until: int) -> int:
        """Make the stream's HLS sessions expire at ``until`` at the latest (their window got
        shorter); returns how many changed."""
        with self._db.write() as conn:
            result = conn.execute(
                update(viewer_sessions)
                .where(
                    viewer_sessions.c.origin_id == origin_id,
                    viewer_sessions.c.protocol == HLS,
                    viewer_sessions.c.application_id == stream.application_id,
                    viewer_sessions.c.inst == stream.inst,
                    viewer_sessions.c.path == stream.path,
                    viewer_sessions.c.expires_at > until,
                )
                .values(expires_at=until)
            )
        return int(result.rowcount)

    def sweep_expired(self, *, now: int, batch: int = 128) -> int:
        """End up to ``batch`` HLS sessions whose window has passed, in one short transaction;
        returns how many ended (``batch``: call again)."""
        with self._db.write() as conn:
            expired = (
                select(viewer_sessions.c.id)
                .where(viewer_sessions.c.expires_at <= now)
                .order_by(viewer_sessions.c.expires_at)
                .limit(batch)
                .scalar_subquery()
            )
            rows = conn.execute(
                delete(viewer_sessions)
                .where(viewer_sessions.c.id.in_(expired))
                .returning(
                    viewer_sessions.c.application_id,
                    viewer_sessions.c.inst,
                    viewer_sessions.c.path,
                )
            ).all()
            self._subtract(conn, HLS, (StreamKey(*row) for row in rows))
        return len(rows)

    def end_all_on(self, origin_id: int) -> int:
        """End every viewer session on one server (an edge being removed); how many ended."""
        with self._db.write() as conn:
            rows = conn.execute(
                delete(viewer_sessions)
                .where(viewer_sessions.c.origin_id == origin_id)
                .returning(
                    viewer_sessions.c.protocol,
                    viewer_sessions.c.application_id,
                    viewer_sessions.c.inst,
                    viewer_sessions.c.path,
                )
            ).all()
            for protocol in (RTMP, HLS):
                self._subtract(
                    conn, protocol, (StreamKey(*r[1:]) for r in rows if r[0] == protocol)
                )
        return len(rows)

    # -- counting -------------------------------------------------------------------------------

    def count(self, application_id: int, paths: Sequence[str] | None = None) -> dict[str, int]:
        """Viewers now, per path (all instances together); every asked path is in the answer.

        ``paths=None`` gives the whole application's total under the key ``""``.
        """
        if paths is None:
            ((whole,),) = self._db.query(_COUNT_APPLICATION, {"application_id": application_id})
            return {"": max(0, int(whole or 0))}
        counts = {}
        for path in paths:  # a prepared read each: a few µs, where an IN query costs hundreds
            ((n,),) = self._db.query(_COUNT_PATH, {"application_id": application_id, "path": path})
            counts[path] = max(0, int(n or 0))
        return counts

    def counts_for(self, streams: Iterable[StreamKey]) -> dict[StreamKey, int]:
        """Viewers now of each of these (application, instance, path)."""
        keys = set(streams)
        if not keys:
            return {}
        application_ids = {k.application_id for k in keys}
        with self._db.read() as conn:
            rows = conn.execute(
                select(
                    viewer_counts.c.application_id,
                    viewer_counts.c.inst,
                    viewer_counts.c.path,
                    viewer_counts.c.rtmp + viewer_counts.c.hls,
                ).where(viewer_counts.c.application_id.in_(list(application_ids)))
            ).all()
        found = {StreamKey(a, i, p): max(0, int(n)) for a, i, p, n in rows}
        return {key: found.get(key, 0) for key in keys}

    def paths(self, application_id: int) -> list[tuple[str, int, int]]:
        """(path, RTMP viewers, HLS viewers) of every path of the application watched now, all
        instances together, from the counters."""
        c = viewer_counts
        with self._db.read() as conn:
            rows = conn.execute(
                select(c.c.path, func.sum(c.c.rtmp), func.sum(c.c.hls))
                .where(c.c.application_id == application_id)
                .group_by(c.c.path)
            ).all()
        found = [(str(p), max(0, int(r or 0)), max(0, int(h or 0))) for p, r, h in rows]
        return [row for row in found if row[1] or row[2]]

    def by_server(self, application_id: int, path: str | None = None) -> list[ViewersOn]:
        """Viewers now of one path (None: the whole application) per server and protocol,
        the sessions the counters count (the same total as ``count``), most first."""
        viewers = func.count(viewer_sessions.c.id)
        query = (
            select(origins.c.name, origins.c.role, origins.c.location, viewer_sessions.c.protocol)
            .add_columns(viewers)
            .join(origins, origins.c.id == viewer_sessions.c.origin_id)
            .where(viewer_sessions.c.application_id == application_id)
            .group_by(origins.c.id, viewer_sessions.c.protocol)
            .order_by(viewers.desc(), origins.c.name, viewer_sessions.c.protocol)
        )
        if path is not None:
            query = query.where(viewer_sessions.c.path == path)
        with self._db.read() as conn:
            return [ViewersOn(*row) for row in conn.execute(query).all()]

    # -- building blocks for transactions of other repositories ---------------------------------

    def open_session(
        self,
        conn: Connection,
        *,
        origin_id: int,
        stream: StreamKey,
        protocol: str,
        viewer: str,
        address: str,
        now: int,
        expires_at: int | None,
        ticket_id: int | None = None,
    ) -> bool:
        """Insert a session and count it, in ``conn``'s transaction; False if it exists."""
        inserted = self._insert_session.rows(
            conn,
            {
                "ticket_id": ticket_id,
                "origin_id": origin_id,
                "application_id": stream.application_id,
                "inst": stream.inst,
                "path": stream.path,
                "protocol": protocol,
                "viewer": viewer,
                "address": address,
                "started_at": now,
                "seen_at": now,
                "expires_at": expires_at,
            },
        )
        if not inserted:
            return False
        self._add(conn, protocol, {stream: 1})
        return True

    def _subtract(self, conn: Connection, protocol: str, streams: Iterable[StreamKey]) -> None:
        ended = Counter(streams)
        if not ended:
            return
        self._add(conn, protocol, {key: -n for key, n in ended.items()})
        for key in ended:
            conn.execute(
                delete(viewer_counts).where(
                    _count_key(key), viewer_counts.c.rtmp <= 0, viewer_counts.c.hls <= 0
                )
            )

    def _add(self, conn: Connection, protocol: str, deltas: dict[StreamKey, int]) -> None:
        self._add_counts.rowcounts(
            conn,
            [
                {
                    "application_id": key.application_id,
                    "path": key.path,
                    "inst": key.inst,
                    "rtmp": delta if protocol == RTMP else 0,
                    "hls": delta if protocol == HLS else 0,
                }
                for key, delta in deltas.items()
            ],
        )


def _identity(origin_id: int, stream: StreamKey, protocol: str, viewer: str) -> dict[str, Any]:
    return {
        "origin_id": origin_id,
        "protocol": protocol,
        "viewer": viewer,
        "application_id": stream.application_id,
        "inst": stream.inst,
        "path": stream.path,
    }


def _count_key(key: StreamKey) -> Any:
    return and_(
        viewer_counts.c.application_id == key.application_id,
        viewer_counts.c.path == key.path,
        viewer_counts.c.inst == key.inst,
    )


def _session(row: Row[Any]) -> ViewerSession:
    return ViewerSession(
        id=row.id,
        origin_id=row.origin_id,
        application_id=row.application_id,
        inst=row.inst,
        path=row.path,
        protocol=row.protocol,
        viewer=row.viewer,
        address=row.address,
        started_at=row.started_at,
        seen_at=row.seen_at,
        expires_at=row.expires_at,
        ticket_id=row.ticket_id,
    )
