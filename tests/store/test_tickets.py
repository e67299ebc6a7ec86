"""The ticket store's contract on SQLite and PostgreSQL: admission is atomic per ticket."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest
from sqlalchemy import select

from cdnpanel.records import (
    RTMP,
    Attempt,
    AttemptFilter,
    NewTicket,
    SessionRequest,
    StreamKey,
    Ticket,
    Verdict,
)
from cdnpanel.store.accounts import AccountStore
from cdnpanel.store.applications import ApplicationStore
from cdnpanel.store.attempts import AttemptLog
from cdnpanel.store.database import Database
from cdnpanel.store.migrate import upgrade
from cdnpanel.store.origins import OriginStore
from cdnpanel.store.tables import installation_keys, ticket_attempts
from cdnpanel.store.tickets import TicketStore
from cdnpanel.store.viewers import ViewerStore


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    upgrade(database)
    yield database
    database.dispose()


@dataclass
class Setup:
    db: Database
    store: TicketStore
    attempts: AttemptLog
    viewers: ViewerStore
    account_id: int
    app_id: int
    origin_id: int


@pytest.fixture
def setup(db: Database) -> Setup:
    account = AccountStore(db).create(name="a", cdn_id=158, now=1)
    origin = OriginStore(db).create(
        name="o.example.net",
        kind="nginx-rtmp",
        control_url="http://127.0.0.1:1",
        hook_secret_hash=b"h" * 32,
        hls_fragment=2,
        now=1,
    )
    app = ApplicationStore(db).create(
        account_id=account.id, name="demo-origin", now=1, origin_id=origin.id
    )
    viewers = ViewerStore(db)
    attempts = AttemptLog(db)
    return Setup(
        db, TicketStore(db, viewers, attempts), attempts, viewers, account.id, app.id, origin.id
    )


async def ticket(
    setup: Setup, *, uses: int = 1, key: str = "cam1.0123456789abcd.12345678"
) -> Ticket:
    return await setup.store.add(
        NewTicket(
            account_id=setup.account_id,
            key=key,
            pass_hash=b"p" * 32,
            apps="demo-origin",
            videos="cam1",
            ip="auto/24",
            uses=uses,
            created_at=100,
            expires_at=10_000,
        )
    )


async def admit(setup: Setup, *requests: SessionRequest) -> list[Verdict]:
    """Admit the requests together: in one transaction, in order."""
    return list(await asyncio.gather(*(setup.store.admit(r, uses_left) for r in requests)))


def play(setup: Setup, t: Ticket, client_id: str, address: str = "198.51.100.7") -> SessionRequest:
    return SessionRequest(
        ticket_key=t.key,
        origin_id=setup.origin_id,
        stream=StreamKey(setup.app_id, "live", "cam1"),
        protocol=RTMP,
        viewer=client_id,
        address=address,
        now=200,
        expires_at=None,
        attempt=Attempt(
            account_id=setup.account_id,
            ticket_id=t.id,
            at=200,
            key=t.key,
            pass_hash=b"p" * 32,
            app="demo-origin",
            inst="live",
            video="cam1",
            ip=address,
            server="o.example.net",
        ),
    )


def uses_left(
    ticket: Ticket, request: SessionRequest, *, new_session: bool
) -> tuple[str | None, str]:
    """A judge that checks revocation, and uses for new sessions, and binds a /24."""
    if ticket.revoked_at is not None:
        return "Ticket revoked", ticket.ip_bound
    if not new_session:
        return None, ticket.ip_bound
    if ticket.uses and ticket.used >= ticket.uses:
        return "Ticket has no uses left", ticket.ip_bound
    bound = ticket.ip_bound or request.address.rsplit(".", 1)[0] + ".0/24"
    return None, bound


def attempts(setup: Setup) -> list[tuple[int, str]]:
    with setup.db.read() as conn:
        rows = conn.execute(
            select(ticket_attempts.c.success, ticket_attempts.c.reason).order_by(
                ticket_attempts.c.id
            )
        ).all()
    return [(r.success, r.reason) for r in rows]


def test_the_migration_made_the_installation_key(setup: Setup) -> None:
    key = setup.store.pass_key()
    assert len(key) == 32
    with setup.db.read() as conn:
        names = conn.execute(select(installation_keys.c.name)).scalars().all()
    assert sorted(names) == ["stream_pass", "ticket_pass"]  # 0004 and 0010, one each


async def test_admission_takes_a_use_binds_and_opens_the_session(setup: Setup) -> None:
    t = await ticket(setup, uses=2)
    (first,) = await admit(setup, play(setup, t, "5"))
    assert (first.admitted, first.new_session) == (True, True)
    after = setup.store.get_by_key(t.key)
    assert after is not None
    assert (after.used, after.used_at, after.ip_bound) == (1, 200, "198.51.100.0/24")
    assert setup.viewers.count(setup.app_id, ["cam1"]) == {"cam1": 1}
    # The same session again (another worker saw it first): admitted, no second use.
    (again,) = await admit(setup, play(setup, t, "5"))
    assert (again.admitted, again.new_session) == (True, False)
    second, third = await admit(setup, play(setup, t, "6"), play(setup, t, "7"))
    assert (second.admitted, third.admitted, third.reason) == (
        True,
        False,
        "Ticket has no uses left",
    )
    assert attempts(setup) == [(1, "ok"), (1, "ok"), (0, "Ticket has no uses left")]


async def test_uses_1_raced_by_20_first_plays_admits_exactly_one(setup: Setup) -> None:
    t = await ticket(setup, uses=1)
    barrier = threading.Barrier(20)
    results: list[bool] = []

    def first_play(n: int) -> None:
        barrier.wait()
        (verdict,) = asyncio.run(admit(setup, play(setup, t, f"c{n}")))
        results.append(verdict.admitted)

    threads = [threading.Thread(target=first_play, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 19 + [True]
    after = setup.store.get_by_key(t.key)
    assert after is not None and after.used == 1
    assert setup.viewers.count(setup.app_id, ["cam1"]) == {"cam1": 1}


async def test_revoke_and_lookups(setup: Setup) -> None:
    t = await ticket(setup)
    assert setup.store.get_by_key(t.key) == t
    assert setup.store.get_by_key("nope") is None
    setup.store.revoke(ticket_id=t.id, now=300)
    setup.store.revoke(ticket_id=t.id, now=400)  # again: the first revocation stands
    revoked = setup.store.get_by_key(t.key)
    assert revoked is not None and (revoked.revoked_at, revoked.active) == (300, False)


async def test_counting_attempts_by_each_filter_with_limit_and_seek(setup: Setup) -> None:
    base = play(setup, await ticket(setup), "1").attempt
    other = AccountStore(setup.db).create(name="b", cdn_id=159, now=1)
    log = []
    for n in range(30):
        log.append(
            Attempt(
                account_id=setup.account_id,
                ticket_id=None,
                at=n,
                key=f"k{n % 3}",
                pass_hash=bytes([n % 2]) * 32,
                app="demo-origin" if n % 5 else "demo-vod",
                inst="live",
                video=f"cam{n % 4}",
                ip=f"198.51.100.{n % 6}",
                server="o",
                success=n % 10 == 0,
                reason="ok" if n % 10 == 0 else "Invalid IP Address",
            )
        )
    log.append(base)  # key cam1...., video cam1, ip .7, a failure
    log.append(
        Attempt(
            account_id=other.id,
            ticket_id=None,
            at=1,
            key="k0",
            pass_hash=None,
            app="x",
            inst="live",
            video="cam0",
            ip="198.51.100.0",
            server="o",
        )
    )
    setup.attempts.record(log)
    count = setup.attempts.count
    me = setup.account_id
    assert count(me, AttemptFilter()) == 31  # the other account's one is not counted
    assert count(me, AttemptFilter(key="k0")) == 10
    assert count(me, AttemptFilter(app="demo-vod")) == 6
    assert count(me, AttemptFilter(video="cam1")) == 8 + 1
    assert count(me, AttemptFilter(ip="198.51.100.0")) == 5
    assert count(me, AttemptFilter(pass_hash=b"\x01" * 32)) == 15
    assert count(me, AttemptFilter(success=True)) == 3
    assert count(me, AttemptFilter(success=False)) == 28
    assert count(me, AttemptFilter(key="k1", success=False)) == 9  # k1 at n=10 succeeded
    assert count(me, AttemptFilter(success=False), limit=25) == 25
    assert count(me, AttemptFilter(success=False), limit=25, seek=25) == 3  # results 26-28
    assert count(me, AttemptFilter(success=False), seek=30) == 0
    assert count(me, AttemptFilter(key="x' OR '1'='1")) == 0


async def test_attempt_counters_agree_with_the_log(setup: Setup) -> None:
    t = await ticket(setup, uses=3)
    await admit(setup, *(play(setup, t, str(n)) for n in range(5)))  # 3 in, 2 refused
    base = play(setup, t, "x").attempt
    setup.attempts.record(
        [
            replace(base, app=app, video=video, success=ok)
            for app, video, ok in [
                ("demo-origin", "cam1", False),
                ("demo-vod", "vod/a.mp4", False),
                ("demo-vod", "vod/a.mp4", True),
                ("demo-origin", "cam2", False),
            ]
        ]
    )
    log, me = setup.attempts, setup.account_id
    for where in [
        AttemptFilter(),
        AttemptFilter(success=True),
        AttemptFilter(success=False),
        AttemptFilter(app="demo-origin"),
        AttemptFilter(app="demo-vod", success=True),
        AttemptFilter(video="cam1"),
        AttemptFilter(video="vod/a.mp4", success=False),
        AttemptFilter(app="nothing"),
    ]:
        counted = log._counted(me, where)
        assert counted is not None and counted == log._scanned(me, where), where
    assert log.count(me, AttemptFilter()) == 9


async def test_an_open_session_is_still_judged(setup: Setup) -> None:
    t = await ticket(setup, uses=5)
    (first,) = await admit(setup, play(setup, t, "5"))
    assert first.admitted
    setup.store.revoke(ticket_id=t.id, now=250)
    (again,) = await admit(setup, play(setup, t, "5"))
    assert (again.admitted, again.reason) == (False, "Ticket revoked")


async def test_an_expired_unswept_session_is_a_new_one_on_its_row(setup: Setup) -> None:
    t = await ticket(setup, uses=5)
    hls = replace(play(setup, t, "t:viewer"), protocol="hls", expires_at=206)
    (first,) = await admit(setup, hls)
    assert first.new_session
    later = replace(hls, now=300, expires_at=306)  # the window passed; the sweep has not run
    (second,) = await admit(setup, later)
    assert (second.admitted, second.new_session) == (True, True)
    after = setup.store.get_by_key(t.key)
    assert after is not None and after.used == 2
    assert setup.viewers.count(setup.app_id, ["cam1"]) == {"cam1": 1}  # one row, counted once
    assert setup.viewers.sweep_expired(now=305) == 0  # renewed: it lives to 306
