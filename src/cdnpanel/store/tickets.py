"""SEVU tickets, admitting viewer sessions with them, and the attempt log.

Admitting a session is one transaction per batch of requests: per request, the ticket's row is
locked (PostgreSQL ``FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE`` already lets one writer in),
read fresh, judged by the caller's ``judge``, and, if admitted, its use counted, its auto IP
entries bound, the session opened and the attempt recorded, all together. So ``uses=1`` raced
by many first plays admits exactly one, on any number of workers and nodes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from cdnpanel.errors import Conflict
from cdnpanel.store.database import Database
from cdnpanel.store.prepared import Prepared
from cdnpanel.store.records import Ticket
from cdnpanel.store.tables import installation_keys, ticket_attempts, tickets, viewer_sessions
from cdnpanel.store.viewers import StreamKey, ViewerStore

__all__ = ["Attempt", "AttemptFilter", "SessionRequest", "TicketStore", "Verdict"]

_BY_KEY = Prepared(select(tickets).where(tickets.c.key == bindparam("key")))
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
)
_INSERT_ATTEMPT = Prepared(
    insert(ticket_attempts).values({name: bindparam(name) for name in _ATTEMPT_COLUMNS})
)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One admission decision on a protected application, as the attempt log keeps it."""

    account_id: int
    ticket_id: int | None
    at: int
    key: str
    pass_hash: bytes | None
    app: str
    inst: str
    video: str
    ip: str
    server: str
    success: bool = False
    reason: str = ""

    def row(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "ticket_id": self.ticket_id,
            "at": self.at,
            "key": self.key[:100],
            "pass_hash": self.pass_hash,
            "app": self.app[:100],
            "inst": self.inst[:100],
            "video": self.video[:512],
            "ip": self.ip[:64],
            "success": int(self.success),
            "reason": self.reason[:64],
            "server": self.server[:253],
        }


@dataclass(frozen=True, slots=True)
class SessionRequest:
    """A viewer asking to start a playback session with a ticket."""

    ticket_id: int
    origin_id: int
    stream: StreamKey
    protocol: str
    viewer: str
    address: str
    now: int
    expires_at: int | None  # HLS sessions expire; RTMP ones end with play_done
    attempt: Attempt


@dataclass(frozen=True, slots=True)
class Verdict:
    admitted: bool
    reason: str
    new_session: bool = False  # False: the session existed (admitted elsewhere), no use taken


@dataclass(frozen=True, slots=True)
class AttemptFilter:
    key: str | None = None
    app: str | None = None
    video: str | None = None
    ip: str | None = None
    pass_hash: bytes | None = None
    success: bool | None = None


Judge = Callable[[Ticket, SessionRequest], tuple[str | None, str]]
"""(refusal reason or None, the ticket's ip_bound after admitting the request)."""


