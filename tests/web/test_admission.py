"""Group commit of replay claims, on both backends: batching, replays, failures reach waiters."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest

from cdnpanel.errors import StoreUnavailable
from cdnpanel.services.authentication import Caller, Verified
from cdnpanel.store.nonces import Nonce
from cdnpanel.web.admission import MAX_BATCH, GroupCommit
from cdnpanel.web.endpoint import run_in_thread, run_inline
from cdnpanel.wiring import Services
from tests.conftest import Tenant


def verified(tenant: Tenant, n: int, signed_at: int = 1_700_000_000) -> Verified:
    caller = Caller(tenant.account.id, tenant.cdn, tenant.key.key.id)
    return Verified(caller, Nonce(tenant.key.key.id, n.to_bytes(32, "big"), signed_at), None)


@pytest.fixture
def tenant(tenant_factory: Callable[..., Tenant]) -> Tenant:
    return tenant_factory("demo-origin")


class Recording:
    """Wraps the real admit to see how requests were grouped into transactions."""

    def __init__(self, services: Services) -> None:
        self.batches: list[int] = []
        self._admit = services.authenticator.admit

    def __call__(self, batch: Sequence[Verified]) -> list[bool]:
        self.batches.append(len(batch))
        return self._admit(batch)


@pytest.mark.parametrize("run_blocking", [run_inline, run_in_thread], ids=["inline", "thread"])
async def test_requests_arriving_together_share_one_commit(
    services: Services, tenant: Tenant, run_blocking: object
) -> None:
    admit = Recording(services)
    admission = GroupCommit(admit, run_blocking)  # type: ignore[arg-type]
    results = await asyncio.gather(*(admission.submit(verified(tenant, n)) for n in range(40)))
    assert results == [True] * 40
    assert admit.batches == [40]
    # Every copy arriving later, alone or together, is a replay.
    again = await asyncio.gather(*(admission.submit(verified(tenant, n)) for n in (3, 3, 39)))
    assert again == [False, False, False]


async def test_two_copies_in_one_batch_admit_only_the_first(
    services: Services, tenant: Tenant
) -> None:
    admission = GroupCommit(services.authenticator.admit, run_inline)
    copies = [verified(tenant, 7), verified(tenant, 7), verified(tenant, 8)]
    assert await asyncio.gather(*(admission.submit(v) for v in copies)) == [True, False, True]


async def test_a_batch_never_exceeds_the_bound(services: Services, tenant: Tenant) -> None:
    admit = Recording(services)
    admission = GroupCommit(admit, run_inline)
    count = MAX_BATCH + 10
    results = await asyncio.gather(*(admission.submit(verified(tenant, n)) for n in range(count)))
    assert all(results)
    assert admit.batches == [MAX_BATCH, 10]


async def test_a_failing_commit_reaches_every_waiter_and_the_next_batch_runs(
    services: Services, tenant: Tenant
) -> None:
    failures = iter([StoreUnavailable("database is locked")])

    def flaky(batch: Sequence[Verified]) -> list[bool]:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return services.authenticator.admit(batch)

    admission = GroupCommit(flaky, run_inline)
    results = await asyncio.gather(
        *(admission.submit(verified(tenant, n)) for n in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, StoreUnavailable) for r in results)
    # Nothing was claimed, so the same requests are admitted when the store is back.
    assert (
        await asyncio.gather(*(admission.submit(verified(tenant, n)) for n in range(5)))
        == [True] * 5
    )


# -- commands' own writes (sevu.request's new tickets), grouped -------------------------------


def prepared_tickets(services: Services, tenant: Tenant, count: int) -> list[tuple[str, object]]:
    out = []
    for n in range(count):
        issued, write = services.tickets.prepare_request(
            tenant.account.id, app="demo-origin", video=f"cam{n}", password="pw-12345678"
        )
        out.append((issued.ticket.key, write))
    return out


def test_command_writes_commit_together_and_each_failure_alone(
    services: Services, tenant: Tenant
) -> None:
    prepared = prepared_tickets(services, tenant, 6)
    _key, first_write = prepared[0]
    assert services.db.write_many([first_write]) == [None]  # stored already
    writes = [write for _key, write in prepared]  # the first one again: its key is taken
    results = services.db.write_many(writes)  # type: ignore[arg-type]
    assert [type(r).__name__ if r else None for r in results] == ["Conflict"] + [None] * 5
    for key, _write in prepared:
        assert services.tickets.get(tenant.account.id, key).key == key
    assert services.db.write_many([]) == []


async def test_concurrent_sevu_requests_share_commits(
    services: Services, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = run_inline if services.db.is_sqlite else run_in_thread
    batches: list[int] = []
    write_many = services.db.write_many

    def recording(writes: Sequence[object]) -> list[Exception | None]:
        batches.append(len(writes))
        return write_many(writes)  # type: ignore[arg-type]

    group: GroupCommit[object, Exception | None] = GroupCommit(recording, run)
    prepared = prepared_tickets(services, tenant, 40)
    results = await asyncio.gather(*(group.submit(write) for _key, write in prepared))
    assert results == [None] * 40
    assert sum(batches) == 40 and len(batches) < 40
    for key, _write in prepared:
        assert services.tickets.get(tenant.account.id, key).key == key
