"""SEVU tickets: issuing them, their status, revoking them, and counting playback attempts.

The usher side (admitting viewers with tickets) lives in ``services.viewers``; it reads ticket
rules through ``rules``, cached for a second: revocation and expiry reach running viewers within
that, and a viewer's requests between two lookups cost no query.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cdnpanel.errors import Conflict, InvalidParameter, NotFound
from cdnpanel.freshness import DEFAULT_FRESHNESS, Freshness
from cdnpanel.records import (
    Attempt,
    AttemptFilter,
    AttemptPage,
    LoggedAttempt,
    NewTicket,
    SessionRequest,
    Ticket,
    Verdict,
)
from cdnpanel.services._cache import TtlCache
from cdnpanel.services._clock import Clock
from cdnpanel.services.ticket_rules import (
    MAX_USES,
    Patterns,
    TicketRules,
    decode_bindings,
    encode_bindings,
    hash_pass,
    new_ticket_key,
    parse_expiry,
    parse_ip_entries,
    parse_patterns,
)
from cdnpanel.store.applications import ApplicationStore
from cdnpanel.store.attempts import EXPIRE_CHUNK, AttemptLog
from cdnpanel.store.database import StoreRun
from cdnpanel.store.tickets import TicketStore

__all__ = ["IssuedTicket", "TicketService"]

_MAX_PASS = 256


@dataclass(frozen=True, slots=True)
class IssuedTicket:
    ticket: Ticket
    password: str = field(repr=False)  # as the caller chose it: the only time it is at hand


class TicketService:
    def __init__(
        self,
        tickets: TicketStore,
        attempts: AttemptLog,
        applications: ApplicationStore,
        *,
        run: StoreRun,
        clock: Clock,
        freshness: Freshness = DEFAULT_FRESHNESS,
        attempt_retention_days: int = 90,
    ) -> None:
        """``run`` does store work from async code (``Database.run``); ``freshness`` bounds
        the cache of ticket rules; the attempt log keeps ``attempt_retention_days``."""
        self._tickets = tickets
        self._attempt_retention = attempt_retention_days * 86400
        self._attempts = attempts
        self._run = run
        self._applications = applications
        self._clock = clock
        self._rules: TtlCache[str, TicketRules | None] = TtlCache(
            self._load_rules, ttl=freshness.ticket_rules, clock=clock
        )

    # -- commands ---------------------------------------------------------------------------

    async def issue(
        self,
        account_id: int,
        *,
        app: str,
        video: str,
        password: str,
        ip: str | None = None,
        uses: int = 0,
        expire: int | str | None = None,
    ) -> IssuedTicket:
        """Issue a ticket: every parameter is checked, nothing is stored on a refusal. Stored
        with the other writes of the moment, in one transaction."""
        fields, videos = await self._run(
            lambda: self._ticket_fields(account_id, app, video, password, ip, uses, expire)
        )
        for _ in range(5):  # a collision of ~83 random bits: practically never
            try:
                ticket = await self._tickets.add(NewTicket(**fields, key=new_ticket_key(videos)))
            except Conflict:
                continue
            return IssuedTicket(ticket, password)
        raise Conflict("could not make a unique ticket key; retry")

    def _ticket_fields(
        self,
        account_id: int,
        app: str,
        video: str,
        password: str,
        ip: str | None,
        uses: int,
        expire: int | str | None,
    ) -> tuple[dict[str, Any], Patterns]:
        """The stored fields of a new ticket (all but its key) and its video patterns (its key's
        prefix); raises on any bad parameter."""
        apps = parse_patterns(app, "app")
        videos = parse_patterns(video, "video")
        self._check_own_applications(account_id, apps)
        entries = parse_ip_entries(ip)
        if not 0 <= uses <= MAX_USES:
            raise InvalidParameter("uses", f"must be 0 (unlimited) to {MAX_USES:,}")
        if not password or len(password) > _MAX_PASS or not password.isprintable():
            raise InvalidParameter("pass", f"must be 1 to {_MAX_PASS} printable characters")
        now = int(self._clock())
        fields = {
            "account_id": account_id,
            "pass_hash": hash_pass(self._tickets.pass_key(), password),
            "apps": apps.text,
            "videos": videos.text,
            "ip": "|".join(e.text for e in entries),
            "uses": uses,
            "created_at": now,
            "expires_at": parse_expiry(expire, now=now),
        }
        return fields, videos

    def get(self, account_id: int, key: str) -> Ticket:
        """The account's ticket with this key; another account's looks exactly like none."""
        ticket = self._tickets.get_by_key(key) if _possible_key(key) else None
        if ticket is None or ticket.account_id != account_id:
            raise NotFound("ticket", key[:100])
        return ticket

    def password_matches(self, ticket: Ticket, password: str) -> bool:
        return hmac.compare_digest(ticket.pass_hash, self.hash_pass(password))

    def revoke(self, account_id: int, key: str) -> Ticket:
        """Revoke the ticket (again is fine); running viewers are refused within a second."""
        ticket = self.get(account_id, key)
        self._tickets.revoke(ticket_id=ticket.id, now=int(self._clock()))
        self._rules.forget(key)
        return self.get(account_id, key)

    def count_attempts(
        self,
        account_id: int,
        *,
        key: str | None = None,
        app: str | None = None,
        video: str | None = None,
        ip: str | None = None,
        password: str | None = None,
        success: bool | None = None,
        limit: int | None = None,
        seek: int = 0,
    ) -> int:
        where = AttemptFilter(
            key=key,
            app=app,
            video=video,
            ip=ip,
            pass_hash=None if password is None else self.hash_pass(password),
            success=success,
        )
        return self._attempts.count(account_id, where, limit=limit, seek=seek)

    def attempt_log(
        self,
        account_id: int,
        key: str,
        *,
        since: int | None = None,
        success: bool | None = None,
        limit: int = 100,
        seek: int = 0,
    ) -> AttemptPage:
        """The account's attempts with ``key`` (a ticket's, or a key players tried that is
        none), oldest first from ``since`` (default: as far back as the log keeps)."""
        start = self.attempts_kept_since() if since is None else since
        total, rows = self._attempts.page(
            account_id, key, since=start, success=success, limit=limit, seek=seek
        )
        found = self._tickets.get_by_key(key) if rows and _possible_key(key) else None
        ticket = found if found is not None and found.account_id == account_id else None
        return AttemptPage(
            total,
            [
                LoggedAttempt(
                    id,
                    attempt,
                    None
                    if ticket is None or attempt.pass_hash is None
                    else hmac.compare_digest(attempt.pass_hash, ticket.pass_hash),
                )
                for id, attempt in rows
            ],
        )

    def attempts_kept_since(self) -> int:
        """The Unix time of the oldest attempt the retention keeps."""
        return int(self._clock()) - self._attempt_retention

    def expire_attempts_step(self) -> bool:
        """Delete a chunk of attempts past the retention: True while more may be left."""
        return self._attempts.expire(self.attempts_kept_since()) >= EXPIRE_CHUNK

    # -- for the usher --------------------------------------------------------------------------

    def hash_pass(self, password: str) -> bytes:
        return hash_pass(self._tickets.pass_key(), password)

    def rules(self, key: str) -> TicketRules | None:
        """The rules of the ticket with this key (cached a second); None if there is none."""
        if not _possible_key(key):
            return None
        return self._rules.get(key)

    def cached_rules(self, key: str) -> tuple[bool, TicketRules | None]:
        """(True, rules or None) if this key's rules are cached; (False, None) otherwise.

        A new session of an uncached ticket goes straight to admission, whose transaction
        reads the ticket anyway: one read of it, not two.
        """
        if not _possible_key(key):
            return True, None
        return self._rules.peek(key)

    def _learn(self, key: str, verdict: Verdict) -> None:
        """Cache the ticket as an admission's transaction left it (or that there is none)."""
        ticket = verdict.ticket
        self._rules.put(key, None if ticket is None else self._rules_of(ticket))

    def forget(self, key: str) -> None:
        """Drop the cached rules (after an admission changed uses or IP bindings)."""
        self._rules.forget(key)

    async def admit(self, request: SessionRequest) -> Verdict:
        """The store's verdict on a new ticketed session (made with the other writes of the
        moment); the ticket's rules are cached as the admission left them."""
        verdict = await self._tickets.admit(request, self.judge)
        self._learn(request.ticket_key, verdict)
        return verdict

    def record_attempts(self, attempts: Sequence[Attempt]) -> None:
        self._attempts.record(attempts)

    def judge(
        self, ticket: Ticket, request: SessionRequest, *, new_session: bool
    ) -> tuple[str | None, str]:
        """The verdict on the ticket as it is now in the store: for a new session (uses and
        address binding too), or for one already open (everything but uses)."""
        rules = self._rules_of(ticket)
        attempt = request.attempt
        refusal = rules.refusal(
            account_id=attempt.account_id,
            pass_hash=attempt.pass_hash or b"",
            app=attempt.app,
            video=attempt.video,
            address=request.address,
            now=request.now,
            new_session=new_session,
        )
        if refusal is not None or not new_session:
            return refusal, ticket.ip_bound
        return None, encode_bindings(rules.bind(request.address))

    # -- internals ------------------------------------------------------------------------------

    def _load_rules(self, key: str) -> TicketRules | None:
        ticket = self._tickets.get_by_key(key)
        return None if ticket is None else self._rules_of(ticket)

    @staticmethod
    def _rules_of(ticket: Ticket) -> TicketRules:
        entries = parse_ip_entries(ticket.ip)
        return TicketRules(
            ticket_id=ticket.id,
            account_id=ticket.account_id,
            pass_hash=ticket.pass_hash,
            apps=parse_patterns(ticket.apps, "app"),
            videos=parse_patterns(ticket.videos, "video"),
            ip_entries=entries,
            bound=decode_bindings(ticket.ip_bound, len(entries)),
            uses=ticket.uses,
            used=ticket.used,
            active=ticket.active,
            expires_at=ticket.expires_at,
        )

    def _check_own_applications(self, account_id: int, apps: Patterns) -> None:
        """Every app entry must name (or match) at least one of the account's applications."""
        own = [a.name for a in self._applications.list_for_account(account_id)]
        for entry in apps.entries:
            if not any(parse_patterns(entry, "app").matches(name) for name in own):
                raise NotFound(
                    "application", entry, scope="in this account (app names or matches none)"
                )


def _possible_key(key: str) -> bool:
    """Whether a ticket could have this key (1 to 100 characters, no NUL: the store never
    sees the rest, which PostgreSQL's text could not hold anyway)."""
    return 0 < len(key) <= 100 and "\x00" not in key
