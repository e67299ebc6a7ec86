"""The usher (SEVU, the Virtual Usher): every HLS request and RTMP play of a protected
application is judged by its ticket.

A running HLS session is judged on the ticket's cached rules (revocation and expiry reach it
within ``Freshness.ticket_rules``) and writes nothing; a new session, HLS or RTMP, is admitted
by the store (``TicketService.admit``: the use taken, ``auto`` addresses bound, the session
opened and the attempt logged in one transaction). Refusals decided here are queued for the
attempt log, which ``ViewerService.flush`` writes; a refused HLS player retries its playlist
many times a second, so its refusals are logged once per key, address, video and reason a while.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from cdnpanel.records import HLS, Application, Attempt, Origin, SessionRequest, StreamKey
from cdnpanel.services._clock import Clock
from cdnpanel.services.ticket_rules import Reason
from cdnpanel.services.tickets import TicketService

__all__ = ["REFUSAL_LOG_INTERVAL", "Admission", "Usher", "viewer_of"]

# A refused player retries many times a second: one attempt row per viewer, video and reason
# in this many seconds is the log's record of it.
REFUSAL_LOG_INTERVAL = 5.0

SessionKey = tuple[int, StreamKey, str]


def viewer_of(protocol: str, key: str, client_id: str) -> str:
    """Who a ticketed session is: its ticket key on HLS, its connection on RTMP."""
    return f"t:{key}" if protocol == HLS else client_id


@dataclass(frozen=True, slots=True)
class Admission:
    """A new ticketed session the store must admit (uses, IP binding, the session, together)."""

    request: SessionRequest
    window: int | None  # HLS: seconds the session lives after a request; RTMP: None


class Usher:
    def __init__(self, tickets: TicketService, *, clock: Clock) -> None:
        self._tickets = tickets
        self._clock = clock
        # Ticketed HLS sessions this process admitted, and until when they stand without a
        # request; refusals logged lately; refusals waiting for the attempt log.
        self._admitted: dict[SessionKey, float] = {}
        self._refusals_logged: dict[tuple[str, str, str, str], float] = {}
        self._attempts: list[Attempt] = []
        self._lock = threading.Lock()

    def judge(
        self,
        origin: Origin,
        app: Application,
        stream: StreamKey,
        query: Mapping[str, str],
        address: str,
        client_id: str,
        *,
        protocol: str,
        window: Callable[[], int],
    ) -> str | Admission | None:
        """A refusal reason; None for a running HLS session (which goes on for ``window()``
        more seconds); or the admission the store must make. Writes nothing."""
        now = self._clock()
        key, password = query.get("key", ""), query.get("pass", "")
        pass_hash = self._tickets.hash_pass(password) if password else None
        cached, rules = self._tickets.cached_rules(key)
        attempt = Attempt(
            account_id=app.account_id,
            ticket_id=rules.ticket_id if rules else None,
            at=int(now),
            key=key,
            pass_hash=pass_hash,
            app=app.name,
            inst=stream.inst,
            video=stream.path,
            ip=address,
            server=origin.name,
            protocol=protocol,
        )
        viewer = viewer_of(protocol, key, client_id)
        session = (origin.id, stream, viewer)
        running = protocol == HLS and self._admitted.get(session, 0) > now
        if not cached:
            if not running and pass_hash is not None:
                # Not seen lately: the admission's transaction reads and judges the ticket.
                return self._admission(origin, stream, protocol, viewer, address, attempt, window)
            rules = self._tickets.rules(key)  # a running session: re-read it (revoked? expired?)
        refusal = (
            Reason.BAD_TOKEN
            if rules is None or pass_hash is None
            else rules.refusal(
                account_id=app.account_id,
                pass_hash=pass_hash,
                app=app.name,
                video=stream.path,
                address=address,
                now=int(now),
                new_session=not running,
            )
        )
        if refusal is not None:
            self._log_refusal(attempt, refusal, now, retries_possible=protocol == HLS)
            return refusal
        if running:
            self._admitted[session] = now + window()
            return None
        return self._admission(origin, stream, protocol, viewer, address, attempt, window)

    async def admit(self, admission: Admission) -> str | None:
        """The store's verdict on a new session: its refusal reason, or None once admitted."""
        verdict = await self._tickets.admit(admission.request)
        request = admission.request
        if not verdict.admitted:
            if admission.window is not None:
                # The store logged this refusal: the player's retries are logged from here on.
                attempt = request.attempt
                seen = (attempt.key, attempt.ip, attempt.video, verdict.reason)
                self._refusals_logged[seen] = self._clock() + REFUSAL_LOG_INTERVAL
            return verdict.reason
        if admission.window is not None:
            key = (request.origin_id, request.stream, request.viewer)
            self._admitted[key] = self._clock() + admission.window
        return None

    def take_attempts(self) -> list[Attempt]:
        """The refusals queued for the attempt log since the last call."""
        with self._lock:
            attempts, self._attempts = self._attempts, []
        return attempts

    def record_attempts(self, attempts: list[Attempt]) -> None:
        self._tickets.record_attempts(attempts)

    def forget_idle(self, now: float) -> None:
        """Drop admitted sessions and logged refusals whose time has passed."""
        for session in [k for k, until in self._admitted.items() if until < now]:
            del self._admitted[session]
        for seen in [k for k, until in self._refusals_logged.items() if until < now]:
            del self._refusals_logged[seen]

    def _admission(
        self,
        origin: Origin,
        stream: StreamKey,
        protocol: str,
        viewer: str,
        address: str,
        attempt: Attempt,
        window: Callable[[], int],
    ) -> Admission:
        now = attempt.at
        seconds = window() if protocol == HLS else None
        return Admission(
            SessionRequest(
                ticket_key=attempt.key,
                origin_id=origin.id,
                stream=stream,
                protocol=protocol,
                viewer=viewer,
                address=address,
                now=now,
                expires_at=now + seconds if seconds is not None else None,
                attempt=attempt,
            ),
            seconds,
        )

    def _log_refusal(
        self, attempt: Attempt, reason: str, now: float, *, retries_possible: bool
    ) -> None:
        """Queue the refusal for the attempt log (written within a flush interval).

        A refused HLS player retries its playlist many times a second: its refusals are logged
        once per key, address, video and reason a while. Each RTMP play is its own attempt.
        """
        if retries_possible:
            seen = (attempt.key, attempt.ip, attempt.video, reason)
            if self._refusals_logged.get(seen, 0) > now:
                return
            self._refusals_logged[seen] = now + REFUSAL_LOG_INTERVAL
        with self._lock:
            self._attempts.append(replace(attempt, success=False, reason=reason))
