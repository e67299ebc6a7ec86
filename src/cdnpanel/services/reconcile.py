"""The reconciler: makes the registry agree with what origins say is live.

Callbacks can be lost (cdnpanel restarting, a network blip) and origins can die without a word,
so every ``interval`` seconds one worker (whichever takes the origin's lease in the store) reads
each origin's snapshot and:

- ends live streams whose publisher is not on the origin any more;
- registers publishers the origin has but the registry does not (a lost or refused-then-kept
  callback), when cdnpanel knows their application;
- stops counting RTMP players that are gone, and counts ones it missed (an edge's pull is not
  a player: its viewers are counted on the edge, which is reconciled as origins are);
- when the origin has not answered for ``lost_after`` seconds, ends all its streams and players;
- reads the HLS segment duration of new streams from their playlist, for HLS viewer sessions.

Rows younger than ``grace`` seconds are left alone: their callback may have raced the snapshot.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from cdnpanel.errors import Conflict, OriginUnavailable
from cdnpanel.freshness import DEFAULT_FRESHNESS, Freshness
from cdnpanel.origins.adapter import ClientSnapshot, OriginAdapter, OriginSnapshot
from cdnpanel.records import Application, Origin, Stream, StreamKey
from cdnpanel.services._clock import Clock
from cdnpanel.services.streams import EndReason
from cdnpanel.services.viewers import MAX_SEGMENT_SECONDS, session_window
from cdnpanel.store.applications import ApplicationStore
from cdnpanel.store.origins import OriginStore
from cdnpanel.store.streams import StreamStore
from cdnpanel.store.viewers import ViewerStore

__all__ = ["ReconcileReport", "Reconciler"]

log = logging.getLogger("cdnpanel.reconcile")

# Playlists read per origin and round (one HTTP request each, in the reconciler's thread).
SEGMENT_READS_PER_ROUND = 50
# For how long after a stream's segment duration is learnt its sessions are capped each round,
# beyond the checks' cache of it: the session writes queued meanwhile may carry the old news.
RECAP_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    origin: str
    reachable: bool
    streams_ended: int = 0
    streams_adopted: int = 0
    players_ended: int = 0
    players_adopted: int = 0


class Reconciler:
    def __init__(
        self,
        origins: OriginStore,
        applications: ApplicationStore,
        streams: StreamStore,
        viewers: ViewerStore,
        adapters: Mapping[str, OriginAdapter],
        *,
        clock: Clock,
        interval: float,
        lost_after: float,
        grace: float = 5.0,
        freshness: Freshness = DEFAULT_FRESHNESS,
    ) -> None:
        """``freshness.segment_durations``: how long HLS checks may go on with a stream's
        segment duration as it was (their cache of it)."""
        self._origins = origins
        self._applications = applications
        self._streams = streams
        self._viewers = viewers
        self._adapters = adapters
        self._clock = clock
        self.interval = interval
        self._lost_after = lost_after
        self._grace = grace
        self._segments_learnt: dict[int, float] = {}  # stream id: when its duration was read
        self._segment_cache = freshness.segment_durations

    def run_once(self) -> list[ReconcileReport]:
        """Reconcile every origin whose lease this caller wins."""
        reports = []
        for origin in self._origins.list():
            now = self._clock()
            if not self._origins.take_reconcile_lease(
                origin_id=origin.id, now=int(now), until=int(now + max(self.interval, 1) * 0.9)
            ):
                continue
            report = self.reconcile(origin)
            if report.streams_ended or report.streams_adopted or report.players_ended:
                log.info("reconciled %s", report)
            reports.append(report)
        return reports

    def reconcile(self, origin: Origin) -> ReconcileReport:
        taken_at = self._clock()
        try:
            snapshot = self._adapters[origin.kind].snapshot(origin)
        except OriginUnavailable as exc:
            return self._unreachable(origin, taken_at, exc)
        self._origins.record_contact(origin_id=origin.id, now=int(taken_at))
        return self._apply(origin, snapshot, taken_at)

    def _unreachable(self, origin: Origin, now: float, error: OriginUnavailable) -> ReconcileReport:
        since = self._origins.record_failure(origin_id=origin.id, now=int(now))
        if now - since < self._lost_after:
            log.warning("origin %s: %s", origin.name, error.message)
            return ReconcileReport(origin.name, reachable=False)
        ended = 0
        for stream in self._streams.live_on_origin(origin.id):
            ended += self._streams.end(
                stream_id=stream.id, now=int(now), reason=EndReason.ORIGIN_UNREACHABLE
            )
        players = self._viewers.close_rtmp(
            origin_id=origin.id,
            client_ids=[s.viewer for s in self._viewers.rtmp_sessions(origin.id)],
        )
        if ended or players:
            log.warning(
                "origin %s unreachable for %.0f s: ended %d streams and %d players",
                origin.name,
                now - since,
                ended,
                players,
            )
        return ReconcileReport(
            origin.name, reachable=False, streams_ended=ended, players_ended=players
        )

    def _apply(self, origin: Origin, snapshot: OriginSnapshot, taken_at: float) -> ReconcileReport:
        settled = int(taken_at - self._grace)  # rows started after this may race the snapshot
        now = int(self._clock())
        apps = self._applications_by_name(origin, snapshot)
        names = {a.id: a.name for a in apps.values()}
        publishers = {(s.app, s.inst, s.name): s.publisher for s in snapshot.streams if s.publisher}

        ended = 0
        live = self._streams.live_on_origin(origin.id)
        live_keys = set()
        for stream in live:
            key = (names.get(stream.application_id, ""), stream.inst, stream.name)
            publisher = publishers.get(key)
            if publisher is not None and publisher.client_id == stream.client_id:
                live_keys.add(key)
            elif stream.started_at <= settled:
                ended += self._streams.end(
                    stream_id=stream.id, now=now, reason=EndReason.NOT_ON_ORIGIN
                )

        adopted = 0
        for key, publisher in publishers.items():
            app = apps.get(key[0])
            if key in live_keys or app is None or origin.id not in app.origin_ids:
                continue
            adopted += self._adopt_publisher(origin, app, key[1], key[2], publisher, taken_at)

        players_ended, players_adopted = self._reconcile_players(origin, snapshot, apps, taken_at)
        players_ended += self._drop_players_of_stale_tickets(origin, now)
        self._read_segment_durations(origin, names)
        return ReconcileReport(
            origin.name,
            reachable=True,
            streams_ended=ended,
            streams_adopted=adopted,
            players_ended=players_ended,
            players_adopted=players_adopted,
        )

    def _adopt_publisher(
        self,
        origin: Origin,
        app: Application,
        inst: str,
        name: str,
        publisher: ClientSnapshot,
        taken_at: float,
    ) -> bool:
        """Register a publisher the origin has and the registry does not; True if done."""
        started = int(taken_at - publisher.seconds)
        for row in self._streams.started_by_client_since(
            origin_id=origin.id, client_id=publisher.client_id, since=started - 5
        ):
            if (row.application_id, row.inst, row.name) != (app.id, inst, name):
                continue
            if row.ended_at is not None and row.ended_at >= int(taken_at):
                return False  # it ended after the snapshot: the snapshot is out of date
            # Recorded as ended, yet the origin still has the same connection publishing: the
            # end was wrong (a failed close, an origin that came back). Same stream, same id.
            return self._streams.reopen(stream_id=row.id)
        try:
            self._streams.start(
                account_id=app.account_id,
                application_id=app.id,
                origin_id=origin.id,
                inst=inst,
                name=name,
                client_id=publisher.client_id,
                publisher_addr=publisher.address,
                started_at=started,
            )
        except Conflict:
            return False  # registered by its callback meanwhile
        return True

    def _read_segment_durations(self, origin: Origin, names: Mapping[int, str]) -> None:
        """Learn the HLS segment duration of live streams not yet known (HLS viewer sessions
        last three of them). A stream's playlist appears once its first segment is cut (one
        keyframe interval after the publish), so a stream is asked each round until it has
        one; at most ``SEGMENT_READS_PER_ROUND`` streams a round, so a round stays short."""
        live = self._streams.live_on_origin(origin.id)
        unknown = [s for s in live if s.hls_segment_seconds is None and s.application_id in names]
        now = self._clock()
        for stream in live:  # learnt lately: caught the sessions written since, on stale news
            learnt_at = self._segments_learnt.get(stream.id)
            if learnt_at is not None and stream.hls_segment_seconds is not None:
                self._cap_sessions(origin, stream, stream.hls_segment_seconds)
                if now - learnt_at > self._segment_cache + RECAP_SECONDS:
                    del self._segments_learnt[stream.id]
        adapter = self._adapters[origin.kind]
        for stream in unknown[:SEGMENT_READS_PER_ROUND]:
            try:
                seconds = adapter.hls_segment_seconds(
                    origin, app=names[stream.application_id], inst=stream.inst, name=stream.name
                )
            except OriginUnavailable as exc:
                log.warning("origin %s: HLS playlist of %s: %s", origin.name, stream.name, exc)
                return
            if seconds is None:
                continue
            seconds = min(seconds, MAX_SEGMENT_SECONDS)
            self._streams.set_segment_seconds(stream_id=stream.id, seconds=seconds)
            self._cap_sessions(origin, stream, seconds)
            self._segments_learnt[stream.id] = now
        for gone in set(self._segments_learnt) - {s.id for s in live}:
            del self._segments_learnt[gone]

    def _cap_sessions(self, origin: Origin, stream: Stream, seconds: int) -> None:
        """Sessions opened before the stream's segment duration was known were given the window
        of an unknown stream: from now on they get the stream's own, as if seen just now (a
        running viewer's next request, once the checks' cache has the news, writes its session
        again). Done again in the rounds of the checks' cache time plus ``RECAP_SECONDS`` after,
        for the sessions the checks wrote meanwhile on the news they had cached."""
        window = session_window(seconds, origin.hls_fragment)
        self._viewers.cap_hls_expiry(
            origin_id=origin.id,
            stream=StreamKey(stream.application_id, stream.inst, stream.name),
            until=int(self._clock() + window + self._segment_cache),
        )

    def _drop_players_of_stale_tickets(self, origin: Origin, now: int) -> int:
        """RTMP players keep playing after their ticket expires or is revoked elsewhere (HLS
        viewers are refused on their next request): drop them."""
        stale = self._viewers.rtmp_players_with_stale_tickets(origin.id, now=now)
        if not stale:
            return 0
        names = {a.id: a.name for a in self._served(origin)}
        adapter = self._adapters[origin.kind]
        dropped = 0
        for session in stale:
            app = names.get(session.application_id)
            if app is None:
                continue
            dropped += adapter.drop_player(
                origin, app=app, inst=session.inst, name=session.path, client_id=session.viewer
            )
        self._viewers.close_rtmp(origin_id=origin.id, client_ids=[s.viewer for s in stale])
        return dropped

    def _reconcile_players(
        self,
        origin: Origin,
        snapshot: OriginSnapshot,
        apps: Mapping[str, Application],
        taken_at: float,
    ) -> tuple[int, int]:
        settled = int(taken_at - self._grace)
        on_origin = {  # an edge's pull is no viewer: its players are, on the edge
            p.client_id: (s, p)
            for s in snapshot.streams
            for p in s.players
            if p.client_id and not p.relay
        }
        counted = self._viewers.rtmp_sessions(origin.id)
        gone = [s.viewer for s in counted if s.viewer not in on_origin and s.started_at <= settled]
        ended = self._viewers.close_rtmp(origin_id=origin.id, client_ids=gone)
        known = {s.viewer for s in counted}
        adopted = 0
        for client_id, (stream, player) in on_origin.items():
            app = apps.get(stream.app)
            if client_id in known or app is None or not origin.serves(app):
                continue
            adopted += self._viewers.open_rtmp(
                origin_id=origin.id,
                stream=StreamKey(app.id, stream.inst, stream.name),
                client_id=client_id,
                address=player.address,
                now=int(taken_at - player.seconds),
            )
        return ended, adopted

    def _served(self, server: Origin) -> list[Application]:
        """The applications whose viewers the server has: an origin's, an edge's origins'."""
        return self._applications.list_for_origins((server.id, *server.upstreams))

    def _applications_by_name(
        self, origin: Origin, snapshot: OriginSnapshot
    ) -> dict[str, Application]:
        apps = {a.name: a for a in self._served(origin)}
        for seen in snapshot.streams:
            if seen.app not in apps:
                found = self._applications.get_by_name(seen.app)
                if found is not None:
                    apps[found.name] = found
        # Streams registered under applications since moved to another origin keep their names.
        for live in self._streams.live_on_origin(origin.id):
            if live.application_id not in {a.id for a in apps.values()}:
                for app in self._applications.list_for_account(live.account_id):
                    if app.id == live.application_id:
                        apps[app.name] = app
        return apps
