"""Stream users: who may publish which streams of an application (sevu.addstreamuser)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from cdnpanel.errors import Conflict
from cdnpanel.records import StreamSettings, StreamUser
from cdnpanel.store.database import Database
from cdnpanel.store.installation import installation_key
from cdnpanel.store.prepared import CachedRead
from cdnpanel.store.tables import stream_locks, stream_users

__all__ = ["ANY_STREAM", "StreamUserStore"]

ANY_STREAM = "*"

_COLUMNS = (
    stream_users.c.id,
    stream_users.c.account_id,
    stream_users.c.application_id,
    stream_users.c.stream,
    stream_users.c.user_name,
    stream_users.c.pass_hash,
    stream_users.c.record,
    stream_users.c.record_type,
    stream_users.c.segment_type,
    stream_users.c.segment_value,
    stream_users.c.save_folder,
    stream_users.c.ga_key,
    stream_users.c.created_at,
)
# Every publish asks for the application's stream users and locked streams. Both are kept in
# memory, per application, until their tables change (Database.cached; on PostgreSQL migration
# 0010's triggers tell every node): an encoder's reconnect loop, or a crowd of encoders after
# an origin restart, reads nothing. Per application, not per stream name: a crowd publishes
# many names, and a cache per name would miss on every one. Bounded by MAX_STREAM_USERS.
_APPLICATION_USERS: CachedRead[Mapping[str, tuple[StreamUser, ...]]] = CachedRead(
    select(*_COLUMNS)
    .where(stream_users.c.application_id == bindparam("application_id"))
    .order_by(stream_users.c.id),
    lambda rows: _by_stream([_record(row) for row in rows]),
)
_APPLICATION_LOCKS: CachedRead[Mapping[str, int]] = CachedRead(
    select(stream_locks.c.stream, stream_locks.c.locked_at).where(
        stream_locks.c.application_id == bindparam("application_id")
    ),
    lambda rows: MappingProxyType({stream: int(at) for stream, at in rows}),
)


def _by_stream(users: list[StreamUser]) -> Mapping[str, tuple[StreamUser, ...]]:
    grouped: dict[str, list[StreamUser]] = {}
    for user in users:
        grouped.setdefault(user.stream, []).append(user)
    return MappingProxyType({stream: tuple(found) for stream, found in grouped.items()})


def _record(row: Any) -> StreamUser:
    (id_, account_id, application_id, stream, user, pass_hash, *settings, created_at) = row
    return StreamUser(
        id=id_,
        account_id=account_id,
        application_id=application_id,
        stream=stream,
        user=user or None,
        pass_hash=None if pass_hash is None else bytes(pass_hash),
        settings=StreamSettings(bool(settings[0]), *settings[1:]),
        created_at=created_at,
    )


class StreamUserStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._pass_key: bytes | None = None

    def pass_key(self) -> bytes:
        """The installation's key for stream user passwords (made by migration 0010)."""
        if self._pass_key is None:
            self._pass_key = installation_key(self._db, "stream_pass")
        return self._pass_key

    def add(
        self,
        *,
        account_id: int,
        application_id: int,
        stream: str,
        user: str | None,
        pass_hash: bytes | None,
        settings: StreamSettings,
        now: int,
    ) -> StreamUser:
        """A new stream user; Conflict when the application's stream has one of that name."""
        try:
            with self._db.write() as conn:
                new_id = conn.execute(
                    insert(stream_users)
                    .returning(stream_users.c.id)
                    .values(
                        account_id=account_id,
                        application_id=application_id,
                        stream=stream,
                        user_name=user or "",
                        pass_hash=pass_hash,
                        created_at=now,
                        **dataclasses.asdict(settings),
                    )
                ).scalar_one()
        except IntegrityError:
            who = f"user {user!r}" if user else "an entry without credentials"
            raise Conflict(
                f"stream {stream!r} of this application already has {who}: remove it first "
                "(sevu.removestreamuser), or change the stream's settings (sevu.updatestream)"
            ) from None
        return StreamUser(
            new_id, account_id, application_id, stream, user, pass_hash, settings, now
        )

    def get(self, account_id: int, streamuser_id: int) -> StreamUser | None:
        with self._db.read() as conn:
            row = conn.execute(
                select(*_COLUMNS).where(
                    stream_users.c.account_id == account_id, stream_users.c.id == streamuser_id
                )
            ).first()
        return None if row is None else _record(row)

    def find(self, application_id: int, stream: str, user: str | None) -> StreamUser | None:
        with self._db.read() as conn:
            row = conn.execute(
                select(*_COLUMNS).where(
                    stream_users.c.application_id == application_id,
                    stream_users.c.stream == stream,
                    stream_users.c.user_name == (user or ""),
                )
            ).first()
        return None if row is None else _record(row)

    def list_for_account(
        self,
        account_id: int,
        *,
        application_ids: list[int] | None = None,
        stream: str | None = None,
        limit: int,
    ) -> list[StreamUser]:
        query = select(*_COLUMNS).where(stream_users.c.account_id == account_id)
        if application_ids is not None:
            query = query.where(stream_users.c.application_id.in_(application_ids))
        if stream is not None:
            query = query.where(stream_users.c.stream == stream)
        with self._db.read() as conn:
            rows = conn.execute(query.order_by(stream_users.c.id).limit(limit)).all()
        return [_record(row) for row in rows]

    def deciding(self, application_id: int, stream: str) -> tuple[StreamUser, ...]:
        """The stream users that decide a publish of ``stream``: its own, else the "*" ones."""
        users = self._db.cached(_APPLICATION_USERS, {"application_id": application_id})
        return users.get(stream) or users.get(ANY_STREAM, ())

    def count_for_account(self, account_id: int) -> int:
        with self._db.read() as conn:
            return int(
                conn.execute(
                    select(func.count()).where(stream_users.c.account_id == account_id)
                ).scalar_one()
            )

    def set_settings(self, application_id: int, stream: str, values: dict[str, Any]) -> int:
        """Change these settings of every stream user of the stream; how many there are."""
        with self._db.write() as conn:
            done = conn.execute(
                update(stream_users)
                .where(
                    stream_users.c.application_id == application_id,
                    stream_users.c.stream == stream,
                )
                .values(**values)
            )
        return int(done.rowcount)

    def remove(self, account_id: int, streamuser_id: int) -> bool:
        with self._db.write() as conn:
            done = conn.execute(
                delete(stream_users).where(
                    stream_users.c.account_id == account_id, stream_users.c.id == streamuser_id
                )
            )
        return bool(done.rowcount)

    # -- locks (stream.close lock) -----------------------------------------------------------

    def lock(self, application_id: int, stream: str, *, now: int) -> None:
        try:
            with self._db.write() as conn:
                conn.execute(
                    insert(stream_locks).values(
                        application_id=application_id, stream=stream, locked_at=now
                    )
                )
        except IntegrityError:
            pass  # locked already: the first lock's time stands

    def unlock(self, application_id: int, stream: str) -> bool:
        with self._db.write() as conn:
            done = conn.execute(
                delete(stream_locks).where(
                    stream_locks.c.application_id == application_id,
                    stream_locks.c.stream == stream,
                )
            )
        return bool(done.rowcount)

    def locked_at(self, application_id: int, stream: str) -> int | None:
        locks = self._db.cached(_APPLICATION_LOCKS, {"application_id": application_id})
        return locks.get(stream)
