"""Shared fixtures: databases on both backends, services with a frozen clock, live servers."""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from cdnpanel.config import Settings
from cdnpanel.freshness import DEFAULT_FRESHNESS, Freshness
from cdnpanel.origins.adapter import CallbackEvent
from cdnpanel.origins.nginx_rtmp import parse_callback
from cdnpanel.records import Account, Origin
from cdnpanel.services.accounts import IssuedKey
from cdnpanel.store.database import Database
from cdnpanel.store.migrate import upgrade
from cdnpanel.wiring import Services, build_services

POSTGRES_ADMIN_URL = os.environ.get(
    "CDNPANEL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ["sqlite", "postgresql"]
REPO = Path(__file__).resolve().parent.parent


class FrozenClock:
    """A clock tests move by hand."""

    def __init__(self, now: float = 1_795_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An AUTOCOMMIT engine on the test server's maintenance database."""
    engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} ({exc}). Run scripts/test, "
            "which starts it, or point CDNPANEL_TEST_POSTGRES_URL at a server."
        )
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def migrated_template(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], str]]:
    """Returns a function giving, per backend, a database migrated once for the whole run: the
    template test databases are copied from (migrating each afresh took most of their time)."""
    made: dict[str, str] = {}
    admin: list[Engine] = []

    def template(backend: str) -> str:
        if backend not in made:
            if backend == "sqlite":
                path = tmp_path_factory.mktemp("template") / "cdnpanel.db"
                url = f"sqlite:///{path}"
            else:
                name = f"cdnpanel_template_{secrets.token_hex(6)}"
                admin.append(request.getfixturevalue("postgres_admin"))
                with admin[0].connect() as conn:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
                url = _postgres_url(name)
            database = Database(url)
            upgrade(database)
            database.dispose()  # on SQLite this also folds the WAL into the file
            made[backend] = str(path) if backend == "sqlite" else name
        return made[backend]

    yield template
    if admin:
        with admin[0].connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{made["postgresql"]}" WITH (FORCE)'))


@pytest.fixture
def database_url_factory(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_template: Callable[[str], str]
) -> Iterator[Callable[..., str]]:
    """Returns ``make(backend, migrated=True)``: the URL of a fresh database of its own, a copy
    of the migrated template, or empty (for the tests of creating and migrating one)."""
    created: list[str] = []
    counter = itertools.count()

    def make(backend: str, *, migrated: bool = True) -> str:
        if backend == "sqlite":
            path = tmp_path / f"cdnpanel-{next(counter)}.db"
            if migrated:
                shutil.copyfile(migrated_template("sqlite"), path)
                path.chmod(0o600)
            return f"sqlite:///{path}"
        admin = request.getfixturevalue("postgres_admin")
        name = f"cdnpanel_test_{secrets.token_hex(6)}"
        template = f' TEMPLATE "{migrated_template("postgresql")}"' if migrated else ""
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{template}'))
        created.append(name)
        return _postgres_url(name)

    yield make
    if created:
        with request.getfixturevalue("postgres_admin").connect() as conn:
            for name in created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _postgres_url(name: str) -> str:
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, database_url_factory: Callable[..., str]) -> str:
    """A migrated database of the test's own."""
    return database_url_factory(backend)


@pytest.fixture
def empty_database_url(backend: str, database_url_factory: Callable[..., str]) -> str:
    """An empty database of the test's own (nothing migrated yet)."""
    return database_url_factory(backend, migrated=False)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def services_factory(database_url: str, clock: FrozenClock) -> Iterator[Callable[..., Services]]:
    """Returns ``make(adapters=None, freshness=None, **settings)``: services on the test
    database (each a process of its own, as far as caches go)."""
    built: list[Services] = []

    def make(
        adapters: dict[str, Any] | None = None,
        freshness: Freshness | None = None,
        **settings: object,
    ) -> Services:
        services = build_services(
            Settings(database_url=database_url, **settings),
            clock=clock,
            adapters=adapters,
            freshness=freshness or DEFAULT_FRESHNESS,
        )
        built.append(services)
        return services

    yield make
    for services in built:
        services.close()


