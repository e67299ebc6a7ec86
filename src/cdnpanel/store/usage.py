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
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from cdnpanel.errors import Conflict
from cdnpanel.records import VideoUsage
from cdnpanel.store._dialect import insert_or_add, insert_or_set
from cdnpanel.store.database import Database
from cdnpanel.store.prepared import Prepared
from cdnpanel.store.tables import (
    ingested_files,
    servers,
    usage_account_5min,
    usage_account_daily,
    usage_account_server_daily,
    usage_daily,
    usage_meters,
    usage_unattributed,
    usage_videos_daily,
    usage_videos_monthly,
)

__all__ = [
    "MAX_VIDEOS_PER_DAY",
    "NO_VIDEO",
    "ROLES",
    "AppDay",
    "AppDayVideo",
    "Checkpoint",
    "LedgerEntry",
    "LogPosition",
    "Segment",
    "Server",
    "UsageStore",
    "month_of",
    "video_kind",
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


class AppDayVideo(NamedTuple):
    application_id: int
    account_id: int
    day: int
    video: str


# Distinct videos kept per application and day; the bytes of the rest count under NO_VIDEO. A
# URL is the viewer's to choose: without a bound, requests for made-up paths would add rows
# without end.
MAX_VIDEOS_PER_DAY = 100_000
NO_VIDEO = ""
"""The per-URL reports' row for requests that named no video (a file right under an
application instance, a path no video can be, or past the day's ``MAX_VIDEOS_PER_DAY``)."""
_VOD_EXTENSIONS = frozenset(
    {
        *("mp4", "m4v", "mov", "mkv", "webm", "flv", "f4v", "mp3", "m4a", "aac", "ogg"),
        *("oga", "ogv", "wav", "avi", "wmv", "mpg", "mpeg", "3gp"),
    }
)
_EPOCH = date(1970, 1, 1)


def video_kind(video: str) -> str:
    """ "vod" for a VOD path (``sestore/jb/video.mp4``, ``film.mp4``), "live" for a stream name
    (``cam1``), "" for ``NO_VIDEO``. A stream name has no "/" (nginx-rtmp's names cannot)."""
    if video == NO_VIDEO:
        return ""
    if "/" in video:
        return "vod"
    _, dot, extension = video.rpartition(".")
    return "vod" if dot and extension.lower() in _VOD_EXTENSIONS else "live"


def month_of(day: int) -> int:
    """The day number of the first day of ``day``'s month."""
    moment = _EPOCH + timedelta(days=day)
    return (moment.replace(day=1) - _EPOCH).days


@dataclass
class Segment:
    """What one segment of a log adds: per application and day, and unattributed per name."""

    applications: dict[AppDay, list[int]]  # [bytes, requests]
    unattributed: dict[tuple[int, str], list[int]]  # (day, name) -> [bytes, requests]
    lines: int
    skipped: int
    videos: dict[AppDayVideo, list[int]] = field(default_factory=dict)  # [bytes, requests]
    # (account_id, UTC 5-minute bucket) -> bytes: the 95th percentile's samples
    buckets: dict[tuple[int, int], int] = field(default_factory=dict)


class _LedgerMoved(Exception):
    """The log's ledger moved since the ingest read it."""


class UsageStore:
    def __init__(self, db: Database, *, max_videos_per_day: int = MAX_VIDEOS_PER_DAY) -> None:
        self._db = db
        self._max_videos = max_videos_per_day
        self._add_videos_daily = insert_or_add(
            db,
            usage_videos_daily,
            key=("application_id", "day", "video"),
            add=("bytes", "requests"),
        )
        self._add_videos_monthly = insert_or_add(
            db,
            usage_videos_monthly,
            key=("application_id", "month", "video"),
            add=("bytes", "requests"),
        )
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
        self._add_buckets = insert_or_add(
            db, usage_account_5min, key=("account_id", "bucket", "role"), add=("bytes",)
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
        if segment.videos:
            self._add_videos(conn, segment.videos)
        if segment.buckets:
            conn.execute(
                self._add_buckets,
                [
                    {"account_id": a, "bucket": b, "role": server.role, "bytes": sent}
                    for (a, b), sent in sorted(segment.buckets.items())
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

    def _add_videos(self, conn: Connection, videos: dict[AppDayVideo, list[int]]) -> None:
        """Per-video rows, by day and by month; past the day's limit of distinct videos of an
        application, the bytes of videos it has no row for yet count under NO_VIDEO."""
        kept = self._within_limit(conn, videos)
        rows = sorted(kept.items())
        conn.execute(
            self._add_videos_daily,
            [
                {
                    "application_id": k.application_id,
                    "day": k.day,
                    "video": k.video,
                    "account_id": k.account_id,
                    "kind": video_kind(k.video),
                    "bytes": v[0],
                    "requests": v[1],
                }
                for k, v in rows
            ],
        )
        monthly: dict[tuple[int, int, str, int], list[int]] = {}
        for k, (sent, count) in rows:
            totals = monthly.setdefault(
                (k.application_id, month_of(k.day), k.video, k.account_id), [0, 0]
            )
            totals[0] += sent
            totals[1] += count
        conn.execute(
            self._add_videos_monthly,
            [
                {
                    "application_id": a,
                    "month": m,
                    "video": video,
                    "account_id": account,
                    "kind": video_kind(video),
                    "bytes": v[0],
                    "requests": v[1],
                }
                for (a, m, video, account), v in sorted(monthly.items())
            ],
        )

    def _within_limit(
        self, conn: Connection, videos: dict[AppDayVideo, list[int]]
    ) -> dict[AppDayVideo, list[int]]:
        t = usage_videos_daily
        by_day: dict[tuple[int, int], list[AppDayVideo]] = {}
        for key in videos:
            by_day.setdefault((key.application_id, key.day), []).append(key)
        kept = dict(videos)
        for (application_id, day), keys in by_day.items():
            where = (t.c.application_id == application_id, t.c.day == day)
            have = int(conn.execute(select(func.count()).where(*where)).scalar_one())
            if have + len(keys) <= self._max_videos:
                continue  # the common case: room for all of them, new or not
            existing = set(conn.execute(select(t.c.video).where(*where)).scalars())
            new = sorted(
                (k for k in keys if k.video not in existing and k.video != NO_VIDEO),
                key=lambda k: -videos[k][0],
            )
            room = max(0, self._max_videos - len(existing) - (NO_VIDEO not in existing))
            for key in new[room:]:
                sent, count = kept.pop(key)
                rest = kept.setdefault(key._replace(video=NO_VIDEO), [0, 0])
                rest[0] += sent
                rest[1] += count
        return kept

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

    def bucket_bytes(
        self, account_id: int, *, first: int, last: int, roles: Collection[str]
    ) -> list[int]:
        """Bytes of each 5-minute bucket in ``[first, last]`` with traffic, the ``roles``
        together (buckets without traffic are left out)."""
        t = usage_account_5min
        with self._db.read() as conn:
            rows = conn.execute(
                select(func.sum(t.c.bytes))
                .where(
                    t.c.account_id == account_id,
                    t.c.bucket.between(first, last),
                    t.c.role.in_(sorted(roles)),
                )
                .group_by(t.c.bucket)
            ).scalars()
            return [int(n) for n in rows]

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

    def videos(
        self,
        application_id: int,
        *,
        day: int | None = None,
        month: int | None = None,
        video: str | None = None,
        kind: str | None = None,
        limit: int,
        offset: int,
    ) -> tuple[int, list[VideoUsage]]:
        """One day's (``day``) or month's (``month``, its first day) usage of an application
        per video, most bytes first: how many videos match, and ``limit`` of them from
        ``offset``; ``video`` one of them, ``kind`` ("vod", "live") only those."""
        if day is not None:
            t, where = usage_videos_daily, [usage_videos_daily.c.day == day]
        else:
            t, where = usage_videos_monthly, [usage_videos_monthly.c.month == month]
        where.append(t.c.application_id == application_id)
        if video is not None:
            where.append(t.c.video == video)
        if kind is not None:
            where.append(t.c.kind == kind)
        with self._db.read() as conn:
            total = int(
                conn.execute(select(func.count()).select_from(t).where(*where)).scalar_one()
            )
            rows = (
                conn.execute(
                    select(t.c.video, t.c.kind, t.c.bytes, t.c.requests)
                    .where(*where)
                    .order_by(t.c.bytes.desc(), t.c.video.desc())  # the index, backwards
                    .limit(limit)
                    .offset(offset)
                ).all()
                if total > offset
                else []
            )
        return total, [VideoUsage(r.video, r.kind, int(r.bytes), int(r.requests)) for r in rows]

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
