"""SEVU tickets, and admitting viewer sessions with them (the attempt log: ``attempts.py``).

Admitting a session is one transaction per batch of requests: per request, the ticket's row is
locked (PostgreSQL ``FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE`` already lets one writer in),
read fresh, judged by the caller's ``judge``, and, if admitted, its use counted, its auto IP
entries bound, the session opened and the attempt recorded, all together. So ``uses=1`` raced
by many first plays admits exactly one, on any number of workers and nodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Protocol

from sqlalchemy import Connection, Row, bindparam, insert, literal_column, select, update

from cdnpanel.errors import Conflict
from cdnpanel.records import (
    NewTicket,
    SessionRequest,
    Ticket,
    Verdict,
)
from cdnpanel.store.attempts import AttemptLog
from cdnpanel.store.database import Database
from cdnpanel.store.group_commit import WriteKind
from cdnpanel.store.installation import installation_key
from cdnpanel.store.prepared import Prepared
from cdnpanel.store.tables import (
    tickets,
    viewer_sessions,
)
from cdnpanel.store.viewers import ViewerStore

__all__ = [
    "ADMISSION_COST",
    "TicketStore",
]

# An admission costs ~100 µs of store work (a replay claim ~5): 32 of them at most in one
# transaction keep a commit, which runs on the event loop on SQLite, to a few milliseconds.
ADMISSION_COST = 8

_BY_KEY = Prepared(select(tickets).where(tickets.c.key == bindparam("key")))
# Admission: the ticket locked for the rest of the transaction (no-op on SQLite, whose
# BEGIN IMMEDIATE already admits one writer), whether the session exists, the use taken.
_LOCK_TICKET = Prepared(select(tickets).where(tickets.c.key == bindparam("key")).with_for_update())
_SESSION_EXISTS = Prepared(
    select(viewer_sessions.c.id, viewer_sessions.c.expires_at).where(
        viewer_sessions.c.origin_id == bindparam("origin_id"),
        viewer_sessions.c.protocol == bindparam("protocol"),
        viewer_sessions.c.viewer == bindparam("viewer"),
        viewer_sessions.c.application_id == bindparam("application_id"),
        viewer_sessions.c.inst == bindparam("inst"),
        viewer_sessions.c.path == bindparam("path"),
    )
)
_RENEW_SESSION = Prepared(
    update(viewer_sessions)
    .where(viewer_sessions.c.id == bindparam("session_id"))
    .values(
        started_at=bindparam("new_started_at"),
        seen_at=bindparam("new_seen_at"),
        expires_at=bindparam("new_expires_at"),
        address=bindparam("new_address"),
    )
)
_TAKE_USE = Prepared(
    update(tickets)
    .where(tickets.c.id == bindparam("ticket_id"))
    .values(
        used=tickets.c.used + literal_column("1"),
        used_at=bindparam("new_used_at"),
        ip_bound=bindparam("new_ip_bound"),
    )
)
_TICKET_COLUMNS = (
    "account_id",
    "key",
    "pass_hash",
    "apps",
    "videos",
    "ip",
    "uses",
    "created_at",
    "expires_at",
)
_INSERT_TICKET = Prepared(
    insert(tickets)
    .values({name: bindparam(name) for name in _TICKET_COLUMNS})
    .returning(tickets.c.id)
)


class Judge(Protocol):
    def __call__(
        self, ticket: Ticket, request: SessionRequest, *, new_session: bool
    ) -> tuple[str | None, str]:
        """(refusal reason or None, the ticket's ip_bound after admitting the request)."""
        ...


class TicketStore:
    def __init__(self, db: Database, viewers: ViewerStore, attempts: AttemptLog) -> None:
        self._db = db
        self._viewers = viewers
        self._attempts = attempts
        self._pass_key: bytes | None = None
        # Tickets, sessions and attempts: no CachedRead reads them (the usher's ticket cache
        # is its own, time-bounded), so the cached reads of the signed path stay valid.
        self._admissions: WriteKind[tuple[SessionRequest, Judge], Verdict] = WriteKind(
            "ticket admissions", self._admit_in, cost=ADMISSION_COST, keeps_cached_reads=True
        )

    def pass_key(self) -> bytes:
        """The installation's key for ticket passwords (made by migration 0004)."""
        if self._pass_key is None:
            self._pass_key = installation_key(self._db, "ticket_pass")
        return self._pass_key

    async def add(self, new: NewTicket) -> Ticket:
        """Store a new ticket, with the other writes of the moment (``Database.submit``);
        Conflict when its key is taken."""
        ticket_id = await self._db.submit(_NEW_TICKETS, new)
        return new.record(ticket_id)

    def get_by_key(self, key: str) -> Ticket | None:
        rows = self._db.query(_BY_KEY, {"key": key})
        return _ticket_from_tuple(rows[0]) if rows else None

    def revoke(self, *, ticket_id: int, now: int) -> None:
        with self._db.write() as conn:
            conn.execute(
                update(tickets)
                .where(tickets.c.id == ticket_id, tickets.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )

    async def admit(self, request: SessionRequest, judge: Judge) -> Verdict:
        """Admit or refuse a new session, with the other writes of the moment: the ticket read
        fresh and judged, and if admitted its use taken, its IP bound, the session opened and
        the attempt logged, all in the one transaction."""
        return await self._db.submit(self._admissions, (request, judge))

    def _admit_in(
        self, conn: Connection, requests: Sequence[tuple[SessionRequest, Judge]]
    ) -> list[Verdict]:
        """Admit or refuse each request, in order, on one transaction's connection."""
        logged: list[dict[str, Any]] = []
        verdicts = [self._admit_one(conn, request, judge, logged) for request, judge in requests]
        self._attempts.log(conn, logged)
        return verdicts

    def _admit_one(
        self,
        conn: Connection,
        request: SessionRequest,
        judge: Judge,
        logged: list[dict[str, Any]],
    ) -> Verdict:
        rows = _LOCK_TICKET.rows(conn, {"key": request.ticket_key})
        if not rows:
            logged.append({**request.attempt.row(), "success": 0, "reason": "Invalid Auth Token"})
            return Verdict(False, "Invalid Auth Token")
        ticket = _ticket_from_tuple(rows[0])
        attempt = {**request.attempt.row(), "ticket_id": ticket.id}
        session_id, expires_at = self._session(conn, request)
        if session_id is not None and (expires_at is None or expires_at > request.now):
            # Open already (another worker admitted it): no use taken, but the ticket is still
            # judged (it may have expired or been revoked since).
            reason, _ = judge(ticket, request, new_session=False)
            if reason is not None:
                logged.append({**attempt, "success": 0, "reason": reason})
                return Verdict(False, reason, ticket=ticket)
            return Verdict(True, "ok", ticket=ticket)
        reason, bound = judge(ticket, request, new_session=True)
        if reason is not None:
            logged.append({**attempt, "success": 0, "reason": reason})
            return Verdict(False, reason, ticket=ticket)
        _TAKE_USE.rowcounts(
            conn, [{"ticket_id": ticket.id, "new_used_at": request.now, "new_ip_bound": bound}]
        )
        if session_id is not None:
            # Its window passed and the sweep has not removed it yet: a new session on the same
            # row (still counted, so the counters stay as they are).
            _RENEW_SESSION.rowcounts(
                conn,
                [
                    {
                        "session_id": session_id,
                        "new_started_at": request.now,
                        "new_seen_at": request.now,
                        "new_expires_at": request.expires_at,
                        "new_address": request.address,
                    }
                ],
            )
        else:
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
        logged.append({**attempt, "success": 1, "reason": "ok"})
        used = replace(ticket, used=ticket.used + 1, used_at=request.now, ip_bound=bound)
        return Verdict(True, "ok", new_session=True, ticket=used)

    def _session(self, conn: Connection, request: SessionRequest) -> tuple[int | None, int | None]:
        """The id and expiry of the request's session row, if there is one."""
        found = _SESSION_EXISTS.rows(
            conn,
            {
                "origin_id": request.origin_id,
                "protocol": request.protocol,
                "viewer": request.viewer,
                "application_id": request.stream.application_id,
                "inst": request.stream.inst,
                "path": request.stream.path,
            },
        )
        return (found[0][0], found[0][1]) if found else (None, None)


def _ticket_from_tuple(row: tuple[Any, ...]) -> Ticket:
    """A driver row of ``select(tickets)``, in the table's column order."""
    (ticket_id, account_id, key, pass_hash, *rest) = row
    return Ticket(ticket_id, account_id, key, bytes(pass_hash), *rest)


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


def _add_in(conn: Connection, news: Sequence[NewTicket]) -> list[int]:
    ids: list[int] = []
    for new in news:
        try:
            ((new_id,),) = _INSERT_TICKET.rows(conn, {n: getattr(new, n) for n in _TICKET_COLUMNS})
        except conn.dialect.loaded_dbapi.IntegrityError:  # the driver's: a prepared statement
            raise Conflict("a ticket with that key exists already") from None
        ids.append(new_id)
    return ids


_NEW_TICKETS: WriteKind[NewTicket, int] = WriteKind(
    "new tickets",
    _add_in,
    keeps_cached_reads=True,  # no CachedRead reads tickets
)
