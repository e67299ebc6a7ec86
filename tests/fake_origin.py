"""A media server in memory, for unit tests of services that drive origins.

Integration tests use real nginx-rtmp (tests/integration/test_origin_nginx.py); this fake only
stands in where a test is about cdnpanel's own decisions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from cdnpanel.errors import OriginUnavailable
from cdnpanel.origins.adapter import (
    CallbackEvent,
    ClientSnapshot,
    OriginSnapshot,
    StreamSnapshot,
)
from cdnpanel.origins.nginx_rtmp import parse_callback
from cdnpanel.records import Origin


@dataclass
class FakeClient:
    client_id: str
    address: str
    since: float


@dataclass
class FakeStream:
    publisher: FakeClient | None
    since: float
    players: list[FakeClient] = field(default_factory=list)


class FakeOrigin:
    """Implements OriginAdapter; tests publish, play and take it ``down`` by hand."""

    kind = "nginx-rtmp"

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.streams: dict[tuple[str, str, str], FakeStream] = {}
        self.down = False
        self.drops: list[tuple[str, str, str]] = []
        # Each stream's HLS target duration, as its playlist would declare it (None: none yet).
        self.segment_seconds: dict[tuple[str, str, str], int | None] = {}

    def publish(self, app: str, inst: str, name: str, client_id: str, seconds: float = 10) -> None:
        """A publisher that connected ``seconds`` ago."""
        since = self._clock() - seconds
        self.streams[(app, inst, name)] = FakeStream(
            FakeClient(client_id, "192.0.2.10", since), since
        )

    def play(self, app: str, inst: str, name: str, client_id: str) -> None:
        now = self._clock()
        stream = self.streams.setdefault((app, inst, name), FakeStream(None, now))
        stream.players.append(FakeClient(client_id, "198.51.100.20", now - 5))

    def _client(self, client: FakeClient) -> ClientSnapshot:
        return ClientSnapshot(client.client_id, client.address, self._clock() - client.since)

    def parse_callback(self, event: str, form: Mapping[str, str]) -> CallbackEvent:
        return parse_callback(event, form)

    def snapshot(self, origin: Origin) -> OriginSnapshot:
        if self.down:
            raise OriginUnavailable(origin.name, "connection refused")
        return OriginSnapshot(
            tuple(
                StreamSnapshot(
                    app,
                    inst,
                    name,
                    self._clock() - s.since,
                    self._client(s.publisher) if s.publisher else None,
                    tuple(self._client(p) for p in s.players),
                )
                for (app, inst, name), s in self.streams.items()
            )
        )

    def hls_segment_seconds(self, origin: Origin, *, app: str, inst: str, name: str) -> int | None:
        if self.down:
            raise OriginUnavailable(origin.name, "no answer in time")
        return self.segment_seconds.get((app, inst, name))

    def drop_publisher(self, origin: Origin, *, app: str, inst: str, name: str) -> int:
        if self.down:
            raise OriginUnavailable(origin.name, "no answer in time")
        self.drops.append((app, inst, name))
        stream = self.streams.get((app, inst, name))
        if stream is None or stream.publisher is None:
            return 0
        stream.publisher = None
        return 1

    def drop_player(self, origin: Origin, *, app: str, inst: str, name: str, client_id: str) -> int:
        if self.down:
            raise OriginUnavailable(origin.name, "no answer in time")
        self.drops.append((app, inst, f"{name}#{client_id}"))
        stream = self.streams.get((app, inst, name))
        players = stream.players if stream else []
        kept = [p for p in players if p.client_id != client_id]
        if stream:
            stream.players = kept
        return len(players) - len(kept)

    def drop_stream(self, origin: Origin, *, app: str, inst: str, name: str) -> int:
        if self.down:
            raise OriginUnavailable(origin.name, "no answer in time")
        self.drops.append((app, inst, f"{name}@{origin.name}"))
        stream = self.streams.pop((app, inst, name), None)
        if stream is None:
            return 0
        return len(stream.players) + (stream.publisher is not None)
