"""The stream registry: publishers reported by origins, closing them, listing what is live."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cdnpanel.errors import InvalidParameter, NotFound, OriginUnavailable, PermissionDenied
from cdnpanel.origins.adapter import CallbackEvent, OriginAdapter, StreamMedia
from cdnpanel.records import Application, Origin, Stream, StreamKey, ViewerSession
from cdnpanel.services._clock import Clock
from cdnpanel.services.stream_users import StreamUserService
from cdnpanel.store.applications import ApplicationStore
from cdnpanel.store.database import StoreRun
from cdnpanel.store.origins import OriginStore
from cdnpanel.store.streams import StreamStore
from cdnpanel.store.viewers import ViewerStore

__all__ = ["EndReason", "LiveStream", "StreamDetails", "StreamRegistry"]

log = logging.getLogger("cdnpanel.streams")


class EndReason:
    """Why a stream ended, as recorded in its history."""

    PUBLISHER_LEFT = "publisher disconnected"
    CLOSED = "closed by stream.close"
    NOT_ON_ORIGIN = "not live on the origin (reconciled)"
    ORIGIN_UNREACHABLE = "origin unreachable (reconciled)"
    STREAM_USER_REMOVED = "its stream user was removed"


@dataclass(frozen=True, slots=True)
class StreamDetails:
    """One stream as stream.details shows it: the registry's record, its viewers now, and
    while it is live what its origin measures of it (None when the origin does not answer,
    with the reason)."""

    stream: Stream
    app: Application
    origin: str
    viewers: int
    media: StreamMedia | None
    origin_error: str | None


@dataclass(frozen=True, slots=True)
class LiveStream:
    """A live stream with the names a client knows it by and its current viewer count."""

    stream: Stream
    app: str
    origin: str
    viewers: int


class StreamRegistry:
    def __init__(
        self,
        streams: StreamStore,
        applications: ApplicationStore,
        origins: OriginStore,
        viewers: ViewerStore,
        adapters: Mapping[str, OriginAdapter],
        stream_users: StreamUserService,
        *,
        run: StoreRun,
        clock: Clock,
    ) -> None:
        self._run = run
        self._stream_users = stream_users
        self._streams = streams
        self._applications = applications
        self._origins = origins
        self._viewers = viewers
        self._adapters = adapters
        self._clock = clock

    # -- callbacks from origins -------------------------------------------------------------

    async def publish_started(self, origin: Origin, event: CallbackEvent) -> Stream:
        """Register a publisher; refused (PermissionDenied, Conflict) unless it may publish:
        its application is served here and its credentials are right (``check_publish``).
        The stream is started with the other writes of the moment (the store's group commit)."""
        app, stream_user_id = await self._run(lambda: self._admit_publisher(origin, event))
        return await self._streams.start_published(
            account_id=app.account_id,
            application_id=app.id,
            origin_id=origin.id,
            inst=event.inst,
            name=event.name,
            client_id=event.client_id,
            publisher_addr=event.address,
            started_at=int(self._clock()),
            stream_user_id=stream_user_id,
        )

    def _admit_publisher(
        self, origin: Origin, event: CallbackEvent
    ) -> tuple[Application, int | None]:
        app = self.served_application(origin, event.app)
        return app, self._stream_users.check_publish(app, event.name, event.query)

    def publish_ended(self, origin: Origin, event: CallbackEvent) -> Stream | None:
        """Record the end of the stream this connection published (None: it had none)."""
        app = self._applications.get_by_name(event.app)
        if app is None:
            return None
        return self._streams.end_published(
            origin_id=origin.id,
            client_id=event.client_id,
            application_id=app.id,
            inst=event.inst,
            name=event.name,
            now=int(self._clock()),
            reason=EndReason.PUBLISHER_LEFT,
        )

    def served_application(self, origin: Origin, name: str) -> Application:
        """The application ``name`` if some account owns it and this origin serves it."""
        app = self._applications.get_by_name(name)
        if app is None:
            raise PermissionDenied(f"no account owns an application named {name[:100]!r}")
        if origin.id not in app.origin_ids or origin.is_edge:
            raise PermissionDenied(
                f"application {name!r} is not served by origin {origin.name!r} "
                f"(cdnpanel app update --origin {origin.name} {name})"
            )
        return app

    # -- commands -----------------------------------------------------------------------------

    def close(
        self,
        account_id: int,
        *,
        stream_id: int | None = None,
        app: Application | None = None,
        inst: str | None = None,
        name: str | None = None,
        origin_name: str | None = None,
        lock: bool = False,
    ) -> Stream:
        """Drop a live stream's publisher on its origin; the stream as recorded ended.
        ``lock``: first lock the stream name, so that the encoder's reconnects are refused
        until it is unlocked (``sevu.updatestream``)."""
        target, origin = self._closable(
            account_id, stream_id=stream_id, app=app, inst=inst, name=name, origin_name=origin_name
        )
        application = app or self._application_of(target)
        if lock:
            self._stream_users.lock(application, target.name)
        asked = int(self._clock())
        dropped = self._adapters[origin.kind].drop_publisher(
            origin, app=application.name, inst=target.inst, name=target.name
        )
        now = int(self._clock())
        if dropped == 0:
            self._streams.end(stream_id=target.id, now=now, reason=EndReason.NOT_ON_ORIGIN)
            raise NotFound(
                "live stream",
                _describe(application.name, target),
                scope=f"on origin {origin.name!r}: its publisher had already left",
            )
        # The dropped publisher's publish_done may have been recorded while the drop answered:
        # the stream still ended because it was closed.
        self._streams.end_as(
            stream_id=target.id,
            now=now,
            reason=EndReason.CLOSED,
            since=asked,
            replaces=EndReason.PUBLISHER_LEFT,
        )
        self._drop_on_edges(origin, application, target)
        ended = self._streams.get(target.id)
        assert ended is not None
        return ended

    def _drop_on_edges(self, origin: Origin, app: Application, stream: Stream) -> None:
        """Stop a closed stream on every edge relaying it: its pull and its RTMP players go
        (HLS players of the edge find the origin's playlist ending). An edge that does not
        answer is skipped: its pull has lost its stream anyway."""
        key = StreamKey(app.id, stream.inst, stream.name)
        for edge in self._origins.edges_of(origin.id):
            try:
                self._adapters[edge.kind].drop_stream(
                    edge, app=app.name, inst=stream.inst, name=stream.name
                )
            except OriginUnavailable as exc:
                log.warning("could not stop stream %d on edge: %s", stream.id, exc.message)
                continue
            players = [
                s.viewer
                for s in self._viewers.rtmp_sessions(edge.id)
                if StreamKey(s.application_id, s.inst, s.path) == key
            ]
            self._viewers.close_rtmp(origin_id=edge.id, client_ids=players)

    def active(
        self, account_id: int, *, applications: Collection[Application] | None = None
    ) -> list[LiveStream]:
        """The account's live streams (of these applications), with current viewers."""
        ids = None if applications is None else [a.id for a in applications]
        live = self._streams.live_for_account(account_id, application_ids=ids)
        names = {a.id: a.name for a in self._applications.list_for_account(account_id)}
        origins = {o.id: o.name for o in self._origins.list()}
        viewers = self._viewers.counts_for(
            StreamKey(s.application_id, s.inst, s.name) for s in live
        )
        return [
            LiveStream(
                stream=s,
                app=names.get(s.application_id, "?"),
                origin=origins.get(s.origin_id, "?"),
                viewers=viewers.get(StreamKey(s.application_id, s.inst, s.name), 0),
            )
            for s in live
        ]

    def drop_players(self, sessions: Sequence[ViewerSession]) -> int:
        """Disconnect these RTMP players on their origins and stop counting them; how many no
        longer play. A player its origin no longer has counts too (the reconciler may have
        dropped it a moment before). An origin that does not answer is skipped (its reconciler
        retries)."""
        dropped = 0
        origins = {o.id: o for o in self._origins.list()}
        for session in sessions:
            origin = origins.get(session.origin_id)
            app = self._applications.get_by_id(session.application_id)
            if origin is None or app is None:
                continue
            try:
                self._adapters[origin.kind].drop_player(
                    origin,
                    app=app.name,
                    inst=session.inst,
                    name=session.path,
                    client_id=session.viewer,
                )
            except OriginUnavailable as exc:
                log.warning("could not drop player %s: %s", session.viewer, exc.message)
                continue
            self._viewers.close_rtmp(origin_id=origin.id, client_ids=[session.viewer])
            dropped += 1
        return dropped

    def drop_admitted_by(self, stream_user_id: int) -> int:
        """Disconnect the live publishers admitted with this stream user (removed); how many.
        An origin that does not answer is skipped: its publisher stays until it reconnects,
        when it is refused."""
        dropped = 0
        for stream in self._streams.live_admitted_by(stream_user_id):
            origin = self._origins.get(stream.origin_id)
            app = self._applications.get_by_id(stream.application_id)
            if origin is None or app is None:
                continue
            asked = int(self._clock())
            try:
                count = self._adapters[origin.kind].drop_publisher(
                    origin, app=app.name, inst=stream.inst, name=stream.name
                )
            except OriginUnavailable as exc:
                log.warning("could not drop publisher of stream %d: %s", stream.id, exc.message)
                continue
            self._streams.end_as(
                stream_id=stream.id,
                now=int(self._clock()),
                reason=EndReason.STREAM_USER_REMOVED,
                since=asked,
                replaces=EndReason.PUBLISHER_LEFT,
            )
            dropped += count
        return dropped

    def details(
        self,
        account_id: int,
        *,
        stream_id: int | None = None,
        app: Application | None = None,
        inst: str | None = None,
        name: str | None = None,
    ) -> StreamDetails:
        """A stream by id, or by name (the live one, else the latest), with its viewers and,
        while live, its bitrate and codecs from the origin's stat."""
        if stream_id is not None:
            stream = self.get_for_account(account_id, stream_id)
        else:
            assert app is not None and inst is not None and name is not None
            live = self._streams.find_live(application_id=app.id, inst=inst, name=name)
            named = (
                live[0]
                if live
                else self._streams.latest_by_name(application_id=app.id, inst=inst, name=name)
            )
            if named is None:
                raise NotFound("stream", f"{app.name}/{inst}/{name}")
            stream = named
        application = app or self._application_of(stream)
        origin = self._origins.get(stream.origin_id)
        assert origin is not None
        key = StreamKey(stream.application_id, stream.inst, stream.name)
        viewers = self._viewers.counts_for([key]).get(key, 0) if stream.live else 0
        media, error = None, None
        if stream.live:
            try:
                snapshot = self._adapters[origin.kind].snapshot(origin)
            except OriginUnavailable as exc:
                error = exc.message
            else:
                found = [
                    s.media
                    for s in snapshot.streams
                    if (s.app, s.inst, s.name) == (application.name, stream.inst, stream.name)
                ]
                media = found[0] if found else None
                error = None if found else "the origin does not list this stream now"
        return StreamDetails(stream, application, origin.name, viewers, media, error)

    def get_for_account(self, account_id: int, stream_id: int) -> Stream:
        """One of the account's streams, live or ended."""
        stream = self._streams.get(stream_id)
        if stream is None or stream.account_id != account_id:
            raise NotFound("stream", stream_id)
        return stream

    def history(self, account_id: int, *, limit: int = 100) -> list[Stream]:
        return self._streams.history(account_id, limit=limit)

    def _closable(
        self,
        account_id: int,
        *,
        stream_id: int | None,
        app: Application | None,
        inst: str | None,
        name: str | None,
        origin_name: str | None,
    ) -> tuple[Stream, Origin]:
        wanted_origin = None
        if origin_name is not None:
            wanted_origin = self._origins.get_by_name(origin_name)
            if wanted_origin is None:
                raise NotFound("origin", origin_name, scope="")
        if stream_id is not None:
            target = self._streams.get(stream_id)
            if target is None or target.account_id != account_id:
                raise NotFound("stream", stream_id)
            if not target.live:
                raise NotFound("live stream", stream_id, scope=_ended(target))
            candidates = [target]
        else:
            assert app is not None and inst is not None and name is not None
            candidates = self._streams.find_live(application_id=app.id, inst=inst, name=name)
            if not candidates:
                last = self._streams.latest_by_name(application_id=app.id, inst=inst, name=name)
                raise NotFound(
                    "live stream",
                    f"{app.name}/{inst}/{name}",
                    scope=_ended(last) if last is not None else "in this account",
                )
        if wanted_origin is not None:
            candidates = [c for c in candidates if c.origin_id == wanted_origin.id]
            if not candidates:
                raise NotFound("live stream", stream_id or name, scope=f"on {origin_name!r}")
        if len(candidates) > 1:
            raise InvalidParameter(
                "origin_url", "the stream is live on several origins: name one in origin_url"
            )
        origin = self._origins.get(candidates[0].origin_id)
        assert origin is not None
        return candidates[0], origin

    def _application_of(self, stream: Stream) -> Application:
        app = self._applications.get_by_id(stream.application_id)
        if app is None:
            raise NotFound("application", stream.application_id)
        return app


def _describe(app: str, stream: Stream) -> str:
    return f"{app}/{stream.inst}/{stream.name} (stream_id {stream.id})"


def _ended(stream: Stream) -> str:
    when = datetime.fromtimestamp(stream.ended_at or 0, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"in this account: it ended {when} ({stream.end_reason}; stream_id {stream.id})"
