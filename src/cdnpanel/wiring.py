"""The one place that turns settings into objects: database, stores, services, registry."""

from __future__ import annotations

import time
from dataclasses import dataclass

from cdnpanel.commands import video
from cdnpanel.commands.registry import Registry
from cdnpanel.config import Settings
from cdnpanel.services._clock import Clock, SystemTokens, TokenSource
from cdnpanel.services.accounts import AccountService
from cdnpanel.services.applications import ApplicationService
from cdnpanel.services.authentication import Authenticator
from cdnpanel.store.accounts import AccountStore
from cdnpanel.store.applications import ApplicationStore
from cdnpanel.store.database import Database
from cdnpanel.store.keys import KeyStore
from cdnpanel.store.migrate import upgrade
from cdnpanel.store.nonces import NonceStore

__all__ = ["Services", "build_registry", "build_services"]


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    db: Database
    accounts: AccountService
    applications: ApplicationService
    authenticator: Authenticator

    def close(self) -> None:
        self.db.dispose()


def build_registry() -> Registry:
    return Registry([*video.COMMANDS])


def build_services(
    settings: Settings,
    *,
    clock: Clock = time.time,
    tokens: TokenSource | None = None,
    migrate: bool = True,
) -> Services:
    """Everything a server, a CLI command or a test needs, on the configured database."""
    db = Database(settings.database_url)
    if migrate:
        upgrade(db)
    keys = KeyStore(db)
    return Services(
        settings=settings,
        db=db,
        accounts=AccountService(
            AccountStore(db), keys, clock=clock, tokens=tokens or SystemTokens()
        ),
        applications=ApplicationService(ApplicationStore(db), clock=clock),
        authenticator=Authenticator(
            keys,
            NonceStore(db),
            clock=clock,
            window=settings.timestamp_window,
            last_used_interval=settings.key_last_used_interval,
        ),
    )
