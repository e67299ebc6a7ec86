"""Client and AsyncClient: the same signing, retries and errors over sync or async httpx."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from cdnpanel.client._core import (
    FORM_CONTENT_TYPE,
    Outcome,
    RetryPolicy,
    SignedCommand,
    Sleep,
    exchange,
)
from cdnpanel.client._namespaces import Namespaces

__all__ = ["AsyncClient", "Client"]

DEFAULT_TIMEOUT = 10.0
_HEADERS = {"Content-Type": FORM_CONTENT_TYPE, "Accept": "application/json"}


class _ClientBase:
    def __init__(
        self,
        url: str,
        cdn: int | str,
        api_key: str,
        secret: str,
        *,
        max_retries: int,
        clock: Callable[[], float],
    ) -> None:
        self.url = url
        self._signer = SignedCommand(cdn=int(cdn), api_key=api_key, secret=secret, clock=clock)
        self._retry = RetryPolicy(max_retries)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r}, cdn={self._signer.cdn})"


class Client(_ClientBase, Namespaces[dict[str, Any]]):
    """A synchronous cdnpanel client. ``transport`` is any httpx transport (tests pass a mock)."""

    def __init__(
        self,
        url: str,
        cdn: int | str,
        api_key: str,
        secret: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(url, cdn, api_key, secret, max_retries=max_retries, clock=clock)
        self._http = httpx.Client(timeout=timeout, transport=transport)
        self._sleep = sleep
        self._bind_namespaces(self.call)

    def call(self, command: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Sign and send one command; the answer envelope, or a typed error."""
        steps = exchange(self.url, self._signer.body(command, params or {}), self._retry)
        outcome: Outcome = None
        while True:
            try:
                step = steps.send(outcome)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            if isinstance(step, Sleep):
                self._sleep(step.seconds)
                outcome = None
                continue
            try:
                outcome = self._http.post(self.url, content=step.body, headers=_HEADERS)
            except httpx.HTTPError as exc:
                outcome = exc

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class AsyncClient(_ClientBase, Namespaces[Awaitable[dict[str, Any]]]):
    """The asyncio twin of Client: same arguments, ``await`` every command."""

    def __init__(
        self,
        url: str,
        cdn: int | str,
        api_key: str,
        secret: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(url, cdn, api_key, secret, max_retries=max_retries, clock=clock)
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)
        self._sleep = sleep
        self._bind_namespaces(self.call)

    async def call(self, command: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Sign and send one command; the answer envelope, or a typed error."""
        steps = exchange(self.url, self._signer.body(command, params or {}), self._retry)
        outcome: Outcome = None
        while True:
            try:
                step = steps.send(outcome)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            if isinstance(step, Sleep):
                await self._sleep(step.seconds)
                outcome = None
                continue
            try:
                outcome = await self._http.post(self.url, content=step.body, headers=_HEADERS)
            except httpx.HTTPError as exc:
                outcome = exc

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()
