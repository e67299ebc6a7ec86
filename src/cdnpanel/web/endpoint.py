"""The command endpoint: bytes in, one straight line through protocol, registry and envelope.

body -> form.read_json_text -> request.parse_request -> Authenticator.verify
     -> GroupCommit.submit (nonce claims, one commit per batch)
     -> Registry.get(command).run -> envelope.encode_success / encode_failure
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from cdnpanel.commands.registry import CommandContext, Registry
from cdnpanel.errors import (
    BodyTooLarge,
    CdnpanelError,
    MalformedRequest,
    MethodNotAllowed,
    ReplayedRequest,
)
from cdnpanel.protocol import envelope, form
from cdnpanel.protocol.request import parse_request
from cdnpanel.services.authentication import Verified
from cdnpanel.web.admission import GroupCommit
from cdnpanel.wiring import Services

__all__ = ["CommandEndpoint"]

log = logging.getLogger("cdnpanel.web")

BODY_TIMEOUT_SECONDS = 10.0
# /stable/, /dev/ and version prefixes such as /0.8/ or /v1/ all serve the same API.
API_PREFIX = re.compile(r"stable|dev|v?\d+(?:\.\d+)*")
_JSON = "application/json"

T = TypeVar("T")
RunBlocking = Callable[[Callable[[], T]], Awaitable[T]]


async def run_inline(work: Callable[[], T]) -> T:
    """Run store work on the event loop: right for embedded SQLite, whose calls take µs."""
    return work()


async def run_in_thread(work: Callable[[], T]) -> T:
    """Run store work in a worker thread: right for a networked database like PostgreSQL."""
    return await anyio.to_thread.run_sync(work)


class CommandEndpoint:
    """The ASGI endpoint for ``POST /``, ``/stable/``, ``/dev/`` and version prefixes."""

    def __init__(
        self, services: Services, registry: Registry, *, run_blocking: RunBlocking[Any]
    ) -> None:
        self._services = services
        self._registry = registry
        self._run_blocking = run_blocking
        self._max_body = services.settings.max_body_bytes
        self._admission: GroupCommit[Verified, bool] = GroupCommit(
            services.authenticator.admit, run_blocking
        )

    async def respond(self, request: Request) -> Response:
        started = time.perf_counter()
        prefix = request.path_params.get("prefix")
        if prefix is not None and not API_PREFIX.fullmatch(prefix):
            return self._failure(
                MalformedRequest(
                    f"No API at /{prefix[:40]}/: post to /stable/, /dev/ or a version prefix"
                ),
                started,
                status=404,
            )
        try:
            if request.method != "POST":
                raise MethodNotAllowed(request.method)
            body = await self._read_body(request)
            payload = await self.handle(request.headers.get("content-type"), body, started)
            return Response(payload, media_type=_JSON)
        except ClientDisconnect:
            return Response(status_code=499)
        except Exception as exc:  # every failure becomes an envelope, never a traceback
            return self._failure(exc, started)

    async def handle(self, content_type: str | None, body: bytes, started: float) -> bytes:
        """Verify, admit, dispatch and encode one request; raises for the caller to encode."""
        request = parse_request(form.read_json_text(content_type, body))
        verified = await self._run_blocking(lambda: self._services.authenticator.verify(request))
        if not await self._admission.submit(verified):
            raise ReplayedRequest()
        command = self._registry.get(request.command)
        context = CommandContext(verified.caller, self._services)
        run = run_in_thread if command.blocking_io else self._run_blocking
        answer = await run(lambda: command.run(context, request.params))
        return envelope.encode_success(
            answer.message, answer.members, elapsed=time.perf_counter() - started
        )

    async def _read_body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise MalformedRequest(f"Content-Length {declared[:20]!r} is not a byte count")
            if int(declared) > self._max_body:
                raise BodyTooLarge(self._max_body)
        chunks: list[bytes] = []
        size = 0
        try:
            # asyncio's own timeout: an anyio cancel scope cost 40 µs a request (py-spy).
            async with asyncio.timeout(BODY_TIMEOUT_SECONDS):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > self._max_body:
                        raise BodyTooLarge(self._max_body)
                    chunks.append(chunk)
        except TimeoutError:
            raise MalformedRequest(
                f"The request body did not arrive within {BODY_TIMEOUT_SECONDS:.0f} s"
            ) from None
        return b"".join(chunks)

    def _failure(self, exc: Exception, started: float, *, status: int | None = None) -> Response:
        if not isinstance(exc, CdnpanelError):
            # The body is never logged: it carries signatures and, for some commands, passwords.
            log.error("unexpected error handling a command", exc_info=exc)
        code_status, payload = envelope.encode_failure(exc, elapsed=time.perf_counter() - started)
        headers = {"Allow": "POST"} if isinstance(exc, MethodNotAllowed) else None
        return Response(
            payload, status_code=status or code_status, media_type=_JSON, headers=headers
        )
