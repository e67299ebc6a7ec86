"""Typed settings, read from ``CDNPANEL_*`` environment variables at the edge, never at import."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "default_database_path", "default_database_url"]


def default_database_path() -> Path:
    """Where the embedded database lives unless told otherwise: the user's data folder
    (``$XDG_DATA_HOME/cdnpanel/cdnpanel.db``, by default ``~/.local/share/cdnpanel/``), the same
    from whatever folder the server or the CLI is started."""
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home).absolute() / "cdnpanel" / "cdnpanel.db"


def default_database_url() -> str:
    return f"sqlite:///{default_database_path()}"


class Settings(BaseSettings):
    """Server and store settings; every field is also ``CDNPANEL_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="CDNPANEL_", extra="ignore", frozen=True)

    database_url: str = Field(
        default_factory=default_database_url,
        description="SQLAlchemy URL: sqlite:///path.db (embedded; default "
        "~/.local/share/cdnpanel/cdnpanel.db) or postgresql://user@host/db",
    )
    timestamp_window: int = Field(
        300, ge=30, le=3600, description="Seconds a request timestamp may differ from the clock"
    )
    replays: Literal["answer", "strict"] = Field(
        "answer",
        description="answer: a repeated read is answered afresh, a repeated change gets the "
        "first answer again (carried out once); strict: every repeat is refused (0009)",
    )
    replay_wait: float = Field(
        15.0,
        gt=0,
        le=120,
        description="Seconds a copy of a change waits for the first one's answer (a command "
        "that drops players on origins takes seconds) before it is told to ask again (0009)",
    )
    max_body_bytes: int = Field(1024 * 1024, ge=1024, description="Largest request body accepted")
    body_timeout: float = Field(
        10.0, gt=0, le=300, description="Seconds a client may take to send a request body"
    )
    max_header_bytes: int = Field(
        64 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,
        description="Largest request headers (request line included) accepted; then HTTP 431",
    )
    header_timeout: float = Field(
        10.0, gt=0, le=300, description="Seconds a client may take to send its request headers"
    )
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64)
    key_last_used_interval: int = Field(
        60, ge=0, description="At most one 'last used' write per key and process in this many s"
    )
    hook_networks: str = Field(
        "127.0.0.0/8,::1/128",
        description="Comma-separated networks origins may call the hooks from (plus their secret)",
    )
    origin_timeout: float = Field(
        5.0, gt=0, le=60, description="Seconds to wait for an origin's control or stat answer"
    )
    reconcile_interval: float = Field(
        5.0, gt=0, le=3600, description="Seconds between two reconciliations of an origin"
    )
    origin_lost_after: float = Field(
        15.0, gt=0, description="Seconds an origin may fail to answer before its streams end"
    )
    session_flush_interval: float = Field(
        0.5, gt=0, le=10, description="Seconds between writes of HLS viewer sessions"
    )
    usage_per_url: bool = Field(
        True, description="Roll up ingested usage per video too (video.usage, usage.vse)"
    )
    usage_max_videos_per_day: int = Field(
        100_000,
        ge=1,
        le=10_000_000,
        description="Distinct videos kept per application and day; the rest count as no video",
    )
    attempt_retention_days: int = Field(
        90, ge=1, le=3660, description="Days the attempt log keeps a playback attempt"
    )

    @field_validator("replays", mode="before")
    @classmethod
    def _earlier_replays_name(cls, value: object) -> object:
        return "answer" if value == "answer-reads" else value  # its name until issue 14

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str) -> str:
        # psycopg 3 is the PostgreSQL driver we ship; plain postgresql:// URLs mean it.
        for prefix in ("postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value
