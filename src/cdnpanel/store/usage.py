"""Usage: servers, the ledger of ingested logs, daily rollups, meters, and their queries.

An ingest commits a segment of a log in one transaction: the rollups it adds and the ledger's
new position together, so a log is counted once whatever happens (a kill, a rerun, the same log
under another name). The ledger advances only from the position the ingest started at
(``WHERE bytes_done = :from``): when two ingesters race on one log, the second's transaction
changes nothing and says so, and it starts again from the new position. Rollups are upserted
(``+ excluded``) in key order, so concurrent ingesters on PostgreSQL neither lose updates nor
deadlock.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from cdnpanel.errors import Conflict
from cdnpanel.store._dialect import insert_or_add, insert_or_set
from cdnpanel.store.database import Database
from cdnpanel.store.prepared import Prepared
from cdnpanel.store.tables import (
    ingested_files,
    servers,
    usage_account_daily,
    usage_account_server_daily,
    usage_daily,
    usage_meters,
    usage_unattributed,
)

__all__ = [
    "ROLES",
    "AppDay",
    "Checkpoint",
    "LedgerEntry",
    "LogPosition",
    "Segment",
    "Server",
    "UsageStore",
]

ROLES = ("edge", "cdn", "origin", "videocdn")


@dataclass(frozen=True, slots=True)
class Server:
    id: int
    name: str
    role: str
    created_at: int


@dataclass(frozen=True, slots=True)
class LogPosition:
    """Where a commit starts: a log (server, first line, generation) and how far it is done."""

    first_line_hash: bytes
    generation: int
    bytes_done: int


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where a commit moves a log's ledger to, and the hashes that tell the log there."""

    bytes_done: int
    checkpoint_hash: bytes  # of the (up to 4 KiB) bytes before bytes_done
    head_hash: bytes  # of the first min(64 KiB, bytes_done) bytes


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    id: int
    generation: int
    bytes_done: int
    checkpoint_hash: bytes | None  # of the bytes before bytes_done; None: from before 0007
    head_hash: bytes | None  # of the first min(64 KiB, bytes_done) bytes; None: likewise
    lines_done: int
    lines_skipped: int
    last_path: str


class AppDay(NamedTuple):
    application_id: int
    account_id: int
    day: int


@dataclass
class Segment:
    """What one segment of a log adds: per application and day, and unattributed per name."""

    applications: dict[AppDay, list[int]]  # [bytes, requests]
    unattributed: dict[tuple[int, str], list[int]]  # (day, name) -> [bytes, requests]
    lines: int
    skipped: int


class _LedgerMoved(Exception):
    """The log's ledger moved since the ingest read it."""


class UsageStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._add_daily = insert_or_add(
            db, usage_daily, key=("application_id", "day", "server_id"), add=("bytes", "requests")
        )
        self._add_account_server = insert_or_add(
            db,
            usage_account_server_daily,
            key=("account_id", "day", "server_id"),
            add=("bytes", "requests"),
        )
        self._add_account = insert_or_add(
            db, usage_account_daily, key=("account_id", "day", "role"), add=("bytes", "requests")
        )
        self._add_unattributed = insert_or_add(
            db, usage_unattributed, key=("day", "server_id", "app"), add=("bytes", "requests")
        )
        self._add_meter = insert_or_add(
            db, usage_meters, key=("account_id", "day", "meter"), add=("value",)
        )
        self._set_meter = insert_or_set(
            db, usage_meters, key=("account_id", "day", "meter"), set_=("value",)
        )

    # -- servers ----------------------------------------------------------------------------------

    def create_server(self, *, name: str, role: str, now: int) -> Server:
        try:
            with self._db.write() as conn:
                server_id = conn.execute(
                    insert(servers)
                    .returning(servers.c.id)
                    .values(name=name, role=role, created_at=now)
                ).scalar_one()
        except IntegrityError:
            raise Conflict(f"a server named {name!r} exists already") from None
        return Server(server_id, name, role, now)

    def get_server(self, name: str) -> Server | None:
        with self._db.read() as conn:
            row = conn.execute(select(servers).where(servers.c.name == name)).first()
        return Server(row.id, row.name, row.role, row.created_at) if row else None

    def list_servers(self) -> list[Server]:
        with self._db.read() as conn:
            rows = conn.execute(select(servers).order_by(servers.c.name)).all()
        return [Server(r.id, r.name, r.role, r.created_at) for r in rows]

    # -- the ledger and committing segments ---------------------------------------------------

    def ledgers(self, *, server_id: int, first_line_hash: bytes) -> list[LedgerEntry]:
        """The logs of a server with this first line (usually one), the least ingested first."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(ingested_files)
                .where(
                    ingested_files.c.server_id == server_id,
                    ingested_files.c.first_line_hash == first_line_hash,
                )
                .order_by(ingested_files.c.bytes_done, ingested_files.c.generation)
            ).all()
        return [
            LedgerEntry(
                r.id,
                r.generation,
                r.bytes_done,
                r.checkpoint_hash,
                r.head_hash,
                r.lines_done,
                r.lines_skipped,
                r.last_path,
            )
            for r in rows
        ]

    def commit_segment(
        self,
        *,
        server: Server,
        log: LogPosition,
        to: Checkpoint,
        segment: Segment,
        log_format: str,
        path: str,
        now: int,
    ) -> bool:
        """Add a segment's usage and move the log's ledger from ``log.bytes_done`` to ``to``
        (creating its row at 0), together; False (nothing changed) if the ledger is
        not there any more, or another ingester created the row first."""
        try:
            with self._db.write() as conn:
                if not self._advance(conn, server, log, to, segment, log_format, path, now):
                    raise _LedgerMoved()  # undo nothing written yet, leave the transaction
                self._add_usage(conn, server, segment)
        except (_LedgerMoved, IntegrityError):
            return False  # another ingester got there first: read the ledger again
        return True

    def _advance(
        self,
        conn: Connection,
        server: Server,
        log: LogPosition,
        to: Checkpoint,
        segment: Segment,
        log_format: str,
        path: str,
        now: int,
    ) -> bool:
        if log.bytes_done == 0:  # a new log: its row, unless another ingester made it first
            conn.execute(
                insert(ingested_files).values(
                    server_id=server.id,
                    first_line_hash=log.first_line_hash,
                    generation=log.generation,
                    bytes_done=to.bytes_done,
                    checkpoint_hash=to.checkpoint_hash,
                    head_hash=to.head_hash,
                    lines_done=segment.lines,
                    lines_skipped=segment.skipped,
                    format=log_format,
                    last_path=path[-1000:],
                    created_at=now,
                    updated_at=now,
                )
            )
            return True
        moved = conn.execute(
            update(ingested_files)
            .where(
                ingested_files.c.server_id == server.id,
                ingested_files.c.first_line_hash == log.first_line_hash,
                ingested_files.c.generation == log.generation,
                ingested_files.c.bytes_done == log.bytes_done,
            )
            .values(
                bytes_done=to.bytes_done,
                checkpoint_hash=to.checkpoint_hash,
                head_hash=to.head_hash,
                lines_done=ingested_files.c.lines_done + segment.lines,
                lines_skipped=ingested_files.c.lines_skipped + segment.skipped,
                last_path=path[-1000:],
                updated_at=now,
            )
        ).rowcount
        return moved == 1

    def _add_usage(self, conn: Connection, server: Server, segment: Segment) -> None:
        apps = sorted(segment.applications.items())
        if apps:
            conn.execute(
                self._add_daily,
                [
                    {
                        "application_id": k.application_id,
                        "day": k.day,
                        "server_id": server.id,
                        "account_id": k.account_id,
                        "bytes": v[0],
                        "requests": v[1],
                    }
                    for k, v in apps
                ],
            )
            per_account: dict[tuple[int, int], list[int]] = {}
            for k, (sent, count) in apps:
                totals = per_account.setdefault((k.account_id, k.day), [0, 0])
                totals[0] += sent
                totals[1] += count
            accounts = sorted(per_account.items())
            conn.execute(
                self._add_account_server,
                [
                    {
                        "account_id": a,
                        "day": d,
                        "server_id": server.id,
                        "bytes": v[0],
                        "requests": v[1],
                    }
                    for (a, d), v in accounts
                ],
            )
            conn.execute(
                self._add_account,
                [
                    {
                        "account_id": a,
                        "day": d,
                        "role": server.role,
                        "bytes": v[0],
                        "requests": v[1],
                    }
                    for (a, d), v in accounts
                ],
            )
        unattributed = sorted(segment.unattributed.items())
        if unattributed:
            conn.execute(
                self._add_unattributed,
                [
                    {"day": d, "server_id": server.id, "app": name, "bytes": v[0], "requests": v[1]}
                    for (d, name), v in unattributed
                ],
            )

    # -- meters ------------------------------------------------------------------------------

    def record_meter(
        self, *, account_id: int, day: int, meter: str, value: float, gauge: bool
    ) -> None:
        """Add to the day's value of a counter, or set the day's level of a gauge."""
        with self._db.write() as conn:
            conn.execute(
                self._set_meter if gauge else self._add_meter,
                {"account_id": account_id, "day": day, "meter": meter, "value": value},
            )

    # -- queries -----------------------------------------------------------------------------

    def servers_by_day(
        self, application_ids: Collection[int], *, first_day: int, last_day: int
    ) -> list[tuple[int, int, int, int]]:
        """(day, server_id, bytes, requests) of these applications together, by day and server."""
        if len(application_ids) == 1:  # the common case: the key's own order, no grouping
            [application_id] = application_ids
            return self._db.query(  # integer columns, no sums: ints already
                _APP_SERVERS,
                {"application_id": application_id, "first_day": first_day, "last_day": last_day},
            )
        with self._db.read() as conn:
            rows = conn.execute(
                select(
                    usage_daily.c.day,
                    usage_daily.c.server_id,
                    func.sum(usage_daily.c.bytes),
                    func.sum(usage_daily.c.requests),
                )
                .where(
                    usage_daily.c.application_id.in_(list(application_ids)),
                    usage_daily.c.day.between(first_day, last_day),
                )
                .group_by(usage_daily.c.day, usage_daily.c.server_id)
            ).all()
        return [(int(d), int(s), int(b), int(r)) for d, s, b, r in rows]

    def account_servers_by_day(
        self, account_id: int, *, first_day: int, last_day: int
    ) -> list[tuple[int, int, int, int]]:
        """(day, server_id, bytes, requests) of all the account's applications."""
        return self._db.query(  # integer columns, no sums: ints already
            _ACCOUNT_SERVERS,
            {"account_id": account_id, "first_day": first_day, "last_day": last_day},
        )

    def totals_by_role(
        self, account_id: int, *, first_day: int, last_day: int
    ) -> dict[str, tuple[int, int]]:
        rows = self._db.query(
            _ACCOUNT_ROLES,
            {"account_id": account_id, "first_day": first_day, "last_day": last_day},
        )
        return {role: (int(b or 0), int(r or 0)) for role, b, r in rows}

    def meters(
        self, account_id: int, *, first_day: int, last_day: int
    ) -> dict[str, tuple[float, float]]:
        """Each recorded meter's (sum, peak) over the days."""
        rows = self._db.query(
            _ACCOUNT_METERS,
            {"account_id": account_id, "first_day": first_day, "last_day": last_day},
        )
        return {meter: (float(total), float(peak)) for meter, total, peak in rows}

    def unattributed(
        self, *, first_day: int, last_day: int
    ) -> list[tuple[int, int, str, int, int]]:
        """(day, server_id, app, bytes, requests) nobody owns, for operators."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(usage_unattributed)
                .where(usage_unattributed.c.day.between(first_day, last_day))
                .order_by(usage_unattributed.c.day, usage_unattributed.c.app)
            ).all()
        return [(r.day, r.server_id, r.app, r.bytes, r.requests) for r in rows]

    def ledger_rows(self) -> list[Mapping[str, Any]]:
        with self._db.read() as conn:
            rows = conn.execute(select(ingested_files).order_by(ingested_files.c.id)).all()
        return [dict(r._mapping) for r in rows]


_PERIOD: tuple[Any, Any] = (bindparam("first_day"), bindparam("last_day"))
_APP_SERVERS = Prepared(
    select(
        usage_daily.c.day, usage_daily.c.server_id, usage_daily.c.bytes, usage_daily.c.requests
    ).where(
        usage_daily.c.application_id == bindparam("application_id"),
        usage_daily.c.day.between(*_PERIOD),
    )
)
_ACCOUNT_SERVERS = Prepared(
    select(
        usage_account_server_daily.c.day,
        usage_account_server_daily.c.server_id,
        usage_account_server_daily.c.bytes,
        usage_account_server_daily.c.requests,
    ).where(
        usage_account_server_daily.c.account_id == bindparam("account_id"),
        usage_account_server_daily.c.day.between(*_PERIOD),
    )
)
_ACCOUNT_ROLES = Prepared(
    select(
        usage_account_daily.c.role,
        func.sum(usage_account_daily.c.bytes),
        func.sum(usage_account_daily.c.requests),
    )
    .where(
        usage_account_daily.c.account_id == bindparam("account_id"),
        usage_account_daily.c.day.between(*_PERIOD),
    )
    .group_by(usage_account_daily.c.role)
)
_ACCOUNT_METERS = Prepared(
    select(usage_meters.c.meter, func.sum(usage_meters.c.value), func.max(usage_meters.c.value))
    .where(
        usage_meters.c.account_id == bindparam("account_id"),
        usage_meters.c.day.between(*_PERIOD),
    )
    .group_by(usage_meters.c.meter)
)
