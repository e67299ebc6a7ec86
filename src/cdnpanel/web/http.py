"""uvicorn's HTTP protocol (httptools) with the bounds it does not set, and JSON refusals.

uvicorn reads request headers without a size limit or a deadline: 64 MB headers were accepted
and held, and connections that sent nothing or half their headers stayed open for good. A
deployment without nginx in front is the default, so the server bounds both itself:

- a request's headers (request line included) larger than ``CDNPANEL_MAX_HEADER_BYTES`` get
  HTTP 431 and the connection is closed;
- a connection whose request headers are not complete ``CDNPANEL_HEADER_TIMEOUT`` seconds after
  it opened, or after the request's first byte on a kept-alive connection, gets HTTP 408 and
  is closed (the body has its own deadline, ``CDNPANEL_BODY_TIMEOUT``).

Both, and requests the parser cannot read at all (a bad Content-Length, a bad chunk size, a NUL
in a header), are answered with the JSON failure envelope (code ``0007``) instead of uvicorn's
text. The checks cost one attribute test per block read from the socket, not per header, and
one set insertion per request: a single timer looks at every connection still reading headers
(as ``_BodyDeadlines`` in ``web/endpoint.py`` does for bodies; a timer per request would cost
microseconds on every request).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cdnpanel.errors import CdnpanelError, MalformedRequest, MethodNotAllowed
from cdnpanel.protocol import envelope

__all__ = ["PROTOCOL", "BoundedHttpToolsProtocol", "ClientGone", "read_body", "refuse_method"]

PROTOCOL = "cdnpanel.web.http:BoundedHttpToolsProtocol"
"""What ``cdnpanel serve`` hands uvicorn as its ``http`` implementation."""

_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


@functools.cache
def _limits() -> tuple[int, float]:
    """(max header bytes, header timeout) of this process's settings, read once."""
    from cdnpanel.config import Settings

    settings = Settings()
    return settings.max_header_bytes, settings.header_timeout


class _HeaderDeadlines:
    """Connections still reading a request's headers, and since when; one timer (every quarter
    of the timeout, at most a second) refuses those past the timeout."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._every = min(1.0, timeout / 4)
        self.started: dict[BoundedHttpToolsProtocol, float] = {}
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, connection: BoundedHttpToolsProtocol, loop: asyncio.AbstractEventLoop) -> None:
        self.started[connection] = loop.time()
        if self._timer is None:
            self._timer = loop.call_later(self._every, self._expire, loop)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        if not self.started:
            return  # idle: the next connection starts the timer again
        cutoff = loop.time() - self.timeout
        for connection in [c for c, started in self.started.items() if started <= cutoff]:
            connection.headers_too_slow()
        self._timer = loop.call_later(self._every, self._expire, loop)


_deadlines: _HeaderDeadlines | None = None


def _header_deadlines(timeout: float) -> _HeaderDeadlines:
    global _deadlines
    if _deadlines is None:
        _deadlines = _HeaderDeadlines(timeout)
    return _deadlines


LINGER_SECONDS = 1.0
LINGER_BYTES = 1 << 20


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._max_header_bytes, header_timeout = _limits()
        self._deadlines = _header_deadlines(header_timeout)
        self._header_bytes = 0
        self._in_headers = True  # until the current request's headers are complete
        self._linger_left: int | None = None  # bytes still dropped after a refusal
        self._linger_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadlines.watch(self, self.loop)

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadlines.started.pop(self, None)
        if self._linger_timer is not None:
            self._linger_timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._linger_left is not None:  # refused: what the client still sends is dropped
            self._linger_left -= len(data)
            if self._linger_left < 0:
                self.transport.close()
            return
        if self._in_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        if self._in_headers and self._header_bytes > self._max_header_bytes:
            self._refuse(431, f"Request headers over {self._max_header_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._in_headers:  # the next request on a kept-alive connection
            self._in_headers = True
            self._header_bytes = 0
            self._deadlines.watch(self, self.loop)

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._deadlines.started.pop(self, None)
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, f"Malformed HTTP request: {msg}")

    def headers_too_slow(self) -> None:
        self._deadlines.started.pop(self, None)
        if self._in_headers and not self.transport.is_closing():
            timeout = f"{self._deadlines.timeout:g}"
            self._refuse(408, f"The request headers did not arrive within {timeout} s")

    def _refuse(self, status: int, message: str) -> None:
        """Answer the JSON failure envelope with ``status`` and close the connection."""
        self._in_headers = False
        self._deadlines.started.pop(self, None)
        if self.transport.is_closing():
            return
        _code_status, body = envelope.encode_failure(MalformedRequest(message), elapsed=0.0)
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (status, _REASONS[status], len(body), body)
        )
        self._linger()

    def _linger(self) -> None:
        """Close as nginx's ``lingering_close`` does: end the sending side after the answer,
        then read and drop what the client is still sending, for up to ``LINGER_SECONDS`` or
        ``LINGER_BYTES``, before closing. Closing at once with its bytes unread makes the
        kernel reset the connection, and a client still sending (oversized headers) would
        lose the answer with it."""
        self._linger_left = LINGER_BYTES
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._linger_timer = self.loop.call_later(LINGER_SECONDS, self.transport.close)


# -- for the plain ASGI handlers (web/asgi.py, endpoint.py, hooks.py) ------------------------


class ClientGone(Exception):
    """The client disconnected before its request's body arrived: nobody to answer."""


async def read_body(receive: Receive, limit: int, too_large: Callable[[], CdnpanelError]) -> bytes:
    """A request's body, refused with ``too_large()`` once past ``limit`` bytes (before the
    rest is read); ClientGone if the client leaves first."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def refuse_method(scope: Scope, send: Send, *, takes: str, allow: bytes) -> None:
    """405 with the failure envelope (code 0011) and ``Allow``, for a path that takes ``takes``."""
    refusal = MethodNotAllowed(scope["method"], path=scope["path"][:200], takes=takes)
    status, body = envelope.encode_failure(refusal, elapsed=0.0)
    headers = [(b"content-type", b"application/json"), (b"allow", allow)]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
