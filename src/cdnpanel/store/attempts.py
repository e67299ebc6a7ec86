"""The attempt log: every admission decision on a protected application, and its counters.

Each attempt is a row of ``ticket_attempts``; ``attempt_counts`` keeps, in the same
transaction, how many there are per account and dimension (all, per app, per video) and
outcome, so ``sevu.errorcount`` reads a counter for the common filters instead of counting.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select

from cdnpanel.records import Attempt, AttemptFilter
from cdnpanel.store._dialect import insert_or_add
from cdnpanel.store.database import Database
from cdnpanel.store.prepared import Prepared
from cdnpanel.store.tables import attempt_counts, ticket_attempts

__all__ = ["COUNTED", "EXPIRE_CHUNK", "AttemptLog"]

# Attempts deleted per transaction by the retention sweep (the SQLite writer is shared with
# the request path: no background transaction may hold it long).
EXPIRE_CHUNK = 500

_ATTEMPT_COLUMNS = (
    "account_id",
    "ticket_id",
    "at",
    "key",
    "pass_hash",
    "app",
    "inst",
    "video",
    "ip",
    "success",
    "reason",
    "server",
    "protocol",
)
_INSERT_ATTEMPT = Prepared(
    insert(ticket_attempts).values({name: bindparam(name) for name in _ATTEMPT_COLUMNS})
)
# The dimensions attempt_counts keeps, with the attempt field each one counts by.
COUNTED = {"all": None, "app": "app", "video": "video"}
_COUNT = Prepared(
    select(func.sum(attempt_counts.c.attempts)).where(
        attempt_counts.c.account_id == bindparam("account_id"),
        attempt_counts.c.dimension == bindparam("dimension"),
        attempt_counts.c.value == bindparam("value"),
    )
)
_COUNT_SUCCESS = Prepared(
    select(func.sum(attempt_counts.c.attempts)).where(
        attempt_counts.c.account_id == bindparam("account_id"),
        attempt_counts.c.dimension == bindparam("dimension"),
        attempt_counts.c.value == bindparam("value"),
        attempt_counts.c.success == bindparam("success"),
    )
)


class AttemptLog:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._add_counts = Prepared(
            insert_or_add(
                db,
                attempt_counts,
                key=("account_id", "dimension", "value", "success"),
                add=("attempts",),
            ).values(
                {
                    name: bindparam(name)
                    for name in ("account_id", "dimension", "value", "success", "attempts")
                }
            )
        )

    def record(self, attempts: Sequence[Attempt]) -> None:
        """Log decisions made without the store (refusals on cached tickets)."""
        if not attempts:
            return
        with self._db.write() as conn:
            self.log(conn, [attempt.row() for attempt in attempts])

    def log(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Insert attempt rows and count them, in ``conn``'s transaction."""
        if not rows:
            return
        _INSERT_ATTEMPT.rowcounts(conn, rows)
        deltas: Counter[tuple[int, str, str, int]] = Counter()
        for row in rows:
            for dimension, field in COUNTED.items():
                value = row[field] if field else ""
                deltas[(row["account_id"], dimension, value, row["success"])] += 1
        self._add_counts.rowcounts(
            conn,
            [
                {"account_id": a, "dimension": d, "value": v, "success": s, "attempts": n}
                for (a, d, v, s), n in deltas.items()
            ],
        )

    def count(
        self,
        account_id: int,
        where: AttemptFilter,
        *,
        limit: int | None = None,
        seek: int = 0,
    ) -> int:
        """How many of the account's attempts match; with ``limit``/``seek``, how many of
        results ``seek+1`` to ``seek+limit`` exist.

        No filter, or one on app or video (alone or with success), reads counters; a filter on
        key, ip or pass (which match few rows) or on several fields counts on an index.
        """
        total = self._counted(account_id, where)
        if total is None:
            total = self._scanned(account_id, where)
        window = max(0, total - seek)
        return window if limit is None else min(limit, window)

    def _counted(self, account_id: int, where: AttemptFilter) -> int | None:
        if where.key is not None or where.ip is not None or where.pass_hash is not None:
            return None
        if where.app is not None and where.video is not None:
            return None
        dimension, value = (
            ("app", where.app)
            if where.app is not None
            else ("video", where.video)
            if where.video is not None
            else ("all", "")
        )
        params: dict[str, Any] = {"account_id": account_id, "dimension": dimension, "value": value}
        if where.success is None:
            ((n,),) = self._db.query(_COUNT, params)
        else:
            ((n,),) = self._db.query(_COUNT_SUCCESS, {**params, "success": int(where.success)})
        return int(n or 0)

    def _scanned(self, account_id: int, where: AttemptFilter) -> int:
        query = select(func.count()).where(ticket_attempts.c.account_id == account_id)
        for column, value in (
            (ticket_attempts.c.key, where.key),
            (ticket_attempts.c.app, where.app),
            (ticket_attempts.c.video, where.video),
            (ticket_attempts.c.ip, where.ip),
            (ticket_attempts.c.pass_hash, where.pass_hash),
        ):
            if value is not None:
                query = query.where(column == value)
        if where.success is not None:
            query = query.where(ticket_attempts.c.success == int(where.success))
        with self._db.read() as conn:
            return int(conn.execute(query.select_from(ticket_attempts)).scalar_one())

    def page(
        self,
        account_id: int,
        key: str,
        *,
        since: int,
        success: bool | None,
        limit: int,
        seek: int,
    ) -> tuple[int, list[tuple[int, Attempt]]]:
        """The account's attempts with ``key`` from ``since`` on, oldest first: how many match,
        and results ``seek+1`` to ``seek+limit`` with their ids (on the (account, key, time)
        index)."""
        t = ticket_attempts
        where = [t.c.account_id == account_id, t.c.key == key, t.c.at >= since]
        if success is not None:
            where.append(t.c.success == int(success))
        rows_query = (
            select(t.c.id, *(t.c[name] for name in _ATTEMPT_COLUMNS))
            .where(*where)
            .order_by(t.c.at, t.c.id)
            .limit(limit)
            .offset(seek)
        )
        with self._db.read() as conn:
            total = int(conn.execute(select(func.count()).where(*where)).scalar_one())
            rows = conn.execute(rows_query).all() if total > seek else []
        return total, [(row.id, _attempt(row._mapping)) for row in rows]

    def expire(self, before: int, *, chunk: int = EXPIRE_CHUNK) -> int:
        """Delete up to ``chunk`` of the oldest attempts made before ``before`` (Unix time) and
        take them out of ``attempt_counts`` in the same transaction: how many went.

        The deletion returns what it deleted, so two processes sweeping at once never take the
        same attempt out of the counters twice."""
        t = ticket_attempts
        oldest = select(t.c.id).where(t.c.at < before).order_by(t.c.at).limit(chunk)
        gone = (
            delete(t)
            .where(t.c.id.in_(oldest.scalar_subquery()))
            .returning(t.c.account_id, t.c.app, t.c.video, t.c.success)
        )
        with self._db.write() as conn:
            rows = conn.execute(gone).all()
            deltas: Counter[tuple[int, str, str, int]] = Counter()
            for row in rows:
                for dimension, field in COUNTED.items():
                    value = row._mapping[field] if field else ""
                    deltas[(row.account_id, dimension, value, row.success)] -= 1
            if deltas:
                self._add_counts.rowcounts(
                    conn,
                    [
                        {"account_id": a, "dimension": d, "value": v, "success": s, "attempts": n}
                        for (a, d, v, s), n in deltas.items()
                    ],
                )
        return len(rows)


def _attempt(row: Any) -> Attempt:
    return Attempt(
        account_id=row["account_id"],
        ticket_id=row["ticket_id"],
        at=row["at"],
        key=row["key"],
        pass_hash=row["pass_hash"],
        app=row["app"],
        inst=row["inst"],
        video=row["video"],
        ip=row["ip"],
        server=row["server"],
        success=bool(row["success"]),
        reason=row["reason"],
        protocol=row["protocol"],
    )
