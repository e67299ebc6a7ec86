"""Viewers: RTMP players from origin callbacks, HLS viewers from the origin's auth_request
checks, and counting them.

An HLS viewer is a session: one viewer (the ticket key when the URL carries one, else address +
user agent) fetching playlists or segments of one stream; it stays counted for three segment
durations after its last request. The segment duration is the stream's own: its playlist's
target duration, which the reconciler reads from the origin (an encoder's keyframe interval
sets it, 2 s to 20 s and more: nginx-rtmp cuts segments at keyframes). Until it is known, and
for paths that are not live streams, ``UNKNOWN_SEGMENT_SECONDS`` (or the origin's configured
``hls_fragment``, if longer) stands in: long enough for a player's playlist reloads, which come
one target duration apart (RFC 8216 6.3.4).

The check runs on every playlist and segment request, so it writes nothing itself: it notes the
session in memory and at most once per third of the window queues a refresh, which ``flush``
writes in one transaction for every session due. ``sweep`` ends the sessions whose window has
passed.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from cdnpanel.errors import PermissionDenied
from cdnpanel.freshness import DEFAULT_FRESHNESS, Freshness
from cdnpanel.origins.adapter import CallbackEvent
from cdnpanel.records import (
    HLS,
    RTMP,
    Application,
    Attempt,
    HlsTouch,
    Origin,
    StreamKey,
    ViewerSession,
    ViewersOn,
)
from cdnpanel.services._cache import TtlCache
from cdnpanel.services._clock import Clock
from cdnpanel.services.usher import Admission, Usher, viewer_of
from cdnpanel.store.applications import ApplicationStore
from cdnpanel.store.database import StoreRun
from cdnpanel.store.streams import StreamStore
from cdnpanel.store.viewers import ViewerStore

__all__ = [
    "MAX_SEGMENT_SECONDS",
    "SESSION_SEGMENTS",
    "UNKNOWN_SEGMENT_SECONDS",
    "HlsDecision",
    "PlaybackUri",
    "ViewerService",
    "parse_playback_uri",
    "session_window",
]

_MAX_URI = 4096
# An HLS session lasts this many segment durations after its last request.
SESSION_SEGMENTS = 3
# The segment duration assumed until a stream's playlist has been read.
UNKNOWN_SEGMENT_SECONDS = 10
# A playlist declaring more than this is taken as this: a session must not outlive its viewer
# by hours because a playlist says so.
MAX_SEGMENT_SECONDS = 60


def session_window(segment_seconds: int | None, hls_fragment: int) -> int:
    """Seconds an HLS session stays counted after its last request: three of its stream's
    segments, or of ``UNKNOWN_SEGMENT_SECONDS`` (or ``hls_fragment``, if longer) until known."""
    segment = segment_seconds or max(hls_fragment, UNKNOWN_SEGMENT_SECONDS)
    return SESSION_SEGMENTS * min(segment, MAX_SEGMENT_SECONDS)


# Sessions written per transaction: the SQLite writer is shared with the request path, whose
# replay claims wait for it on the event loop, so no background transaction may hold it long.
WRITE_CHUNK = 128
SWEEP_CHUNK = 128
_MAX_PATH = 512


@dataclass(frozen=True, slots=True)
class PlaybackUri:
    """``/<app>/<inst>/<stream or VOD path>/<file>`` (ScaleEngine's playback URL shape)."""

    app: str
    inst: str
    path: str
    query: dict[str, str]


@dataclass(frozen=True, slots=True)
class HlsDecision:
    allowed: bool
    reason: str


_ALLOWED = HlsDecision(True, "ok")


def parse_playback_uri(uri: str) -> PlaybackUri | None:
    """The parts of a playback request's URI, or None when it is not one."""
    if not uri or len(uri) > _MAX_URI or not uri.startswith("/"):
        return None
    parts = urlsplit(uri)
    segments = [unquote(s) for s in parts.path.split("/")[1:]]
    if len(segments) < 3 or any(
        not s or s in (".", "..") or "/" in s or not s.isprintable() for s in segments
    ):
        return None
    app, inst, rest = segments[0], segments[1], segments[2:]
    # Nested HLS (the generated config): <stream>/index.m3u8, <stream>/12.ts; a VOD path has
    # several segments before its file. A bare <stream>.m3u8 names the stream by its stem.
    path = "/".join(rest[:-1]) if len(rest) > 1 else rest[0].rsplit(".", 1)[0]
    if not path or len(path) > _MAX_PATH:
        return None
    return PlaybackUri(app, inst, path, dict(parse_qsl(parts.query)))


class ViewerService:
    def __init__(
        self,
        viewers: ViewerStore,
        applications: ApplicationStore,
        usher: Usher,
        streams: StreamStore,
        *,
        run: StoreRun,
        clock: Clock,
        freshness: Freshness = DEFAULT_FRESHNESS,
    ) -> None:
        """``run`` does store work from async code (``Database.run``); ``freshness`` bounds
        the caches of applications and segment durations."""
        self._viewers = viewers
        self._run = run
        self._applications = applications
        self._usher = usher
        self._clock = clock
        self._apps: TtlCache[str, Application | None] = TtlCache(
            applications.get_by_name, ttl=freshness.applications, clock=clock
        )
        # Each live stream's HLS segment duration, once the reconciler has read it.
        self._segments: TtlCache[tuple[int, StreamKey], int | None] = TtlCache(
            lambda key: streams.segment_seconds(origin_id=key[0], stream=key[1]),
            ttl=freshness.segment_durations,
            clock=clock,
        )
        # In-memory session book: when each HLS session was last queued for writing (it is
        # written again a third of its stream's window later: the window, once the stream's
        # segment duration is known, may be shorter than when it was last written), and the
        # writes waiting for the next flush. Touched from the event loop; flushed from a thread.
        self._written: dict[tuple[int, StreamKey, str], float] = {}
        self._pending: dict[tuple[int, StreamKey, str], HlsTouch] = {}
        self._lock = threading.Lock()
        self._pruned_at = clock()
        # Taken from _pending and the usher's refusals for writing, a chunk per step.
        self._backlog: list[HlsTouch] = []
        self._attempt_backlog: list[Attempt] = []

    # -- RTMP players (on_play / on_play_done) ------------------------------------------------

    async def play_started(self, origin: Origin, event: CallbackEvent) -> None:
        """Count an RTMP player; PermissionDenied refuses the play. On a protected application
        its ticket decides (the usher), and the store admits the new session."""
        admission: Admission | None = await self._run(lambda: self._start_play(origin, event))
        if admission is not None:
            refusal = await self._usher.admit(admission)
            if refusal is not None:
                raise PermissionDenied(refusal)

    def _start_play(self, origin: Origin, event: CallbackEvent) -> Admission | None:
        app = self._applications.get_by_name(event.app)
        if app is None or not origin.serves(app):
            raise PermissionDenied(f"no application {event.app[:100]!r} on this server")
        if app.protected:
            stream = StreamKey(app.id, event.inst, event.name)
            outcome = self._usher.judge(
                origin,
                app,
                stream,
                event.query,
                event.address,
                event.client_id,
                protocol=RTMP,
                window=lambda: 0,  # an RTMP session ends with its connection
            )
            if isinstance(outcome, str):
                raise PermissionDenied(outcome)
            return outcome
        self._viewers.open_rtmp(
            origin_id=origin.id,
            stream=StreamKey(app.id, event.inst, event.name),
            client_id=event.client_id,
            address=event.address,
            now=int(self._clock()),
        )
        return None

    def rtmp_players_of_ticket(self, ticket_id: int) -> list[ViewerSession]:
        return self._viewers.rtmp_players_of_ticket(ticket_id)

    def play_ended(self, origin: Origin, event: CallbackEvent) -> None:
        self._viewers.close_rtmp(origin_id=origin.id, client_ids=[event.client_id])

    # -- HLS (the origin's auth_request, on every playlist and segment request) ---------------

    async def check_hls(
        self, origin: Origin, *, uri: str, address: str, user_agent: str
    ) -> HlsDecision:
        """Admit or refuse one HLS request.

        Decided on cached applications and tickets, writing nothing; only a new ticketed
        session goes to the store, which admits it with the other writes of the moment.
        """
        outcome: HlsDecision | Admission = await self._run(
            lambda: self._decide_hls(origin, uri, address, user_agent)
        )
        if isinstance(outcome, HlsDecision):
            return outcome
        refusal = await self._usher.admit(outcome)
        if refusal is not None:
            return HlsDecision(False, refusal)
        request = outcome.request
        self._written[(request.origin_id, request.stream, request.viewer)] = self._clock()
        return _ALLOWED  # the admission wrote the session

    def _decide_hls(
        self, origin: Origin, uri: str, address: str, user_agent: str
    ) -> HlsDecision | Admission:
        playback = parse_playback_uri(uri)
        if playback is None:
            return HlsDecision(False, "not a playback URL: /<app>/<inst>/<stream>/<file>")
        app = self._apps.get(playback.app)
        if app is None or not origin.serves(app):
            return HlsDecision(False, f"no application {playback.app!r} on this server")
        stream = StreamKey(app.id, playback.inst, playback.path)
        if not app.protected:
            self._note_hls(origin, stream, app, _anonymous_viewer(address, user_agent), address)
            return _ALLOWED
        outcome = self._usher.judge(
            origin,
            app,
            stream,
            playback.query,
            address,
            "",
            protocol=HLS,
            window=lambda: self.hls_window(origin, stream, app),
        )
        if isinstance(outcome, str):
            return HlsDecision(False, outcome)
        if outcome is None:  # a running session
            viewer = viewer_of(HLS, playback.query.get("key", ""), "")
            self._note_hls(origin, stream, app, viewer, address)
            return _ALLOWED
        return outcome

    def hls_window(self, origin: Origin, stream: StreamKey, app: Application | None = None) -> int:
        """Seconds an HLS session of this stream stays counted after its last request; on an
        edge, by the segments of the stream on ``app``'s origin."""
        origin_id = origin.id if app is None or app.origin_id is None else app.origin_id
        return session_window(self._segments.get((origin_id, stream)), origin.hls_fragment)

    def _note_hls(
        self, origin: Origin, stream: StreamKey, app: Application, viewer: str, address: str
    ) -> None:
        now = self._clock()
        key = (origin.id, stream, viewer)
        window = self.hls_window(origin, stream, app)
        written = self._written.get(key)
        if written is not None and now < written + window / 3:
            return
        with self._lock:
            self._written[key] = now
            self._pending[key] = HlsTouch(
                origin.id, stream, viewer, address, int(now), int(now) + window
            )

    def flush(self) -> int:
        """Write everything noted so far (HLS sessions due, refused attempts); returns how many
        sessions are new. The server runs ``flush_step`` instead."""
        opened = 0
        while True:
            more, new = self._flush_chunk()
            opened += new
            if not more:
                return opened

    def flush_step(self) -> bool:
        """Write one chunk of what was noted (one short transaction); True while more remain."""
        return self._flush_chunk()[0]

    def _flush_chunk(self) -> tuple[bool, int]:
        with self._lock:
            if not self._backlog and not self._attempt_backlog:
                self._backlog = list(self._pending.values())
                self._pending = {}
                self._attempt_backlog = self._usher.take_attempts()
            attempts = self._attempt_backlog[:WRITE_CHUNK]
            del self._attempt_backlog[:WRITE_CHUNK]
            touches = [] if attempts else self._backlog[:WRITE_CHUNK]
            del self._backlog[: len(touches)]
        self._forget_idle()
        opened = 0
        if attempts:
            self._usher.record_attempts(attempts)
        elif touches:
            try:
                opened = self._viewers.touch_hls(touches)
            except Exception:
                with self._lock:  # not written: the next request of each session queues it again
                    for touch in touches:
                        self._written.pop((touch.origin_id, touch.stream, touch.viewer), None)
                raise
        return bool(self._backlog or self._attempt_backlog), opened

    def _forget_idle(self) -> None:
        """Drop the book's entries of sessions idle past any window (their rows have expired)."""
        now = self._clock()
        if now - self._pruned_at < 30:
            return
        self._pruned_at = now
        with self._lock:
            longest = SESSION_SEGMENTS * MAX_SEGMENT_SECONDS
            idle = [k for k, written in self._written.items() if written < now - longest]
            for key in idle:
                del self._written[key]
            self._usher.forget_idle(now)

    def sweep(self) -> int:
        """End every HLS session whose window has passed; returns how many ended."""
        ended = 0
        while batch := self._viewers.sweep_expired(now=int(self._clock()), batch=SWEEP_CHUNK):
            ended += batch
            if batch < SWEEP_CHUNK:
                break
        return ended

    def sweep_step(self) -> bool:
        """End one chunk of expired HLS sessions (one short transaction); True while more remain."""
        return self._viewers.sweep_expired(now=int(self._clock()), batch=SWEEP_CHUNK) == SWEEP_CHUNK

    # -- counting ------------------------------------------------------------------------------

    def count(self, application: Application, paths: Sequence[str] | None) -> dict[str, int]:
        """Viewers now of each path of the application (None: the whole application)."""
        return self._viewers.count(application.id, paths)

    def watched(self, application: Application) -> dict[str, tuple[int, int]]:
        """Every path of the application watched now: its (RTMP, HLS) viewers."""
        return {path: (rtmp, hls) for path, rtmp, hls in self._viewers.paths(application.id)}

    def by_server(self, application: Application, path: str | None) -> list[ViewersOn]:
        """Viewers now of a path (None: the whole application) per server and protocol."""
        return self._viewers.by_server(application.id, path)


def _anonymous_viewer(address: str, user_agent: str) -> str:
    digest = hashlib.blake2b(f"{address}\0{user_agent}".encode(), digest_size=8).hexdigest()
    return f"a:{digest}"
