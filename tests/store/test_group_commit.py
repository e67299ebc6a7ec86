"""The store's group commit, on both backends: the writes of a moment share one transaction,
whatever their kind; one failing write fails alone; an unavailable store reaches every
waiter; transactions stay bounded."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence

import pytest
from sqlalchemy import Connection

from cdnpanel.errors import Conflict, StoreUnavailable
from cdnpanel.records import HLS, Attempt, NewTicket, Nonce, SessionRequest, StreamKey
from cdnpanel.services.authentication import Caller, Verified
from cdnpanel.store.attempts import AttemptLog
from cdnpanel.store.group_commit import MAX_COST, WriteKind
from cdnpanel.store.keys import KeyStore
from cdnpanel.store.nonces import NonceStore
from cdnpanel.store.tickets import ADMISSION_COST, TicketStore
from cdnpanel.store.viewers import ViewerStore
from cdnpanel.wiring import Services
from tests.conftest import Tenant


def nonce(n: int, signed_at: int = 1_700_000_000) -> Nonce:
    return Nonce(1, n.to_bytes(32, "big"), signed_at)


@pytest.fixture
def tenant(tenant_factory: Callable[..., Tenant]) -> Tenant:
    return tenant_factory("demo-origin")


def verified(tenant: Tenant, n: int) -> Verified:
    caller = Caller(tenant.account.id, tenant.cdn, tenant.key.key.id)
    return Verified(caller, Nonce(tenant.key.key.id, n.to_bytes(32, "big"), 1_700_000_000), None)


async def test_writes_arriving_together_share_one_transaction(services: Services) -> None:
    db, nonces = services.db, NonceStore(services.db)
    before = db.group_commit.transactions
    results = await asyncio.gather(*(nonces.claim(nonce(n)) for n in range(40)))
    assert results == [True] * 40
    assert db.group_commit.transactions == before + 1
    # Every copy arriving later, alone or together, is a replay.
    again = await asyncio.gather(*(nonces.claim(nonce(n)) for n in (3, 3, 39)))
    assert again == [False, False, False]


async def test_writes_of_several_kinds_share_one_transaction(
    services: Services, tenant: Tenant
) -> None:
    db = services.db
    store, nonces = TicketStore(db, ViewerStore(db), AttemptLog(db)), NonceStore(db)
    before = db.group_commit.transactions
    claimed, added, used = await asyncio.gather(
        asyncio.gather(*(nonces.claim(nonce(n)) for n in range(10))),
        asyncio.gather(*(store.add(new_ticket(tenant, f"k{n}")) for n in range(10))),
        KeyStore(db).record_use(key_id=tenant.key.key.id, now=5),
    )
    assert claimed == [True] * 10 and used is None
    assert len({t.id for t in added}) == 10
    for t in added:  # stored, with the id the write answered
        assert store.get_by_key(t.key) == t
    assert db.group_commit.transactions == before + 1
    assert services.accounts.list_keys(tenant.cdn)[0].last_used_at == 5


async def test_services_finish_their_own_writes(services: Services, tenant: Tenant) -> None:
    # Claims and tickets through the services: every request gets its own result, the ticket
    # its real id, whatever the transactions they shared.
    claims = [services.authenticator.admit(verified(tenant, n)) for n in range(10)]
    tickets = [
        services.tickets.issue(tenant.account.id, app="demo-origin", video=f"cam{n}", password="p")
        for n in range(10)
    ]
    claimed, issued = await asyncio.gather(asyncio.gather(*claims), asyncio.gather(*tickets))
    assert claimed == [True] * 10
    assert len({t.ticket.id for t in issued}) == 10 and all(t.ticket.id > 0 for t in issued)
    for t in issued:
        assert services.tickets.get(tenant.account.id, t.ticket.key).id == t.ticket.id


async def test_a_transaction_never_exceeds_the_bound(services: Services) -> None:
    db, nonces = services.db, NonceStore(services.db)
    before = db.group_commit.transactions
    count = MAX_COST + 10
    results = await asyncio.gather(*(nonces.claim(nonce(n)) for n in range(count)))
    assert all(results)
    assert db.group_commit.transactions == before + 2
    assert db.group_commit.largest == MAX_COST


async def test_admissions_weigh_more_than_claims(services: Services, tenant: Tenant) -> None:
    # Admissions of tickets that do not exist: refused and logged, 32 to a transaction.
    db = services.db
    before = db.group_commit.transactions
    verdicts = await asyncio.gather(
        *(services.tickets.admit(session_request(tenant, f"missing{n}")) for n in range(40))
    )
    assert [v.admitted for v in verdicts] == [False] * 40
    assert db.group_commit.transactions == before + 2
    assert db.group_commit.largest == MAX_COST // ADMISSION_COST


async def test_a_failing_write_fails_alone(services: Services, tenant: Tenant) -> None:
    db = services.db
    store = TicketStore(db, ViewerStore(db), AttemptLog(db))
    taken = await store.add(new_ticket(tenant, "taken"))
    nonces = NonceStore(db)
    results = await asyncio.gather(
        store.add(new_ticket(tenant, "taken")),  # the key is taken
        *(store.add(new_ticket(tenant, f"k{n}")) for n in range(5)),
        *(nonces.claim(nonce(n)) for n in range(5)),
        return_exceptions=True,
    )
    assert isinstance(results[0], Conflict)
    assert all(r.id > taken.id for r in results[1:6])  # type: ignore[union-attr]
    assert results[6:] == [True] * 5
    for n in range(5):
        assert store.get_by_key(f"k{n}") is not None


async def test_an_unavailable_store_reaches_every_waiter_and_the_next_batch_runs(
    services: Services,
) -> None:
    db, nonces = services.db, NonceStore(services.db)
    failures = iter([StoreUnavailable("database is locked")])

    def flaky(conn: Connection, items: Sequence[int]) -> list[int]:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return list(items)

    kind: WriteKind[int, int] = WriteKind("flaky", flaky, keeps_cached_reads=True)
    before = db.group_commit.transactions
    results = await asyncio.gather(
        *(db.submit(kind, n) for n in range(3)),
        *(nonces.claim(nonce(n)) for n in range(5)),
        return_exceptions=True,
    )
    assert all(isinstance(r, StoreUnavailable) for r in results)
    assert db.group_commit.transactions == before + 1  # not retried one by one
    # Nothing was claimed, so the same writes succeed when the store is back.
    again = await asyncio.gather(
        *(db.submit(kind, n) for n in range(3)), *(nonces.claim(nonce(n)) for n in range(5))
    )
    assert again == [0, 1, 2] + [True] * 5


async def test_a_kind_answering_the_wrong_number_of_results_fails_its_batch(
    services: Services,
) -> None:
    kind: WriteKind[int, int] = WriteKind("broken", lambda conn, items: [])
    results = await asyncio.gather(
        *(services.db.submit(kind, n) for n in range(2)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)


def test_event_loops_in_two_threads_share_a_database_safely(services: Services) -> None:
    nonces = NonceStore(services.db)
    barrier = threading.Barrier(2)
    results: dict[int, list[bool]] = {}

    def claim_all(thread: int) -> None:
        async def claims() -> list[bool]:
            barrier.wait()
            return list(await asyncio.gather(*(nonces.claim(nonce(n)) for n in range(50))))

        results[thread] = asyncio.run(claims())

    threads = [threading.Thread(target=claim_all, args=(t,)) for t in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Each nonce won exactly once, by one thread or the other.
    assert [a + b for a, b in zip(results[0], results[1], strict=True)] == [1] * 50


def new_ticket(tenant: Tenant, key: str) -> NewTicket:
    return NewTicket(
        account_id=tenant.account.id,
        key=key,
        pass_hash=b"h" * 32,
        apps="demo-origin",
        videos="*",
        ip="",
        uses=0,
        created_at=1,
        expires_at=2_000_000_000,
    )


def session_request(tenant: Tenant, key: str) -> SessionRequest:
    attempt = Attempt(
        account_id=tenant.account.id,
        ticket_id=None,
        at=1,
        key=key,
        pass_hash=b"h" * 32,
        app="demo-origin",
        inst="live",
        video="cam1",
        ip="192.0.2.1",
        server="o",
    )
    stream = StreamKey(1, "live", "cam1")
    return SessionRequest(key, 1, stream, HLS, key, "192.0.2.1", 1, 30, attempt)
