"""The stream registry: publishing sessions on origins, live and ended."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from cdnpanel.errors import Conflict
from cdnpanel.records import Stream, StreamKey
from cdnpanel.store.database import Database
from cdnpanel.store.group_commit import WriteKind
from cdnpanel.store.prepared import Prepared
from cdnpanel.store.tables import streams

__all__ = ["StreamStore"]

_LIVE = streams.c.ended_at.is_(None)


class StreamStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def start(self, **values: Any) -> Stream:
        """Register a live stream now, in a transaction of its own (the reconciler's
        adoptions); Conflict if that name is live on the origin already. Takes ``account_id,
        application_id, origin_id, inst, name, client_id, publisher_addr, started_at`` and
        optionally ``stream_user_id``."""
        with self._db.write() as conn:
            (stream_id,) = _start_in(conn, [values])
        return _new_stream(stream_id, values)

    async def start_published(self, **values: Any) -> Stream:
        """``start`` for a publish callback: made with the other writes of the moment (the
        store's group commit), so that a crowd of encoders reconnecting at once (an origin
        restart) costs a few transactions, not one each."""
        stream_id = await self._db.submit(_STARTS, values)
        return _new_stream(stream_id, values)

    def end_published(
        self,
        *,
        origin_id: int,
        client_id: str,
        application_id: int,
        inst: str,
        name: str,
        now: int,
        reason: str,
    ) -> Stream | None:
        """End the live stream this publishing connection opened; None if there is none."""
        with self._db.write() as conn:
            row = conn.execute(
                update(streams)
                .where(
                    _LIVE,
                    streams.c.origin_id == origin_id,
                    streams.c.client_id == client_id,
                    streams.c.application_id == application_id,
                    streams.c.inst == inst,
                    streams.c.name == name,
                )
                .values(ended_at=now, end_reason=reason)
                .returning(*streams.c)
            ).first()
        return _stream(row) if row else None

    def end(self, *, stream_id: int, now: int, reason: str) -> bool:
        """End a live stream; False if it had ended already."""
        with self._db.write() as conn:
            result = conn.execute(
                update(streams)
                .where(_LIVE, streams.c.id == stream_id)
                .values(ended_at=now, end_reason=reason)
            )
        return result.rowcount == 1

    def end_as(self, *, stream_id: int, now: int, reason: str, since: int, replaces: str) -> bool:
        """End a stream with ``reason``, also when it ended with ``replaces`` at or after
        ``since`` (the consequence of what ``reason`` records, reported first); False if it
        ended otherwise."""
        with self._db.write() as conn:
            result = conn.execute(
                update(streams)
                .where(
                    streams.c.id == stream_id,
                    or_(
                        _LIVE,
                        and_(streams.c.end_reason == replaces, streams.c.ended_at >= since),
                    ),
                )
                .values(ended_at=func.coalesce(streams.c.ended_at, now), end_reason=reason)
            )
        return result.rowcount == 1

    def reopen(self, *, stream_id: int) -> bool:
        """Make an ended stream live again (its end was recorded wrongly); False on conflict."""
        try:
            with self._db.write() as conn:
                result = conn.execute(
                    update(streams)
                    .where(streams.c.id == stream_id, streams.c.ended_at.is_not(None))
                    .values(ended_at=None, end_reason=None)
                )
        except IntegrityError:
            return False  # another stream of that name is live there now
        return result.rowcount == 1

    def get(self, stream_id: int) -> Stream | None:
        with self._db.read() as conn:
            row = conn.execute(select(streams).where(streams.c.id == stream_id)).first()
        return _stream(row) if row else None

    def find_live(
        self, *, application_id: int, inst: str, name: str, origin_id: int | None = None
    ) -> list[Stream]:
        """Live streams with this app, inst and name (on one origin, or on any)."""
        query = select(streams).where(
            _LIVE,
            streams.c.application_id == application_id,
            streams.c.inst == inst,
            streams.c.name == name,
        )
        if origin_id is not None:
            query = query.where(streams.c.origin_id == origin_id)
        with self._db.read() as conn:
            rows = conn.execute(query.order_by(streams.c.id)).all()
        return [_stream(r) for r in rows]

    def set_segment_seconds(self, *, stream_id: int, seconds: int) -> None:
        """Record the target duration read from the stream's HLS playlist."""
        with self._db.write() as conn:
            conn.execute(
                update(streams).where(streams.c.id == stream_id).values(hls_segment_seconds=seconds)
            )

    def segment_seconds(self, *, origin_id: int, stream: StreamKey) -> int | None:
        """The HLS target duration of the stream live under this key on the origin, if read."""
        with self._db.read() as conn:
            return conn.execute(
                select(streams.c.hls_segment_seconds).where(
                    _LIVE,
                    streams.c.origin_id == origin_id,
                    streams.c.application_id == stream.application_id,
                    streams.c.inst == stream.inst,
                    streams.c.name == stream.path,
                )
            ).scalar()

    def latest_by_name(self, *, application_id: int, inst: str, name: str) -> Stream | None:
        """The newest stream with this app, inst and name, live or ended."""
        query = (
            select(streams)
            .where(
                streams.c.application_id == application_id,
                streams.c.inst == inst,
                streams.c.name == name,
            )
            .order_by(streams.c.id.desc())
            .limit(1)
        )
        with self._db.read() as conn:
            row = conn.execute(query).first()
        return _stream(row) if row else None

    def live_for_account(
        self, account_id: int, *, application_ids: Collection[int] | None = None
    ) -> list[Stream]:
        query = select(streams).where(_LIVE, streams.c.account_id == account_id)
        if application_ids is not None:
            query = query.where(streams.c.application_id.in_(list(application_ids)))
        with self._db.read() as conn:
            rows = conn.execute(query.order_by(streams.c.id)).all()
        return [_stream(r) for r in rows]

    def live_admitted_by(self, stream_user_id: int) -> list[Stream]:
        with self._db.read() as conn:
            rows = conn.execute(
                select(streams).where(_LIVE, streams.c.stream_user_id == stream_user_id)
            ).all()
        return [_stream(r) for r in rows]

    def live_on_origin(self, origin_id: int) -> list[Stream]:
        with self._db.read() as conn:
            rows = conn.execute(
                select(streams).where(_LIVE, streams.c.origin_id == origin_id)
            ).all()
        return [_stream(r) for r in rows]

    def started_by_client_since(
        self, *, origin_id: int, client_id: str, since: int
    ) -> list[Stream]:
        """Streams (live or ended) this connection id opened at or after ``since``."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(streams).where(
                    streams.c.origin_id == origin_id,
                    streams.c.client_id == client_id,
                    streams.c.started_at >= since,
                )
            ).all()
        return [_stream(r) for r in rows]

    def history(self, account_id: int, *, limit: int = 100) -> list[Stream]:
        """The account's most recent streams, live and ended, newest first."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(streams)
                .where(streams.c.account_id == account_id)
                .order_by(streams.c.id.desc())
                .limit(limit)
            ).all()
        return [_stream(r) for r in rows]


