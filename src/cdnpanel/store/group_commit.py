"""Group commit: the store's one door for the writes of the hot path.

Replay claims (every change's nonce, so that protection holds across workers and nodes), the
answers kept for copies of a change, new tickets and ticket admissions (a new SEVU session
takes a use, binds an address and opens the session) are written on the request path. One
commit per write would make the commit the server's ceiling; instead, writes submitted while a
commit is under way wait for the next one, and that one makes them all in one transaction,
whatever their kind. Under light load a transaction holds one write and nothing waits; under
heavy load a commit's cost is shared by the batch. Each submitter is answered only after the
transaction holding its write has committed.

A kind of write (``WriteKind``) says how to make several of its writes on one connection (one
multi-row statement where it can), what one of them costs against the bound on a transaction,
and whether it leaves cached reads valid. ``Database.submit(kind, item)`` is the door.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import Connection

from cdnpanel.errors import StoreUnavailable

if TYPE_CHECKING:
    from cdnpanel.store.database import Database

__all__ = ["MAX_COST", "GroupCommit", "WriteKind"]

# A bound on one transaction, so one commit never holds the SQLite writer (and on SQLite the
# event loop) for long: 256 replay claims, or 32 ticket admissions, take about a millisecond
# or three.
MAX_COST = 256

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, eq=False, slots=True)
class WriteKind(Generic[T, R]):
    """A kind of write many requests make.

    ``run(conn, items)`` makes the writes of ``items`` (one per submitter, in the order they
    came) on a write transaction's connection and returns one result per item. It may raise:
    the transaction then rolls back, and, unless the store is unavailable, each write of the
    batch is made again in a transaction of its own, so one failing write (a taken key) fails
    alone. ``cost`` is one write's share of ``MAX_COST`` (a replay claim is 1).
    ``keeps_cached_reads``: the kind changes no table a ``CachedRead`` reads.
    """

    name: str
    run: Callable[[Connection, Sequence[T]], Sequence[R]]
    cost: int = 1
    keeps_cached_reads: bool = False


@dataclass(frozen=True, slots=True)
class _Failed:
    error: Exception


_Waiting = tuple[WriteKind[Any, Any], Any, "asyncio.Future[Any]"]


class _Queue:
    __slots__ = ("committer", "waiting")

    def __init__(self) -> None:
        self.waiting: list[_Waiting] = []
        self.committer: asyncio.Task[None] | None = None


class GroupCommit:
    """Makes submitted writes in transactions of several, as one door per ``Database``.

    Writes wait in a queue of their own event loop (a server has one; tests may run several
    at once on one database), each with its own committer.
    """

    def __init__(self, db: Database, *, max_cost: int = MAX_COST) -> None:
        self._db = db
        self._max_cost = max_cost
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = (
            weakref.WeakKeyDictionary()
        )
        # The queue of the loop that submitted last (a server has one loop: no lookup).
        self._last: tuple[asyncio.AbstractEventLoop, _Queue] | None = None
        self.transactions = 0  # committed or not; for tests and benchmarks
        self.largest = 0  # the most writes one transaction has held

    async def submit(self, kind: WriteKind[T, R], item: T) -> R:
        """The write's result, once the transaction that made it has committed."""
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last[0] is loop:
            queue = last[1]
        else:
            found = self._queues.get(loop)
            queue = found if found is not None else _Queue()
            self._queues[loop] = queue
            self._last = (loop, queue)
        future: asyncio.Future[R] = loop.create_future()
        queue.waiting.append((kind, item, future))
        if queue.committer is None:
            queue.committer = loop.create_task(self._commit_while_waiting(queue))
        return await future

    async def _commit_while_waiting(self, queue: _Queue) -> None:
        waiting = queue.waiting
        try:
            while waiting:
                # Let writes that have already arrived in this turn of the loop join.
                await asyncio.sleep(0)
                await self._commit(self._take(waiting))
        except asyncio.CancelledError:  # shutting down: nobody is left waiting forever
            for *_, future in waiting:
                future.cancel()
            waiting.clear()
            raise
        finally:
            queue.committer = None

    def _take(self, waiting: list[_Waiting]) -> list[_Waiting]:
        cost = count = 0
        for kind, _, _ in waiting:
            if count and cost + kind.cost > self._max_cost:
                break
            cost += kind.cost
            count += 1
        batch = waiting[:count]
        del waiting[:count]
        return batch

    async def _commit(self, batch: list[_Waiting]) -> None:
        try:
            results = await self._db.run(lambda: self._write(batch))
        except asyncio.CancelledError:
            for *_, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # e.g. the store is unavailable: every submitter hears why
            results = [_Failed(exc)] * len(batch)
        for (*_, future), result in zip(batch, results, strict=True):
            if future.done():  # the client went away meanwhile
                continue
            if isinstance(result, _Failed):
                future.set_exception(result.error)
            else:
                future.set_result(result)

    def _write(self, batch: list[_Waiting]) -> list[Any]:
        """One transaction for the batch; one each if that fails for a reason of its own."""
        self.transactions += 1
        self.largest = max(self.largest, len(batch))
        try:
            with self._db.write(keeps_cached_reads=_keeps(batch)) as conn:
                return _run(conn, batch)
        except StoreUnavailable:
            raise  # alone, each would wait out the busy timeout again
        except Exception as exc:
            if len(batch) == 1:
                return [_Failed(exc)]
        results: list[Any] = []
        for one in batch:
            self.transactions += 1
            try:
                with self._db.write(keeps_cached_reads=_keeps([one])) as conn:
                    results.extend(_run(conn, [one]))
            except Exception as exc:  # handed to the write's own submitter
                results.append(_Failed(exc))
        return results


def _keeps(batch: list[_Waiting]) -> bool:
    return all(kind.keeps_cached_reads for kind, _, _ in batch)


def _run(conn: Connection, batch: list[_Waiting]) -> list[Any]:
    """Each kind's writes in one call, kinds in the order they first came."""
    by_kind: dict[WriteKind[Any, Any], list[int]] = {}
    for index, (kind, _, _) in enumerate(batch):
        by_kind.setdefault(kind, []).append(index)
    results: list[Any] = [None] * len(batch)
    for kind, indexes in by_kind.items():
        out = kind.run(conn, [batch[i][1] for i in indexes])
        if len(out) != len(indexes):
            raise RuntimeError(f"{kind.name}: {len(out)} results for {len(indexes)} writes")
        for index, result in zip(indexes, out, strict=True):
            results[index] = result
    return results
