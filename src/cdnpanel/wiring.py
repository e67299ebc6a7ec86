"""The one place that turns settings into objects: database, stores, services, registry."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx
from sqlalchemy.engine import make_url

from cdnpanel.commands import publishing, sevu, stream, usage, video, viewer, vsn
from cdnpanel.commands.registry import CommandServices, Registry
from cdnpanel.config import Settings
from cdnpanel.freshness import DEFAULT_FRESHNESS, Freshness
from cdnpanel.origins.adapter import OriginAdapter
from cdnpanel.origins.nginx_rtmp import NginxRtmp
from cdnpanel.services._clock import Clock, SystemTokens, TokenSource
from cdnpanel.services.accounts import AccountService
from cdnpanel.services.applications import ApplicationService
from cdnpanel.services.authentication import Authenticator
from cdnpanel.services.charges import ChargeService
from cdnpanel.services.history import HistoryService
from cdnpanel.services.origins import OriginService
from cdnpanel.services.reconcile import Reconciler
from cdnpanel.services.replays import Replays
from cdnpanel.services.stream_users import StreamUserService
from cdnpanel.services.streams import StreamRegistry
from cdnpanel.services.tickets import TicketService
from cdnpanel.services.usage import UsageService
from cdnpanel.services.usher import Usher
from cdnpanel.services.viewers import ViewerService
from cdnpanel.store.accounts import AccountStore
from cdnpanel.store.applications import ApplicationStore
from cdnpanel.store.attempts import AttemptLog
from cdnpanel.store.database import Database
from cdnpanel.store.history import ViewerHistory
from cdnpanel.store.keys import KeyStore
from cdnpanel.store.migrate import upgrade
from cdnpanel.store.nonces import NonceStore
from cdnpanel.store.origins import OriginStore
from cdnpanel.store.rates import RateStore
from cdnpanel.store.stream_users import StreamUserStore
from cdnpanel.store.streams import StreamStore
from cdnpanel.store.tickets import TicketStore
from cdnpanel.store.usage import UsageStore
from cdnpanel.store.viewers import ViewerStore

__all__ = ["Services", "build_adapters", "build_registry", "build_services"]


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    db: Database
    accounts: AccountService
    applications: ApplicationService
    charges: ChargeService
    history: HistoryService
    authenticator: Authenticator
    replays: Replays
    origins: OriginService
    streams: StreamRegistry
    stream_users: StreamUserService
    tickets: TicketService
    usage: UsageService
    viewers: ViewerService
    reconciler: Reconciler
    adapters: Mapping[str, OriginAdapter]
    origin_http: httpx.Client

    @property
    def commands(self) -> CommandServices:
        """The narrow set of services commands are given."""
        return CommandServices(
            applications=self.applications,
            charges=self.charges,
            history=self.history,
            streams=self.streams,
            stream_users=self.stream_users,
            tickets=self.tickets,
            usage=self.usage,
            viewers=self.viewers,
        )

    def close(self) -> None:
        self.origin_http.close()
        self.db.dispose()


def build_registry() -> Registry:
    return Registry(
        [
            *video.COMMANDS,
            *usage.COMMANDS,
            *vsn.COMMANDS,
            *viewer.COMMANDS,
            *stream.COMMANDS,
            *sevu.COMMANDS,
            *publishing.COMMANDS,
        ]
    )


def build_adapters(http: httpx.Client) -> dict[str, OriginAdapter]:
    """One adapter per kind of media server, keyed by the kind an origin records."""
    nginx = NginxRtmp(http)
    return {nginx.kind: nginx}


def build_services(
    settings: Settings,
    *,
    clock: Clock = time.time,
    tokens: TokenSource | None = None,
    migrate: bool = True,
    adapters: dict[str, OriginAdapter] | None = None,
    freshness: Freshness = DEFAULT_FRESHNESS,
    monotonic: Callable[[], float] = time.monotonic,
) -> Services:
    """Everything a server, a CLI command or a test needs, on the configured database.

    ``clock`` is the wall clock (seconds since the epoch) everything is dated and cached by;
    ``monotonic`` measures the store's intervals; ``freshness`` bounds every cache."""
    backend = make_url(settings.database_url).get_backend_name()
    db = Database(
        settings.database_url,
        others_check_interval=freshness.others_check_interval(backend),
        monotonic=monotonic,
    )
    if migrate:
        upgrade(db)
    tokens = tokens or SystemTokens()
    keys = KeyStore(db)
    applications = ApplicationStore(db)
    origins = OriginStore(db)
    streams = StreamStore(db)
    viewers = ViewerStore(db)
    attempts = AttemptLog(db)
    tickets = TicketService(
        TicketStore(db, viewers, attempts),
        attempts,
        applications,
        run=db.run,
        clock=clock,
        freshness=freshness,
        attempt_retention_days=settings.attempt_retention_days,
    )
    # Origins answer on loopback or a private network: never through an environment proxy.
    origin_http = httpx.Client(timeout=settings.origin_timeout, trust_env=False)
    adapters = adapters if adapters is not None else build_adapters(origin_http)
    stream_users = StreamUserService(StreamUserStore(db), origins, clock=clock)
    authenticator = Authenticator(
        keys,
        NonceStore(db),
        clock=clock,
        window=settings.timestamp_window,
        last_used_interval=settings.key_last_used_interval,
    )
    return Services(
        settings=settings,
        db=db,
        accounts=AccountService(AccountStore(db), keys, clock=clock, tokens=tokens),
        applications=ApplicationService(applications, clock=clock),
        charges=ChargeService(RateStore(db), clock=clock),
        history=HistoryService(ViewerHistory(db), origins, clock=clock),
        authenticator=authenticator,
        replays=Replays(
            authenticator,
            run=db.run,
            strict=settings.replays == "strict",
            wait=settings.replay_wait,
        ),
        origins=OriginService(
            origins, applications, viewers, clock=clock, tokens=tokens, freshness=freshness
        ),
        streams=StreamRegistry(
            streams, applications, origins, viewers, adapters, stream_users, run=db.run, clock=clock
        ),
        stream_users=stream_users,
        tickets=tickets,
        usage=UsageService(
            UsageStore(db, max_videos_per_day=settings.usage_max_videos_per_day),
            applications,
            clock=clock,
            freshness=freshness,
            per_url=settings.usage_per_url,
        ),
        viewers=ViewerService(
            viewers,
            applications,
            Usher(tickets, clock=clock),
            streams,
            run=db.run,
            clock=clock,
            freshness=freshness,
        ),
        reconciler=Reconciler(
            origins,
            applications,
            streams,
            viewers,
            adapters,
            clock=clock,
            interval=settings.reconcile_interval,
            lost_after=settings.origin_lost_after,
            freshness=freshness,
        ),
        adapters=adapters,
        origin_http=origin_http,
    )