@pytest.fixture
def services(services_factory: Callable[..., Services]) -> Services:
    return services_factory()


@dataclass(frozen=True)
class Tenant:
    account: Account
    key: IssuedKey

    @property
    def cdn(self) -> int:
        return self.account.cdn_id


@pytest.fixture
def tenant_factory(services: Services) -> Callable[..., Tenant]:
    """Creates an account with one key and the given applications."""
    counter = itertools.count(1)

    def make(*apps: str, name: str | None = None) -> Tenant:
        account = services.accounts.create_account(name or f"tenant {next(counter)}")
        for app in apps:
            services.applications.create(account.id, app)
        return Tenant(account, services.accounts.create_key(account.cdn_id))

    return make


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports: all held open together while they are chosen."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def live_server_factory(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Starts ``cdnpanel serve`` as a real process on a loopback port; stops it afterwards."""
    started: list[LiveServer] = []

    def start(database_url: str, *, workers: int = 1, **env: str) -> LiveServer:
        port = free_port()
        log_path = tmp_path / f"server-{port}.log"
        environment = {**os.environ, "CDNPANEL_DATABASE_URL": database_url, **env}
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "cdnpanel",
                    "serve",
                    "--port",
                    str(port),
                    "--workers",
                    str(workers),
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=environment,
                cwd=tmp_path,
            )
        server = LiveServer(f"http://127.0.0.1:{port}", process, log_path)
        started.append(server)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"server exited early:\n{server.log()}")
            try:
                if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                    return server
            except httpx.HTTPError:
                time.sleep(0.1)
        pytest.fail(f"server did not answer /health within 30 s:\n{server.log()}")

    yield start
    for server in started:
        server.process.terminate()
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


@dataclass
class OriginWorld:
    """Services on a fake origin ``origin1.example.net`` serving ``demo-origin`` of ``tenant``;
    ``other`` is a second account with its own application on the same origin."""

    services: Services
    adapter: Any
    origin: Origin
    hook_secret: str
    tenant: Tenant
    other: Tenant
    clock: FrozenClock

    async def publish_live(
        self, name: str, client_id: str = "9", *, segment_seconds: int | None = None
    ) -> Any:
        """``demo-origin/live/NAME`` live on the fake origin and in the registry, its HLS
        playlist declaring ``segment_seconds``, after one reconciler round (which reads it)."""
        self.adapter.publish("demo-origin", "live", name, client_id)
        self.adapter.segment_seconds[("demo-origin", "live", name)] = segment_seconds
        event = self.event("publish", name, client_id)
        stream = await self.services.streams.publish_started(self.origin, event)
        self.services.reconciler.run_once()
        return stream

    def event(self, call: str, name: str, client_id: str, **extra: str) -> CallbackEvent:
        form = {
            "app": f"{extra.pop('app', 'demo-origin')}/{extra.pop('inst', 'live')}",
            "addr": extra.pop("addr", "192.0.2.10"),
            "clientid": client_id,
            "call": call,
            "name": name,
            **extra,
        }
        return parse_callback(call, form)


@pytest.fixture
def origin_world(services_factory: Callable[..., Services], clock: FrozenClock) -> OriginWorld:
    from tests.fake_origin import FakeOrigin

    adapter = FakeOrigin(clock)
    services = services_factory(adapters={adapter.kind: adapter})
    issued = services.origins.add("origin1.example.net", control_url="http://127.0.0.1:8081")

    def tenant(name: str, app_name: str) -> Tenant:
        account = services.accounts.create_account(name)
        # Open publishing: these worlds are about streams and viewers; publisher
        # authentication has its own tests (tests/services/test_stream_users.py).
        app = services.applications.create(account.id, app_name, publishing="open")
        services.origins.assign(app, "origin1.example.net")
        return Tenant(account, services.accounts.create_key(account.cdn_id))

    return OriginWorld(
        services=services,
        adapter=adapter,
        origin=issued.origin,
        hook_secret=issued.secret,
        tenant=tenant("tenant", "demo-origin"),
        other=tenant("other", "other-origin"),
        clock=clock,
    )
