"""What cdnpanel needs from a media server, whatever its kind.

An adapter turns the server's callbacks into ``CallbackEvent``s, reads what is live on it
(``snapshot``) and drops publishers. nginx-rtmp is the first kind; MediaMTX (JSON auth hook,
``/v3/paths/list``, ``kick``) and Node-Media-Server (JSON webhook, ``/api/v1/sessions``) fit the
same shape: their adapters map their own ids and paths onto app, inst and stream name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from cdnpanel.records import Origin

__all__ = [
    "DEFAULT_INSTANCE",
    "Action",
    "CallbackEvent",
    "ClientSnapshot",
    "OriginAdapter",
    "OriginSnapshot",
    "StreamMedia",
    "StreamSnapshot",
]

DEFAULT_INSTANCE = "live"
"""The application instance (ScaleEngine's ``inst``) origins serve unless told others: the
generated nginx config's default, and the one publish URLs name."""


class Action(Enum):
    PUBLISH = "publish"
    PUBLISH_DONE = "publish_done"
    PLAY = "play"
    PLAY_DONE = "play_done"
    OTHER = "other"  # connect, done, update ...: nothing to record


@dataclass(frozen=True, slots=True)
class CallbackEvent:
    """One callback from a media server, in ScaleEngine's terms."""

    action: Action
    app: str
    inst: str
    name: str
    client_id: str
    address: str
    # The client URL's query (e.g. SEVU's key and pass); never logged.
    query: Mapping[str, str] = field(default_factory=dict, repr=False)
    # An edge relaying the stream (its pull, not a viewer): its name and hook secret, which
    # cdnpanel checks before the play goes on without a ticket; never logged.
    edge: tuple[str, str] | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class ClientSnapshot:
    client_id: str
    address: str
    seconds: float  # how long the connection has been open
    relay: bool = False  # a media server's relay (an edge's pull), not a viewer or encoder


@dataclass(frozen=True, slots=True)
class StreamMedia:
    """What the publisher sends, as the media server measures and reads it (None: unknown)."""

    bitrate: int | None = None  # bits per second in, audio and video
    video_bitrate: int | None = None
    audio_bitrate: int | None = None
    video_codec: str | None = None  # e.g. H264
    width: int | None = None
    height: int | None = None
    frame_rate: float | None = None
    audio_codec: str | None = None  # e.g. AAC
    audio_channels: int | None = None
    audio_sample_rate: int | None = None


@dataclass(frozen=True, slots=True)
class StreamSnapshot:
    app: str
    inst: str
    name: str
    seconds: float  # how long the stream has existed on the server
    publisher: ClientSnapshot | None
    players: tuple[ClientSnapshot, ...]
    media: StreamMedia = StreamMedia()


@dataclass(frozen=True, slots=True)
class OriginSnapshot:
    """What is live on a media server at one moment."""

    streams: tuple[StreamSnapshot, ...]


class OriginAdapter(Protocol):
    """One kind of media server. Network calls raise ``OriginUnavailable``; nothing hangs."""

    kind: str

    def parse_callback(self, event: str, form: Mapping[str, str]) -> CallbackEvent:
        """A callback's form as an event; ``MalformedRequest`` when it cannot be read."""
        ...

    def snapshot(self, origin: Origin) -> OriginSnapshot:
        """The streams and RTMP clients live on the origin now."""
        ...

    def hls_segment_seconds(self, origin: Origin, *, app: str, inst: str, name: str) -> int | None:
        """The target duration of the stream's HLS playlist (its longest segment, in whole
        seconds, as the playlist declares it); None while the origin has no playlist yet."""
        ...

    def drop_publisher(self, origin: Origin, *, app: str, inst: str, name: str) -> int:
        """Disconnect the publisher of ``app/inst/name``; how many connections were dropped."""
        ...

    def drop_player(self, origin: Origin, *, app: str, inst: str, name: str, client_id: str) -> int:
        """Disconnect one player of ``app/inst/name`` (a revoked or expired SEVU ticket)."""
        ...

    def drop_stream(self, origin: Origin, *, app: str, inst: str, name: str) -> int:
        """Disconnect every client of ``app/inst/name`` (on an edge: its pull and its players,
        when the stream is closed on its origin); how many."""
        ...
