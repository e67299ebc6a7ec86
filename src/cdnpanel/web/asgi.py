"""The ASGI entry point: the per-segment HLS check served directly, the rest by Starlette,
and the access log.

The HLS check runs on every playlist and segment request of every viewer, so it skips
Starlette's middleware, routing, request and response objects (measured: they were most of its
cost). cdnpanel writes the access log itself (``cdnpanel.access``, in uvicorn's format; uvicorn's
own is turned off): hook secrets are masked before a line is formatted, and the HLS checks are
not logged at all (the origin's own access log has those requests).
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cdnpanel.web.hooks import HLS_SUFFIX, HOOK_PREFIX, OriginHooks, mask_secrets

__all__ = ["CdnpanelApp"]

access_log = logging.getLogger("cdnpanel.access")
_ACCESS_LINE = '%s - "%s %s HTTP/%s" %d'


class CdnpanelApp:
    def __init__(self, app: ASGIApp, hooks: OriginHooks) -> None:
        self._app = app
        self._hooks = hooks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)  # lifespan
            return
        path: str = scope["path"]
        if path.endswith(HLS_SUFFIX) and path.startswith(HOOK_PREFIX) and scope["method"] == "GET":
            await self._hooks.hls(scope, send)
            return
        if not access_log.isEnabledFor(logging.INFO):
            await self._app(scope, receive, send)
            return
        status = 0

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, send_and_note)
        finally:
            _log_access(scope, status)


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
