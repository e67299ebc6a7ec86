"""Applications: what streams and usage are grouped by; names are unique across accounts."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from cdnpanel.errors import Conflict
from cdnpanel.records import Application
from cdnpanel.store.database import Database
from cdnpanel.store.prepared import CachedRead, Prepared
from cdnpanel.store.tables import applications

__all__ = ["ApplicationStore"]

_COLUMNS = (
    applications.c.id,
    applications.c.account_id,
    applications.c.name,
    applications.c.created_at,
    applications.c.origin_id,
    applications.c.protection,
    applications.c.publishing,
    applications.c.backup_origin_id,
)


def _applications(rows: list[tuple[Any, ...]]) -> tuple[Application, ...]:
    return tuple(Application(*row) for row in rows)


# video.getapps and every command that resolves `app` run these three; on SQLite their values
# are kept until the database changes (Database.cached).
_ACCOUNT_APPLICATIONS = CachedRead(
    select(*_COLUMNS)
    .where(applications.c.account_id == bindparam("account_id"))
    .order_by(applications.c.id),
    _applications,
)
# Media-server hooks name applications by name alone (names are unique across accounts): every
# publish and play callback, so kept too.
_BY_NAME = CachedRead(
    select(*_COLUMNS).where(applications.c.name == bindparam("name")), _applications
)
_BY_ID = Prepared(select(*_COLUMNS).where(applications.c.id == bindparam("id")))
# Commands name them by id or name, always within the caller's account.
_ACCOUNT_BY_ID = CachedRead(
    select(*_COLUMNS).where(
        applications.c.account_id == bindparam("account_id"),
        applications.c.id == bindparam("id"),
    ),
    _applications,
)
_ACCOUNT_BY_NAME = CachedRead(
    select(*_COLUMNS).where(
        applications.c.account_id == bindparam("account_id"),
        applications.c.name == bindparam("name"),
    ),
    _applications,
)


class ApplicationStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self,
        *,
        account_id: int,
        name: str,
        now: int,
        origin_id: int | None = None,
        publishing: str = "credentials",
    ) -> Application:
        try:
            with self._db.write() as conn:
                app_id = conn.execute(
                    insert(applications)
                    .returning(applications.c.id)
                    .values(
                        account_id=account_id,
                        name=name,
                        created_at=now,
                        origin_id=origin_id,
                        publishing=publishing,
                    )
                ).scalar_one()
        except IntegrityError:
            raise Conflict(
                f"the application name {name!r} is taken: application names are unique "
                "across all accounts"
            ) from None
        return Application(app_id, account_id, name, now, origin_id, publishing=publishing)

    def list_for_account(self, account_id: int) -> list[Application]:
        apps = self._db.cached(_ACCOUNT_APPLICATIONS, {"account_id": account_id})
        return list(apps)

    def get_by_name(self, name: str) -> Application | None:
        """Any account's application with this name: for hooks, never for commands."""
        found = self._db.cached(_BY_NAME, {"name": name})
        return found[0] if found else None

    def get_by_id(self, application_id: int) -> Application | None:
        """Any account's application with this id: for internal use, never for commands."""
        rows = self._db.query(_BY_ID, {"id": application_id})
        return Application(*rows[0]) if rows else None

    def list_for_origins(self, origin_ids: Collection[int]) -> list[Application]:
        """The applications these origins take encoders for (as their origin or backup
        origin), each once, by name."""
        ids = list(origin_ids)
        with self._db.read() as conn:
            rows = conn.execute(
                select(*_COLUMNS)
                .where(
                    or_(
                        applications.c.origin_id.in_(ids),
                        applications.c.backup_origin_id.in_(ids),
                    )
                )
                .order_by(applications.c.name)
            ).all()
        return [Application(*row) for row in rows]

    def set_protection(self, *, application_id: int, protection: str) -> None:
        with self._db.write() as conn:
            conn.execute(
                update(applications)
                .where(applications.c.id == application_id)
                .values(protection=protection)
            )

    def set_publishing(self, *, application_id: int, publishing: str) -> None:
        with self._db.write() as conn:
            conn.execute(
                update(applications)
                .where(applications.c.id == application_id)
                .values(publishing=publishing)
            )

    def set_origin(self, *, application_id: int, origin_id: int | None) -> None:
        """Its origin; None also ends its backup origin (a backup of no origin is none)."""
        values = {"origin_id": origin_id} | ({} if origin_id else {"backup_origin_id": None})
        with self._db.write() as conn:
            conn.execute(
                update(applications).where(applications.c.id == application_id).values(values)
            )

    def set_backup_origin(self, *, application_id: int, origin_id: int | None) -> None:
        with self._db.write() as conn:
            conn.execute(
                update(applications)
                .where(applications.c.id == application_id)
                .values(backup_origin_id=origin_id)
            )

    def find_for_account(
        self, account_id: int, *, ids: Collection[int] = (), names: Collection[str] = ()
    ) -> list[Application]:
        """The account's applications among these ids and names (others' are never returned).

        One prepared lookup per id or name: commands name one application, or a few, and a
        prepared lookup costs a few µs where building an IN query costs a few hundred.
        """
        found = [
            app
            for app_id in ids
            for app in self._db.cached(_ACCOUNT_BY_ID, {"account_id": account_id, "id": app_id})
        ]
        found += [
            app
            for name in names
            for app in self._db.cached(_ACCOUNT_BY_NAME, {"account_id": account_id, "name": name})
        ]
        return list({app.id: app for app in found}.values())