class TicketStore:
    def __init__(self, db: Database, viewers: ViewerStore) -> None:
        self._db = db
        self._viewers = viewers
        self._pass_key: bytes | None = None

    def pass_key(self) -> bytes:
        """The installation's key for ticket passwords (made by migration 0004)."""
        if self._pass_key is None:
            with self._db.read() as conn:
                value = conn.execute(
                    select(installation_keys.c.value).where(
                        installation_keys.c.name == "ticket_pass"
                    )
                ).scalar_one()
            self._pass_key = bytes(value)
        return self._pass_key

    def create(
        self,
        *,
        account_id: int,
        key: str,
        pass_hash: bytes,
        apps: str,
        videos: str,
        ip: str,
        uses: int,
        created_at: int,
        expires_at: int,
    ) -> Ticket:
        values = {
            "account_id": account_id,
            "key": key,
            "pass_hash": pass_hash,
            "apps": apps,
            "videos": videos,
            "ip": ip,
            "uses": uses,
            "created_at": created_at,
            "expires_at": expires_at,
        }
        try:
            with self._db.write() as conn:
                ticket_id = conn.execute(
                    insert(tickets).returning(tickets.c.id).values(values)
                ).scalar_one()
        except IntegrityError:
            raise Conflict("a ticket with that key exists already") from None
        return Ticket(
            id=ticket_id,
            account_id=account_id,
            key=key,
            pass_hash=pass_hash,
            apps=apps,
            videos=videos,
            ip=ip,
            ip_bound="",
            uses=uses,
            used=0,
            created_at=created_at,
            used_at=None,
            expires_at=expires_at,
            revoked_at=None,
        )

    def get_by_key(self, key: str) -> Ticket | None:
        rows = self._db.query(_BY_KEY, {"key": key})
        if not rows:
            return None
        (ticket_id, account_id, key, pass_hash, *rest) = rows[0]
        return Ticket(ticket_id, account_id, key, bytes(pass_hash), *rest)

    def revoke(self, *, ticket_id: int, now: int) -> None:
        with self._db.write() as conn:
            conn.execute(
                update(tickets)
                .where(tickets.c.id == ticket_id, tickets.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )

    def admit(self, requests: Sequence[SessionRequest], judge: Judge) -> list[Verdict]:
        """Admit or refuse each request, in order, in one transaction."""
        verdicts = []
        with self._db.write() as conn:
            for request in requests:
                verdicts.append(self._admit_one(conn, request, judge))
        return verdicts

    def _admit_one(self, conn: Connection, request: SessionRequest, judge: Judge) -> Verdict:
        row = conn.execute(
            select(tickets).where(tickets.c.id == request.ticket_id).with_for_update()
        ).first()
        if row is None:
            return self._refuse(conn, request, "Invalid Auth Token")
        ticket = _ticket(row)
        if self._session_exists(conn, request):
            return Verdict(True, "ok")  # opened by another worker: the same session, no use
        reason, bound = judge(ticket, request)
        if reason is not None:
            return self._refuse(conn, request, reason)
        conn.execute(
            update(tickets)
            .where(tickets.c.id == ticket.id)
            .values(used=tickets.c.used + 1, used_at=request.now, ip_bound=bound)
        )
        self._viewers.open_session(
            conn,
            origin_id=request.origin_id,
            stream=request.stream,
            protocol=request.protocol,
            viewer=request.viewer,
            address=request.address,
            now=request.now,
            expires_at=request.expires_at,
            ticket_id=ticket.id,
        )
        _INSERT_ATTEMPT.rowcounts(conn, [{**request.attempt.row(), "success": 1, "reason": "ok"}])
        return Verdict(True, "ok", new_session=True)

    def _session_exists(self, conn: Connection, request: SessionRequest) -> bool:
        found = conn.execute(
            select(viewer_sessions.c.id).where(
                viewer_sessions.c.origin_id == request.origin_id,
                viewer_sessions.c.protocol == request.protocol,
                viewer_sessions.c.viewer == request.viewer,
                viewer_sessions.c.application_id == request.stream.application_id,
                viewer_sessions.c.inst == request.stream.inst,
                viewer_sessions.c.path == request.stream.path,
            )
        ).first()
        return found is not None

    def _refuse(self, conn: Connection, request: SessionRequest, reason: str) -> Verdict:
        _INSERT_ATTEMPT.rowcounts(conn, [{**request.attempt.row(), "success": 0, "reason": reason}])
        return Verdict(False, reason)

    def record_attempts(self, attempts: Sequence[Attempt]) -> None:
        """Log decisions made without the store (refusals on cached tickets)."""
        if not attempts:
            return
        with self._db.write() as conn:
            _INSERT_ATTEMPT.rowcounts(conn, [attempt.row() for attempt in attempts])

    def count_attempts(
        self,
        account_id: int,
        where: AttemptFilter,
        *,
        limit: int | None = None,
        seek: int = 0,
    ) -> int:
        """How many of the account's attempts match; with ``limit``/``seek``, how many of
        results ``seek+1`` to ``seek+limit`` exist (a limited count reads at most that many)."""
        query = select(ticket_attempts.c.id).where(ticket_attempts.c.account_id == account_id)
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
        if limit is not None or seek:
            query = query.order_by(ticket_attempts.c.id).offset(seek)
            if limit is not None:
                query = query.limit(limit)
        with self._db.read() as conn:
            return int(
                conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
            )


def _ticket(row: Row[Any]) -> Ticket:
    return Ticket(
        id=row.id,
        account_id=row.account_id,
        key=row.key,
        pass_hash=bytes(row.pass_hash),
        apps=row.apps,
        videos=row.videos,
        ip=row.ip,
        ip_bound=row.ip_bound,
        uses=row.uses,
        used=row.used,
        created_at=row.created_at,
        used_at=row.used_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )
