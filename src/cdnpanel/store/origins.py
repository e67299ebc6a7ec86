"""Origins: the media servers cdnpanel controls, and the reconciler's per-origin lease."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from cdnpanel.errors import Conflict
from cdnpanel.records import Origin
from cdnpanel.store.database import Database
from cdnpanel.store.tables import origins

__all__ = ["OriginStore"]


class OriginStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self,
        *,
        name: str,
        kind: str,
        control_url: str,
        hook_secret_hash: bytes,
        hls_fragment: int,
        now: int,
    ) -> Origin:
        try:
            with self._db.write() as conn:
                origin_id = conn.execute(
                    insert(origins)
                    .returning(origins.c.id)
                    .values(
                        name=name,
                        kind=kind,
                        control_url=control_url,
                        hook_secret_hash=hook_secret_hash,
                        hls_fragment=hls_fragment,
                        created_at=now,
                    )
                ).scalar_one()
        except IntegrityError:
            raise Conflict(f"an origin named {name!r} exists already") from None
        return Origin(
            origin_id, name, kind, control_url, hls_fragment, now, None, None, hook_secret_hash
        )

    def get(self, origin_id: int) -> Origin | None:
        with self._db.read() as conn:
            row = conn.execute(select(origins).where(origins.c.id == origin_id)).first()
        return _origin(row) if row else None

    def get_by_name(self, name: str) -> Origin | None:
        with self._db.read() as conn:
            row = conn.execute(select(origins).where(origins.c.name == name)).first()
        return _origin(row) if row else None

    def list(self) -> list[Origin]:
        with self._db.read() as conn:
            rows = conn.execute(select(origins).order_by(origins.c.name)).all()
        return [_origin(r) for r in rows]

    def set_hook_secret_hash(self, *, origin_id: int, hook_secret_hash: bytes) -> None:
        with self._db.write() as conn:
            conn.execute(
                update(origins)
                .where(origins.c.id == origin_id)
                .values(hook_secret_hash=hook_secret_hash)
            )

    def take_reconcile_lease(self, *, origin_id: int, now: int, until: int) -> bool:
        """True for the one caller (of any process or node) that reconciles this round."""
        with self._db.write() as conn:
            result = conn.execute(
                update(origins)
                .where(
                    origins.c.id == origin_id,
                    or_(origins.c.reconcile_due_at.is_(None), origins.c.reconcile_due_at <= now),
                )
                .values(reconcile_due_at=until)
            )
        return result.rowcount == 1

    def record_contact(self, *, origin_id: int, now: int) -> None:
        with self._db.write() as conn:
            conn.execute(
                update(origins)
                .where(origins.c.id == origin_id)
                .values(last_contact_at=now, failing_since=None)
            )

    def record_failure(self, *, origin_id: int, now: int) -> int:
        """Note a failed contact; returns since when the origin has been failing."""
        with self._db.write() as conn:
            conn.execute(
                update(origins)
                .where(origins.c.id == origin_id, origins.c.failing_since.is_(None))
                .values(failing_since=now)
            )
            since = conn.execute(
                select(origins.c.failing_since).where(origins.c.id == origin_id)
            ).scalar_one()
        return int(since)


def _origin(row: Row[Any]) -> Origin:
    return Origin(
        id=row.id,
        name=row.name,
        kind=row.kind,
        control_url=row.control_url,
        hls_fragment=row.hls_fragment,
        created_at=row.created_at,
        last_contact_at=row.last_contact_at,
        failing_since=row.failing_since,
        hook_secret_hash=bytes(row.hook_secret_hash),
    )
