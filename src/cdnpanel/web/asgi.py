"""The ASGI entry point: the hot paths answered directly, the rest by Starlette; the access log.

Three paths carry nearly all the traffic and are plain ASGI, with no framework objects built per
request (measured with py-spy: Starlette's middleware, routing, request and response were most
of a cheap request's cost):

- ``GET /hooks/{origins|edges}/{name}/hls``: the check of every HLS playlist and segment;
- ``POST /hooks/{origins|edges}/{name}/{event}``: nginx-rtmp's ``on_publish``, ``on_play`` ...;
- the command API: ``/``, ``/stable/``, ``/dev/``, ``/0.8/`` ... (any path of one segment);
- ``GET /health``, served the same way so that it stays the bare baseline of the same stack.

Starlette keeps the lifespan (background loops) and every other path.
cdnpanel writes the access log itself (``cdnpanel.access``, in uvicorn's format; uvicorn's own
is turned off): hook secrets are masked before a line is formatted, and the HLS checks and the
RTMP callbacks are not logged at all (the origin's own access logs have those requests; the
server log has a line for every publish and every refusal).
"""

from __future__ import annotations

import logging

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cdnpanel.web.endpoint import CommandEndpoint
from cdnpanel.web.hooks import HLS_SUFFIX, HOOKS, OriginHooks, mask_secrets
from cdnpanel.web.http import refuse_method

__all__ = ["CdnpanelApp"]

access_log = logging.getLogger("cdnpanel.access")
_ACCESS_LINE = '%s - "%s %s HTTP/%s" %d'
_HEALTH_BODY = orjson.dumps({"status": "ok"})
_HEALTH_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_HEALTH_BODY)).encode()),
]


class CdnpanelApp:
    def __init__(self, app: ASGIApp, commands: CommandEndpoint, hooks: OriginHooks) -> None:
        self._app = app
        self._commands = commands
        self._hooks = hooks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)  # lifespan
            return
        path: str = scope["path"]
        if path.startswith(HOOKS):  # the media servers' own traffic, which their logs have
            if path.endswith(HLS_SUFFIX) and scope["method"] == "GET":
                await self._hooks.hls(scope, send)
                return
            _role, slash, rest = path[len(HOOKS) :].partition("/")
            server, slash, event = rest.partition("/")
            if server and slash and event and "/" not in event:
                await self._hooks.callback(scope, receive, send)  # on_publish, on_play, ...
                return
        if path == "/health":
            handler: ASGIApp = _health
        elif "/" not in path.strip("/"):
            handler = self._commands
        else:
            handler = self._app
        if not access_log.isEnabledFor(logging.INFO):
            await handler(scope, receive, send)
            return
        status = 0

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await handler(scope, receive, send_and_note)
        finally:
            _log_access(scope, status)


async def _health(scope: Scope, _receive: Receive, send: Send) -> None:
    method = scope["method"]
    if method not in ("GET", "HEAD"):
        await refuse_method(scope, send, takes="GET or HEAD", allow=b"GET, HEAD")
        return
    await send({"type": "http.response.start", "status": 200, "headers": _HEALTH_HEADERS})
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else _HEALTH_BODY})


def _log_access(scope: Scope, status: int) -> None:
    client = scope.get("client")
    address = f"{client[0]}:{client[1]}" if client else "-"
    target = scope.get("raw_path", b"").decode("latin-1") or scope["path"]
    query = scope.get("query_string", b"")
    if query:
        target = mask_secrets(f"{target}?{query.decode('latin-1')}")
    access_log.info(
        _ACCESS_LINE, address, scope["method"], target, scope.get("http_version", "1.1"), status
    )
