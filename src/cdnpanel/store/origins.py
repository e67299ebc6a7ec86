"""Origins and edges: the media servers cdnpanel controls (one table, a role each), the origins
each edge pulls from, and the reconciler's per-server lease."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from cdnpanel.errors import Conflict
from cdnpanel.records import EDGE, ORIGIN, Origin
from cdnpanel.store.database import Database
from cdnpanel.store.tables import edge_origins, origins, viewer_sessions

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
        role: str = ORIGIN,
        location: str | None = None,
        rtmp_url: str | None = None,
        hls_url: str | None = None,
        upstreams: Sequence[int] = (),
    ) -> Origin:
        """A new server; an edge's ``upstreams`` are the ids of the origins it pulls from."""
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
                        role=role,
                        location=location,
                        rtmp_url=rtmp_url,
                        hls_url=hls_url,
                    )
                ).scalar_one()
                _set_upstreams(conn, origin_id, upstreams)
        except IntegrityError:
            raise Conflict(f"a server named {name!r} exists already") from None
        found = self.get(origin_id)
        assert found is not None
        return found

    def get(self, origin_id: int) -> Origin | None:
        with self._db.read() as conn:
            row = conn.execute(select(origins).where(origins.c.id == origin_id)).first()
            return _origin(row, _upstreams(conn, [origin_id])) if row else None

    def get_by_name(self, name: str) -> Origin | None:
        with self._db.read() as conn:
            row = conn.execute(select(origins).where(origins.c.name == name)).first()
            return _origin(row, _upstreams(conn, [row.id])) if row else None

    def edges_of(self, origin_id: int) -> list[Origin]:
        """The edges that pull from this origin (first or as a backup)."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(origins)
                .join(edge_origins, edge_origins.c.edge_id == origins.c.id)
                .where(edge_origins.c.origin_id == origin_id)
                .order_by(origins.c.name)
            ).all()
            upstreams = _upstreams(conn, [r.id for r in rows])
        return [_origin(r, upstreams) for r in rows]

    def list(self, role: str | None = None) -> list[Origin]:
        """Every server (``role``: of that role only), by name."""
        query = select(origins).order_by(origins.c.name)
        if role is not None:
            query = query.where(origins.c.role == role)
        with self._db.read() as conn:
            rows = conn.execute(query).all()
            upstreams = _upstreams(conn, None)
        return [_origin(r, upstreams) for r in rows]

    def update(self, origin_id: int, **values: Any) -> None:
        """Set ``location``, ``rtmp_url`` or ``hls_url`` (None clears)."""
        if values:
            with self._db.write() as conn:
                conn.execute(update(origins).where(origins.c.id == origin_id).values(**values))

    def set_upstreams(self, *, edge_id: int, upstreams: Sequence[int]) -> None:
        with self._db.write() as conn:
            conn.execute(delete(edge_origins).where(edge_origins.c.edge_id == edge_id))
            _set_upstreams(conn, edge_id, upstreams)

    def remove_edge(self, edge_id: int) -> None:
        """Forget an edge: its list of origins and the server. Its viewer sessions must have
        ended first (``ViewerStore.end_all_on``)."""
        with self._db.write() as conn:
            left = conn.execute(
                select(viewer_sessions.c.id).where(viewer_sessions.c.origin_id == edge_id).limit(1)
            ).first()
            if left is not None:
                raise Conflict("the edge still has viewer sessions")
            conn.execute(delete(edge_origins).where(edge_origins.c.edge_id == edge_id))
            conn.execute(delete(origins).where(origins.c.id == edge_id, origins.c.role == EDGE))

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


def _set_upstreams(conn: Connection, edge_id: int, upstreams: Sequence[int]) -> None:
    if upstreams:
        conn.execute(
            insert(edge_origins),
            [
                {"edge_id": edge_id, "origin_id": origin_id, "position": position}
                for position, origin_id in enumerate(upstreams)
            ],
        )


def _upstreams(conn: Connection, edge_ids: Sequence[int] | None) -> dict[int, tuple[int, ...]]:
    """Each edge's origin ids in order (``edge_ids`` None: of every edge)."""
    query = select(edge_origins.c.edge_id, edge_origins.c.origin_id).order_by(
        edge_origins.c.edge_id, edge_origins.c.position
    )
    if edge_ids is not None:
        query = query.where(edge_origins.c.edge_id.in_(edge_ids))
    found: dict[int, list[int]] = {}
    for edge_id, origin_id in conn.execute(query):
        found.setdefault(edge_id, []).append(origin_id)
    return {edge_id: tuple(ids) for edge_id, ids in found.items()}


def _origin(row: Row[Any], upstreams: Mapping[int, tuple[int, ...]]) -> Origin:
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
        role=row.role,
        location=row.location,
        rtmp_url=row.rtmp_url,
        hls_url=row.hls_url,
        upstreams=upstreams.get(row.id, ()),
    )
