"""Plain records the store hands to services."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Account",
    "ApiKey",
    "Application",
    "KeyCredential",
    "Origin",
    "Stream",
    "Ticket",
    "ViewerSession",
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

    @property
    def protected(self) -> bool:
        return self.protection == "sevu"


@dataclass(frozen=True, slots=True)
class Origin:
    """A media server cdnpanel controls; ``name`` is the host clients give as ``origin_url``."""

    id: int
    name: str
    kind: str
    control_url: str
    hls_fragment: int
    created_at: int
    last_contact_at: int | None = None
    failing_since: int | None = None
    hook_secret_hash: bytes = field(default=b"", repr=False)


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
