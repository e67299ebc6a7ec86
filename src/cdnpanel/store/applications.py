"""Applications: what streams and usage are grouped by; names are unique across accounts."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Row, bindparam, insert, or_, select
from sqlalchemy.exc import IntegrityError

from cdnpanel.errors import Conflict
from cdnpanel.store.database import Database
from cdnpanel.store.prepared import Prepared
from cdnpanel.store.records import Application
from cdnpanel.store.tables import applications

__all__ = ["ApplicationStore"]

# video.getapps and every command that resolves `app` run this.
_ACCOUNT_APPLICATIONS = Prepared(
    select(
        applications.c.id,
        applications.c.account_id,
        applications.c.name,
        applications.c.created_at,
    )
    .where(applications.c.account_id == bindparam("account_id"))
    .order_by(applications.c.id)
)


class ApplicationStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, *, account_id: int, name: str, now: int) -> Application:
        try:
            with self._db.write() as conn:
                app_id = conn.execute(
                    insert(applications)
                    .returning(applications.c.id)
                    .values(account_id=account_id, name=name, created_at=now)
                ).scalar_one()
        except IntegrityError:
            raise Conflict(
                f"the application name {name!r} is taken: application names are unique "
                "across all accounts"
            ) from None
        return Application(id=app_id, account_id=account_id, name=name, created_at=now)

    def list_for_account(self, account_id: int) -> list[Application]:
        rows = self._db.query(_ACCOUNT_APPLICATIONS, {"account_id": account_id})
        return [Application(*row) for row in rows]

    def find_for_account(
        self, account_id: int, *, ids: Collection[int] = (), names: Collection[str] = ()
    ) -> list[Application]:
        """The account's applications among these ids and names (others' are never returned)."""
        if not ids and not names:
            return []
        with self._db.read() as conn:
            rows = conn.execute(
                select(applications).where(
                    applications.c.account_id == account_id,
                    or_(applications.c.id.in_(list(ids)), applications.c.name.in_(list(names))),
                )
            ).all()
        return [_application(r) for r in rows]


def _application(row: Row[Any]) -> Application:
    return Application(
        id=row.id, account_id=row.account_id, name=row.name, created_at=row.created_at
    )
