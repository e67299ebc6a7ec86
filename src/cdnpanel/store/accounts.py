"""Accounts, identified to clients by their CDN id."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, func, insert, select
from sqlalchemy.exc import IntegrityError

from cdnpanel.errors import Conflict
from cdnpanel.records import Account
from cdnpanel.store.database import Database
from cdnpanel.store.tables import accounts

__all__ = ["FIRST_CDN_ID", "AccountStore"]

FIRST_CDN_ID = 100


class AccountStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, *, name: str, cdn_id: int | None, now: int) -> Account:
        """Insert an account; without a CDN id, take the next free one."""
        try:
            with self._db.write() as conn:
                if cdn_id is None:
                    highest = conn.execute(select(func.max(accounts.c.cdn_id))).scalar()
                    cdn_id = max(FIRST_CDN_ID, (highest or 0) + 1)
                new_id = conn.execute(
                    insert(accounts)
                    .returning(accounts.c.id)
                    .values(cdn_id=cdn_id, name=name, created_at=now)
                ).scalar_one()
        except IntegrityError:
            raise Conflict(f"CDN id {cdn_id} is already taken by another account") from None
        return Account(id=new_id, cdn_id=cdn_id, name=name, created_at=now)

    def get_by_cdn(self, cdn_id: int) -> Account | None:
        with self._db.read() as conn:
            row = conn.execute(select(accounts).where(accounts.c.cdn_id == cdn_id)).first()
        return _account(row) if row else None

    def list(self) -> list[Account]:
        with self._db.read() as conn:
            rows = conn.execute(select(accounts).order_by(accounts.c.cdn_id)).all()
        return [_account(r) for r in rows]


def _account(row: Row[Any]) -> Account:
    return Account(id=row.id, cdn_id=row.cdn_id, name=row.name, created_at=row.created_at)
