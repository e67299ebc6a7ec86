"""The command endpoint: bytes in, one straight line through protocol, registry and envelope.

body -> form.read_json_text -> request.parse_request
     -> Authenticator.verify -> Registry.get(command) [-> Command.read, for a read]
     -> a read: envelope.encode_body (nothing written)
     -> a change: Replays.once (the claim; a copy gets the first answer)
        -> Command.carry_out (its services make their writes through the store's group commit)
     -> envelope.encode_body
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from starlette.types import Receive, Scope, Send

from cdnpanel.commands.registry import Answer, Command, CommandContext, Registry
from cdnpanel.errors import (
    BodyTooLarge,
    CdnpanelError,
    MalformedRequest,
    MethodNotAllowed,
    NoApiHere,
)
from cdnpanel.protocol import envelope, form
from cdnpanel.protocol.request import SignedRequest, parse_request
from cdnpanel.services.authentication import Verified
from cdnpanel.services.replays import FirstAnswer
from cdnpanel.web.http import ClientGone, read_body
from cdnpanel.wiring import Services

__all__ = ["API_PREFIX", "CommandEndpoint"]

log = logging.getLogger("cdnpanel.web")

# /stable/, /dev/ and version prefixes such as /0.8/ or /v1/ all serve the same API.
API_PREFIX = re.compile(r"stable|dev|v?\d+(?:\.\d+)*")


class CommandEndpoint:
    """The ASGI endpoint for ``POST /``, ``/stable/``, ``/dev/`` and version prefixes.

    ``CdnpanelApp`` hands it every request whose path has at most one segment (other than
    ``/health``); it answers 404 for a segment that is not an API prefix.
    """

    def __init__(self, services: Services, registry: Registry) -> None:
        self._services = services
        self._given = registry.given(services.commands)  # each command's declared services
        self._registry = registry
        self._max_body = services.settings.max_body_bytes
        self._body_deadlines = _BodyDeadlines(services.settings.body_timeout)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Plain ASGI: every signed command passes here, so no framework objects are built."""
        started = time.perf_counter()
        status, payload, headers = 200, b"", _JSON_HEADERS
        prefix = scope["path"].strip("/")
        try:
            if prefix and not API_PREFIX.fullmatch(prefix):
                status, payload = self._failure(NoApiHere(f"/{prefix}/"), started)
            elif scope["method"] != "POST":
                status, payload = self._failure(MethodNotAllowed(scope["method"]), started)
                headers = _ALLOW_POST_HEADERS
            else:
                content_type, declared = _content_headers(scope["headers"])
                body = await self._read_body(receive, declared)
                status, payload = await self.handle(content_type, body, started)
        except ClientGone:
            return  # nobody to answer
        except Exception as exc:  # every failure becomes an envelope, never a traceback
            status, payload = self._failure(exc, started)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*headers, (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def handle(
        self, content_type: str | None, body: bytes, started: float
    ) -> tuple[int, bytes]:
        """Verify, admit, dispatch and encode one request: its HTTP status and bytes. Raises
        what is refused before anything is carried out, for the caller to encode."""
        request = parse_request(form.read_json_text(content_type, body))
        services = self._services
        if services.db.runs_inline:  # SQLite: no coroutine for work done in place
            verified, command, answer = self._verify(request)
        else:
            # PostgreSQL: in place while the key and reads are cached, else in a thread
            verified, command, answer = await services.db.run_reads(lambda: self._verify(request))
        replays = services.replays
        if answer is not None and not replays.strict:  # a read: answered afresh, no claim
            if services.authenticator.use_due(verified):  # once a minute per key and process
                await services.authenticator.note_use(verified)
            body_members = envelope.success_body(answer.message, answer.members)
            return 200, envelope.encode_body(body_members, elapsed=time.perf_counter() - started)
        first = await replays.once(
            request, verified, lambda: self._carry_out(request, verified, command, answer)
        )
        return first.status, envelope.encode_body(first.body, elapsed=time.perf_counter() - started)

    async def _carry_out(
        self,
        request: SignedRequest,
        verified: Verified,
        command: Command[Any],
        answer: Answer | None,
    ) -> FirstAnswer:
        """An admitted request's answer, success or failure: what its copies will get."""
        try:
            if answer is None:  # a change: carried out only once admitted
                context = CommandContext(verified.caller, self._given[command.name])
                answer = await command.carry_out(context, request.params, run=self._services.db.run)
        except Exception as exc:
            if not isinstance(exc, CdnpanelError):
                log.error("unexpected error handling a command", exc_info=exc)
            return FirstAnswer(*envelope.failure(exc))
        return FirstAnswer(200, envelope.success_body(answer.message, answer.members))

    def _verify(self, request: SignedRequest) -> tuple[Verified, Command[Any], Answer | None]:
        """Key and signature, the command, and a read's answer, from the same reads."""
        services = self._services
        with services.db.consistent_reads():
            verified = services.authenticator.verify(request)
            command = self._registry.get(request.command)
            if not command.reads:
                return verified, command, None
            context = CommandContext(verified.caller, self._given[command.name])
            return verified, command, command.read(context, request.params)

    async def _read_body(self, receive: Receive, declared: str | None) -> bytes:
        if declared is not None:
            if not (declared.isascii() and declared.isdigit()):
                raise MalformedRequest(f"Content-Length {declared[:20]!r} is not a byte count")
            if int(declared) > self._max_body:
                raise BodyTooLarge(self._max_body)
        with self._body_deadlines.watch():
            return await read_body(receive, self._max_body, self._too_large)

    def _too_large(self) -> CdnpanelError:
        return BodyTooLarge(self._max_body)

    def _failure(self, exc: Exception, started: float) -> tuple[int, bytes]:
        if not isinstance(exc, CdnpanelError):
            # The body is never logged: it carries signatures and, for some commands, passwords.
            log.error("unexpected error handling a command", exc_info=exc)
        return envelope.encode_failure(exc, elapsed=time.perf_counter() - started)


class _BodyDeadlines:
    """Requests whose body has not arrived within ``timeout`` seconds fail (a client that sends
    headers and then stalls must not hold a request forever).

    One timer looks at every request still reading its body, every quarter of the timeout (at
    most a second), and cancels those past their deadline: ``asyncio.timeout`` arms and
    cancels a timer per request, which cost about 8 µs of every signed request (py-spy).
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._every = min(1.0, timeout / 4)
        self._deadlines: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None

    @contextmanager
    def watch(self) -> Iterator[None]:
        """Around the reads of one request's body: MalformedRequest once its time is up."""
        task = asyncio.current_task()
        assert task is not None  # ASGI calls run in tasks
        loop = task.get_loop()
        self._deadlines[task] = loop.time() + self.timeout
        if self._timer is None:
            self._timer = loop.call_later(self._every, self._expire)
        try:
            yield
        except asyncio.CancelledError:
            if task not in self._expired:
                raise  # a real cancellation (shutdown, the client went away)
            task.uncancel()
            raise MalformedRequest(
                f"The request body did not arrive within {self.timeout:g} s"
            ) from None
        finally:
            del self._deadlines[task]
            self._expired.discard(task)

    def _expire(self) -> None:
        self._timer = None
        if not self._deadlines:
            return  # idle: the next request starts the timer again
        loop = next(iter(self._deadlines)).get_loop()
        now = loop.time()
        for task, deadline in self._deadlines.items():
            if deadline <= now and task not in self._expired:
                self._expired.add(task)
                task.cancel()
        self._timer = loop.call_later(self._every, self._expire)


_JSON_HEADERS = [(b"content-type", b"application/json")]
_ALLOW_POST_HEADERS = [*_JSON_HEADERS, (b"allow", b"POST")]


def _content_headers(raw: list[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    content_type = declared = None
    for name, value in raw:
        if name == b"content-type":
            content_type = value.decode("latin-1")
        elif name == b"content-length":
            declared = value.decode("latin-1")
    return content_type, declared
