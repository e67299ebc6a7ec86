"""API keys: several per account, each with its secret, revocable, with a last-used time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from cdnpanel.errors import Conflict
from cdnpanel.records import ApiKey, KeyCredential
from cdnpanel.store.database import Database
from cdnpanel.store.group_commit import WriteKind
from cdnpanel.store.prepared import CachedRead
from cdnpanel.store.tables import accounts, api_keys

__all__ = ["KeyStore"]

# Runs on every signed request; on SQLite kept until the database changes (Database.cached).
_CREDENTIAL = CachedRead(
    select(
        api_keys.c.id,
        api_keys.c.account_id,
        accounts.c.cdn_id,
        api_keys.c.secret,
        api_keys.c.last_used_at,
    )
    .join(accounts, accounts.c.id == api_keys.c.account_id)
    .where(api_keys.c.revoked_at.is_(None), api_keys.c.api_key == bindparam("api_key")),
    lambda rows: KeyCredential(*rows[0]) if rows else None,
)


class KeyStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, *, account_id: int, api_key: str, secret: str, label: str, now: int) -> ApiKey:
        try:
            with self._db.write() as conn:
                key_id = conn.execute(
                    insert(api_keys)
                    .returning(api_keys.c.id)
                    .values(
                        account_id=account_id,
                        api_key=api_key,
                        secret=secret,
                        label=label,
                        created_at=now,
                    )
                ).scalar_one()
        except IntegrityError:
            raise Conflict("an API key with that value exists already") from None
        return ApiKey(key_id, account_id, api_key, label, now, None, None)

    def find_active_credential(self, api_key: str) -> KeyCredential | None:
        """The active key with this public value, with its secret and account's CDN id."""
        return self._db.cached(_CREDENTIAL, {"api_key": api_key})

    def list_for_account(self, account_id: int) -> list[ApiKey]:
        with self._db.read() as conn:
            rows = conn.execute(
                select(api_keys).where(api_keys.c.account_id == account_id).order_by(api_keys.c.id)
            ).all()
        return [_api_key(r) for r in rows]

    def revoke(self, *, account_id: int, api_key: str, now: int) -> bool:
        """Revoke an active key of this account; False when there is none to revoke."""
        with self._db.write() as conn:
            result = conn.execute(
                update(api_keys)
                .where(
                    api_keys.c.account_id == account_id,
                    api_keys.c.api_key == api_key,
                    api_keys.c.revoked_at.is_(None),
                )
                .values(revoked_at=now)
            )
        return result.rowcount == 1

    async def record_use(self, *, key_id: int, now: int) -> None:
        """Note when the key was last used, with the other writes of the moment."""
        await self._db.submit(_USES, (key_id, now))


_RECORD_USE = (
    update(api_keys)
    .where(api_keys.c.id == bindparam("key_id"))
    .values(last_used_at=bindparam("now"))
)


def _record_uses_in(conn: Connection, uses: Sequence[tuple[int, int]]) -> list[None]:
    conn.execute(_RECORD_USE, [{"key_id": key_id, "now": now} for key_id, now in uses])
    return [None] * len(uses)


# A key's last use is a column of the cached credential read: it drops cached reads.
_USES: WriteKind[tuple[int, int], None] = WriteKind("key uses", _record_uses_in)


def _api_key(row: Row[Any]) -> ApiKey:
    return ApiKey(
        id=row.id,
        account_id=row.account_id,
        api_key=row.api_key,
        label=row.label,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )
