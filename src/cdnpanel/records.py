"""The domain's records: plain values every layer may import (the store builds and takes them,
services decide on them, commands shape them into answers). No I/O, no SQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_HLS_PORT",
    "DEFAULT_RTMP_PORT",
    "EDGE",
    "HLS",
    "ORIGIN",
    "RTMP",
    "Account",
    "ApiKey",
    "Application",
    "Attempt",
    "AttemptFilter",
    "AttemptPage",
    "Claim",
    "DayTotal",
    "HlsTouch",
    "KeyCredential",
    "LoggedAttempt",
    "NewTicket",
    "Nonce",
    "Origin",
    "Rate",
    "SessionRequest",
    "Stream",
    "StreamKey",
    "StreamSettings",
    "StreamUser",
    "Ticket",
    "Verdict",
    "VideoUsage",
    "ViewerSession",
    "ViewersOn",
]


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    cdn_id: int
    name: str
    created_at: int


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as listed: never its secret."""

    id: int
    account_id: int
    api_key: str
    label: str
    created_at: int
    last_used_at: int | None
    revoked_at: int | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class KeyCredential:
    """What authentication needs: the key, its account and its secret (kept out of repr)."""

    key_id: int
    account_id: int
    cdn_id: int
    secret: str = field(repr=False)
    last_used_at: int | None


@dataclass(frozen=True, slots=True)
class Application:
    id: int
    account_id: int
    name: str
    created_at: int
    origin_id: int | None = None
    protection: str = "none"
    publishing: str = "open"
    # A second origin its encoders also publish to, that edges fall back on for HLS (0011).
    backup_origin_id: int | None = None

    @property
    def origin_ids(self) -> tuple[int, ...]:
        """The origins that take its encoders: its origin, then its backup origin."""
        return tuple(i for i in (self.origin_id, self.backup_origin_id) if i is not None)

    @property
    def protected(self) -> bool:
        return self.protection == "sevu"

    @property
    def needs_credentials(self) -> bool:
        """Whether a stream without a stream user of its own (or ``*``) is refused."""
        return self.publishing == "credentials"


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """A stream's settings, kept with its stream users (sevu.addstreamuser)."""

    record: bool = False
    record_type: str | None = None
    segment_type: str | None = None  # "size", "schedule" or "duration"
    segment_value: str | None = None
    save_folder: str | None = None
    ga_key: str | None = None


@dataclass(frozen=True, slots=True)
class StreamUser:
    """Who may publish ``stream`` ("*": any stream) of an application; ``user`` None: the
    stream asks for no credentials. The password only as its keyed hash."""

    id: int
    account_id: int
    application_id: int
    stream: str
    user: str | None
    pass_hash: bytes | None = field(repr=False)
    settings: StreamSettings
    created_at: int


ORIGIN = "origin"
EDGE = "edge"
DEFAULT_RTMP_PORT = 1935
DEFAULT_HLS_PORT = 8088
"""Where a generated origin config listens unless told otherwise (``origin nginx-config``)."""


@dataclass(frozen=True, slots=True)
class Origin:
    """A media server cdnpanel controls; ``name`` is the host clients give as ``origin_url``.

    ``role`` ``ORIGIN`` takes encoders; ``EDGE`` relays the streams of ``upstreams`` (the
    ids of the origins it reaches) to viewers and checks them as an origin does.
    """

    id: int
    name: str
    kind: str
    control_url: str
    hls_fragment: int
    created_at: int
    last_contact_at: int | None = None
    failing_since: int | None = None
    hook_secret_hash: bytes = field(default=b"", repr=False)
    role: str = ORIGIN
    location: str | None = None
    rtmp_url: str | None = None
    hls_url: str | None = None
    upstreams: tuple[int, ...] = ()

    @property
    def is_edge(self) -> bool:
        return self.role == EDGE

    def serves(self, application: Application) -> bool:
        """Whether viewers of ``application`` are this server's: on an origin that serves it
        (its origin or backup origin), or on an edge of one."""
        return any(i == self.id or i in self.upstreams for i in application.origin_ids)

    @property
    def rtmp_address(self) -> str:
        """HOST:PORT of its RTMP, as edges reach it."""
        return _host_port(self.rtmp_url, self.name, DEFAULT_RTMP_PORT)

    @property
    def hls_address(self) -> str:
        """HOST:PORT of its HLS playback, as edges reach it."""
        return _host_port(self.hls_url, self.name, DEFAULT_HLS_PORT)


def _host_port(url: str | None, name: str, port: int) -> str:
    if url is None:
        return f"{name}:{port}"
    parts = urlsplit(url)
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
    return f"{host}:{parts.port or port}"


@dataclass(frozen=True, slots=True)
class Stream:
    """A publishing session on an origin; live while ``ended_at`` is None."""

    id: int
    account_id: int
    application_id: int
    origin_id: int
    inst: str
    name: str
    client_id: str
    publisher_addr: str
    started_at: int
    ended_at: int | None
    end_reason: str | None
    hls_segment_seconds: int | None = None  # the HLS playlist's target duration, once read
    stream_user_id: int | None = None  # the stream user its publisher was admitted with

    @property
    def live(self) -> bool:
        return self.ended_at is None


@dataclass(frozen=True, slots=True)
class ViewerSession:
    id: int
    origin_id: int
    application_id: int
    inst: str
    path: str
    protocol: str
    viewer: str
    address: str
    started_at: int
    seen_at: int
    expires_at: int | None
    ticket_id: int | None = None


@dataclass(frozen=True, slots=True)
class ViewersOn:
    """Viewers of one protocol on one server now (viewer.livedetailed)."""

    server: str
    role: str
    location: str | None
    protocol: str
    viewers: int


@dataclass(frozen=True, slots=True)
class Ticket:
    """A SEVU ticket as stored: its password only as a keyed hash."""

    id: int
    account_id: int
    key: str
    pass_hash: bytes = field(repr=False)
    apps: str
    videos: str
    ip: str
    ip_bound: str
    uses: int
    used: int
    created_at: int
    used_at: int | None
    expires_at: int
    revoked_at: int | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


RTMP = "rtmp"


HLS = "hls"


class StreamKey(NamedTuple):
    """What viewers are counted by: an application's stream name or VOD path, per instance."""

    application_id: int
    inst: str
    path: str


class HlsTouch(NamedTuple):
    """An HLS viewer seen at ``seen_at``; it stays counted until ``expires_at``."""

    origin_id: int
    stream: StreamKey
    viewer: str
    address: str
    seen_at: int
    expires_at: int


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
    protocol: str = ""  # hls or rtmp; "" for attempts logged before 0012

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
            "protocol": self.protocol[:8],
        }


@dataclass(frozen=True, slots=True)
class LoggedAttempt:
    """An attempt as ``sevu.errorlog`` lists it: the log's row and whether the password tried
    was the ticket's (None when none was sent or the key is no ticket of the account)."""

    id: int
    attempt: Attempt
    pass_matched: bool | None


@dataclass(frozen=True, slots=True)
class AttemptPage:
    """One page of a ticket's attempts in time order, and how many match in all."""

    total: int
    attempts: list[LoggedAttempt]


@dataclass(frozen=True, slots=True)
class SessionRequest:
    """A viewer asking to start a playback session with a ticket."""

    ticket_key: str
    origin_id: int
    stream: StreamKey
    protocol: str
    viewer: str
    address: str
    now: int
    expires_at: int | None  # HLS sessions expire; RTMP ones end with play_done
    attempt: Attempt


@dataclass(frozen=True, slots=True)
class NewTicket:
    """A new ticket's stored fields, checked (services/tickets.py) and ready to insert."""

    account_id: int
    key: str
    pass_hash: bytes
    apps: str
    videos: str
    ip: str
    uses: int
    created_at: int
    expires_at: int

    def record(self, ticket_id: int) -> Ticket:
        """The ticket as the insert left it."""
        return Ticket(
            id=ticket_id,
            account_id=self.account_id,
            key=self.key,
            pass_hash=self.pass_hash,
            apps=self.apps,
            videos=self.videos,
            ip=self.ip,
            ip_bound="",
            uses=self.uses,
            used=0,
            created_at=self.created_at,
            used_at=None,
            expires_at=self.expires_at,
            revoked_at=None,
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    admitted: bool
    reason: str
    new_session: bool = False  # False: the session existed (admitted elsewhere), no use taken
    ticket: Ticket | None = None  # the ticket as the transaction left it; None if there is none


@dataclass(frozen=True, slots=True)
class AttemptFilter:
    key: str | None = None
    app: str | None = None
    video: str | None = None
    ip: str | None = None
    pass_hash: bytes | None = None
    success: bool | None = None


class Nonce(NamedTuple):
    key_id: int
    signature: bytes
    signed_at: int  # the request's own timestamp, so every copy of a request has the same


class Claim(NamedTuple):
    """A claim as a copy finds it: its answer, None while its request is being carried out."""

    answer: bytes | None


@dataclass(frozen=True, slots=True)
class ServerDay:
    """One day's usage of some applications on one server."""

    day: str  # YYYY-MM-DD (UTC)
    server: str  # the server's short code
    bytes_sent: int
    requests: int


@dataclass(frozen=True, slots=True)
class Rate:
    """An account's price for one usage type: ``price`` (exact) per ``per`` of it (``GB``,
    ``1000`` requests, an ``hour``)."""

    type: str
    per: str
    price: Decimal


@dataclass(frozen=True, slots=True)
class UsageSummary:
    """An account's usage over a period: bytes and requests per server role (edge, cdn,
    origin, videocdn) and each meter's value (a counter's total, a gauge's peak; None when
    nothing reported it)."""

    bandwidth: dict[str, int]
    requests: dict[str, int]
    meters: dict[str, float | None]


@dataclass(frozen=True, slots=True)
class VideoUsage:
    """A video's (stream name or VOD path) bytes and requests over a day or a month;
    ``kind`` "vod", "live" or "" (the row of requests that named no video)."""

    video: str
    kind: str
    bytes: int
    requests: int


@dataclass(frozen=True, slots=True)
class DayTotal:
    """An application's bytes and requests on one UTC day (``date``: ``YYYY-MM-DD``)."""

    date: str
    bytes: int
    requests: int
