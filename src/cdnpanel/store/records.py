"""Plain records the store hands to services."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Account", "ApiKey", "Application", "KeyCredential"]


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
