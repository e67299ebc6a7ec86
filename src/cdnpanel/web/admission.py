"""Group commit of replay claims: the requests of a moment share one write transaction.

Every admitted request writes its nonce (replay protection must hold across worker processes
and API nodes, so the claim lives in the database). One commit per request would make the
commit the server's ceiling; instead, requests that are verified while a commit is under way
wait for the next one, and that one claims all their nonces together. Under light load a batch
is one request and nothing waits; under heavy load the cost of a commit is shared by the batch.
A request is answered only after the transaction holding its claim has committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from cdnpanel.services.authentication import Verified

__all__ = ["GroupAdmission"]

# A bound on one transaction, so one commit never holds the SQLite writer for long.
MAX_BATCH = 256

Admit = Callable[[Sequence[Verified]], list[bool]]
RunBlocking = Callable[[Callable[[], list[bool]]], Awaitable[list[bool]]]


class GroupAdmission:
    """Admits verified requests in batches through ``admit`` (one transaction per batch)."""

    def __init__(self, admit: Admit, run_blocking: RunBlocking) -> None:
        self._admit = admit
        self._run_blocking = run_blocking
        self._waiting: list[tuple[Verified, asyncio.Future[bool]]] = []
        self._committer: asyncio.Task[None] | None = None

    async def admit(self, verified: Verified) -> bool:
        """True once this request's claim has committed; False if it is a replay."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((verified, future))
        if self._committer is None:
            self._committer = asyncio.create_task(self._commit_while_waiting())
        return await future

    async def _commit_while_waiting(self) -> None:
        try:
            while self._waiting:
                # Let requests that have already arrived in this turn of the loop join.
                await asyncio.sleep(0)
                batch = self._waiting[:MAX_BATCH]
                del self._waiting[:MAX_BATCH]
                await self._commit(batch)
        except asyncio.CancelledError:  # shutting down: nobody is left waiting forever
            for _, future in self._waiting:
                future.cancel()
            self._waiting.clear()
            raise
        finally:
            self._committer = None

    async def _commit(self, batch: list[tuple[Verified, asyncio.Future[bool]]]) -> None:
        requests = [verified for verified, _ in batch]
        try:
            admitted = await self._run_blocking(lambda: self._admit(requests))
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # e.g. the store is unavailable: every request hears why
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), ok in zip(batch, admitted, strict=True):
            if not future.done():  # the client may have gone away meanwhile
                future.set_result(ok)
