"""Group commit: work submitted while a commit runs waits for the next one, which takes all of it.

Replay claims (every signed request writes its nonce, so that protection holds across workers
and nodes), ticket admissions (a new SEVU session takes a use, binds an address and opens the
session) and commands' own writes (sevu.request's new ticket) all write on the hot path. One
commit per item would make the commit the server's ceiling; instead, items submitted while a
commit is under way wait for the next one, and that one handles them all in one transaction.
Under light load a batch is one item and nothing waits; under heavy load a commit's cost is
shared by the batch. Each submitter is answered only after the transaction holding its item
has committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

__all__ = ["MAX_BATCH", "GroupCommit"]

# A bound on one transaction, so one commit never holds the SQLite writer (and on SQLite the
# event loop) for long: 256 replay claims take about a millisecond.
MAX_BATCH = 256

T = TypeVar("T")
R = TypeVar("R")
RunBlocking = Callable[[Callable[[], Any]], Awaitable[Any]]


class GroupCommit(Generic[T, R]):
    """Runs ``commit(batch)`` (one transaction, one result per item) for items in groups."""

    def __init__(
        self,
        commit: Callable[[Sequence[T]], list[R]],
        run_blocking: RunBlocking,
        *,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._commit_batch = commit
        self._run_blocking = run_blocking
        self._max_batch = max_batch
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._committer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """The item's result, once the transaction that handled it has committed."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._committer is None:
            self._committer = asyncio.create_task(self._commit_while_waiting())
        return await future

    async def _commit_while_waiting(self) -> None:
        try:
            while self._waiting:
                # Let items that have already arrived in this turn of the loop join.
                await asyncio.sleep(0)
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._commit(batch)
        except asyncio.CancelledError:  # shutting down: nobody is left waiting forever
            for _, future in self._waiting:
                future.cancel()
            self._waiting.clear()
            raise
        finally:
            self._committer = None

    async def _commit(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        items = [item for item, _ in batch]
        try:
            results: list[R] = await self._run_blocking(lambda: self._commit_batch(items))
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # e.g. the store is unavailable: every submitter hears why
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():  # the client may have gone away meanwhile
                future.set_result(result)