_STREAM_VALUES = (
    "account_id",
    "application_id",
    "origin_id",
    "inst",
    "name",
    "client_id",
    "publisher_addr",
    "started_at",
    "stream_user_id",
)
_INSERT_STREAM = Prepared(
    insert(streams)
    .returning(streams.c.id)
    .values({name: bindparam(name) for name in _STREAM_VALUES})
)


def _start_in(conn: Connection, starts: Sequence[Mapping[str, Any]]) -> list[int]:
    ids: list[int] = []
    for values in starts:
        params = {name: values.get(name) for name in _STREAM_VALUES}
        try:
            ((stream_id,),) = _INSERT_STREAM.rows(conn, params)
        except conn.dialect.loaded_dbapi.IntegrityError:  # the driver's: a prepared statement
            raise Conflict(f"stream {values['name']!r} is already being published") from None
        ids.append(stream_id)
    return ids


# Streams: no CachedRead reads them, so starting one keeps the signed path's cached reads.
_STARTS: WriteKind[Mapping[str, Any], int] = WriteKind(
    "stream starts", _start_in, keeps_cached_reads=True
)


def _new_stream(stream_id: int, values: Mapping[str, Any]) -> Stream:
    return Stream(
        id=stream_id,
        account_id=values["account_id"],
        application_id=values["application_id"],
        origin_id=values["origin_id"],
        inst=values["inst"],
        name=values["name"],
        client_id=values["client_id"],
        publisher_addr=values["publisher_addr"],
        started_at=values["started_at"],
        ended_at=None,
        end_reason=None,
        stream_user_id=values.get("stream_user_id"),
    )


def _stream(row: Row[Any]) -> Stream:
    return Stream(
        id=row.id,
        account_id=row.account_id,
        application_id=row.application_id,
        origin_id=row.origin_id,
        inst=row.inst,
        name=row.name,
        client_id=row.client_id,
        publisher_addr=row.publisher_addr,
        started_at=row.started_at,
        ended_at=row.ended_at,
        end_reason=row.end_reason,
        hls_segment_seconds=row.hls_segment_seconds,
        stream_user_id=row.stream_user_id,
    )
